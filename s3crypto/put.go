package s3crypto

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/metadata"
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
// stored by an Uploader, as a multipart upload.
func (c *Client) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	size, err := plaintextBodySize(in)
	if err != nil {
		return nil, &ObjectError{Op: "PutObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	if size < 0 {
		// S3 needs a Content-Length: find out whether the body is small,
		// holding no more of it than it has (up to one part).
		var first bytes.Buffer
		n, err := first.ReadFrom(io.LimitReader(in.Body, DefaultPartSize+1))
		if err != nil {
			return nil, &ObjectError{Op: "PutObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
		}
		if n <= DefaultPartSize {
			put := *in
			put.Body, put.ContentLength = bytes.NewReader(first.Bytes()), aws.Int64(n)
			out, _, err := c.putObject(ctx, &put, optFns)
			return out, err
		}
		put := *in
		put.Body = io.MultiReader(&first, in.Body)
		up, err := NewUploader(c, func(u *Uploader) { u.ClientOptions = optFns }).Upload(ctx, &put)
		if err != nil {
			return nil, err
		}
		return &s3.PutObjectOutput{ETag: up.ETag, VersionId: up.VersionID, Size: aws.Int64(up.Size)}, nil
	}
	out, _, err := c.putObject(ctx, in, optFns)
	return out, err
}

// putObject stores one object with a single PutObject request and reports
// the master key used.
func (c *Client) putObject(ctx context.Context, in *s3.PutObjectInput, optFns []func(*s3.Options)) (*s3.PutObjectOutput, string, error) {
	call := collectCallOptions(c.Client.Options(), optFns)
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "PutObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	for k := range in.Metadata {
		if isReserved(k) {
			return nil, "", fail("", fmt.Errorf("user metadata key %q is reserved for the encryption envelope", k))
		}
	}
	if err := c.checkInstructionFileInUse(ctx, in.Bucket, aws.ToString(in.Key), putSSE(in), optFns); err != nil {
		return nil, "", fail("", err)
	}
	size, err := plaintextBodySize(in)
	if err != nil {
		return nil, "", fail("", err)
	}
	if size < 0 {
		return nil, "", fail("", errors.New("body length unknown"))
	}
	if err := core.CheckSize(size); err != nil {
		return nil, "", fail("", err)
	}
	var ec map[string]string
	if call.hasContext {
		ec = call.context
	}
	enc, err := core.NewEncryption(ctx, &c.opts, ec)
	if err != nil {
		return nil, "", fail("", err)
	}
	var src io.Reader = in.Body
	if src == nil {
		src = bytes.NewReader(nil)
		size = 0
	}
	body, err := enc.NewReader(src, size)
	if err != nil {
		return nil, "", fail(enc.KeyRef(), err)
	}

	input := *in
	input.Body = body.Body()
	input.ContentLength = nil
	if size >= 0 {
		input.ContentLength = aws.Int64(core.CiphertextSize(size))
	}
	if err := moveChecksums(&input, body); err != nil {
		return nil, "", fail(enc.KeyRef(), err)
	}
	objMeta, instruction, err := core.PlaceEnvelope(&c.opts, enc.Envelope(size), in.Metadata, call.instructionFile)
	if err != nil {
		return nil, "", fail(enc.KeyRef(), err)
	}
	input.Metadata = objMeta

	callOpts := optFns
	if plainHTTP(c.Client.Options(), optFns) {
		callOpts = append(callOpts, unsignedPayload)
		if !body.Rewindable() {
			// The SDK cannot read a one-pass body twice (checksum, then
			// send) over plain http: no request checksum.
			input.ChecksumAlgorithm = ""
			callOpts = append(callOpts, noRequestChecksum)
		}
	}
	if instruction != nil {
		// Refuse before storing anything if the instruction file's name
		// is taken by an object of the caller's.
		if err := c.checkInstructionFileFree(ctx, c.instructionFileInput(in), optFns); err != nil {
			return nil, "", fail(enc.KeyRef(), err)
		}
	}
	out, err := c.Client.PutObject(ctx, &input, callOpts...)
	if err != nil {
		if body.Err() != nil {
			err = body.Err() // ours is the clearer cause
		}
		return nil, "", fail(enc.KeyRef(), err)
	}
	if instruction != nil {
		if err := c.putInstructionFile(ctx, in, instruction, optFns); err != nil {
			// The object is useless without its envelope: take it away
			// again, even if ctx is what failed.
			if derr := c.removeOwnWrite(ctx, in.Bucket, in.Key, in.ExpectedBucketOwner, in.RequestPayer, out.ETag, out.VersionId, optFns); derr != nil {
				err = fmt.Errorf("%w; the object could not be removed again (%w): it is stored without its envelope", err, derr)
			}
			return nil, "", fail(enc.KeyRef(), fmt.Errorf("storing the instruction file: %w", err))
		}
	}
	return out, enc.KeyRef(), nil
}

