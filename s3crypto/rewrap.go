package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// RewrapResult says what RewrapObject did.
type RewrapResult string

const (
	// RewrapRewrapped means the object's data key is now wrapped by the
	// new keyring.
	RewrapRewrapped RewrapResult = "rewrapped"
	// RewrapCurrent means the object was already wrapped by the new
	// keyring's master key (it claims the object, see keyring.Claimer):
	// nothing was written.
	RewrapCurrent RewrapResult = "current"
)

// maxCopySize is S3's limit for CopyObject and for one UploadPartCopy.
const maxCopySize = 5 << 30

// minCopyPartSize is S3's smallest part but the last.
const minCopyPartSize = 5 << 20

// RewrapObjectInput names an object to rewrap and its new keyring.
type RewrapObjectInput struct {
	Bucket *string // required
	Key    *string // required
	// VersionId, if set, must be the object's current version: a rewrap
	// writes the current version (see RewrapObject).
	VersionId *string
	// NewKeyring wraps the data key (keyring.KeyWrapper, or
	// keyring.Rewrapper for a move inside the key manager). Required. The
	// Client's own keyring unwraps.
	NewKeyring keyring.Keyring
	// ToInstructionFile moves an envelope kept in the object's metadata
	// into its instruction file, so that the next rotation rewrites only
	// that file.
	ToInstructionFile bool

	// SSE-C key of the object, if it is stored with one: used to read it
	// and to write it back under the same key.
	SSECustomerAlgorithm *string
	SSECustomerKey       *string
	SSECustomerKeyMD5    *string

	ExpectedBucketOwner *string
	RequestPayer        types.RequestPayer

	// MultipartCopyThreshold is the stored size above which a metadata
	// envelope is rewritten by a multipart copy (UploadPartCopy) instead
	// of CopyObject; it is also the part size. Zero or more than 5 GiB
	// means 5 GiB, S3's CopyObject limit; less than 5 MiB means 5 MiB.
	MultipartCopyThreshold int64
}

// RewrapObjectOutput reports a rewrap.
type RewrapObjectOutput struct {
	Result RewrapResult
	// KeyRefBefore names the master key the envelope named before (as
	// recorded, see ObjectInfo.KeyRef); KeyRefAfter the one that wraps
	// the data key now.
	KeyRefBefore, KeyRefAfter string
	// ETag and VersionId are the object's after the rewrap: a new
	// version for an envelope in metadata, the same for an instruction
	// file.
	ETag, VersionId *string
}

