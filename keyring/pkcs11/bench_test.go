//go:build cgo

package pkcs11

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// benchKeyrings are the keyrings compared: the token's AES and RSA keys
// and a raw AES key in the process.
func benchKeyrings(b *testing.B) []struct {
	name string
	kr   keyring.Keyring
} {
	raw, err := keyring.NewAES(randomBytes(32))
	if err != nil {
		b.Fatal(err)
	}
	return []struct {
		name string
		kr   keyring.Keyring
	}{{"raw-aes", raw}, {"hsm-aes", openKey(b, "aes-1")}, {"hsm-rsa", openKey(b, "rsa-1")}}
}

// BenchmarkSmall puts and gets 4 KiB objects through MinIO with 32
// workers, reporting objects per second: the token's cost per object
// beside a raw AES key's. Not run by make test:
//
//	go test -run XXX -bench Small ./keyring/pkcs11
func BenchmarkSmall(b *testing.B) {
	bucket := minio.NewBucket(b)
	data := randomBytes(4096)
	par := max(1, 32/runtime.GOMAXPROCS(0))
	for _, k := range benchKeyrings(b) {
		c := client(b, k.kr)
		b.Run(k.name+"/put", func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					key := fmt.Sprintf("%s/%d", k.name, n.Add(1)%64)
					if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
		for i := range 64 {
			put(b, c, bucket, fmt.Sprintf("%s/%d", k.name, i), data)
		}
		b.Run(k.name+"/get", func(b *testing.B) {
			var n atomic.Int64
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := get(c, bucket, fmt.Sprintf("%s/%d", k.name, n.Add(1)%64)); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "objects/s")
		})
	}
}

// BenchmarkUnwrap is the keyring alone: one wrap and one unwrap per
// operation, 32 workers, no S3.
func BenchmarkUnwrap(b *testing.B) {
	par := max(1, 32/runtime.GOMAXPROCS(0))
	for _, k := range benchKeyrings(b) {
		b.Run(k.name, func(b *testing.B) {
			b.SetParallelism(par)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					dk, err := k.kr.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
					if err != nil {
						b.Error(err)
						return
					}
					if _, err := k.kr.DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: dk.Encrypted, Description: dk.Description}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "wrap+unwrap/s")
		})
	}
}
