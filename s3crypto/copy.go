package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"maps"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/metadata"
)

// CopyObject copies an object server-side, as *s3.Client does, keeping an
// encrypted object decryptable: the ciphertext is copied as it is, with
// its envelope.
//
//   - With MetadataDirective REPLACE the caller's Metadata replaces the
//     source's, but the envelope's keys are kept (the caller may not set
//     any of them). This also holds in place (source and destination the
//     same), where dropping them would leave the only copy undecryptable.
//   - When the source's envelope is in its instruction file, that file is
//     copied too, after the object, to the destination key plus the
//     instruction-file suffix; an object of that name which is not an
//     instruction file (see IsInstructionFile) is never overwritten. If
//     the instruction file cannot be written, the new copy is deleted
//     again and CopyObject fails.
//   - The source's chunk index (see IsIndexObject), if it has one, is
//     copied beside the copy, where it stays valid (same ciphertext, same
//     data key). Failing to copy it does not fail the copy: reads of an
//     object without an index authenticate it whole first.
//
// The copy is made conditional on the ETag of the source version whose
// metadata was read, so that a concurrent overwrite of the source fails
// the copy instead of pairing one object's ciphertext with another's
// envelope. Objects larger than S3's CopyObject limit (5 GiB) are refused
// by S3, as without encryption.
func (c *Client) CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error) {
	fail := func(err error) error {
		return &ObjectError{Op: "CopyObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	for k := range in.Metadata {
		if isReserved(k) {
			return nil, fail(core.ReservedMetadataError(k))
		}
	}
	src, err := parseCopySource(aws.ToString(in.CopySource))
	if err != nil {
		return nil, fail(err)
	}
	srcSSE := sseFields{in.CopySourceSSECustomerAlgorithm, in.CopySourceSSECustomerKey, in.CopySourceSSECustomerKeyMD5, in.ExpectedSourceBucketOwner, in.RequestPayer}
	h, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{
		Bucket: &src.bucket, Key: &src.key, VersionId: src.version,
		SSECustomerAlgorithm: srcSSE.alg, SSECustomerKey: srcSSE.key, SSECustomerKeyMD5: srcSSE.keyMD5,
		ExpectedBucketOwner: srcSSE.owner, RequestPayer: srcSSE.payer,
	}, optFns...)
	if err != nil {
		return nil, fail(fmt.Errorf("reading the source s3://%s/%s: %w", src.bucket, src.key, err))
	}
	if h.ETag == nil {
		return nil, fail(fmt.Errorf("S3 gave no ETag for the source s3://%s/%s", src.bucket, src.key))
	}
	inst, err := c.sourceInstructionFile(ctx, src, srcSSE, h.Metadata, optFns)
	if err != nil {
		return nil, fail(err)
	}

	cp := *in
	if in.CopySourceIfMatch != nil && strings.Trim(*in.CopySourceIfMatch, `"`) != strings.Trim(*h.ETag, `"`) {
		return nil, fail(fmt.Errorf("source s3://%s/%s does not match CopySourceIfMatch %s", src.bucket, src.key, *in.CopySourceIfMatch))
	}
	cp.CopySourceIfMatch = h.ETag
	if in.MetadataDirective == types.MetadataDirectiveReplace {
		meta := maps.Clone(in.Metadata)
		if meta == nil {
			meta = map[string]string{}
		}
		for k, v := range h.Metadata {
			if metadata.IsReservedKey(k) {
				meta[strings.ToLower(k)] = v
			}
		}
		cp.Metadata = meta
	}

	sameObject := src.bucket == aws.ToString(in.Bucket) && src.key == aws.ToString(in.Key)
	dstInst := core.InstructionFileKey(&c.opts, aws.ToString(in.Key))
	write := &s3.PutObjectInput{
		Bucket: in.Bucket, Key: &dstInst,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		ACL: in.ACL, StorageClass: in.StorageClass,
		ServerSideEncryption: in.ServerSideEncryption, SSEKMSKeyId: in.SSEKMSKeyId,
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext, BucketKeyEnabled: in.BucketKeyEnabled,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}
	if !sameObject {
		if err := c.checkInstructionFileInUse(ctx, in.Bucket, aws.ToString(in.Key), sseFields{in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5, in.ExpectedBucketOwner, in.RequestPayer}, optFns); err != nil {
			return nil, fail(err)
		}
	}
	if inst != nil && !sameObject {
		// Refuse before copying anything if the destination's instruction
		// file name is taken by an object of the caller's.
		if err := c.checkInstructionFileFree(ctx, write, optFns); err != nil {
			return nil, fail(err)
		}
	}
	out, err := c.Client.CopyObject(ctx, &cp, optFns...)
	if err != nil {
		return nil, fail(err)
	}
	if sameObject {
		return out, nil
	}
	if inst == nil {
		c.copyIndex(ctx, src, srcSSE, in, optFns)
		return out, nil
	}
	if err := c.writeInstructionFile(ctx, write, inst.Body, optFns); err != nil {
		// The copy is useless without its envelope: take it away again
		// (only the version just made, in a versioned bucket).
		var etag *string
		if out.CopyObjectResult != nil {
			etag = out.CopyObjectResult.ETag
		}
		derr := c.removeOwnWrite(ctx, in.Bucket, in.Key, in.ExpectedBucketOwner, in.RequestPayer, etag, out.VersionId, optFns)
		if derr != nil {
			return nil, fail(fmt.Errorf("copying the instruction file: %w; deleting the copy, which cannot be decrypted without it: %v", err, derr))
		}
		return nil, fail(fmt.Errorf("copying the instruction file (the copy was deleted again): %w", err))
	}
	c.copyIndex(ctx, src, srcSSE, in, optFns)
	return out, nil
}

