package miniocrypto

import (
	"bytes"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/s3crypto"
)

// SSE-C (server-side encryption with a key the caller sends) composes
// with client-side encryption: the server encrypts the ciphertext again,
// and the instruction file too; reads need the same SSE-C key, as without
// s3c.
//
// MinIO refuses SSE-C over plain HTTP (ErrInsecureSSECustomerRequest), and
// the shared test server is plain HTTP, so this test starts its own MinIO
// (the same cached binary) with TLS and a self-signed certificate, unless
// the shared endpoint is already HTTPS.
func TestSSECComposes(t *testing.T) {
	t.Parallel()
	mc := tlsMinio(t)
	bucket := "s3c-ssec"
	if err := mc.MakeBucket(bg, bucket, minio.MakeBucketOptions{Region: server.Region}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for o := range mc.ListObjects(bg, bucket, minio.ListObjectsOptions{Recursive: true}) {
			mc.RemoveObject(bg, bucket, o.Key, minio.RemoveObjectOptions{})
		}
		mc.RemoveBucket(bg, bucket)
	})
	sse, err := encrypt.NewSSEC(bytes.Repeat([]byte{9}, 32))
	if err != nil {
		t.Fatal(err)
	}
	otherSSE, _ := encrypt.NewSSEC(bytes.Repeat([]byte{8}, 32))
	dir := t.TempDir()
	for _, inst := range []bool{false, true} {
		c, err := New(mc, keyrings(t)["aes"], func(o *s3crypto.Options) { o.InstructionFile = inst })
		if err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{1000, 17*mib + 5} { // single PUT; minio-go multipart
			key := fmt.Sprintf("ssec/%v/%d", inst, n)
			data := randomBytes(n)
			info, err := c.PutObject(bg, bucket, key, bytes.NewReader(data), int64(n), minio.PutObjectOptions{ServerSideEncryption: sse})
			if err != nil || info.Size != int64(n) {
				t.Fatalf("%s: put: %v", key, err)
			}
			// Stored with SSE-C: the server will not even describe it
			// (nor the instruction file) without the key.
			stored := []string{key}
			if inst {
				stored = append(stored, key+".instruction")
			}
			for _, k := range stored {
				if _, err := mc.StatObject(bg, bucket, k, minio.StatObjectOptions{}); err == nil {
					t.Fatalf("%s: readable without the SSE-C key", k)
				}
				st, err := mc.StatObject(bg, bucket, k, minio.StatObjectOptions{ServerSideEncryption: sse})
				if err != nil || st.Metadata.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "AES256" {
					t.Fatalf("%s: not stored with SSE-C: %v %v", k, err, st.Metadata)
				}
			}
			get := minio.GetObjectOptions{ServerSideEncryption: sse}
			obj, err := c.GetObject(bg, bucket, key, get)
			if err != nil {
				t.Fatalf("%s: get: %v", key, err)
			}
			got, err := io.ReadAll(obj)
			obj.Close()
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: read back: %v", key, err)
			}
			if st, err := c.StatObject(bg, bucket, key, get); err != nil || st.Size != int64(n) {
				t.Fatalf("%s: StatObject %d, %v", key, st.Size, err)
			}
			dest := filepath.Join(dir, "out")
			if err := c.FGetObject(bg, bucket, key, dest, get); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
				t.Fatalf("%s: FGetObject content", key)
			}
			for _, bad := range []minio.GetObjectOptions{{}, {ServerSideEncryption: otherSSE}} {
				if _, err := c.GetObject(bg, bucket, key, bad); err == nil {
					t.Fatalf("%s: read without the right SSE-C key", key)
				}
			}
			// RemoveObject takes the instruction file along only with the
			// key, which RemoveObjectOptions has no room for.
			if err := c.WithCallOptions(CallOptions{SSECustomerKey: sse}).RemoveObject(bg, bucket, key, minio.RemoveObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, k := range stored {
				if _, err := mc.StatObject(bg, bucket, k, minio.StatObjectOptions{ServerSideEncryption: sse}); err == nil {
					t.Errorf("%s: left after RemoveObject", k)
				}
			}
		}
	}
}

// tlsMinio returns a client of an HTTPS S3 endpoint: the shared one if it
// is HTTPS, else a MinIO started for this test with a fresh self-signed
// certificate, stopped when the test ends.
func tlsMinio(t *testing.T) *minio.Client {
	t.Helper()
	if strings.HasPrefix(server.Endpoint, "https://") {
		return minioClient(t)
	}
	srv, err := miniotest.StartTLS(t.Logf)
	if err != nil {
		t.Fatalf("SSE-C needs TLS: starting MinIO with TLS: %v", err)
	}
	t.Cleanup(srv.Stop)
	u, _ := url.Parse(srv.Endpoint)
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:     credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Secure:    true,
		Region:    srv.Region,
		Transport: srv.Transport(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}
