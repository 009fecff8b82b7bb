package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
)

// cleanupTimeout bounds every compensating call: an abort, the removal of
// an object whose envelope could not be stored, the check of an upload
// whose completion went unanswered.
const cleanupTimeout = 30 * time.Second

// cleanupContext is the context of a compensating call made because ctx
// failed or was cancelled: it keeps ctx's values but not its cancellation,
// and has a short deadline of its own.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
}

// removeOwnWrite deletes the object a write of ours just stored at key,
// and only that one: by its VersionId in a versioned bucket (the version
// before it becomes current again), else on the condition that the ETag
// is still the one our write returned (S3 honours If-Match on
// DeleteObject; servers that ignore it, as MinIO does, delete the key).
func (c *Client) removeOwnWrite(ctx context.Context, bucket, key, owner *string, payer types.RequestPayer, etag, versionID *string, optFns []func(*s3.Options)) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	del := &s3.DeleteObjectInput{Bucket: bucket, Key: key, ExpectedBucketOwner: owner, RequestPayer: payer}
	switch {
	case aws.ToString(versionID) != "" && aws.ToString(versionID) != "null":
		del.VersionId = versionID
	case aws.ToString(etag) != "":
		del.IfMatch = etag
	}
	_, err := c.Client.DeleteObject(ctx, del, optFns...)
	switch code := errorCode(err); {
	case err == nil, code == "NoSuchKey", code == "NoSuchVersion":
		return nil
	case code == "PreconditionFailed":
		return nil // another write replaced ours: it is not ours to delete
	case del.IfMatch != nil && (code == "NotImplemented" || httpStatus(err) == 501):
		del.IfMatch = nil // a server without conditional deletes
		_, err = c.Client.DeleteObject(ctx, del, optFns...)
	}
	return err
}

// errorCode is the S3 error code of err, or "".
func errorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// httpStatus is the HTTP status of the response that failed err, or 0.
func httpStatus(err error) int {
	var re interface{ HTTPStatusCode() int }
	if errors.As(err, &re) {
		return re.HTTPStatusCode()
	}
	return 0
}

// mayHaveActed reports whether a request that failed with err may still
// have been carried out by the server: anything but a refusal (a 4xx
// answer) or a connection that was never made.
func mayHaveActed(err error) bool {
	if err == nil {
		return false
	}
	if s := httpStatus(err); s >= 400 && s < 500 {
		return false
	}
	var ope *net.OpError
	if errors.As(err, &ope) && ope.Op == "dial" {
		return false
	}
	var dns *net.DNSError
	return !errors.As(err, &dns)
}

// attemptLog records the attempts of one call, each retry included: when
// the first began and whether any failed in a way that leaves its effect
// on the server unknown (a lost response, a timeout, a 5xx).
type attemptLog struct {
	mu        sync.Mutex
	first     time.Time
	ambiguous bool
}

func (*attemptLog) ID() string { return "s3crypto.AttemptLog" }

func (l *attemptLog) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	l.mu.Lock()
	if l.first.IsZero() {
		l.first = time.Now()
	}
	l.mu.Unlock()
	out, md, err := next.HandleFinalize(ctx, in)
	if mayHaveActed(err) {
		l.mu.Lock()
		l.ambiguous = true
		l.mu.Unlock()
	}
	return out, md, err
}

// option adds the log to a call's stack, once per attempt (after the
// retry middleware).
func (l *attemptLog) option() func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			if err := st.Finalize.Insert(l, "Retry", middleware.After); err != nil {
				return st.Finalize.Add(l, middleware.After)
			}
			return nil
		})
	}
}

func (l *attemptLog) result() (first time.Time, ambiguous bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.first, l.ambiguous
}

// strayMargin widens the window in which uploads count as created by one
// CreateMultipartUpload call: Date headers have a resolution of a second.
const strayMargin = 2 * time.Second

