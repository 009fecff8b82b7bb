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

type benchKeyring struct {
	name   string
	kr     keyring.Keyring // writes
	reader keyring.Keyring // reads, if not kr
}

func (k benchKeyring) read() keyring.Keyring {
	if k.reader != nil {
		return k.reader
	}
	return k.kr
}

// benchKeyrings are the keyrings compared: the token's AES and RSA keys,
// the RSA key's public half alone (writing with no token, reading with
// the token's key), and a raw AES key in the process.
func benchKeyrings(b *testing.B) []benchKeyring {
	raw, err := keyring.NewAES(randomBytes(32))
	if err != nil {
		b.Fatal(err)
	}
	hsmRSA := openKey(b, "rsa-1")
	pub, err := keyring.NewRSAPublic(hsmRSA.PublicKey())
	if err != nil {
		b.Fatal(err)
	}
	return []benchKeyring{{"raw-aes", raw, nil}, {"hsm-aes", openKey(b, "aes-1"), nil}, {"hsm-rsa", hsmRSA, nil}, {"hsm-rsa-pubonly", pub, hsmRSA}}
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
		c, rc := client(b, k.kr), client(b, k.read())
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
					if _, err := get(rc, bucket, fmt.Sprintf("%s/%d", k.name, n.Add(1)%64)); err != nil {
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
					if _, err := k.read().DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: dk.Encrypted, Description: dk.Description}); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "wrap+unwrap/s")
		})
	}
}
