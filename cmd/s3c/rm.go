package main

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
)

func (a *app) rmCommand() *cobra.Command {
	var (
		recursive bool
		jobs      int
		filter    keyFilter
	)
	c := &cobra.Command{
		Use:   "rm [-r] s3://bucket/key|prefix",
		Short: "Delete an object and its instruction file, or every object under a prefix",
		Long: `Delete an object, with its instruction file and chunk index if it has them
(an object of such a name that is not one, a user's own, is left alone).
With -r, every object under the prefix, --jobs at a time, with a summary at
the end; --exclude and --include choose among the keys relative to the prefix
(the last pattern that matches decides). --dry-run prints what would be
deleted, one line each, and deletes nothing. For objects stored with SSE-C,
give their customer key with --sse-c-key: S3 does not describe the
companions without it, and they would be left behind.`,
		Example: `  s3c rm s3://bucket/report.pdf
  s3c rm -r --dry-run s3://bucket/old/
  s3c rm -r --exclude '*' --include '*.log' s3://bucket/old/
  s3c rm --sse-c-key sse-c.key s3://bucket/private.pdf`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if recursive {
				loc, err := parseLocation(args[0])
				if err != nil {
					return err
				}
				if !loc.s3 {
					return usagef("%q is not an s3:// URL", args[0])
				}
				return a.rmRecursive(cmd.Context(), loc, &filter, jobs)
			}
			if filter.active() {
				return usagef("--exclude and --include choose among the objects of rm -r")
			}
			obj, err := parseLocation(args[0])
			if err != nil {
				return err
			}
			if obj.s3 && (obj.key == "" || strings.HasSuffix(obj.key, "/")) {
				return usagef("%q names no object; rm -r removes every object under a prefix", args[0])
			}
			if obj, err = parseObject(args[0]); err != nil {
				return err
			}
			if a.dryRun {
				fmt.Fprintf(a.stdout, "(dry run) delete: %s\n", obj)
				return nil
			}
			c, err := a.metaClient(cmd.Context())
			if err != nil {
				return err
			}
			if _, err := c.DeleteObject(cmd.Context(), &s3.DeleteObjectInput{Bucket: &obj.bucket, Key: &obj.key}, a.deleteOptions()...); err != nil {
				return err
			}
			a.say("deleted %s", obj)
			return nil
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "delete every object under the prefix")
	c.Flags().IntVar(&jobs, "jobs", 8, "objects deleted at once (-r)")
	filter.register(c.Flags())
	a.dryRunFlag(c.Flags())
	a.sseReadFlags(c.Flags())
	return c
}

// rmRecursive deletes the objects under a prefix (a "/" is added to a
// prefix that does not end in one) as the listing streams, through the
// encryption client: each object's instruction file and chunk index go
// with it, and are not listed on their own. A line per object on stdout
// ("delete: s3://…", or "(dry run) delete: s3://…"), failures on stderr
// as they happen, a summary at the end.
func (a *app) rmRecursive(ctx context.Context, loc location, filter *keyFilter, jobs int) error {
	prefix := joinKey(loc.key, "") // as a "directory": "" or ending in "/"
	mc, err := a.metaClient(ctx)
	if err != nil {
		return err
	}
	var (
		mu             sync.Mutex
		w              = newWorkers(jobs)
		removed, seen  int
		failed         int
		errs           []error
		integrityFirst bool
	)
	line := func(format string, args ...any) {
		if !a.quiet {
			fmt.Fprintf(a.stdout, format+"\n", args...)
		}
	}
	listErr := a.listStream(ctx, loc.bucket, prefix, "", func(page []listed) bool {
		for _, o := range page {
			if !filter.match(strings.TrimPrefix(o.key, prefix)) {
				continue
			}
			obj := location{s3: true, bucket: loc.bucket, key: o.key}
			seen++
			if a.dryRun {
				line("(dry run) delete: %s", obj)
				continue
			}
			ok := w.Go(ctx, func() {
				_, err := mc.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &obj.bucket, Key: &obj.key}, a.deleteOptions()...)
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					err = explain(err)
					failed++
					// The exit code needs one failure of each kind.
					if len(errs) == 0 || (exitCode(err) == exitIntegrity && !integrityFirst) {
						errs = append(errs, err)
						integrityFirst = integrityFirst || exitCode(err) == exitIntegrity
					}
					if ctx.Err() == nil {
						fmt.Fprintf(a.stderr, "s3c: %s: %s\n", obj, a.errorLine(err))
					}
					return
				}
				removed++
				line("delete: %s", obj)
			})
			if !ok {
				return false
			}
		}
		return true
	})
	w.Wait()
	if listErr != nil && seen == 0 {
		return listErr
	}
	if a.dryRun {
		a.say("(dry run) would remove %d objects", seen)
		return listErr
	}
	if failed > 0 {
		a.say("removed %d objects, %d failed", removed, failed)
	} else {
		a.say("removed %d objects", removed)
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w after %d objects", context.Cause(ctx), removed)
	case listErr != nil:
		return listErr
	case failed > 0:
		return &batchError{failed: failed, total: removed + failed, errs: errs}
	}
	return nil
}