// plaintextBodySize is in.ContentLength, else a seekable body's remaining
// length, else -1.
func plaintextBodySize(in *s3.PutObjectInput) (int64, error) {
	if in.ContentLength != nil {
		if *in.ContentLength < 0 {
			return 0, errors.New("negative ContentLength")
		}
		return *in.ContentLength, nil
	}
	if in.Body == nil {
		return 0, nil
	}
	s, ok := in.Body.(io.Seeker)
	if !ok {
		return -1, nil
	}
	cur, err := s.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1, nil
	}
	end, err := s.Seek(0, io.SeekEnd)
	if err != nil {
		return 0, err
	}
	if _, err := s.Seek(cur, io.SeekStart); err != nil {
		return 0, err
	}
	return end - cur, nil
}

func isReserved(k string) bool { return metadata.IsReservedKey(k) }

func (c *Client) putInstructionFile(ctx context.Context, in *s3.PutObjectInput, file []byte, optFns []func(*s3.Options)) error {
	return c.writeInstructionFile(ctx, c.instructionFileInput(in), file, optFns)
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
		SSECustomerAlgorithm: in.SSECustomerAlgorithm,
		SSECustomerKey:       in.SSECustomerKey,
		SSECustomerKeyMD5:    in.SSECustomerKeyMD5,
		StorageClass:         in.StorageClass,
	}
}

// putSSE is what a HEAD request needs of a PutObject's settings.
func putSSE(in *s3.PutObjectInput) sseFields {
	return sseFields{in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5, in.ExpectedBucketOwner, in.RequestPayer}
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

// crc64NVME is the table of CRC-64/NVME (reflected polynomial
// 0x9a6c9329ac4bc9b5), S3's x-amz-checksum-crc64nvme.
var crc64NVME = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(0x9a6c9329ac4bc9b5) })

// moveChecksums turns checksums of the plaintext into checks the reader
// makes, and asks the SDK for a checksum of the ciphertext instead.
func moveChecksums(in *s3.PutObjectInput, r *core.EncryptReader) error {
	vs, alg, err := takeChecksums(in)
	r.Verify = vs
	if alg != "" && in.ChecksumAlgorithm == "" {
		in.ChecksumAlgorithm = alg
	}
	return err
}

// takeChecksums removes the checksums of the plaintext that in carries
// (ContentMD5, Checksum*) and returns them as verifiers, with the
// algorithm the ciphertext should be checksummed with instead.
func takeChecksums(in *s3.PutObjectInput) ([]core.Verifier, types.ChecksumAlgorithm, error) {
	var vs []core.Verifier
	var alg types.ChecksumAlgorithm
	add := func(name string, value *string, h hash.Hash, a types.ChecksumAlgorithm) error {
		if value == nil {
			return nil
		}
		want, err := base64.StdEncoding.DecodeString(*value)
		if err != nil || len(want) != h.Size() {
			return fmt.Errorf("%s is not a base64 %d-byte checksum", name, h.Size())
		}
		vs = append(vs, core.Verifier{Name: name, H: h, Want: want})
		if alg == "" {
			alg = a
		}
		return nil
	}
	errs := []error{
		add("Content-MD5", in.ContentMD5, md5.New(), ""),
		add("x-amz-checksum-crc32", in.ChecksumCRC32, crc32.NewIEEE(), types.ChecksumAlgorithmCrc32),
		add("x-amz-checksum-crc32c", in.ChecksumCRC32C, crc32.New(crc32.MakeTable(crc32.Castagnoli)), types.ChecksumAlgorithmCrc32c),
		add("x-amz-checksum-crc64nvme", in.ChecksumCRC64NVME, crc64.New(crc64NVME()), types.ChecksumAlgorithmCrc64nvme),
		add("x-amz-checksum-sha1", in.ChecksumSHA1, sha1.New(), types.ChecksumAlgorithmSha1),
		add("x-amz-checksum-sha256", in.ChecksumSHA256, sha256.New(), types.ChecksumAlgorithmSha256),
	}
	in.ContentMD5, in.ChecksumCRC32, in.ChecksumCRC32C, in.ChecksumCRC64NVME, in.ChecksumSHA1, in.ChecksumSHA256 = nil, nil, nil, nil, nil, nil
	return vs, alg, errors.Join(errs...)
}

// unsignedPayload sends a body s3c encrypted with an unsigned payload
// over plain http, as the SDK always does over https: the signature still
// covers the headers (length and checksum included), AES-GCM authenticates
// the content end to end, and the SDK's checksum still guards the
// transfer. Signing it would cost a SHA-256 pass and, for a streamed
// body, another encryption pass.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// noRequestChecksum is for bodies that cannot be rewound over plain http,
// where the SDK would need a pass to compute the checksum header first.
func noRequestChecksum(o *s3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
}

// plainHTTP reports whether a call with these options goes over http.
func plainHTTP(o s3.Options, optFns []func(*s3.Options)) bool {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.EndpointOptions.DisableHTTPS {
		return true
	}
	return o.BaseEndpoint != nil && strings.HasPrefix(strings.ToLower(*o.BaseEndpoint), "http://")
}
