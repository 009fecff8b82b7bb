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
)

// The upload flow, which PutObject and Uploader.Upload both hand their
// request to. It runs one way, each stage calling only the next:
//
//	plan (core.PlanPut, core.PlanUpload)
//	→ source: the body as bytes in memory, file sections, or a stream
//	→ encryption (core), in the transport that sends it:
//	  one PUT (upload_single.go), or a MultipartUpload fed from file
//	  sections (upload_sections.go) or from a stream (upload_stream.go),
//	  whose parts go through multipart.go
//	→ envelope: the instruction file, after the object (envelope.go)

// uploadSettings are what an entry point asks of the upload flow.
type uploadSettings struct {
	// op names the entry point in the errors of the flow's own checks;
	// the transports name the S3 operation that failed.
	op string
	// put plans as PutObject: a body of known length is one PUT, whatever
	// its size (core.PlanPut). Otherwise as Uploader (core.PlanUpload).
	put bool
	// partSize is the part size asked for; 0 for the default.
	partSize int64
	// concurrency is how many parts are uploaded at once.
	concurrency int
	// optFns apply to every request.
	optFns []func(*s3.Options)
}

// uploaded is what an upload stored, and a single PUT's own answer,
// which PutObject returns as it is.
type uploaded struct {
	UploadOutput
	put *s3.PutObjectOutput // nil for a multipart upload
}

// upload stores in.Body encrypted, as settings s say.
func (c *Client) upload(ctx context.Context, in *s3.PutObjectInput, s uploadSettings) (uploaded, error) {
	fail := func(err error) error {
		return &ObjectError{Op: s.op, Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	size, err := plaintextBodySize(in)
	if err != nil {
		return uploaded{}, fail(err)
	}
	var plan core.Plan
	if s.put {
		plan, err = core.PlanPut(size)
	} else {
		plan, err = core.PlanUpload(size, s.partSize)
	}
	if err != nil {
		return uploaded{}, fail(err)
	}
	if err := c.checkInstructionFileInUse(ctx, in.Bucket, aws.ToString(in.Key), putSSE(in), s.optFns); err != nil {
		return uploaded{}, fail(err)
	}

	// The source: as it is, for one PUT of known size.
	if plan.Single {
		single := *in
		if single.Body == nil && !s.put {
			// PutObject stores a nil Body as empty; Upload holds it to
			// ContentLength.
			single.Body = bytes.NewReader(nil)
		}
		return c.putSingle(ctx, &single, size, s.optFns)
	}
	var body io.Reader = in.Body
	if body == nil {
		body = bytes.NewReader(nil)
	}
	// A file (readable at any offset): parts are encrypted straight from
	// it as they are sent. Checksums of the plaintext need it read in
	// order, as a stream.
	if ra, ok := body.(io.ReaderAt); ok && plan.Parts > 0 && !hasPlaintextChecksums(in) {
		if sk, ok := body.(io.Seeker); ok {
			if base, err := sk.Seek(0, io.SeekCurrent); err == nil {
				return c.uploadSections(ctx, in, ra, base, size, plan, s)
			}
		}
	}
	// A stream: the first part, then as the plan says.
	first, err := readFirstPart(body, plan.PartSize, size >= 0)
	switch {
	case size >= 0 && (err == io.EOF || err == io.ErrUnexpectedEOF):
		return uploaded{}, fail(fmt.Errorf("body ended after %d bytes, ContentLength is %d", len(first), size))
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return c.putBytes(ctx, in, first, s.optFns) // ended within one part
	case err != nil:
		return uploaded{}, fail(err)
	}
	if size < 0 { // exactly one part?
		var b [1]byte
		k, err := io.ReadFull(body, b[:])
		switch {
		case k == 0 && err == io.EOF:
			return c.putBytes(ctx, in, first, s.optFns)
		case k == 0:
			return uploaded{}, fail(err)
		}
		body = io.MultiReader(bytes.NewReader(b[:]), body)
	}
	return c.uploadStream(ctx, in, first, body, size, plan, s)
}

// putBytes stores a body read into memory with one PUT.
func (c *Client) putBytes(ctx context.Context, in *s3.PutObjectInput, b []byte, optFns []func(*s3.Options)) (uploaded, error) {
	single := *in
	single.Body, single.ContentLength = bytes.NewReader(b), aws.Int64(int64(len(b)))
	return c.putSingle(ctx, &single, int64(len(b)), optFns)
}

// firstPartChunk is where the buffer of a stream's first part starts
// when the stream's length is unknown; it doubles as the stream goes on.
const firstPartChunk = 64 << 10

// readFirstPart reads the first partSize bytes of a stream into a buffer
// with room for the GCM tag after them, so the part can be sealed in
// place. It returns what it read and, if the stream ended first, io.EOF
// or io.ErrUnexpectedEOF. For a stream of known length (longer than a
// part) the buffer is made whole at once; for one of unknown length it
// grows as bytes come, so a short stream costs little memory.
func readFirstPart(r io.Reader, partSize int64, known bool) ([]byte, error) {
	if known {
		buf := make([]byte, partSize, partSize+aesgcm.TagSize)
		n, err := io.ReadFull(r, buf)
		return buf[:n], err
	}
	buf := make([]byte, 0, min(partSize, firstPartChunk)+aesgcm.TagSize)
	for {
		n, err := io.ReadFull(r, buf[len(buf):cap(buf)-aesgcm.TagSize])
		buf = buf[:len(buf)+n]
		switch {
		case err == io.EOF && len(buf) > 0:
			return buf, io.ErrUnexpectedEOF
		case err != nil, int64(len(buf)) == partSize:
			return buf, err
		}
		grown := make([]byte, len(buf), min(2*int64(len(buf)), partSize)+aesgcm.TagSize)
		copy(grown, buf)
		buf = grown
	}
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

// putSSE is what a HEAD request needs of a PutObject's settings.
func putSSE(in *s3.PutObjectInput) sseFields {
	return sseFields{in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5, in.ExpectedBucketOwner, in.RequestPayer}
}
