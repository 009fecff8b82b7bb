package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/s3crypto"
)

// dryRunFlag adds --dry-run (the commands that write or delete).
func (a *app) dryRunFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&a.dryRun, "dry-run", false, `print what would be done, one "(dry run)" line each, and change nothing`)
}

// noClobberFlag adds --no-clobber (get, cp).
func (a *app) noClobberFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&a.noClobber, "no-clobber", false, "keep a destination that exists, even one created meanwhile, and say it was skipped")
}

// needWriteKey is what a write would say without a key flag: a dry run
// reads no key file, but a run that would fail says so.
func (a *app) needWriteKey() error {
	if len(a.keys) == 0 {
		return usagef("a master key is needed: --kms-key-id, --aes-key, --rsa-key or --pkcs11-key")
	}
	return nil
}

// syncEntry is one file or object of a side of a sync.
type syncEntry struct {
	rel  string    // the path relative to the side's root, "/"-separated
	loc  location  // where it is
	size int64     // plaintext size (for an object, from the listing)
	mod  time.Time // the file's mtime, or the object's LastModified
}

// plainSize is an object's plaintext size derived from its stored size:
// an AES-GCM object is its plaintext and a 16-byte tag; an object
// shorter than a tag is taken as it is (it is no GCM object).
func plainSize(stored int64) int64 {
	if stored < 16 {
		return stored
	}
	return stored - 16
}

func (a *app) syncCommand() *cobra.Command {
	var (
		jobs   int
		del    bool
		exact  bool
		filter keyFilter
	)
	c := &cobra.Command{
		Use:   "sync [flags] <src> <dst>",
		Short: "Copy only what changed between a directory and a prefix",
		Long: `Make dst like src, as "aws s3 sync" does: copy every file or object of src
that dst lacks, or whose size differs, or that is newer than dst's; with
--delete, remove what dst has and src does not. One side is s3://, the other a
local directory; or both are s3:// (decrypted and encrypted again, as cp does).
A file's modification time is recorded in its object's metadata ("mtime", as
rclone does) and given back to a downloaded file, so that a second sync of an
unchanged tree copies nothing, whichever way it runs. Sizes are compared as
plaintext, taken from the listing (no request per object); where only the
times disagree, one HEAD reads the recorded time before deciding.
--exact-timestamps: entries of the same size are the same only if the recorded
time equals the file's exactly (a HEAD per object).
--exclude and --include choose among the paths relative to src (and dst):
an excluded path is neither copied nor deleted.
--dry-run prints what would be done, one line each, and changes nothing.
` + spoolHelp,
		Example: `  s3c sync --aes-key master.key ./photos s3://bucket/photos
  s3c sync --aes-key master.key s3://bucket/photos ./photos
  s3c sync --delete --dry-run --aes-key master.key ./photos s3://bucket/photos
  s3c sync --exclude '*.tmp' --exclude '.git/*' --kms-key-id alias/app . s3://bucket/src`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, dst, err := parseTransfer(args)
			if err != nil {
				return err
			}
			if src.stream() || dst.stream() {
				return usagef("sync copies trees, not stdin or stdout")
			}
			if !src.s3 {
				st, err := os.Stat(src.path)
				if err != nil {
					return err
				}
				if !st.IsDir() {
					return usagef("%s is not a directory: sync copies trees (use cp for a file)", src.path)
				}
			}
			return a.sync(cmd.Context(), src, dst, &syncOptions{jobs: jobs, delete: del, exact: exact, filter: &filter})
		},
	}
	f := c.Flags()
	f.BoolVar(&del, "delete", false, "remove what dst has and src does not (excluded paths are kept)")
	f.BoolVar(&exact, "exact-timestamps", false, "take entries of the same size as the same only if their times are exactly equal")
	f.IntVar(&jobs, "jobs", 4, "objects copied at once")
	filter.register(f)
	a.dryRunFlag(f)
	a.keyFlags(f, readKeys|writeKeys)
	a.objectFlags(f)
	a.jsonFlag(f)
	a.tempDirFlag(f)
	return c
}

