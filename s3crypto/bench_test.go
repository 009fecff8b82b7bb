package s3crypto

import (
	"bytes"
	"fmt"
	"io"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/materials"
)

// Small-object round trips through MinIO, plain and encrypted; run with
// -bench Small -cpu 32 to load the server with concurrent workers.
func benchmarkSmall(b *testing.B, get bool, kr func(*env) materials.Keyring) {
	e := newEnv(b)
	var api ObjectAPI = minio.Client()
	if kr != nil {
		api = e.client(kr(e))
	}
	data := bytes.Repeat([]byte("s3c!"), 1024)
	const n = 256
	for i := 0; i < n; i++ {
		key := fmt.Sprintf("o%d", i)
		if _, err := api.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
			b.Fatal(err)
		}
	}
	var next atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	// b.Fatal may not be called from RunParallel's goroutines: report
	// with b.Error and stop this worker.
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			key := fmt.Sprintf("o%d", next.Add(1)%n)
			if get {
				out, err := api.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
				if err != nil {
					b.Error(err)
					return
				}
				k, err := io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err == nil && k != int64(len(data)) {
					err = fmt.Errorf("%s: got %d bytes, want %d", key, k, len(data))
				}
				if err != nil {
					b.Error(err)
					return
				}
			} else if _, err := api.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func kmsKR(e *env) materials.Keyring { return e.keyrings["kms"] }
func aesKR(e *env) materials.Keyring { return e.keyrings["aes"] }

func BenchmarkSmallGetPlain(b *testing.B) { benchmarkSmall(b, true, nil) }
func BenchmarkSmallGetKMS(b *testing.B)   { benchmarkSmall(b, true, kmsKR) }
func BenchmarkSmallGetAES(b *testing.B)   { benchmarkSmall(b, true, aesKR) }
func BenchmarkSmallPutPlain(b *testing.B) { benchmarkSmall(b, false, nil) }
func BenchmarkSmallPutKMS(b *testing.B)   { benchmarkSmall(b, false, kmsKR) }
func BenchmarkSmallPutAES(b *testing.B)   { benchmarkSmall(b, false, aesKR) }
