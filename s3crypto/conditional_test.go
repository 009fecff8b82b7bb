package s3crypto

import (
	"bytes"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A condition on the write (If-Match, If-None-Match) holds for objects
// stored in parts too: S3 checks it when the upload completes. Before, a
// body of unknown length above one part went to the Uploader, which
// dropped it, and a stale If-Match overwrote the object.
func TestConditionalWriteOfALargeObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	original := randomBytes(1000)
	e.put(c, "obj", original)
	big := randomBytes(DefaultPartSize + 1<<20)
	stream := func() io.Reader { return io.MultiReader(bytes.NewReader(big)) } // no length, no Seek
	for _, tc := range []struct {
		name string
		in   s3.PutObjectInput
	}{
		{"stale If-Match", s3.PutObjectInput{IfMatch: aws.String(`"0123456789abcdef0123456789abcdef"`)}},
		{"If-None-Match on an existing key", s3.PutObjectInput{IfNoneMatch: aws.String("*")}},
	} {
		for _, via := range []string{"PutObject", "Uploader"} {
			in := tc.in
			in.Bucket, in.Key, in.Body = &e.bucket, aws.String("obj"), stream()
			var err error
			if via == "PutObject" {
				_, err = c.PutObject(bg, &in)
			} else {
				_, err = NewUploader(c).Upload(bg, &in)
			}
			if errorCode(err) != "PreconditionFailed" {
				t.Errorf("%s via %s: %v, want PreconditionFailed", tc.name, via, err)
			}
			got, _, gerr := e.get(c, "obj")
			if gerr != nil || !bytes.Equal(got, original) {
				t.Fatalf("%s via %s: the object was overwritten (%d bytes, %v)", tc.name, via, len(got), gerr)
			}
			if ids := openUploads(t, e, "obj"); len(ids) > 0 {
				t.Fatalf("%s via %s: uploads left open: %v", tc.name, via, ids)
			}
		}
	}
	// The right ETag still lets the write through.
	h, err := e.raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Body: stream(), IfMatch: h.ETag}); err != nil {
		t.Fatalf("If-Match with the current ETag: %v", err)
	}
	if got, _, err := e.get(c, "obj"); err != nil || !bytes.Equal(got, big) {
		t.Fatalf("after a matching write: %d bytes, %v", len(got), err)
	}
}

func openUploads(t *testing.T, e *env, key string) []string {
	t.Helper()
	out, err := e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket, Prefix: &key})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, u := range out.Uploads {
		ids = append(ids, aws.ToString(u.UploadId))
	}
	return ids
}