type syncOptions struct {
	jobs          int
	delete, exact bool
	filter        *keyFilter
}

// syncPlan is what a sync has to do.
type syncPlan struct {
	copies  []copyJob
	deletes []location
	same    int // entries up to date
}

func (a *app) sync(ctx context.Context, src, dst location, o *syncOptions) error {
	srcEntries, err := a.syncList(ctx, src, o.filter, true)
	if err != nil {
		return err
	}
	dstEntries, err := a.syncList(ctx, dst, o.filter, false)
	if err != nil {
		return err
	}
	plan, err := a.syncCompare(ctx, src, dst, srcEntries, dstEntries, o)
	if err != nil {
		return err
	}
	if a.dryRun {
		if dst.s3 && len(plan.copies) > 0 {
			if err := a.needWriteKey(); err != nil {
				return err
			}
		}
		for _, j := range plan.copies {
			fmt.Fprintf(a.stdout, "(dry run) %s: %s to %s\n", opName(j), j.src, j.dst)
		}
		for _, d := range plan.deletes {
			fmt.Fprintf(a.stdout, "(dry run) delete: %s\n", d)
		}
		if len(plan.copies) == 0 && len(plan.deletes) == 0 {
			a.say("(dry run) sync: nothing to do, %d up to date", plan.same)
		} else {
			a.say("(dry run) sync: %d to copy, %d to delete, %d up to date", len(plan.copies), len(plan.deletes), plan.same)
		}
		return nil
	}
	var rc, wc, mc *s3crypto.Client
	if len(plan.copies) > 0 && src.s3 {
		if rc, err = a.client(ctx, false); err != nil {
			return err
		}
	}
	if len(plan.copies) > 0 && dst.s3 {
		if wc, err = a.client(ctx, true); err != nil {
			return err
		}
	}
	if len(plan.deletes) > 0 && dst.s3 {
		if mc, err = a.metaClient(ctx); err != nil {
			return err
		}
	}
	var outMu sync.Mutex
	line := func(format string, args ...any) {
		if a.quiet || a.json {
			return
		}
		outMu.Lock()
		defer outMu.Unlock()
		fmt.Fprintf(a.stdout, format+"\n", args...)
	}
	st := &copyStats{}
	if len(plan.copies) > 0 {
		st = a.runCopies(ctx, rc, wc, plan.copies, o.jobs, true, func(j copyJob) {
			line("%s: %s to %s", opName(j), j.src, j.dst)
		})
	}
	deleted := 0
	if ctx.Err() == nil && len(plan.deletes) > 0 {
		var (
			mu sync.Mutex
			w  = newWorkers(o.jobs)
		)
		for _, d := range plan.deletes {
			ok := w.Go(ctx, func() {
				err := a.deleteEntry(ctx, mc, d)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					err = explain(err)
					st.failed++
					st.errs = append(st.errs, err)
					if ctx.Err() == nil {
						fmt.Fprintf(a.stderr, "s3c: %s: %s\n", d, a.errorLine(err))
					}
					return
				}
				deleted++
				line("delete: %s", d)
			})
			if !ok {
				mu.Lock()
				st.failed++
				mu.Unlock()
			}
		}
		w.Wait()
	}
	if a.json {
		msgs := []string{}
		for _, e := range st.errs {
			msgs = append(msgs, a.errorLine(e))
		}
		if err := a.printJSON(map[string]any{"copied": st.copied, "bytes": st.bytes, "deleted": deleted, "up_to_date": plan.same, "failed": st.failed, "errors": msgs}); err != nil {
			return err
		}
	} else if len(plan.copies) == 0 && len(plan.deletes) == 0 {
		a.say("sync: nothing to do, %d up to date", plan.same)
	} else {
		a.say("sync: %d copied (%s), %d deleted, %d up to date, %d failed", st.copied, humanBytes(st.bytes), deleted, plan.same, st.failed)
	}
	total := len(plan.copies) + len(plan.deletes)
	if ctx.Err() != nil {
		return fmt.Errorf("%w after %d of %d changes", context.Cause(ctx), st.copied+deleted, total)
	}
	if st.failed > 0 {
		return &batchError{failed: st.failed, total: total, errs: st.errs}
	}
	return nil
}

