package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// DeleteObject deletes the object, then its instruction file: the object
// <key>.instruction if it carries the instruction-file marker
// (IsInstructionFile), and its chunk index <key>.s3c-index if marked
// (IsIndexObject). An object of either name without the marker is the
// caller's own and is left alone. With a VersionId only that version is
// deleted: which version of the instruction file goes with it cannot be
// told, so it is left alone. So are companions stored with SSE-C, which
// S3 does not describe without the key (DeleteObjectInput has no field
// for it), unless WithSSECustomerKey gives it. Deleting an instruction
// file that an existing object needs is refused (ErrInstructionFileInUse):
// delete the object.
func (c *Client) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	sse := deleteSSE(c, in.ExpectedBucketOwner, in.RequestPayer, optFns)
	if in.VersionId == nil {
		if err := c.checkInstructionFileInUse(ctx, in.Bucket, aws.ToString(in.Key), sseFields{owner: in.ExpectedBucketOwner, payer: in.RequestPayer}, optFns); err != nil {
			return nil, &ObjectError{Op: "DeleteObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
		}
	}
	out, err := c.Client.DeleteObject(ctx, in, optFns...)
	if err != nil {
		return nil, &ObjectError{Op: "DeleteObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	if in.VersionId != nil {
		return out, nil
	}
	if err := c.deleteInstructionFile(ctx, in.Bucket, aws.ToString(in.Key), sse, optFns); err != nil {
		return nil, &ObjectError{Op: "DeleteObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key),
			Err: fmt.Errorf("object deleted, but not its instruction file: %w", err)}
	}
	if err := c.deleteIndex(ctx, in.Bucket, aws.ToString(in.Key), sse, optFns); err != nil {
		return nil, &ObjectError{Op: "DeleteObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key),
			Err: fmt.Errorf("object deleted, but not its index %s: %w", core.IndexKey(aws.ToString(in.Key)), err)}
	}
	return out, nil
}

// deleteInstructionFile deletes key's instruction file if there is one,
// that is, if <key><suffix> exists and carries the marker. The delete is
// conditional on the ETag seen, so that an object put there meanwhile is
// not deleted.
func (c *Client) deleteInstructionFile(ctx context.Context, bucket *string, key string, sse sseFields, optFns []func(*s3.Options)) error {
	return c.deleteMarked(ctx, bucket, core.InstructionFileKey(&c.opts, key), IsInstructionFile, sse, optFns)
}

// deleteSSE is what the HEADs of a delete's companion checks carry: the
// owner and payer of the request, and the SSE-C key of WithSSECustomerKey.
func deleteSSE(c *Client, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) sseFields {
	sse := sseFields{owner: owner, payer: payer}
	if k := collectCallOptions(c.Client.Options(), optFns).ssec; k != nil {
		sse.alg, sse.key, sse.keyMD5 = &k.alg, &k.key, &k.keyMD5
	}
	return sse
}

// deleteMarked deletes the companion object instKey (an instruction file
// or an index) if it exists and marked says its metadata marks it as one.
func (c *Client) deleteMarked(ctx context.Context, bucket *string, instKey string, marked func(map[string]string) bool, sse sseFields, optFns []func(*s3.Options)) error {
	owner, payer := sse.owner, sse.payer
	head := &s3.HeadObjectInput{Bucket: bucket, Key: &instKey, ExpectedBucketOwner: owner, RequestPayer: payer}
	h, err := c.Client.HeadObject(ctx, head, optFns...)
	if isBadRequest(err) && sse.key != nil {
		// Stored with SSE-C: S3 describes it with the key only.
		head.SSECustomerAlgorithm, head.SSECustomerKey, head.SSECustomerKeyMD5 = sse.alg, sse.key, sse.keyMD5
		h, err = c.Client.HeadObject(ctx, head, optFns...)
	}
	if isNotFound(err) || isBadRequest(err) {
		// None; or stored with SSE-C, which S3 does not describe without
		// the key (or with another key): it cannot be told from a user's
		// object, so it is left alone.
		return nil
	}
	if err != nil {
		return fmt.Errorf("checking whether %s is ours: %w", instKey, err)
	}
	if !marked(h.Metadata) {
		return nil // the caller's own object
	}
	_, err = c.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: bucket, Key: &instKey, IfMatch: h.ETag,
		ExpectedBucketOwner: owner, RequestPayer: payer}, optFns...)
	if isNotFound(err) {
		return nil
	}
	return err
}

// deleteCheckConcurrency bounds the HEAD requests DeleteObjects makes at
// once to find instruction files.
const deleteCheckConcurrency = 16

