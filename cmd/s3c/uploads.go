package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	"github.com/spf13/cobra"
)

// openUploads are the multipart uploads this process began and has not
// seen completed or aborted. The first signal lets each upload abort its
// own; a second one, exiting at once, aborts those still open first.
var openUploads = &uploadRegistry{open: map[openUpload]func() *s3.Client{}}

type openUpload struct{ bucket, key, id string }

type uploadRegistry struct {
	mu   sync.Mutex
	open map[openUpload]func() *s3.Client
}

// track is an API option of the S3 client: it registers each upload that
// CreateMultipartUpload begins and forgets it once completed or aborted.
// client returns the S3 client to abort it with.
func (r *uploadRegistry) track(client func() *s3.Client) func(*middleware.Stack) error {
	mw := middleware.InitializeMiddlewareFunc("s3c.TrackUploads", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
		out, md, err := next.HandleInitialize(ctx, in)
		r.mu.Lock()
		defer r.mu.Unlock()
		switch p := in.Parameters.(type) {
		case *s3.CreateMultipartUploadInput:
			if o, ok := out.Result.(*s3.CreateMultipartUploadOutput); ok && err == nil {
				r.open[openUpload{aws.ToString(p.Bucket), aws.ToString(p.Key), aws.ToString(o.UploadId)}] = client
			}
		case *s3.CompleteMultipartUploadInput:
			if err == nil {
				delete(r.open, openUpload{aws.ToString(p.Bucket), aws.ToString(p.Key), aws.ToString(p.UploadId)})
			}
		case *s3.AbortMultipartUploadInput:
			if err == nil || isNoSuchUpload(err) {
				delete(r.open, openUpload{aws.ToString(p.Bucket), aws.ToString(p.Key), aws.ToString(p.UploadId)})
			}
		}
		return out, md, err
	})
	return func(st *middleware.Stack) error { return st.Initialize.Add(mw, middleware.After) }
}

// abortAll aborts every upload still open, all at once, each within
// timeout, and reports on w those it could not abort.
func (r *uploadRegistry) abortAll(w io.Writer, timeout time.Duration) {
	r.mu.Lock()
	open := make(map[openUpload]func() *s3.Client, len(r.open))
	for u, c := range r.open {
		open[u] = c
	}
	r.mu.Unlock()
	var wg sync.WaitGroup
	var mu sync.Mutex
	for u, client := range open {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			_, err := client().AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.bucket, Key: &u.key, UploadId: &u.id})
			if err != nil && !isNoSuchUpload(err) {
				mu.Lock()
				fmt.Fprintf(w, "s3c: multipart upload %s of s3://%s/%s left open: %s\n", u.id, u.bucket, u.key, oneLine(err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}

func isNoSuchUpload(err error) bool {
	var ae smithy.APIError
	return errors.As(err, &ae) && ae.ErrorCode() == "NoSuchUpload"
}

// secondSignalAbortTimeout bounds the aborts a second signal makes.
const secondSignalAbortTimeout = 5 * time.Second

// uploadReport is one incomplete multipart upload, as uploads prints it.
type uploadReport struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	UploadID  string    `json:"upload_id"`
	Initiated time.Time `json:"initiated"`
	Aborted   *bool     `json:"aborted,omitempty"` // with --abort
	Error     string    `json:"error,omitempty"`   // why it could not be aborted
}

// parseAge reads a duration as time.ParseDuration does, with d for days.
func parseAge(s string) (time.Duration, error) {
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseFloat(days, 64)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("bad duration %q", s)
		}
		return time.Duration(n * float64(24*time.Hour)), nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("bad duration %q", s)
	}
	return d, nil
}

