package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/core"
)

// The chunk index (<key>.s3c-index, see IsIndexObject) lets GetObject
// stream authenticated plaintext without spooling: it holds a MAC per
// chunk of the object's ciphertext under a key derived from the object's
// data key. It is optional: without it, or with one that does not verify,
// reads authenticate the whole object first, as before.

// IndexSuffix is appended to an object's key to name its chunk index.
const IndexSuffix = core.IndexSuffix

// IsIndexObject reports whether an object's user metadata, as S3 returns
// it, carries the marker s3c puts on chunk indexes: x-amz-meta-s3c-index
// with the value 1. An object without it is never taken for an index,
// whatever its name.
func IsIndexObject(meta map[string]string) bool { return core.IsIndexObject(meta) }

// maxIndexSize bounds the index object a reader fetches.
const maxIndexSize = 8 << 20

// errNoIndex: the object has no (marked) index.
var errNoIndex = errors.New("no index")

// fetchIndex gets key's index object: errNoIndex if there is none, or an
// object of that name lacks the marker.
func (c *Client) fetchIndex(ctx context.Context, bucket *string, key string, sse sseFields, optFns []func(*s3.Options)) ([]byte, error) {
	ik := core.IndexKey(key)
	out, err := c.Client.GetObject(ctx, &s3.GetObjectInput{
		Bucket: bucket, Key: &ik,
		SSECustomerAlgorithm: sse.alg, SSECustomerKey: sse.key, SSECustomerKeyMD5: sse.keyMD5,
		ExpectedBucketOwner: sse.owner, RequestPayer: sse.payer,
	}, optFns...)
	if isNotFound(err) {
		return nil, errNoIndex
	}
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if !IsIndexObject(out.Metadata) {
		return nil, errNoIndex
	}
	b, err := io.ReadAll(io.LimitReader(out.Body, maxIndexSize+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxIndexSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", core.ErrIndexInvalid, maxIndexSize)
	}
	return b, nil
}

// writeIndex stores an index body at in.Key (already the index's key),
// marked, without overwriting an object of that name that is not an
// index: If-None-Match, or If-Match on the ETag of a marked one.
func (c *Client) writeIndex(ctx context.Context, in *s3.PutObjectInput, body []byte, optFns []func(*s3.Options)) error {
	put := *in
	put.Body = bytes.NewReader(body)
	put.ContentLength = aws.Int64(int64(len(body)))
	put.ContentType = aws.String("application/octet-stream")
	put.Metadata = core.IndexMetadata()
	put.IfNoneMatch, put.IfMatch = aws.String("*"), nil
	put.ChecksumAlgorithm = ""
	_, err := c.Client.PutObject(ctx, &put, optFns...)
	if !isPreconditionFailed(err) {
		return err
	}
	h, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, optFns...)
	if err != nil {
		return fmt.Errorf("%s exists and could not be checked: %w", aws.ToString(in.Key), err)
	}
	if !IsIndexObject(h.Metadata) {
		return fmt.Errorf("%s is not an s3c index (no marker); not overwritten", aws.ToString(in.Key))
	}
	put.Body = bytes.NewReader(body)
	put.IfNoneMatch, put.IfMatch = nil, h.ETag
	_, err = c.Client.PutObject(ctx, &put, optFns...)
	return err
}

// deleteIndex deletes key's index if there is one: <key>.s3c-index with
// the marker, conditional on the ETag seen.
func (c *Client) deleteIndex(ctx context.Context, bucket *string, key string, owner *string, payer types.RequestPayer, optFns []func(*s3.Options)) error {
	return c.deleteMarked(ctx, bucket, core.IndexKey(key), IsIndexObject, owner, payer, optFns)
}

// copyIndex copies the source's index, if it has one, beside the copy
// (same ciphertext, same data key: it stays valid). A failure leaves the
// copy without an index, which reads fall back from; it is not an error
// of the copy.
func (c *Client) copyIndex(ctx context.Context, src copySource, srcSSE sseFields, in *s3.CopyObjectInput, optFns []func(*s3.Options)) {
	if src.version != nil {
		return // which version of the index goes with it cannot be told
	}
	b, err := c.fetchIndex(ctx, &src.bucket, src.key, srcSSE, optFns)
	if err != nil {
		return
	}
	ik := core.IndexKey(aws.ToString(in.Key))
	_ = c.writeIndex(ctx, &s3.PutObjectInput{
		Bucket: in.Bucket, Key: &ik,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		StorageClass:         in.StorageClass,
		ServerSideEncryption: in.ServerSideEncryption, SSEKMSKeyId: in.SSEKMSKeyId,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, b, optFns)
}

// wantsIndex reports whether an object of size bytes of plaintext gets a
// chunk index (Options.IndexThreshold).
func (c *Client) wantsIndex(size int64) bool {
	t := c.opts.IndexThreshold
	return t >= 0 && size >= 0 && core.CiphertextSize(size) > t
}

// storeIndex writes an object's chunk index (nil: none) after the object.
// The object is complete and readable without it, so a failure is not
// the put's: reads then authenticate the object whole.
func (c *Client) storeIndex(ctx context.Context, in *s3.PutObjectInput, body []byte, optFns []func(*s3.Options)) {
	if body == nil {
		return
	}
	put := c.instructionFileInput(in)
	put.Key = aws.String(core.IndexKey(aws.ToString(in.Key)))
	_ = c.writeIndex(ctx, put, body, optFns)
}
