package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/s3"
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
	var filter keyFilter
	c := &cobra.Command{
		Use:   "cp [-r] [flags] <src> <dst>",
		Short: "Copy files and objects; either side may be s3://",
		Long: `Copy like "aws s3 cp": local to S3 encrypts, S3 to local decrypts, S3 to S3
decrypts and encrypts again (with the first key flag: this re-keys objects).
With -r, a directory tree or every object under a prefix is copied, keeping
relative paths, --jobs at a time, with a summary at the end. A destination
ending in "/" takes the source's name. --exclude and --include choose among
the paths relative to the source (the last pattern that matches decides).
--no-clobber keeps a destination that exists, even one created while the copy
runs (a file is linked in place only where none is; an object is written
If-None-Match), and says it skipped it. --dry-run prints the copies that would
be made, one line each, and changes nothing.
An uploaded file's modification time is recorded in the object's metadata
("mtime", as rclone does) and a downloaded file gets it back (else the
object's LastModified).
` + spoolHelp,
		Example: `  s3c cp --aes-key master.key photo.jpg s3://bucket/photos/
  s3c cp -r --jobs 8 --kms-key-id alias/app ./site s3://bucket/site
  s3c cp -r --kms-key-id alias/app s3://bucket/site ./restore
  s3c cp -r --exclude '*.tmp' --aes-key master.key ./site s3://bucket/site
  s3c cp --no-clobber --aes-key master.key s3://bucket/a.txt a.txt
  s3c cp -r --dry-run --aes-key master.key ./site s3://bucket/site
  s3c cp --aes-key new.key --aes-key old.key s3://bucket/a s3://bucket/a-rekeyed`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dst, err := parseTransfer(args)
			if err != nil {
				return err
			}
			if err := a.checkCopyObjectFlags(cmd, src, dst); err != nil {
				return err
			}
			if recursive && (src.stream() || dst.stream()) {
				return usagef("-r copies trees, not stdin or stdout")
			}
			if !recursive && filter.active() {
				return usagef("--exclude and --include choose among the files or objects of cp -r")
			}
			if a.noClobber && dst.stream() {
				return usagef("--no-clobber keeps files and objects; stdout is neither")
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
				list, err = a.expand(ctx, src, dst, &filter)
			} else {
				list, err = single(src, dst)
			}
			if err != nil {
				return err
			}
			var rc, wc *s3crypto.Client
			if a.dryRun {
				if dst.s3 {
					if err := a.needWriteKey(); err != nil {
						return err
					}
				}
				return a.copyAll(ctx, nil, nil, list, jobs, recursive)
			}
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
	a.keyFlags(c.Flags(), readKeys|writeKeys)
	a.objectFlags(c.Flags())
	a.sseCopySourceFlag(c.Flags())
	a.jsonFlag(c.Flags())
	a.tempDirFlag(c.Flags())
	filter.register(c.Flags())
	a.dryRunFlag(c.Flags())
	a.noClobberFlag(c.Flags())
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
// Only the paths filter includes are taken.
func (a *app) expand(ctx context.Context, src, dst location, filter *keyFilter) ([]copyJob, error) {
	var jobs []copyJob
	if !src.s3 {
		root := src.path
		err := walkFiles(ctx, root, filter, false, func(rel string, st fs.FileInfo) {
			jobs = append(jobs, copyJob{location{path: filepath.Join(root, filepath.FromSlash(rel))}, location{s3: true, bucket: dst.bucket, key: joinKey(dst.key, rel)}, st.Size()})
		})
		return jobs, err
	}
	prefix := joinKey(src.key, "") // as a "directory": "" or ending in "/"
	var objs []listed
	err := a.listStream(ctx, src.bucket, prefix, "", func(page []listed) bool {
		objs = append(objs, page...)
		return true
	})
	if err != nil {
		return nil, err
	}
	for _, o := range objs {
		rel := strings.TrimPrefix(o.key, prefix)
		if rel == "" || strings.HasSuffix(rel, "/") {
			continue // a "directory" marker
		}
		if !filter.match(rel) {
			continue
		}
		// The listing gives stored sizes: an AES-GCM object is its
		// plaintext and a 16-byte tag. Close enough for the progress total
		// until each object's own size is known.
		to, err := under(dst, rel, o.key)
		if err != nil {
			return nil, err
		}
		jobs = append(jobs, copyJob{src: location{s3: true, bucket: src.bucket, key: o.key}, dst: to, size: max(o.size-16, 0)})
	}
	return jobs, nil
}

// under is where rel, a "/" path relative to the tree copied from the
// object key, goes under dst: a key under dst's prefix, or a file inside
// dst's directory (an error if rel would leave it).
func under(dst location, rel, key string) (location, error) {
	if dst.s3 {
		return location{s3: true, bucket: dst.bucket, key: joinKey(dst.key, rel)}, nil
	}
	local := filepath.Join(dst.path, filepath.FromSlash(rel))
	if !within(dst.path, local) {
		return location{}, fmt.Errorf("object key %q would be written outside %s", key, dst.path)
	}
	return location{path: local}, nil
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

// copyStats is what a run of copies did.
type copyStats struct {
	copied, skipped, failed int
	bytes                   int64
	errs                    []error
	stopped                 bool // a signal stopped the run before every job started
}

// runCopies runs the jobs, parallel at a time. A signal stops it:
// running copies fail, no new one starts. With perItem, each failure is
// reported on stderr as it happens and done (if not nil) is called for
// each job copied. A destination kept by --no-clobber is said and
// counted as skipped.
func (a *app) runCopies(ctx context.Context, rc, wc *s3crypto.Client, list []copyJob, parallel int, perItem bool, done func(copyJob)) *copyStats {
	var total int64
	for _, j := range list {
		total += max(j.size, 0)
	}
	pr := a.newProgress(total, len(list))
	var (
		st      copyStats
		bytes   atomic.Int64
		mu      sync.Mutex
		w       = newWorkers(parallel)
		started int
	)
	for _, j := range list {
		ok := w.Go(ctx, func() {
			n, err := a.copyOne(ctx, rc, wc, j, pr)
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.Is(err, errExists):
				st.skipped++
				a.say("skipped %s: exists", j.dst)
			case err != nil:
				err = explain(err)
				st.errs = append(st.errs, err)
				st.failed++
				if perItem && ctx.Err() == nil {
					fmt.Fprintf(a.stderr, "s3c: %s: %s\n", j.src, a.errorLine(err))
				}
			default:
				st.copied++
				bytes.Add(n)
				if done != nil {
					done(j)
				}
			}
		})
		if !ok {
			break
		}
		started++
	}
	w.Wait()
	pr.wait()
	st.failed += len(list) - started
	st.stopped = started < len(list)
	st.bytes = bytes.Load()
	return &st
}

// copyAll runs the jobs, parallel at a time, and reports: for a cp -r
// (summary) a line at the end, else the one copy's line.
func (a *app) copyAll(ctx context.Context, rc, wc *s3crypto.Client, list []copyJob, parallel int, summary bool) error {
	if a.dryRun {
		return a.planCopies(ctx, list)
	}
	st := a.runCopies(ctx, rc, wc, list, parallel, summary, nil)
	if !summary {
		if len(st.errs) > 0 {
			return st.errs[0]
		}
		if st.stopped {
			return context.Cause(ctx)
		}
		switch {
		case len(list) != 1 || list[0].dst.stream() || st.skipped > 0:
		case a.json:
			return a.printJSON(map[string]any{"source": list[0].src.String(), "destination": list[0].dst.String(), "bytes": st.bytes})
		default:
			a.say("cp %s to %s: %s", list[0].src, list[0].dst, humanBytes(st.bytes))
		}
		return nil
	}
	if a.json {
		msgs := []string{}
		for _, e := range st.errs {
			msgs = append(msgs, a.errorLine(e))
		}
		out := map[string]any{"objects": len(list) - st.failed - st.skipped, "bytes": st.bytes, "failed": st.failed, "errors": msgs}
		if a.noClobber {
			out["skipped"] = st.skipped
		}
		if err := a.printJSON(out); err != nil {
			return err
		}
	} else {
		skipped := ""
		if st.skipped > 0 {
			skipped = fmt.Sprintf(", %d skipped (exist)", st.skipped)
		}
		a.say("cp: %d objects, %s copied%s, %d failed", len(list)-st.failed-st.skipped, humanBytes(st.bytes), skipped, st.failed)
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w after %d of %d objects", context.Cause(ctx), len(list)-st.failed, len(list))
	}
	if st.failed > 0 {
		return &batchError{failed: st.failed, total: len(list), errs: st.errs}
	}
	return nil
}

// opName is what a copy is called in the lines of --dry-run and sync.
func opName(j copyJob) string {
	switch {
	case !j.src.s3:
		return "upload"
	case !j.dst.s3:
		return "download"
	}
	return "copy"
}

// planCopies is copyAll under --dry-run: a line on stdout for each copy
// that would be made; with --no-clobber, the destinations that exist are
// said skipped. Nothing is read but what deciding needs: the source
// object's metadata (it must exist, as the copy would find), no key is
// unwrapped, nothing is written.
func (a *app) planCopies(ctx context.Context, list []copyJob) error {
	for _, j := range list {
		if err := ctx.Err(); err != nil {
			return context.Cause(ctx)
		}
		if len(list) == 1 && j.src.s3 {
			// cp -r listed its sources; a single one is looked up.
			if _, err := a.headObject(ctx, j.src); err != nil {
				return err
			}
		}
		if a.noClobber && !j.dst.stream() {
			exists, err := a.destExists(ctx, j.dst)
			if err != nil {
				return err
			}
			if exists {
				a.say("skipped %s: exists", j.dst)
				continue
			}
		}
		fmt.Fprintf(a.stdout, "(dry run) %s: %s to %s\n", opName(j), j.src, j.dst)
	}
	return nil
}

// headObject heads an object through the client that unwraps no key:
// its metadata, no body.
func (a *app) headObject(ctx context.Context, o location) (*s3.HeadObjectOutput, error) {
	mc, err := a.metaClient(ctx)
	if err != nil {
		return nil, err
	}
	return mc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &o.bucket, Key: &o.key})
}

// destExists tells whether a copy's destination exists: a local name
// (whatever it is, a link too), or an object. An object that cannot be
// looked up is taken as missing: the conditional write decides then.
func (a *app) destExists(ctx context.Context, dst location) (bool, error) {
	if !dst.s3 {
		_, err := os.Lstat(dst.path)
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	sc, err := a.s3Client(ctx)
	if err != nil {
		return false, err
	}
	_, err = sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &dst.bucket, Key: &dst.key})
	return err == nil, nil
}

func (a *app) copyOne(ctx context.Context, rc, wc *s3crypto.Client, j copyJob, pr *progress) (int64, error) {
	name := j.dst.String()
	if j.src.s3 && !j.dst.s3 {
		name = j.src.String()
	}
	if a.noClobber && j.dst.s3 {
		// Not worth encrypting a whole file for a refusal: a look first
		// (the write is conditional all the same).
		if exists, _ := a.destExists(ctx, j.dst); exists {
			return 0, errExists
		}
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
