package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/metadata"
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
func (c *Client) deleteIndex(ctx context.Context, bucket *string, key string, sse sseFields, optFns []func(*s3.Options)) error {
	return c.deleteMarked(ctx, bucket, core.IndexKey(key), IsIndexObject, sse, optFns)
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
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext, BucketKeyEnabled: in.BucketKeyEnabled,
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

// getIndexedRange serves a Range GET without WithUnauthenticatedRange: it
// reads the chunks that cover the range and releases each only after its
// MAC in the object's index verifies. An object without a valid index is
// refused with ErrRangeNotAllowed, as before indexes.
func (c *Client) getIndexedRange(ctx context.Context, in *s3.GetObjectInput, call callOptions, optFns []func(*s3.Options)) (*s3.GetObjectOutput, error) {
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "GetObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	noIndex := func(ref, why string) error {
		return fail(ref, fmt.Errorf("%w (%s)", ErrRangeNotAllowed, why))
	}
	r, err := parseRange(aws.ToString(in.Range))
	if err != nil {
		return nil, fail("", err)
	}
	if in.VersionId != nil {
		return nil, noIndex("", "a version's index cannot be told")
	}
	h, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key,
		IfMatch: in.IfMatch, IfNoneMatch: in.IfNoneMatch, IfModifiedSince: in.IfModifiedSince, IfUnmodifiedSince: in.IfUnmodifiedSince,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil {
		return nil, fail("", err)
	}
	index := make(chan indexResult, 1)
	go func() {
		b, err := c.fetchIndex(ctx, in.Bucket, aws.ToString(in.Key), sseOf(in), optFns)
		index <- indexResult{b, err}
	}()
	env, err := c.loadEnvelope(ctx, in.Bucket, in.Key, sseOf(in), h.Metadata, optFns)
	if err != nil {
		return nil, fail("", err)
	}
	stored := aws.ToInt64(h.ContentLength)
	if h.ContentLength == nil || h.ETag == nil || env.ContentAlg == metadata.ContentAESCBC {
		return nil, noIndex(core.RecordedKeyRef(env), "the object has no chunk index")
	}
	dec, err := core.NewDecryption(ctx, &c.opts, env, call.context, true)
	if err != nil {
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	res := <-index
	if res.err != nil {
		return nil, noIndex(dec.KeyRef(), "the object has no chunk index")
	}
	x, err := dec.DecodeIndex(res.body, stored)
	if err != nil {
		return nil, noIndex(dec.KeyRef(), err.Error())
	}
	size := stored - aesgcm.TagSize
	a, b := r.a, r.b
	if r.suffix {
		a, b = max(size-r.n, 0), size-1
	}
	if b < 0 || b >= size {
		b = size - 1
	}
	if a >= size {
		return nil, fail(dec.KeyRef(), fmt.Errorf("range starts at byte %d, the object holds %d bytes of plaintext", a, size))
	}
	cs := a / x.ChunkSize * x.ChunkSize
	last := b / x.ChunkSize
	ce := last*x.ChunkSize + x.ChunkLen(last) - 1
	req := *in
	req.Range = aws.String(fmt.Sprintf("bytes=%d-%d", cs, ce))
	req.IfMatch, req.IfNoneMatch, req.IfModifiedSince, req.IfUnmodifiedSince = h.ETag, nil, nil, nil
	out, err := c.Client.GetObject(ctx, &req, append(optFns, noRangeChecksum)...)
	if err != nil {
		return nil, fail(dec.KeyRef(), err)
	}
	if _, _, err := checkContentRange(out, cs, ce, stored); err != nil {
		out.Body.Close()
		return nil, fail(dec.KeyRef(), err)
	}
	body := c.objectSource(in, optFns, h.ETag, stored).reader(ctx, out.Body, cs, ce, ce)
	n := b - a + 1
	out.Body = dec.OpenIndexed(body, x, a, n, false)
	out.ContentLength = aws.Int64(n)
	out.ContentRange = aws.String(fmt.Sprintf("bytes %d-%d/%d", a, b, size))
	out.Metadata = userMetadata(out.Metadata)
	setObjectInfo(&out.ResultMetadata, &ObjectInfo{Envelope: env, KeyRef: dec.KeyRef(), PlaintextSize: size, StoredSize: stored, ReadPath: core.ReadIndexRange})
	return out, nil
}

// partIndexChunk returns the chunk size of the index of a multipart
// upload with parts of partSize bytes: the test override or
// core.DefaultIndexChunk if it divides the part size, else the part size
// split into the fewest equal chunks of at most that size that are
// multiples of 16; 0 if there is none.
func (c *Client) partIndexChunk(partSize int64) int64 {
	want := c.indexChunk
	if want <= 0 {
		want = core.DefaultIndexChunk
	}
	if partSize%want == 0 {
		return want
	}
	for k := (partSize + want - 1) / want; k <= (partSize+want-1)/want+16; k++ {
		if partSize%(k*aesgcm.BlockSize) == 0 {
			return partSize / k
		}
	}
	return 0
}

// BuildIndex writes the chunk index (see IsIndexObject) of an existing
// AES-GCM object, V2 or V3, for example one written by AWS's clients or
// before s3c wrote indexes, so that GetObject streams it and serves
// authenticated ranges. It reads the object once in full, in constant
// memory, and writes the index only if the whole object authenticates.
// An object of the index's name that is not an index is never
// overwritten. in names the object; Range, PartNumber and VersionId are
// refused. WithEncryptionContext applies, in optFns.
func (c *Client) BuildIndex(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) error {
	call := collectCallOptions(c.Client.Options(), optFns)
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "BuildIndex", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	if in.Range != nil || in.PartNumber != nil || in.VersionId != nil {
		return fail("", errors.New("an index describes the current object as a whole: no Range, PartNumber or VersionId"))
	}
	out, err := c.Client.GetObject(ctx, in, optFns...)
	if err != nil {
		return fail("", err)
	}
	defer out.Body.Close()
	env, err := c.loadEnvelope(ctx, in.Bucket, in.Key, sseOf(in), out.Metadata, optFns)
	if err != nil {
		return fail("", err)
	}
	ref := core.RecordedKeyRef(env)
	if env.ContentAlg == metadata.ContentAESCBC {
		return fail(ref, errors.New("only AES-GCM objects (V2, V3) can have an index"))
	}
	if out.ContentLength == nil {
		return fail(ref, errors.New("S3 did not report the object's size"))
	}
	stored := *out.ContentLength
	if err := core.CheckStoredSize(env, stored); err != nil {
		return fail(ref, err)
	}
	if _, err := core.PlaintextSizeOf(stored); err != nil {
		return fail(ref, err)
	}
	dec, err := core.NewDecryption(ctx, &c.opts, env, call.context, true)
	if err != nil {
		return fail(ref, err)
	}
	w := dec.NewIndexWriter(c.indexChunk)
	h := dec.Content.GCM.NewHash()
	body := c.objectSource(in, optFns, out.ETag, stored).reader(ctx, out.Body, 0, stored-1, stored-1)
	buf := make([]byte, 1<<20)
	for left := stored - aesgcm.TagSize; left > 0; {
		b := buf[:min(int64(len(buf)), left)]
		if _, err := io.ReadFull(body, b); err != nil {
			if err == io.ErrUnexpectedEOF || err == io.EOF {
				err = core.ErrAuthentication
			}
			return fail(dec.KeyRef(), err)
		}
		w.Write(b)
		h.Write(b)
		left -= int64(len(b))
	}
	tag := make([]byte, aesgcm.TagSize)
	if _, err := io.ReadFull(body, tag); err != nil {
		return fail(dec.KeyRef(), core.ErrAuthentication)
	}
	if !h.Verify(dec.Content.AAD, tag) {
		return fail(dec.KeyRef(), core.ErrAuthentication)
	}
	if err := core.ExpectEOF(body); err != nil {
		return fail(dec.KeyRef(), err)
	}
	ik := core.IndexKey(aws.ToString(in.Key))
	put := &s3.PutObjectInput{Bucket: in.Bucket, Key: &ik,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer}
	if err := c.writeIndex(ctx, put, w.Finish(dec.IndexID(), tag), optFns); err != nil {
		return fail(dec.KeyRef(), fmt.Errorf("writing %s: %w", ik, err))
	}
	return nil
}
