package main

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/spf13/cobra"

	"github.com/s3c/s3c/s3crypto"
)

// batchError reports the failed objects of a cp -r; it wraps each
// failure, so the exit code reflects an integrity failure among them.
type batchError struct {
	failed, total int
	errs          []error
}

func (e *batchError) Error() string {
	return fmt.Sprintf("%d of %d objects failed", e.failed, e.total)
}

func (e *batchError) Unwrap() []error { return e.errs }

// copyJob is one object to copy.
type copyJob struct {
	src, dst location
	size     int64 // plaintext size, or an estimate (-1 if unknown)
}

func (a *app) cpCommand() *cobra.Command {
	var recursive bool
	var jobs int
	c := &cobra.Command{
		Use:   "cp [-r] [flags] <src> <dst>",
		Short: "Copy files and objects; either side may be s3://",
		Long: `Copy like "aws s3 cp": local to S3 encrypts, S3 to local decrypts, S3 to S3
decrypts and encrypts again (with the first key flag: this re-keys objects).
With -r, a directory tree or every object under a prefix is copied, keeping
relative paths, --jobs at a time, with a summary at the end. A destination
ending in "/" takes the source's name.
` + spoolHelp,
		Example: `  s3c cp --aes-key master.key photo.jpg s3://bucket/photos/
  s3c cp -r --jobs 8 --kms-key-id alias/app ./site s3://bucket/site
  s3c cp -r --kms-key-id alias/app s3://bucket/site ./restore
  s3c cp --aes-key new.key --aes-key old.key s3://bucket/a s3://bucket/a-rekeyed`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := parseLocation(args[0])
			if err != nil {
				return err
			}
			dst, err := parseLocation(args[1])
			if err != nil {
				return err
			}
			if !src.s3 && !dst.s3 {
				return usagef("one of source and destination must be an s3:// URL")
			}
			if jobs < 1 {
				return usagef("--jobs %d: want 1 or more", jobs)
			}
			if err := a.checkCopyObjectFlags(cmd, src, dst); err != nil {
				return err
			}
			if recursive && (src.stream() || dst.stream()) {
				return usagef("-r copies trees, not stdin or stdout")
			}
			if recursive && !src.s3 {
				// A file is copied as without -r (a walk would name it ".").
				if st, err := os.Stat(src.path); err == nil && !st.IsDir() {
					recursive = false
				}
			}
			ctx := cmd.Context()
			var list []copyJob
			if recursive {
				list, err = a.expand(ctx, src, dst)
			} else {
				list, err = single(src, dst)
			}
			if err != nil {
				return err
			}
			var rc, wc *s3crypto.Client
			if src.s3 {
				if rc, err = a.client(ctx, false); err != nil {
					return err
				}
			}
			if dst.s3 {
				if wc, err = a.client(ctx, true); err != nil {
					return err
				}
			}
			return a.copyAll(ctx, rc, wc, list, jobs, recursive)
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "copy a directory tree or a prefix")
	c.Flags().IntVar(&jobs, "jobs", 4, "objects copied at once")
	a.keyFlags(c.Flags())
	a.objectFlags(c.Flags())
	a.sseCopySourceFlag(c.Flags())
	a.jsonFlag(c.Flags())
	a.tempDirFlag(c.Flags())
	return c
}

// single resolves one source to one destination.
func single(src, dst location) ([]copyJob, error) {
	if src.s3 && !dst.s3 && dst.path == "/dev/stdout" {
		dst.path = "-" // as get takes it: stdout, no summary
	}
	name := path.Base(src.key)
	if !src.s3 {
		if src.stream() {
			name = ""
		} else {
			name = filepath.Base(src.path)
		}
	} else if src.key == "" || strings.HasSuffix(src.key, "/") {
		return nil, usagef("%s names no object; use -r to copy a prefix", src)
	}
	switch {
	case dst.s3 && (dst.key == "" || strings.HasSuffix(dst.key, "/")):
		if name == "" {
			return nil, usagef("copying stdin needs a full object key, not %s", dst)
		}
		dst.key += name
	case !dst.s3 && !dst.stream():
		if st, err := os.Stat(dst.path); (err == nil && st.IsDir()) || strings.HasSuffix(dst.path, string(os.PathSeparator)) {
			dst.path = filepath.Join(dst.path, name)
		}
	}
	size := int64(-1)
	if !src.s3 && !src.stream() {
		st, err := os.Stat(src.path)
		if err != nil {
			return nil, err
		}
		if st.IsDir() {
			return nil, usagef("%s is a directory; use -r", src.path)
		}
		size = st.Size()
	}
	return []copyJob{{src, dst, size}}, nil
}

