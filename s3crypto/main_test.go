package s3crypto

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/materials"
)

// Every test talks to a real S3 server: S3C_TEST_ENDPOINT, or a MinIO this
// process starts (building it on first use).
var minio *miniotest.Server

func TestMain(m *testing.M) {
	s, err := miniotest.Start(log.Printf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test S3 server:", err)
		os.Exit(1)
	}
	minio = s
	// Point S3C_TEST_ENDPOINT at it, so that the examples (package
	// s3crypto_test, which cannot see this variable) use the same server.
	for _, kv := range s.Env() {
		k, v, _ := strings.Cut(kv, "=")
		os.Setenv(k, v)
	}
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

var bg = context.Background()

// env is one test's world: a bucket on the S3 server, a KMS server and
// one keyring of each kind.
type env struct {
	t      testing.TB
	bucket string
	raw    *s3.Client // the plain client, to look at and tamper with what is stored
	kms    *kmstest.Server
	kmsKey string // ARN of "alias/s3c-test"
	aesKey []byte
	rsaKey *rsa.PrivateKey

	keyrings map[string]materials.Keyring
}

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func newEnv(t testing.TB) *env {
	t.Helper()
	srv, err := kmstest.Start(kmstest.Options{AccessKeyID: "AKIDS3C", SecretAccessKey: "kms-secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	_, arn := srv.CreateKey("alias/s3c-test")
	rsaOnce.Do(func() { rsaKey, _ = rsa.GenerateKey(rand.Reader, 2048) })
	e := &env{t: t, bucket: minio.NewBucket(t), raw: minio.Client(), kms: srv, kmsKey: arn, rsaKey: rsaKey}
	e.aesKey = make([]byte, 32)
	rand.Read(e.aesKey)
	aesKR, err := materials.NewAES(e.aesKey)
	if err != nil {
		t.Fatal(err)
	}
	rsaKR, err := materials.NewRSA(rsaKey)
	if err != nil {
		t.Fatal(err)
	}
	e.keyrings = map[string]materials.Keyring{
		"kms": materials.NewKMS(srv.Client(bg), "alias/s3c-test"),
		"aes": aesKR,
		"rsa": rsaKR,
	}
	return e
}

// client returns an encryption client over the plain client.
func (e *env) client(kr materials.Keyring, optFns ...func(*Options)) *Client {
	e.t.Helper()
	c, err := New(minio.Client(), kr, optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func (e *env) put(c *Client, key string, data []byte, optFns ...func(*s3.Options)) {
	e.t.Helper()
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}, optFns...)
	if err != nil {
		e.t.Fatalf("PutObject %s: %v", key, err)
	}
}

// get returns the plaintext, or the error from GetObject or from reading.
func (e *env) get(c *Client, key string, optFns ...func(*s3.Options)) ([]byte, *s3.GetObjectOutput, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}, optFns...)
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out, err
}

// rawGet returns what S3 stores for key.
func (e *env) rawGet(key string) ([]byte, map[string]string, error) {
	out, err := e.raw.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out.Metadata, err
}

// rawPut stores bytes and metadata as they are.
func (e *env) rawPut(key string, body []byte, meta map[string]string) {
	e.t.Helper()
	_, err := e.raw.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(body), Metadata: meta})
	if err != nil {
		e.t.Fatalf("raw PutObject %s: %v", key, err)
	}
}

func (e *env) exists(key string) bool {
	_, err := e.raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: &key})
	return err == nil
}

func mustFail(t testing.TB, what string, got []byte, err error, want func(error) bool) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if len(got) != 0 {
		t.Fatalf("%s: %d bytes of plaintext released with error %v", what, len(got), err)
	}
	if want != nil && !want(err) {
		t.Fatalf("%s: unexpected error %v", what, err)
	}
}

func is(target error) func(error) bool { return func(err error) bool { return errors.Is(err, target) } }

// s3ErrorResponse is the response S3 gives for an error, for fake HTTP
// clients that fail requests.
func s3ErrorResponse(req *http.Request, status int, code, message string) *http.Response {
	body := fmt.Sprintf(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, message)
	return &http.Response{StatusCode: status, Status: fmt.Sprintf("%d %s", status, http.StatusText(status)),
		Header: http.Header{"Content-Type": {"application/xml"}}, Body: io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: req}
}
