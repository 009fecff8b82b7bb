package s3crypto

import (
	"bytes"
	"io"
	"testing"

	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// largeBenchSize is the figure for the go test put/get benchmarks.
const largeBenchSize = 256 << 20

// BenchmarkPutLarge uploads 256 MiB from memory: the plain transfer
// manager with the SDK's defaults, the plain transfer manager set like
// the Uploader (its part size and concurrency, and the UNSIGNED-PAYLOAD
// the Uploader uses over plain http), and the Uploader.
func BenchmarkPutLarge(b *testing.B) {
	e := newEnv(b)
	c := e.client(e.keyrings["aes"])
	const n = largeBenchSize
	data, err := io.ReadAll(newPattern(1, n))
	if err != nil {
		b.Fatal(err)
	}
	key := "big"
	put := func(b *testing.B, upload func() error) {
		b.ReportAllocs()
		b.SetBytes(n)
		for b.Loop() {
			if err := upload(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain-manager", func(b *testing.B) {
		put(b, func() error {
			_, err := manager.NewUploader(e.raw).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)})
			return err
		})
	})
	b.Run("plain-manager-s3c-settings", func(b *testing.B) {
		put(b, func() error {
			_, err := manager.NewUploader(e.raw, func(u *manager.Uploader) {
				u.PartSize, u.Concurrency = DefaultPartSize, DefaultConcurrency
				if plainHTTP(e.raw.Options(), nil) {
					u.ClientOptions = append(u.ClientOptions, func(o *s3.Options) {
						o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
					})
				}
			}).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)})
			return err
		})
	})
	b.Run("s3c", func(b *testing.B) {
		put(b, func() error {
			_, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)})
			return err
		})
	})
}