// expand lists a tree or prefix into jobs with relative paths kept.
func (a *app) expand(ctx context.Context, src, dst location) ([]copyJob, error) {
	var jobs []copyJob
	if !src.s3 {
		root := src.path
		err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			st, err := os.Stat(p) // follows symlinks
			if err != nil || !st.Mode().IsRegular() {
				return err
			}
			rel, err := filepath.Rel(root, p)
			if err != nil {
				return err
			}
			jobs = append(jobs, copyJob{location{path: p}, location{s3: true, bucket: dst.bucket, key: joinKey(dst.key, filepath.ToSlash(rel))}, st.Size()})
			return nil
		})
		return jobs, err
	}
	prefix := src.key
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	objs, _, err := a.listObjects(ctx, src.bucket, prefix, true)
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.key, prefix)
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue // a "directory" marker
		}
		// The listing gives stored sizes: an AES-GCM object is its
		// plaintext and a 16-byte tag. Close enough for the progress total
		// until each object's own size is known.
		j := copyJob{src: location{s3: true, bucket: src.bucket, key: o.key}, size: max(o.size-16, 0)}
		if dst.s3 {
			j.dst = location{s3: true, bucket: dst.bucket, key: joinKey(dst.key, rel)}
		} else {
			local := filepath.Join(dst.path, filepath.FromSlash(rel))
			if !within(dst.path, local) {
				return nil, fmt.Errorf("object key %q would be written outside %s", o.key, dst.path)
			}
			j.dst = location{path: local}
		}
		jobs = append(jobs, j)
	}
	return jobs, nil
}

// within reports whether path p lies strictly inside directory root,
// both as given (relative or absolute); root may be "." or "/".
func within(root, p string) bool {
	r, err := filepath.Rel(filepath.Clean(root), filepath.Clean(p))
	if err != nil || r == "." || filepath.IsAbs(r) {
		return false
	}
	return r != ".." && !strings.HasPrefix(r, ".."+string(os.PathSeparator))
}

func joinKey(prefix, rel string) string {
	if prefix == "" || strings.HasSuffix(prefix, "/") {
		return prefix + rel
	}
	return prefix + "/" + rel
}

// copyAll runs the jobs, jobs at a time, and reports. A signal stops
// it: running copies fail, no new one starts.
func (a *app) copyAll(ctx context.Context, rc, wc *s3crypto.Client, list []copyJob, parallel int, summary bool) error {
	var total int64
	for _, j := range list {
		total += max(j.size, 0)
	}
	pr := a.newProgress(total, len(list))
	var (
		bytes   atomic.Int64
		mu      sync.Mutex
		errs    []error
		wg      sync.WaitGroup
		sem     = make(chan struct{}, max(parallel, 1))
		failed  int
		started int
	)
	for _, j := range list {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		started++
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			n, err := a.copyOne(ctx, rc, wc, j, pr)
			if err != nil {
				err = explain(err)
				mu.Lock()
				errs = append(errs, err)
				failed++
				if summary && ctx.Err() == nil {
					fmt.Fprintf(a.stderr, "s3c: %s: %s\n", j.src, a.errorLine(err))
				}
				mu.Unlock()
				return
			}
			bytes.Add(n)
		}()
	}
	wg.Wait()
	pr.wait()
	failed += len(list) - started
	if !summary {
		if len(errs) > 0 {
			return errs[0]
		}
		if started < len(list) {
			return context.Cause(ctx)
		}
		switch {
		case len(list) != 1 || list[0].dst.stream():
		case a.json:
			return a.printJSON(map[string]any{"source": list[0].src.String(), "destination": list[0].dst.String(), "bytes": bytes.Load()})
		default:
			a.say("cp %s to %s: %s", list[0].src, list[0].dst, humanBytes(bytes.Load()))
		}
		return nil
	}
	if a.json {
		msgs := []string{}
		for _, e := range errs {
			msgs = append(msgs, a.errorLine(e))
		}
		if err := a.printJSON(map[string]any{"objects": len(list) - failed, "bytes": bytes.Load(), "failed": failed, "errors": msgs}); err != nil {
			return err
		}
	} else {
		a.say("cp: %d objects, %s copied, %d failed", len(list)-failed, humanBytes(bytes.Load()), failed)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w after %d of %d objects", context.Cause(ctx), len(list)-failed, len(list))
	}
	if failed > 0 {
		return &batchError{failed: failed, total: len(list), errs: errs}
	}
	return nil
}

func (a *app) copyOne(ctx context.Context, rc, wc *s3crypto.Client, j copyJob, pr *progress) (int64, error) {
	name := j.dst.String()
	if j.src.s3 && !j.dst.s3 {
		name = j.src.String()
	}
	b := pr.start(name, j.size)
	defer b.done()
	switch {
	case !j.src.s3:
		out, err := a.upload(ctx, wc, j.src.path, j.dst, b)
		if err != nil {
			return 0, err
		}
		return out.Size, nil
	case !j.dst.s3:
		if !j.dst.stream() {
			if err := os.MkdirAll(filepath.Dir(j.dst.path), 0o755); err != nil {
				return 0, err
			}
		}
		res, err := a.download(ctx, rc, j.src, j.dst.path, false, "", b)
		if err != nil {
			return 0, err
		}
		return res.size, nil
	default:
		return a.copyObject(ctx, rc, wc, j.src, j.dst, b)
	}
}