// deleteEntry removes a file, or an object with its instruction file and
// chunk index (the encryption client's DeleteObject: a user's own object
// of such a name is left alone).
func (a *app) deleteEntry(ctx context.Context, mc *s3crypto.Client, d location) error {
	if !d.s3 {
		return os.Remove(d.path)
	}
	_, err := mc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &d.bucket, Key: &d.key}, a.deleteOptions()...)
	return err
}

// syncList lists one side of a sync: the regular files under a directory
// (through symbolic links; not the temporary files of downloads), or the
// objects under a prefix (not instruction files or chunk indexes of
// listed objects), as far as filter includes them. A source directory
// must exist; a missing destination is empty.
func (a *app) syncList(ctx context.Context, l location, filter *keyFilter, source bool) (map[string]*syncEntry, error) {
	entries := map[string]*syncEntry{}
	if !l.s3 {
		root := l.path
		st, err := os.Stat(root)
		switch {
		case errors.Is(err, fs.ErrNotExist) && !source:
			return entries, nil
		case err != nil:
			return nil, err
		case !st.IsDir():
			return nil, usagef("%s is not a directory: sync copies trees (use cp for a file)", root)
		}
		err = walkFiles(ctx, root, filter, true, func(rel string, st fs.FileInfo) {
			entries[rel] = &syncEntry{rel: rel, loc: location{path: filepath.Join(root, filepath.FromSlash(rel))}, size: st.Size(), mod: st.ModTime()}
		})
		return entries, err
	}
	prefix := joinKey(l.key, "") // as a "directory": "" or ending in "/"
	err := a.listStream(ctx, l.bucket, prefix, "", func(page []listed) bool {
		for _, o := range page {
			rel := strings.TrimPrefix(o.key, prefix)
			if rel == "" || strings.HasSuffix(rel, "/") || !filter.match(rel) {
				continue // a "directory" marker, or excluded
			}
			entries[rel] = &syncEntry{rel: rel, loc: location{s3: true, bucket: l.bucket, key: o.key}, size: plainSize(o.size), mod: o.lastModified}
		}
		return true
	})
	return entries, err
}

// walkRootOf is where a walk of the directory root starts: root, or the
// directory it links to (filepath.WalkDir does not follow a link, not
// even the root: the tree would seem empty, and sync --delete would
// empty the other side).
func walkRootOf(root string) string {
	if fi, err := os.Lstat(root); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
		if resolved, err := filepath.EvalSymlinks(root); err == nil {
			return resolved
		}
	}
	return root
}

// walkFiles calls fn for each regular file under the directory root
// (through symbolic links, the root's included: see walkRootOf) that
// filter includes, with its path relative to root in "/" form. A file
// that cannot be described stops the walk, but for sync (lenient), which
// passes over links whose target is gone and the temporary files of
// downloads in progress.
func walkFiles(ctx context.Context, root string, filter *keyFilter, lenient bool, fn func(rel string, st fs.FileInfo)) error {
	walkRoot := walkRootOf(root)
	return filepath.WalkDir(walkRoot, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if d.IsDir() || (lenient && isDownloadTemp(d.Name())) {
			return nil
		}
		st, err := os.Stat(p) // follows symlinks
		if lenient && errors.Is(err, fs.ErrNotExist) {
			return nil // a dangling link: nothing to copy
		}
		if err != nil || !st.Mode().IsRegular() {
			return err
		}
		rel, err := filepath.Rel(walkRoot, p)
		if err != nil {
			return err
		}
		if rel = filepath.ToSlash(rel); filter.match(rel) {
			fn(rel, st)
		}
		return nil
	})
}