// DeleteObjects deletes the objects, then the instruction files and chunk
// indexes of those deleted without a VersionId, as DeleteObject does: only objects
// <key>.instruction that carry the instruction-file marker. Failures to
// check or delete an instruction file are added to the output's Errors
// under the instruction file's key. An instruction file that an object
// not deleted in the same call needs is not deleted either: it is reported
// in Errors with the code InstructionFileInUse.
func (c *Client) DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error) {
	sse := deleteSSE(c, in.ExpectedBucketOwner, in.RequestPayer, optFns)
	in, refused := c.withoutInstructionFilesInUse(ctx, in, optFns)
	if len(refused) > 0 && len(in.Delete.Objects) == 0 {
		return &s3.DeleteObjectsOutput{Errors: refused}, nil
	}
	out, err := c.Client.DeleteObjects(ctx, in, optFns...)
	if err != nil {
		return nil, &ObjectError{Op: "DeleteObjects", Bucket: aws.ToString(in.Bucket), Err: err}
	}
	out.Errors = append(out.Errors, refused...)
	if in.Delete == nil {
		return out, nil
	}
	failed := map[string]bool{}
	for _, e := range out.Errors {
		failed[aws.ToString(e.Key)] = true
	}
	var keys []string
	for _, o := range in.Delete.Objects {
		if o.VersionId == nil && !failed[aws.ToString(o.Key)] {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	var (
		mu  sync.Mutex
		wg  sync.WaitGroup
		sem = make(chan struct{}, deleteCheckConcurrency)
	)
	for _, k := range keys {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := c.deleteInstructionFile(ctx, in.Bucket, k, sse, optFns); err != nil {
				mu.Lock()
				out.Errors = append(out.Errors, types.Error{Key: aws.String(core.InstructionFileKey(&c.opts, k)),
					Code: aws.String("InstructionFileNotDeleted"), Message: aws.String(fmt.Sprintf("object %s deleted, but not its instruction file: %v", k, err))})
				mu.Unlock()
			}
			if err := c.deleteIndex(ctx, in.Bucket, k, sse, optFns); err != nil {
				mu.Lock()
				out.Errors = append(out.Errors, types.Error{Key: aws.String(core.IndexKey(k)),
					Code: aws.String("IndexNotDeleted"), Message: aws.String(fmt.Sprintf("object %s deleted, but not its index: %v", k, err))})
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return out, nil
}

// isNotFound reports whether err is S3's answer for a missing object.
func isNotFound(err error) bool {
	if err == nil {
		return false
	}
	var nf *types.NotFound
	var nsk *types.NoSuchKey
	if errors.As(err, &nf) || errors.As(err, &nsk) {
		return true
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "NotFound", "NoSuchKey":
			return true
		}
	}
	return false
}

// withoutInstructionFilesInUse returns in without the instruction files
// (keys ending in the suffix, without a VersionId) that an existing object
// not deleted in the same request needs, and an error entry for each.
func (c *Client) withoutInstructionFilesInUse(ctx context.Context, in *s3.DeleteObjectsInput, optFns []func(*s3.Options)) (*s3.DeleteObjectsInput, []types.Error) {
	if in.Delete == nil {
		return in, nil
	}
	deleted := map[string]bool{}
	for _, o := range in.Delete.Objects {
		if o.VersionId == nil {
			deleted[aws.ToString(o.Key)] = true
		}
	}
	refuse := make([]error, len(in.Delete.Objects))
	var wg sync.WaitGroup
	sem := make(chan struct{}, deleteCheckConcurrency)
	for i, o := range in.Delete.Objects {
		owner, ok := strings.CutSuffix(aws.ToString(o.Key), c.opts.InstructionFileSuffix)
		if o.VersionId != nil || !ok || deleted[owner] {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			refuse[i] = c.checkInstructionFileInUse(ctx, in.Bucket, aws.ToString(o.Key), sseFields{owner: in.ExpectedBucketOwner, payer: in.RequestPayer}, optFns)
		}()
	}
	wg.Wait()
	var errs []types.Error
	var keep []types.ObjectIdentifier
	for i, o := range in.Delete.Objects {
		if refuse[i] == nil {
			keep = append(keep, o)
			continue
		}
		code := "InstructionFileInUse"
		if !errors.Is(refuse[i], ErrInstructionFileInUse) {
			code = "InstructionFileNotChecked"
		}
		errs = append(errs, types.Error{Key: o.Key, Code: aws.String(code), Message: aws.String(refuse[i].Error())})
	}
	if len(errs) == 0 {
		return in, nil
	}
	cp := *in
	del := *in.Delete
	del.Objects = keep
	cp.Delete = &del
	return &cp, errs
}

// isBadRequest reports whether err is a 400 response, which S3 gives to a
// HEAD of an SSE-C object without its key.
func isBadRequest(err error) bool {
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusBadRequest
}