// RewrapObject moves an object's data key to NewKeyring's master key
// without downloading or re-encrypting the object: the Client's keyring
// unwraps it (as for a read: the commitment policy applies and the
// object's own stored context is the expected one) and NewKeyring wraps
// it, or NewKeyring's key manager moves it itself when it can (AWS KMS
// ReEncrypt: the plaintext key never leaves KMS), for an object that
// names a key the Client's keyring trusts. The format, content algorithm,
// IV, message ID and key commitment stay; the stored encryption context
// or material description stays, but for the pairs that name the master
// key. An object NewKeyring already claims is left alone
// (RewrapCurrent). Legacy objects (V1, AES-CBC, legacy key wraps) are
// refused with a *PolicyError.
//
// An envelope in an instruction file is rewritten there alone,
// conditional on the file's ETag; the object itself is not touched. An
// envelope in the object's metadata is rewritten by copying the object
// onto itself (MetadataDirective REPLACE, conditional on the ETag read,
// so that a concurrent overwrite fails with ErrObjectChanged and is not
// clobbered), carrying its content headers, user metadata, tags, storage
// class, website redirect, SSE settings and checksum algorithm; objects
// above MultipartCopyThreshold are copied in parts. In a versioned
// bucket that makes a new version; older versions keep their wrapping.
// Object ACLs and Object Lock settings are not carried over.
func (c *Client) RewrapObject(ctx context.Context, in *RewrapObjectInput, optFns ...func(*s3.Options)) (*RewrapObjectOutput, error) {
	bucket, key := aws.ToString(in.Bucket), aws.ToString(in.Key)
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "RewrapObject", Bucket: bucket, Key: key, KeyRef: ref, Err: err}
	}
	if bucket == "" || key == "" {
		return nil, fail("", errors.New("Bucket and Key are required"))
	}
	if in.NewKeyring == nil {
		return nil, fail("", errors.New("NewKeyring is required"))
	}
	h, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key, VersionId: in.VersionId,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		ChecksumMode: types.ChecksumModeEnabled,
	}, optFns...)
	if err != nil {
		return nil, fail("", err)
	}
	if h.ETag == nil {
		return nil, fail("", errors.New("S3 gave no ETag for the object"))
	}
	if in.VersionId != nil {
		if err := c.checkCurrentVersion(ctx, in, h, optFns); err != nil {
			return nil, fail("", err)
		}
	}
	var inst *rewrapInstruction
	env, err := core.ReadEnvelope(&c.opts, key, h.Metadata, func(instKey string) (*core.InstructionFile, error) {
		f, err := c.fetchInstructionForRewrap(ctx, in, instKey, optFns)
		inst = f
		if f == nil {
			return nil, err
		}
		return &f.InstructionFile, err
	})
	if err != nil {
		return nil, fail("", err)
	}
	before := core.RecordedKeyRef(env)
	if err := core.CheckRewrappable(env); err != nil {
		return nil, fail(before, err)
	}
	out := &RewrapObjectOutput{KeyRefBefore: before, ETag: h.ETag, VersionId: h.VersionId}
	if core.IsCurrent(in.NewKeyring, env) {
		out.Result, out.KeyRefAfter = RewrapCurrent, before
		return out, nil
	}
	rw, err := core.RewrapEnvelope(ctx, &c.opts, env, in.NewKeyring)
	if err != nil {
		return nil, fail(before, err)
	}
	out.Result, out.KeyRefAfter = RewrapRewrapped, rw.KeyRef
	if env.Storage == metadata.InstructionFile {
		if err := c.replaceInstructionFile(ctx, in, inst, rw.Envelope, optFns); err != nil {
			return nil, fail(before, err)
		}
		return out, nil
	}
	objMeta, file, err := core.PlaceEnvelope(&c.opts, rw.Envelope, metadata.WithoutEnvelope(h.Metadata), in.ToInstructionFile)
	if err != nil {
		return nil, fail(before, err)
	}
	instIn := &s3.PutObjectInput{
		Bucket: in.Bucket, Key: aws.String(core.InstructionFileKey(&c.opts, key)),
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		StorageClass: h.StorageClass, SSEKMSKeyId: kmsKeyOf(h), BucketKeyEnabled: h.BucketKeyEnabled,
	}
	if in.SSECustomerKey == nil {
		instIn.ServerSideEncryption = h.ServerSideEncryption
	}
	if file != nil {
		// The file first: the object keeps its old envelope in its
		// metadata, which readers prefer, until the copy replaces it.
		if err := c.writeInstructionFile(ctx, instIn, file, optFns); err != nil {
			return nil, fail(before, fmt.Errorf("writing the instruction file: %w", err))
		}
	}
	etag, version, err := c.copyInPlace(ctx, in, h, objMeta, optFns)
	if err != nil {
		if file != nil {
			err = c.undoInstructionFile(ctx, in, instIn, err, optFns)
		}
		return nil, fail(before, err)
	}
	out.ETag, out.VersionId = etag, version
	return out, nil
}

// checkCurrentVersion refuses a VersionId that is not the object's
// current version: copying it onto the key would bring old content back.
func (c *Client) checkCurrentVersion(ctx context.Context, in *RewrapObjectInput, h *s3.HeadObjectOutput, optFns []func(*s3.Options)) error {
	cur, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil {
		return err
	}
	if aws.ToString(cur.VersionId) != aws.ToString(h.VersionId) {
		return fmt.Errorf("version %s is not the current version (%s): only the current version can be rewrapped", aws.ToString(in.VersionId), aws.ToString(cur.VersionId))
	}
	return nil
}

// rewrapInstruction is an instruction file as read for a rewrap, with
// the ETag its replacement is made conditional on.
type rewrapInstruction struct {
	core.InstructionFile
	etag *string
	get  *s3.GetObjectOutput // its properties, carried over
}

