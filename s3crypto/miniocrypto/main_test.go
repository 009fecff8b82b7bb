package miniocrypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

var (
	server *miniotest.Server
	kmsSrv *kmstest.Server
	bg     = context.Background()
)

func TestMain(m *testing.M) {
	s, err := miniotest.Start(log.Printf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test S3 server:", err)
		os.Exit(1)
	}
	server = s
	// Point S3C_TEST_ENDPOINT at it, so that the examples (package
	// miniocrypto_test, which cannot see this variable) use the same server.
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	if kmsSrv, err = kmstest.Start(kmstest.Options{AccessKeyID: "AKIDMINIO", SecretAccessKey: "kms-secret"}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	kmsSrv.CreateKey("alias/minio-test")
	code := m.Run()
	kmsSrv.Close()
	s.Stop()
	os.Exit(code)
}

func minioClient(t testing.TB) *minio.Client {
	t.Helper()
	u, err := url.Parse(server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(server.AccessKey, server.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: server.Region,
	})
	if err != nil {
		t.Fatal(err)
	}
	return mc
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

// keyrings returns one keyring of each kind, the same for every test.
func keyrings(t testing.TB) map[string]materials.Keyring {
	rsaOnce.Do(func() { rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	aes, err := materials.NewAES(bytes.Repeat([]byte{7}, 32))
	if err != nil {
		t.Fatal(err)
	}
	rk, err := materials.NewRSA(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	return map[string]materials.Keyring{
		"kms": materials.NewKMS(kmsSrv.Client(bg), "alias/minio-test"),
		"aes": aes,
		"rsa": rk,
	}
}

func newClient(t testing.TB, kr materials.Keyring, optFns ...func(*s3crypto.Options)) *Client {
	t.Helper()
	c, err := New(minioClient(t), kr, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func readAll(t testing.TB, c *Client, ctx context.Context, bucket, key string) ([]byte, *Object, error) {
	obj, err := c.GetObject(ctx, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(obj)
	return b, obj, err
}

func exists(t testing.TB, bucket, key string) bool {
	_, err := minioClient(t).StatObject(bg, bucket, key, minio.StatObjectOptions{})
	return err == nil
}