func (a *app) uploadsCommand() *cobra.Command {
	var abort bool
	var olderThan string
	c := &cobra.Command{
		Use:   "uploads [--abort] [--older-than DURATION] s3://bucket[/prefix]",
		Short: "List or abort incomplete multipart uploads",
		Long: `List the multipart uploads in progress under a prefix: when each was
initiated, its upload id and its key. An upload that was neither completed nor
aborted (a process killed, a network that failed during the abort) keeps its
parts stored, and billed, until it is aborted or a bucket lifecycle rule
(AbortIncompleteMultipartUpload) expires it.

With --abort, the uploads listed are aborted; the exit code is 1 if any
could not be. --older-than limits both to uploads initiated at least that
long ago (by the server's clock), leaving uploads still running alone:
a Go duration (90m, 12h) or a number of days (7d).

Some S3-compatible servers, MinIO among them, list only the uploads of one
exact key: give s3://bucket/key there. AWS S3 takes any prefix.`,
		Example: `  s3c uploads s3://bucket
  s3c uploads --older-than 7d --abort s3://bucket/backups/
  s3c uploads --json s3://bucket | jq -r '.[].upload_id'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseLocation(args[0])
			if err != nil {
				return err
			}
			if !loc.s3 {
				return usagef("%q is not an s3:// URL", args[0])
			}
			var age time.Duration
			if olderThan != "" {
				if age, err = parseAge(olderThan); err != nil {
					return usagef("--older-than: %v; want a duration such as 90m, 12h or 7d", err)
				}
			}
			ctx := cmd.Context()
			sc, err := a.s3Client(ctx)
			if err != nil {
				return err
			}
			ups, err := listUploads(ctx, sc, loc.bucket, loc.key, age)
			if err != nil {
				return err
			}
			if abort {
				a.abortUploads(ctx, sc, ups)
			}
			if a.json {
				if ups == nil {
					ups = []*uploadReport{}
				}
				if err := a.printJSON(ups); err != nil {
					return err
				}
			} else {
				w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
				for _, u := range ups {
					fmt.Fprintf(w, "%s\t%s\t%s\n", u.Initiated.UTC().Format("2006-01-02 15:04:05"), u.UploadID, u.Key)
				}
				if err := w.Flush(); err != nil {
					return err
				}
			}
			if abort {
				aborted := 0
				for _, u := range ups {
					if *u.Aborted {
						aborted++
					}
				}
				if aborted < len(ups) {
					a.exit = exitError
				}
				if ctx.Err() != nil {
					return context.Cause(ctx)
				}
				a.say("aborted %d of %d multipart uploads under %s", aborted, len(ups), loc)
			}
			return nil
		},
	}
	c.Flags().BoolVar(&abort, "abort", false, "abort the uploads listed")
	c.Flags().StringVar(&olderThan, "older-than", "", "only uploads initiated at least this long ago (90m, 12h, 7d)")
	a.jsonFlag(c.Flags())
	return c
}

// listUploads lists the multipart uploads under prefix initiated at least
// age ago by the server's clock, by key, then initiation, then id.
func listUploads(ctx context.Context, sc *s3.Client, bucket, prefix string, age time.Duration) ([]*uploadReport, error) {
	in := &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &prefix}
	var ups []*uploadReport
	for {
		page, err := sc.ListMultipartUploads(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("listing multipart uploads under s3://%s/%s: %w", bucket, prefix, err)
		}
		now, ok := awsmiddleware.GetServerTime(page.ResultMetadata)
		if !ok {
			now = time.Now()
		}
		for _, u := range page.Uploads {
			t := aws.ToTime(u.Initiated)
			if age > 0 && now.Sub(t) < age {
				continue
			}
			ups = append(ups, &uploadReport{Bucket: bucket, Key: aws.ToString(u.Key), UploadID: aws.ToString(u.UploadId), Initiated: t})
		}
		if !aws.ToBool(page.IsTruncated) {
			break
		}
		in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
	}
	sort.SliceStable(ups, func(i, j int) bool {
		if ups[i].Key != ups[j].Key {
			return ups[i].Key < ups[j].Key
		}
		if !ups[i].Initiated.Equal(ups[j].Initiated) {
			return ups[i].Initiated.Before(ups[j].Initiated)
		}
		return ups[i].UploadID < ups[j].UploadID
	})
	return ups, nil
}

// abortUploads aborts the uploads, a few at once, and reports each
// failure on stderr.
func (a *app) abortUploads(ctx context.Context, sc *s3.Client, ups []*uploadReport) {
	var wg sync.WaitGroup
	var mu sync.Mutex
	sem := make(chan struct{}, 8)
	for _, u := range ups {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			_, err := sc.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &u.Bucket, Key: &u.Key, UploadId: &u.UploadID})
			ok := err == nil || isNoSuchUpload(err)
			u.Aborted = &ok
			if !ok {
				u.Error = oneLine(err)
				mu.Lock()
				fmt.Fprintf(a.stderr, "s3c: multipart upload %s of s3://%s/%s left open: %s\n", u.UploadID, u.Bucket, u.Key, u.Error)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
}
