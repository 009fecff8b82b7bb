package s3crypto

import (
	"bytes"
	"context"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/core"
)

// putSingle is the single-PUT transport: it encrypts in.Body (size bytes
// of plaintext; a nil Body is empty) under a fresh data key as the SDK
// reads it, sends it with one PutObject request, then stores the
// envelope's instruction file if it goes to one.
func (c *Client) putSingle(ctx context.Context, in *s3.PutObjectInput, size int64, optFns []func(*s3.Options)) (uploaded, error) {
	call := c.callOptions(optFns)
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "PutObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	for k := range in.Metadata {
		if isReserved(k) {
			return uploaded{}, fail("", core.ReservedMetadataError(k))
		}
	}
	var ec map[string]string
	if call.hasContext {
		ec = call.context
	}
	enc, err := core.NewEncryption(ctx, &c.opts, ec)
	if err != nil {
		return uploaded{}, fail("", err)
	}
	var src io.Reader = in.Body
	if src == nil {
		src = bytes.NewReader(nil)
		size = 0
	}
	body, err := enc.NewReader(src, size)
	if err != nil {
		return uploaded{}, fail(enc.KeyRef(), err)
	}
	if c.wantsIndex(size) {
		enc.SetIndexChunk(c.indexChunk)
		body.IndexFrom(enc.NewIndexWriter(0))
	}

	input := *in
	input.Body = body.Body()
	input.ContentLength = aws.Int64(core.CiphertextSize(size))
	if err := moveChecksums(&input, body); err != nil {
		return uploaded{}, fail(enc.KeyRef(), err)
	}
	objMeta, instruction, err := core.PlaceEnvelope(&c.opts, enc.Envelope(size), in.Metadata, call.instructionFile)
	if err != nil {
		return uploaded{}, fail(enc.KeyRef(), err)
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
			return uploaded{}, fail(enc.KeyRef(), err)
		}
	}
	out, err := c.Client.PutObject(ctx, &input, callOpts...)
	if err != nil {
		if body.Err() != nil {
			err = body.Err() // ours is the clearer cause
		}
		return uploaded{}, fail(enc.KeyRef(), err)
	}
	if instruction != nil {
		if err := c.storeInstructionFile(ctx, in, instruction, out.ETag, out.VersionId, optFns); err != nil {
			return uploaded{}, fail(enc.KeyRef(), err)
		}
	}
	c.storeIndex(ctx, in, body.Index(), optFns)
	return uploaded{UploadOutput{ETag: out.ETag, VersionID: out.VersionId, Size: size, KeyRef: enc.KeyRef()}, out}, nil
}
