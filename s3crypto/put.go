package s3crypto

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// PutObject encrypts in.Body under a fresh data key and stores it with
// its envelope, in the object's metadata or, if asked or if it would not
// fit, in <key>.instruction. The caller's metadata is kept. The plaintext
// size comes from in.ContentLength, or from the body if it is an
// io.Seeker; the request's ContentLength and checksums then describe the
// ciphertext. Checksums the caller gave for the plaintext (ContentMD5,
// Checksum*) are verified against it while encrypting, and the upload is
// stopped on a mismatch.
//
// A body that is an io.Seeker stays rewindable for the SDK's checksums and
// retries; see EncryptReader. Over plain http the payload is not signed
// (see unsignedPayload), and a body that cannot rewind goes without a
// request checksum, since the SDK would need to read it twice.
//
// A body of unknown length that turns out longer than DefaultPartSize is
// stored as a multipart upload, as Uploader stores it.
func (c *Client) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	up, err := c.upload(ctx, in, uploadSettings{op: "PutObject", put: true, concurrency: DefaultConcurrency, optFns: optFns})
	switch {
	case err != nil:
		return nil, err
	case up.put != nil:
		return up.put, nil
	}
	return &s3.PutObjectOutput{ETag: up.ETag, VersionId: up.VersionID, Size: aws.Int64(up.Size)}, nil
}
