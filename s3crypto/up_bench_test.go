package s3crypto

import (
	"bytes"
	"io"
	"testing"

	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkPutLarge uploads 512 MiB from memory: the plain transfer
// manager and the Uploader, both with the SDK's default settings.
func BenchmarkPutLarge(b *testing.B) {
	e := newEnv(b)
	c := e.client(e.keyrings["aes"])
	const n = 512 << 20
	data, _ := io.ReadAll(newPattern(1, n))
	key := "big"
	b.Run("plain-manager", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if _, err := manager.NewUploader(e.raw).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("s3c", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if _, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
