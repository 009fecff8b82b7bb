package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/metadata"
)

// The last stage of an upload: the envelope's instruction file, written
// after the object by the single PUT and by a multipart upload's
// completion (and by CopyObject).

func isReserved(k string) bool { return core.IsReservedMetadata(k) }

// IsReservedMetadata reports whether a user-metadata key (with or without
// x-amz-meta-, in any case) is refused in the caller's metadata by
// PutObject, Uploader, NewMultipartUpload and CopyObject: the envelope's
// keys (V1/V2 x-amz-key, x-amz-key-v2, x-amz-iv, …; V3 x-amz-3, x-amz-c,
// …), the instruction-file marker and the chunk index's marker.
func IsReservedMetadata(k string) bool { return core.IsReservedMetadata(k) }

// storeInstructionFile writes file as the instruction file of the object
// obj describes (bucket, key, SSE and access settings), which a write of
// ours just stored with the given ETag and version. If it cannot, the
// object is removed again, even if ctx is what failed: it is useless
// without its envelope.
func (c *Client) storeInstructionFile(ctx context.Context, obj *s3.PutObjectInput, file []byte, etag, versionID *string, optFns []func(*s3.Options)) error {
	err := c.writeInstructionFile(ctx, c.instructionFileInput(obj), file, optFns)
	if err == nil {
		return nil
	}
	if derr := c.removeOwnWrite(ctx, obj.Bucket, obj.Key, obj.ExpectedBucketOwner, obj.RequestPayer, etag, versionID, optFns); derr != nil {
		err = fmt.Errorf("%w; the object could not be removed again (%w): it is stored without its envelope", err, derr)
	}
	return fmt.Errorf("storing the instruction file: %w", err)
}

// instructionFileInput is the request that stores in's instruction file,
// without its body: the same bucket and SSE and access settings.
func (c *Client) instructionFileInput(in *s3.PutObjectInput) *s3.PutObjectInput {
	return &s3.PutObjectInput{
		Bucket:               in.Bucket,
		Key:                  aws.String(core.InstructionFileKey(&c.opts, aws.ToString(in.Key))),
		ExpectedBucketOwner:  in.ExpectedBucketOwner,
		RequestPayer:         in.RequestPayer,
		ACL:                  in.ACL,
		ServerSideEncryption: in.ServerSideEncryption,
		SSEKMSKeyId:          in.SSEKMSKeyId,
		// The same SSE-KMS context and bucket-key setting as the object,
		// so that a policy on them admits the companions too.
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext,
		BucketKeyEnabled:        in.BucketKeyEnabled,
		SSECustomerAlgorithm:    in.SSECustomerAlgorithm,
		SSECustomerKey:          in.SSECustomerKey,
		SSECustomerKeyMD5:       in.SSECustomerKeyMD5,
		StorageClass:            in.StorageClass,
	}
}

// writeInstructionFile stores file as the instruction file in.Key, with
// the marker, without ever overwriting an object that is not an
// instruction file: the write is conditional on no object existing and,
// if one does, on it being a marked instruction file with the ETag seen.
// in holds the bucket, key and the SSE and access settings.
func (c *Client) writeInstructionFile(ctx context.Context, in *s3.PutObjectInput, file []byte, optFns []func(*s3.Options)) error {
	put := *in
	put.Body = bytes.NewReader(file)
	put.ContentLength = aws.Int64(int64(len(file)))
	put.ContentType = aws.String("application/json")
	put.Metadata = map[string]string{metadata.KeyInstructionFileMarker: ""}
	put.IfNoneMatch = aws.String("*")
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
	if !IsInstructionFile(h.Metadata) {
		return &NotInstructionFileError{Key: aws.ToString(in.Key)}
	}
	put.Body = bytes.NewReader(file)
	put.IfNoneMatch, put.IfMatch = nil, h.ETag
	_, err = c.Client.PutObject(ctx, &put, optFns...)
	if isPreconditionFailed(err) {
		return fmt.Errorf("%s changed while it was being replaced; not overwritten: %w", aws.ToString(in.Key), err)
	}
	return err
}

// isPreconditionFailed reports whether err is S3's answer to a failed
// If-Match or If-None-Match (412), or to a conflicting concurrent
// conditional write (409 ConditionalRequestConflict).
func isPreconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
}