func (c *Client) fetchInstructionForRewrap(ctx context.Context, in *RewrapObjectInput, instKey string, optFns []func(*s3.Options)) (*rewrapInstruction, error) {
	f, out, err := c.readInstructionObject(ctx, &s3.GetObjectInput{
		Bucket: in.Bucket, Key: &instKey,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns)
	if err != nil {
		return nil, err
	}
	return &rewrapInstruction{InstructionFile: *f, etag: out.ETag, get: out}, nil
}

// replaceInstructionFile rewrites an object's instruction file with the
// new envelope, on the condition that it is still the file read. The
// object keeps its V3 object-side keys, which the rewrap does not change.
func (c *Client) replaceInstructionFile(ctx context.Context, in *RewrapObjectInput, inst *rewrapInstruction, env *metadata.Envelope, optFns []func(*s3.Options)) error {
	if inst == nil || inst.etag == nil {
		return errors.New("the instruction file's ETag is unknown")
	}
	_, file, err := env.InstructionFile()
	if err != nil {
		return err
	}
	instKey := core.InstructionFileKey(&c.opts, aws.ToString(in.Key))
	var sse types.ServerSideEncryption
	var kmsKey *string
	if in.SSECustomerKey == nil {
		sse, kmsKey = inst.get.ServerSideEncryption, inst.get.SSEKMSKeyId
		if sse != types.ServerSideEncryptionAwsKms && sse != types.ServerSideEncryptionAwsKmsDsse {
			kmsKey = nil
		}
	}
	_, err = c.Client.PutObject(ctx, &s3.PutObjectInput{
		StorageClass: inst.get.StorageClass, ServerSideEncryption: sse, SSEKMSKeyId: kmsKey, BucketKeyEnabled: inst.get.BucketKeyEnabled,
		Bucket: in.Bucket, Key: &instKey,
		Body: bytes.NewReader(file), ContentLength: aws.Int64(int64(len(file))),
		ContentType:          aws.String("application/json"),
		Metadata:             map[string]string{metadata.KeyInstructionFileMarker: ""},
		IfMatch:              inst.etag,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if isPreconditionFailed(err) {
		return fmt.Errorf("%w: the instruction file %s changed while it was being rewrapped; not overwritten", ErrObjectChanged, instKey)
	}
	if err != nil {
		return fmt.Errorf("writing the instruction file %s: %w", instKey, err)
	}
	return nil
}

// undoInstructionFile removes the instruction file written for a move
// to an instruction file whose copy failed, unless the object may have
// lost its metadata envelope (a copy whose outcome is unknown): then the
// file is what the object needs, and stays.
func (c *Client) undoInstructionFile(ctx context.Context, in *RewrapObjectInput, instIn *s3.PutObjectInput, copyErr error, optFns []func(*s3.Options)) error {
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	h, err := c.Client.HeadObject(cctx, &s3.HeadObjectInput{
		Bucket: in.Bucket, Key: in.Key,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("%w; the instruction file %s was left in place: whether the object still holds its envelope could not be checked (%v)", copyErr, aws.ToString(instIn.Key), err)
	}
	if err == nil {
		if _, derr := metadata.Decode(h.Metadata); derr != nil {
			return fmt.Errorf("%w; the instruction file %s was left in place: the object's metadata holds no complete envelope", copyErr, aws.ToString(instIn.Key))
		}
	}
	if derr := c.removeOwnWrite(ctx, in.Bucket, instIn.Key, in.ExpectedBucketOwner, in.RequestPayer, nil, nil, optFns); derr != nil {
		return fmt.Errorf("%w; removing the instruction file %s again: %v", copyErr, aws.ToString(instIn.Key), derr)
	}
	return copyErr
}

// copySourceOf is the CopySource of the object version h describes.
func copySourceOf(in *RewrapObjectInput, h *s3.HeadObjectOutput) *string {
	src := url.PathEscape(aws.ToString(in.Bucket)) + "/" + escapeKey(aws.ToString(in.Key))
	if v := aws.ToString(h.VersionId); v != "" && v != "null" {
		src += "?versionId=" + url.QueryEscape(v)
	}
	return &src
}

// escapeKey URL-encodes an object key for CopySource, keeping its
// slashes.
func escapeKey(k string) string {
	u := url.URL{Path: k}
	return u.EscapedPath()
}

// checksumAlgorithm is the algorithm of the full-object checksum a HEAD
// reports, or "".
func checksumAlgorithm(h *s3.HeadObjectOutput) types.ChecksumAlgorithm {
	switch {
	case h.ChecksumCRC64NVME != nil:
		return types.ChecksumAlgorithmCrc64nvme
	case h.ChecksumCRC32C != nil:
		return types.ChecksumAlgorithmCrc32c
	case h.ChecksumCRC32 != nil:
		return types.ChecksumAlgorithmCrc32
	case h.ChecksumSHA256 != nil:
		return types.ChecksumAlgorithmSha256
	case h.ChecksumSHA1 != nil:
		return types.ChecksumAlgorithmSha1
	}
	return ""
}

// kmsKeyOf is the SSE-KMS key to give again, for an object stored with
// SSE-KMS.
func kmsKeyOf(h *s3.HeadObjectOutput) *string {
	if h.ServerSideEncryption == types.ServerSideEncryptionAwsKms || h.ServerSideEncryption == types.ServerSideEncryptionAwsKmsDsse {
		return h.SSEKMSKeyId
	}
	return nil
}

// copyInPlace copies the object h describes onto itself with meta as its
// metadata and every other property carried over, conditional on h's
// ETag; in parts above the threshold.
func (c *Client) copyInPlace(ctx context.Context, in *RewrapObjectInput, h *s3.HeadObjectOutput, meta map[string]string, optFns []func(*s3.Options)) (etag, version *string, err error) {
	threshold := in.MultipartCopyThreshold
	if threshold <= 0 || threshold > maxCopySize {
		threshold = maxCopySize
	}
	threshold = max(threshold, minCopyPartSize)
	if aws.ToInt64(h.ContentLength) > threshold {
		return c.copyInParts(ctx, in, h, meta, threshold, optFns)
	}
	var sse types.ServerSideEncryption
	if in.SSECustomerKey == nil {
		sse = h.ServerSideEncryption
	}
	out, err := c.Client.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket: in.Bucket, Key: in.Key, CopySource: copySourceOf(in, h),
		CopySourceIfMatch: h.ETag,
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta,
		TaggingDirective: types.TaggingDirectiveCopy,
		ContentType:      h.ContentType, CacheControl: h.CacheControl, ContentDisposition: h.ContentDisposition,
		ContentEncoding: h.ContentEncoding, ContentLanguage: h.ContentLanguage, Expires: h.Expires,
		WebsiteRedirectLocation: h.WebsiteRedirectLocation,
		StorageClass:            h.StorageClass,
		ServerSideEncryption:    sse, SSEKMSKeyId: kmsKeyOf(h), BucketKeyEnabled: h.BucketKeyEnabled,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		CopySourceSSECustomerAlgorithm: in.SSECustomerAlgorithm, CopySourceSSECustomerKey: in.SSECustomerKey, CopySourceSSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ChecksumAlgorithm:   checksumAlgorithm(h),
		ExpectedBucketOwner: in.ExpectedBucketOwner, ExpectedSourceBucketOwner: in.ExpectedBucketOwner,
		RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil {
		return nil, nil, changedOr(err)
	}
	if out.CopyObjectResult != nil {
		etag = out.CopyObjectResult.ETag
	}
	return etag, out.VersionId, nil
}

// changedOr turns a failed CopySourceIfMatch into ErrObjectChanged.
func changedOr(err error) error {
	if isPreconditionFailed(err) {
		return fmt.Errorf("%w: the object was overwritten while it was being rewrapped; the new object was left as it is (%v)", ErrObjectChanged, err)
	}
	return err
}

// copyPartJobs bounds the UploadPartCopy requests of one object in flight.
const copyPartJobs = 4

// copyInParts is copyInPlace for objects above the threshold: a
// multipart upload of UploadPartCopy ranges, each conditional on h's
// ETag, aborted on any failure.
func (c *Client) copyInParts(ctx context.Context, in *RewrapObjectInput, h *s3.HeadObjectOutput, meta map[string]string, partSize int64, optFns []func(*s3.Options)) (etag, version *string, err error) {
	size := aws.ToInt64(h.ContentLength)
	partSize = max(partSize, (size+9999)/10000)
	tagging, err := c.objectTagging(ctx, in, h, optFns)
	if err != nil {
		return nil, nil, err
	}
	var sse types.ServerSideEncryption
	if in.SSECustomerKey == nil {
		sse = h.ServerSideEncryption
	}
	alg := checksumAlgorithm(h)
	create := &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, Metadata: meta, Tagging: tagging,
		ContentType: h.ContentType, CacheControl: h.CacheControl, ContentDisposition: h.ContentDisposition,
		ContentEncoding: h.ContentEncoding, ContentLanguage: h.ContentLanguage, Expires: h.Expires,
		WebsiteRedirectLocation: h.WebsiteRedirectLocation,
		StorageClass:            h.StorageClass,
		ServerSideEncryption:    sse, SSEKMSKeyId: kmsKeyOf(h), BucketKeyEnabled: h.BucketKeyEnabled,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ChecksumAlgorithm:   alg,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}
	var attempts attemptLog
	cu, err := c.Client.CreateMultipartUpload(ctx, create, append(slices.Clip(optFns), attempts.option())...)
	var strays []error
	if first, ambiguous := attempts.result(); ambiguous {
		ours := ""
		if err == nil {
			ours = aws.ToString(cu.UploadId)
		}
		strays = c.abortStrays(ctx, create, ours, first, time.Now(), optFns)
	}
	if err != nil {
		return nil, nil, withCleanupErrors(err, strays...)
	}
	id := aws.ToString(cu.UploadId)
	abort := func(err error) error {
		return withCleanupErrors(err, append(strays, c.abortUpload(ctx, in.Bucket, in.Key, id, in.ExpectedBucketOwner, in.RequestPayer, optFns))...)
	}

	n := int((size + partSize - 1) / partSize)
	parts := make([]types.CompletedPart, n)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sem := make(chan struct{}, copyPartJobs)
	for i := range n {
		sem <- struct{}{}
		if pctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			from := int64(i) * partSize
			to := min(from+partSize, size) - 1
			out, err := c.Client.UploadPartCopy(pctx, &s3.UploadPartCopyInput{
				Bucket: in.Bucket, Key: in.Key, UploadId: &id, PartNumber: aws.Int32(int32(i + 1)),
				CopySource: copySourceOf(in, h), CopySourceIfMatch: h.ETag,
				CopySourceRange:      aws.String(fmt.Sprintf("bytes=%d-%d", from, to)),
				SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
				CopySourceSSECustomerAlgorithm: in.SSECustomerAlgorithm, CopySourceSSECustomerKey: in.SSECustomerKey, CopySourceSSECustomerKeyMD5: in.SSECustomerKeyMD5,
				ExpectedBucketOwner: in.ExpectedBucketOwner, ExpectedSourceBucketOwner: in.ExpectedBucketOwner,
				RequestPayer: in.RequestPayer,
			}, optFns...)
			if err == nil && out.CopyPartResult == nil {
				err = errors.New("UploadPartCopy returned no result")
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				if firstErr == nil {
					firstErr = fmt.Errorf("copying part %d: %w", i+1, changedOr(err))
					cancel()
				}
				return
			}
			r := out.CopyPartResult
			parts[i] = types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: r.ETag,
				ChecksumCRC32: r.ChecksumCRC32, ChecksumCRC32C: r.ChecksumCRC32C, ChecksumCRC64NVME: r.ChecksumCRC64NVME,
				ChecksumSHA1: r.ChecksumSHA1, ChecksumSHA256: r.ChecksumSHA256}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = context.Cause(ctx)
	}
	if firstErr != nil {
		return nil, nil, abort(firstErr)
	}
	sort.Slice(parts, func(i, j int) bool { return aws.ToInt32(parts[i].PartNumber) < aws.ToInt32(parts[j].PartNumber) })
	done, err := c.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, UploadId: &id,
		// Only over the object read: one written after the last part
		// copy is not replaced either.
		IfMatch:              h.ETag,
		MultipartUpload:      &types.CompletedMultipartUpload{Parts: parts},
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
	}, optFns...)
	if err != nil {
		return nil, nil, abort(fmt.Errorf("completing the multipart copy: %w", changedOr(err)))
	}
	return done.ETag, done.VersionId, withCleanupErrors(nil, strays...)
}

// objectTagging returns the object's tags as a Tagging header value, ""
// for none (a multipart copy cannot copy them: CreateMultipartUpload has
// no TaggingDirective).
func (c *Client) objectTagging(ctx context.Context, in *RewrapObjectInput, h *s3.HeadObjectOutput, optFns []func(*s3.Options)) (*string, error) {
	if h.TagCount != nil && *h.TagCount == 0 {
		return nil, nil
	}
	out, err := c.Client.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: in.Bucket, Key: in.Key, VersionId: h.VersionId,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer}, optFns...)
	if err != nil {
		return nil, fmt.Errorf("reading the object's tags: %w", err)
	}
	if len(out.TagSet) == 0 {
		return nil, nil
	}
	v := url.Values{}
	for _, t := range out.TagSet {
		v.Add(aws.ToString(t.Key), aws.ToString(t.Value))
	}
	s := v.Encode()
	return &s, nil
}
