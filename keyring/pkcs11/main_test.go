//go:build cgo

package pkcs11

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/internal/softhsmtest"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/s3crypto"
)

var (
	minio *miniotest.Server
	token *softhsmtest.Token
)

// pinToken is a second token that no keyring of this process logs into
// before the wrong-PIN test: a token shares one login among all of an
// application's sessions.
const pinToken = "s3c-pin"

func TestMain(m *testing.M) {
	var err error
	if token, err = softhsmtest.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "PKCS#11 tests need SoftHSM2:", err)
		os.Exit(1)
	}
	if err := token.InitToken(pinToken); err != nil {
		fmt.Fprintln(os.Stderr, err)
		token.Close()
		os.Exit(1)
	}
	// The keys the tests share, made by the keyring's own keygen.
	for _, k := range []struct{ label, kind string }{{"aes-1", "aes"}, {"aes-2", "aes"}, {"rsa-1", "rsa"}} {
		if err := GenerateKey(token.URI(k.label), k.kind); err != nil {
			fmt.Fprintln(os.Stderr, "GenerateKey:", err)
			token.Close()
			os.Exit(1)
		}
	}
	if minio, err = miniotest.Start(log.Printf); err != nil {
		fmt.Fprintln(os.Stderr, "starting the test S3 server:", err)
		token.Close()
		os.Exit(1)
	}
	code := m.Run()
	minio.Stop()
	token.Close()
	os.Exit(code)
}

var bg = context.Background()

func openKey(t testing.TB, label string, optFns ...func(*Options)) *Keyring {
	t.Helper()
	k, err := Open(token.URI(label), optFns...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func client(t testing.TB, kr keyring.Keyring, optFns ...func(*s3crypto.Options)) *s3crypto.Client {
	t.Helper()
	c, err := s3crypto.New(minio.Client(), kr, optFns...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func put(t testing.TB, c *s3crypto.Client, bucket, key string, data []byte) {
	t.Helper()
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("PutObject %s: %v", key, err)
	}
}

func get(c *s3crypto.Client, bucket, key string) ([]byte, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func mustGet(t testing.TB, c *s3crypto.Client, bucket, key string, want []byte) {
	t.Helper()
	got, err := get(c, bucket, key)
	if err != nil {
		t.Fatalf("GetObject %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("GetObject %s: %d bytes differ from the %d put", key, len(got), len(want))
	}
}

func is(err, target error) bool { return errors.Is(err, target) }