// abortStrays aborts the multipart uploads of key that a
// CreateMultipartUpload call begun at first and ended at end may have
// created besides ours (ours is "" if the call failed): the ones an
// attempt whose answer was lost created before the SDK tried again. They
// are told by their initiation time, in the server's clock. It returns an
// IncompleteUploadError for each that could not be aborted.
func (c *Client) abortStrays(ctx context.Context, in *s3.CreateMultipartUploadInput, ours string, first, end time.Time, optFns []func(*s3.Options)) []error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	bucket, key := aws.ToString(in.Bucket), aws.ToString(in.Key)
	list := &s3.ListMultipartUploadsInput{Bucket: in.Bucket, Prefix: in.Key, ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer}
	var strays []string
	var offset time.Duration // server clock − local clock
	for page := 0; ; page++ {
		out, err := c.Client.ListMultipartUploads(ctx, list, optFns...)
		if err != nil {
			if ours == "" {
				// Nothing of ours is known to exist; what a lost answer
				// may have created cannot be found.
				return []error{&IncompleteUploadError{Bucket: bucket, Key: key, UploadID: "(unknown)",
					Err: fmt.Errorf("an attempt whose answer was lost may have begun one, and listing the uploads failed: %w", err)}}
			}
			return nil
		}
		if page == 0 {
			server, ok1 := awsmiddleware.GetServerTime(out.ResultMetadata)
			local, ok2 := awsmiddleware.GetResponseAt(out.ResultMetadata)
			if ok1 && ok2 {
				offset = server.Sub(local)
			}
		}
		from, to := first.Add(offset-strayMargin), end.Add(offset+strayMargin)
		for _, u := range out.Uploads {
			t := aws.ToTime(u.Initiated)
			if aws.ToString(u.Key) == key && aws.ToString(u.UploadId) != ours && !t.Before(from) && !t.After(to) {
				strays = append(strays, aws.ToString(u.UploadId))
			}
		}
		if !aws.ToBool(out.IsTruncated) || page > 100 {
			break
		}
		list.KeyMarker, list.UploadIdMarker = out.NextKeyMarker, out.NextUploadIdMarker
	}
	var failed []error
	for _, id := range strays {
		if err := c.abortUpload(ctx, in.Bucket, in.Key, id, in.ExpectedBucketOwner, in.RequestPayer, optFns); err != nil {
			failed = append(failed, err)
		}
	}
	return failed
}

// abortUpload aborts one multipart upload on a context of its own; an
// upload already gone counts as aborted. A failure is an
// *IncompleteUploadError.
func (c *Client) abortUpload(ctx context.Context, bucket, key *string, id string, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) error {
	ctx, cancel := cleanupContext(ctx)
	defer cancel()
	_, err := c.Client.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{
		Bucket: bucket, Key: key, UploadId: aws.String(id),
		ExpectedBucketOwner: owner, RequestPayer: payer,
	}, optFns...)
	if err == nil || errorCode(err) == "NoSuchUpload" {
		return nil
	}
	return &IncompleteUploadError{Bucket: aws.ToString(bucket), Key: aws.ToString(key), UploadID: id, Err: err}
}

// joinedError is several errors as one, on one line; errors.Is and
// errors.As see each.
type joinedError []error

func (e joinedError) Error() string {
	s := make([]string, len(e))
	for i, err := range e {
		s[i] = err.Error()
	}
	return strings.Join(s, "; ")
}

func (e joinedError) Unwrap() []error { return e }

// join joins the non-nil errors; nil if there are none.
func join(errs ...error) error {
	errs = slices.DeleteFunc(slices.Clone(errs), func(err error) bool { return err == nil })
	switch len(errs) {
	case 0:
		return nil
	case 1:
		return errs[0]
	}
	return joinedError(errs)
}

// withCleanupErrors adds the failures of clean-up to err, inside its
// ObjectError if it is one, so that the object is still named first.
func withCleanupErrors(err error, extra ...error) error {
	if join(extra...) == nil {
		return err
	}
	if oe, ok := err.(*ObjectError); ok {
		return &ObjectError{Op: oe.Op, Bucket: oe.Bucket, Key: oe.Key, KeyRef: oe.KeyRef, Err: join(append([]error{oe.Err}, extra...)...)}
	}
	return join(append([]error{err}, extra...)...)
}
