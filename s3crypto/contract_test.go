package s3crypto

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// SealPart writes nothing past len(plaintext): consecutive parts may be
// slices of one buffer, sealed in order, and the object holds exactly
// that buffer's bytes.
func TestSealPartSlicesOfOneBuffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	key := "one-buffer"
	data := randomBytes(3*testPart + 40)
	buf := bytes.Clone(data)
	mp, err := c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: &key}, testPart)
	if err != nil {
		t.Fatal(err)
	}
	for n := int32(1); n <= 4; n++ {
		plain := buf[int(n-1)*testPart : min(int(n)*testPart, len(buf))]
		ct, err := mp.SealPart(n, plain, n == 4)
		if err != nil {
			t.Fatalf("sealing part %d: %v", n, err)
		}
		out, err := c.Unwrapped().UploadPart(bg, &s3.UploadPartInput{Bucket: &e.bucket, Key: &key, UploadId: aws.String(mp.UploadID()),
			PartNumber: aws.Int32(n), Body: bytes.NewReader(ct), ContentLength: aws.Int64(int64(len(ct)))})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if err := mp.AddCompletedPart(types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mp.Complete(bg); err != nil {
		t.Fatal(err)
	}
	got, _, err := e.get(c, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if !bytes.Equal(buf, data) {
		t.Fatal("SealPart changed the caller's buffer")
	}
}
