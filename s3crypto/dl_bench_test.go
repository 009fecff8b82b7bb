package s3crypto

import (
	"io"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkGetLarge downloads 512 MiB to a file in /dev/shm: plain
// GetObject, Downloader (decrypts in place, parallel ranges), and
// GetObject (authenticates via a spool first).
func BenchmarkGetLarge(b *testing.B) {
	e := newEnv(b)
	c := e.client(e.keyrings["aes"])
	const n = 512 << 20
	key := "big"
	if _, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(1, n), ContentLength: aws.Int64(n)}); err != nil {
		b.Fatal(err)
	}
	plainKey := "big-plain"
	if _, err := e.raw.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &plainKey, Body: newPattern(1, n), ContentLength: aws.Int64(n)}, func(o *s3.Options) {
		o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}, unsignedPayload, noRequestChecksum); err != nil {
		b.Fatal(err)
	}
	f, _ := os.CreateTemp("/dev/shm", "dl")
	defer os.Remove(f.Name())
	b.Run("plain", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			out, err := e.raw.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &plainKey})
			if err != nil {
				b.Fatal(err)
			}
			f.Seek(0, 0)
			io.Copy(f, out.Body)
			out.Body.Close()
		}
	})
	b.Run("downloader", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			if _, err := NewDownloader(c).Download(bg, f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("getobject", func(b *testing.B) {
		b.SetBytes(n)
		for b.Loop() {
			out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
			if err != nil {
				b.Fatal(err)
			}
			f.Seek(0, 0)
			io.Copy(f, out.Body)
			out.Body.Close()
		}
	})
}