// copySource is a parsed CopySource.
type copySource struct {
	bucket, key string
	version     *string
}

// parseCopySource reads CopySource: bucket/key or an access point ARN
// followed by /object/key, URL-encoded, with an optional ?versionId=.
func parseCopySource(s string) (copySource, error) {
	p, query, _ := strings.Cut(strings.TrimPrefix(s, "/"), "?")
	var cs copySource
	if query != "" {
		q, err := url.ParseQuery(query)
		if err != nil {
			return cs, fmt.Errorf("CopySource %q: %w", s, err)
		}
		if v := q.Get("versionId"); v != "" {
			cs.version = aws.String(v)
		}
	}
	p, err := url.PathUnescape(p)
	if err != nil {
		return cs, fmt.Errorf("CopySource %q: %w", s, err)
	}
	var ok bool
	if strings.HasPrefix(p, "arn:") {
		cs.bucket, cs.key, ok = strings.Cut(p, "/object/")
	} else {
		cs.bucket, cs.key, ok = strings.Cut(p, "/")
	}
	if !ok || cs.bucket == "" || cs.key == "" {
		return cs, fmt.Errorf("CopySource %q names no bucket and key", s)
	}
	return cs, nil
}

// sourceInstructionFile returns the source's instruction file when its
// envelope is kept in one, nil when it is in its metadata (or the object
// is not encrypted).
func (c *Client) sourceInstructionFile(ctx context.Context, src copySource, sse sseFields, meta map[string]string, optFns []func(*s3.Options)) (*core.InstructionFile, error) {
	if _, err := metadata.Decode(meta); !errors.Is(err, metadata.ErrNoEnvelope) {
		// In the metadata, which the copy keeps; a malformed envelope
		// is copied as it is.
		return nil, nil
	}
	var inst *core.InstructionFile
	_, err := core.ReadEnvelope(&c.opts, src.key, meta, func(instKey string) (*core.InstructionFile, error) {
		f, err := c.fetchInstructionFile(ctx, &src.bucket, instKey, sse, optFns)
		inst = f
		return f, err
	})
	switch {
	case errors.Is(err, ErrNotEncrypted):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("the source s3://%s/%s cannot be copied decryptably: %w", src.bucket, src.key, err)
	}
	return inst, nil
}

// checkInstructionFileFree fails if in.Key exists and is not an
// instruction file.
func (c *Client) checkInstructionFileFree(ctx context.Context, in *s3.PutObjectInput, optFns []func(*s3.Options)) error {
	h, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key,
		ExpectedBucketOwner: in.ExpectedBucketOwner, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
	}, optFns...)
	switch {
	case isNotFound(err):
		return nil
	case err != nil:
		return fmt.Errorf("checking %s, where the instruction file goes: %w", aws.ToString(in.Key), err)
	case !IsInstructionFile(h.Metadata):
		return &NotInstructionFileError{Key: aws.ToString(in.Key)}
	}
	return nil
}

// errSpliceCopy refuses UploadPartCopy.
var errSpliceCopy = errors.New("s3crypto: UploadPartCopy through the encryption client would splice ciphertexts into an undecryptable object; use CopyObject, or Uploader to re-encrypt")

// UploadPartCopy is refused: a part copied from an encrypted object is
// not part of the new object's AES-GCM stream.
func (c *Client) UploadPartCopy(context.Context, *s3.UploadPartCopyInput, ...func(*s3.Options)) (*s3.UploadPartCopyOutput, error) {
	return nil, errSpliceCopy
}

// errRename refuses RenameObject.
var errRename = errors.New("s3crypto: RenameObject through the encryption client would leave an instruction file behind; use CopyObject and DeleteObject")

// RenameObject is refused: S3 renames the object alone, and an envelope
// kept in an instruction file would stay under the old name.
func (c *Client) RenameObject(context.Context, *s3.RenameObjectInput, ...func(*s3.Options)) (*s3.RenameObjectOutput, error) {
	return nil, errRename
}

// checkInstructionFileInUse fails, wrapping ErrInstructionFileInUse, if
// key is the instruction file of an existing object (see
// core.InstructionFileOwner), which storing or deleting key would leave
// undecryptable. Only keys ending in the suffix cost a request.
func (c *Client) checkInstructionFileInUse(ctx context.Context, bucket *string, key string, sse sseFields, optFns []func(*s3.Options)) error {
	owner, ok := strings.CutSuffix(key, c.opts.InstructionFileSuffix)
	if !ok || owner == "" {
		return nil
	}
	head := func(k string) (map[string]string, error) {
		out, err := c.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: bucket, Key: &k,
			SSECustomerAlgorithm: sse.alg, SSECustomerKey: sse.key, SSECustomerKeyMD5: sse.keyMD5,
			ExpectedBucketOwner: sse.owner, RequestPayer: sse.payer}, optFns...)
		switch {
		case isNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("checking whether %s is an instruction file in use: %w", key, err)
		case out.Metadata == nil:
			return map[string]string{}, nil
		}
		return out.Metadata, nil
	}
	im, err := head(key)
	if err != nil || !IsInstructionFile(im) {
		return err
	}
	om, err := head(owner)
	if err != nil {
		return err
	}
	if _, inUse := core.InstructionFileOwner(&c.opts, key, im, om); inUse {
		return fmt.Errorf("%w: %s holds the envelope of %s, which could not be decrypted without it", ErrInstructionFileInUse, key, owner)
	}
	return nil
}