// isDownloadTemp tells a download's temporary file, ".NAME.s3c-*.tmp".
func isDownloadTemp(name string) bool {
	return strings.HasPrefix(name, ".") && strings.Contains(name, ".s3c-") && strings.HasSuffix(name, ".tmp")
}

// syncCompare decides, for each source entry, whether it is copied, and
// which destination entries are deleted (with --delete).
func (a *app) syncCompare(ctx context.Context, src, dst location, srcEntries, dstEntries map[string]*syncEntry, o *syncOptions) (*syncPlan, error) {
	rels := make([]string, 0, len(srcEntries))
	for rel := range srcEntries {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	plan := &syncPlan{}
	copyIt := make([]bool, len(rels))
	errs := make([]error, len(rels))
	var wg sync.WaitGroup
	sem := make(chan struct{}, max(o.jobs, 8))
	for i, rel := range rels {
		s, d := srcEntries[rel], dstEntries[rel]
		if d == nil || s.size != d.size {
			copyIt[i] = true
			continue
		}
		if !o.exact && !s.mod.After(d.mod) {
			continue // the common case: no request
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			same, err := a.sameTimes(ctx, s, d, o.exact)
			copyIt[i], errs[i] = !same, err
		}()
	}
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	for i, rel := range rels {
		if !copyIt[i] {
			plan.same++
			continue
		}
		s := srcEntries[rel]
		to, err := under(dst, rel, s.loc.key)
		if err != nil {
			return nil, err
		}
		plan.copies = append(plan.copies, copyJob{src: s.loc, dst: to, size: s.size})
	}
	if o.delete {
		for rel, d := range dstEntries {
			if srcEntries[rel] == nil {
				plan.deletes = append(plan.deletes, d.loc)
			}
		}
		sort.Slice(plan.deletes, func(i, j int) bool { return plan.deletes[i].String() < plan.deletes[j].String() })
	}
	return plan, nil
}

// sameTimes tells whether two entries of the same size whose times
// disagree (or, exact, any two) are the same: the modification time
// recorded in the object equals the file's exactly. An object without a
// recorded time compares by its LastModified, which a download gives the
// file (to the second). Between two objects, the recorded times are
// compared if both have one, else the source is the same unless it is
// newer.
func (a *app) sameTimes(ctx context.Context, s, d *syncEntry, exact bool) (bool, error) {
	if s.loc.s3 && d.loc.s3 {
		ts, okS, _, err := a.recordedTime(ctx, s.loc)
		if err != nil {
			return false, err
		}
		td, okD, _, err := a.recordedTime(ctx, d.loc)
		if err != nil {
			return false, err
		}
		if okS && okD {
			return ts.Equal(td), nil
		}
		return !s.mod.After(d.mod), nil
	}
	obj, file := s, d
	if !s.loc.s3 {
		obj, file = d, s
	}
	t, ok, lastModified, err := a.recordedTime(ctx, obj.loc)
	if err != nil {
		return false, err
	}
	if ok {
		return t.Equal(file.mod), nil
	}
	return lastModified.Equal(file.mod), nil
}

// recordedTime heads an object (no key is unwrapped) for the modification
// time recorded at upload, and its LastModified.
func (a *app) recordedTime(ctx context.Context, l location) (t time.Time, ok bool, lastModified time.Time, err error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return time.Time{}, false, time.Time{}, err
	}
	h, err := sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &l.bucket, Key: &l.key})
	if err != nil {
		return time.Time{}, false, time.Time{}, fmt.Errorf("%s: %w", l, err)
	}
	t, ok = parseMtime(h.Metadata[mtimeKey])
	return t, ok, aws.ToTime(h.LastModified), nil
}
