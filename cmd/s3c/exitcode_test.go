package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rewrite replaces a stored object's body and metadata through the
// plain client.
func rewrite(t *testing.T, bucket, key string, edit func(body []byte, meta map[string]string) []byte) {
	t.Helper()
	ctx := context.Background()
	raw := minio.Client()
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	body = edit(body, out.Metadata)
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: out.Metadata}); err != nil {
		t.Fatal(err)
	}
}

// noLengthProxy is an S3 endpoint in front of MinIO that sends GET
// responses for keys containing "nolen" without Content-Length
// (chunked).
func noLengthProxy(t *testing.T) string {
	t.Helper()
	target, _ := url.Parse(minio.Endpoint)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.FlushInterval = -1
	rp.ModifyResponse = func(res *http.Response) error {
		if res.Request.Method == http.MethodGet && strings.Contains(res.Request.URL.Path, "nolen") {
			res.Header.Del("Content-Length")
			res.ContentLength = -1
		}
		return nil
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

// One rule per cause, the same on every path a get takes: to a file, to
// stdout, cp to a file and cp -r of a prefix.
func TestExitCodePerCause(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	aRef := strings.TrimSpace(c.ok("keygen", "aes", "a.key").stdout)
	c.ok("keygen", "rsa", "r.pem", "--bits", "2048")
	aesRef := strings.TrimSpace(c.ok("keygen", "aes", "other.key").stdout)
	c.write("notakey", []byte("hello"))
	data := randomBytes(100000)
	c.write("f", data)
	put := func(key string, args ...string) {
		c.ok(append(append([]string{"put"}, args...), "f", c.url(key+"/obj"))...)
	}
	put("ok", "--aes-key", "a.key")
	put("tampered", "--aes-key", "a.key")
	tamper(t, c.bucket, "tampered/obj")
	put("empty", "--aes-key", "a.key")
	rewrite(t, c.bucket, "empty/obj", func([]byte, map[string]string) []byte { return nil })
	put("short", "--aes-key", "a.key")
	rewrite(t, c.bucket, "short/obj", func(b []byte, _ map[string]string) []byte { return b[:10] })
	put("nolen", "--aes-key", "a.key")
	put("other", "--aes-key", "other.key")
	put("context", "--aes-key", "a.key", "--context", "team=blue")
	put("kms", "--kms-key-id", "alias/cli")
	// KMS answers this object's data key with 16 bytes.
	put("kmsbad", "--kms-key-id", "alias/cli")
	rewrite(t, c.bucket, "kmsbad/obj", func(b []byte, meta map[string]string) []byte {
		var ec map[string]string
		if err := json.Unmarshal([]byte(meta["x-amz-t"]), &ec); err != nil {
			t.Fatalf("context %q: %v", meta["x-amz-t"], err)
		}
		blob := make([]byte, 64)
		rand.Read(blob)
		kmsSrv.RegisterCiphertext(blob, kmsARN, ec, make([]byte, 16))
		meta["x-amz-3"] = base64.StdEncoding.EncodeToString(blob)
		return b
	})
	aes := []string{"--aes-key", "a.key"}
	for _, tc := range []struct {
		name string
		key  string
		keys []string
		code int
		want string // in the error line
	}{
		{"authentic", "ok", aes, 0, ""},
		{"tampered", "tampered", aes, 3, "authentication"},
		{"empty body", "empty", aes, 3, "authentication"},
		{"truncated body", "short", aes, 3, "authentication"},
		{"no content-length", "nolen", aes, 1, "S3 did not report the object's size (no Content-Length)"},
		{"another key", "other", aes, 1, c.url("other/obj") + " is wrapped by local AES key " + aesRef + ", which is not among the keys given"},
		{"no key of the kind", "kms", aes, 1, c.url("kms/obj") + " is wrapped by KMS key " + kmsARN + ", which is not among the keys given: only they are trusted; give --kms-key-id " + kmsARN + " or --allow-kms-key " + kmsARN + " to trust it"},
		{"no AES key", "ok", []string{"--rsa-key", "r.pem"}, 1, c.url("ok/obj") + " is wrapped by local AES key " + aRef + "; give --aes-key"},
		{"context missing", "context", aes, 1, c.url("context/obj") + " has encryption context keys [team], but the request gave none"},
		{"KMS malformed key", "kmsbad", nil, 1, c.url("kmsbad/obj") + ": KMS key " + kmsARN + " answered with a malformed data key"},
		{"bad key file", "ok", []string{"--aes-key", "notakey"}, 2, "--aes-key: not an AES key"},
		{"missing key file", "ok", []string{"--aes-key", "gone.key"}, 2, "--aes-key: cannot read the key file"},
		{"missing object", "missing", aes, 1, c.url("missing/obj")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := *c
			c.t, c.env = t, slices.Clone(c.env)
			if tc.key == "nolen" {
				c.setenv("AWS_ENDPOINT_URL_S3=" + noLengthProxy(t))
			}
			src := c.url(tc.key + "/obj")
			for _, args := range [][]string{
				append(append([]string{"get"}, tc.keys...), src, "out-get-"+tc.key),
				append(append([]string{"get"}, tc.keys...), src, "-"),
				append(append([]string{"get", "--stream"}, tc.keys...), src, "-"),
				append(append([]string{"cp"}, tc.keys...), src, "out-cp-"+tc.key),
				append(append([]string{"cp", "-r"}, tc.keys...), c.url(tc.key), "out-r-"+tc.key),
			} {
				if tc.key == "missing" && args[1] == "-r" {
					continue // an empty prefix is no error
				}
				r := c.run(args...)
				if tc.code == 0 {
					if r.code != 0 {
						t.Fatalf("s3c %v: exit %d: %s", args, r.code, r.stderr)
					}
					continue
				}
				if args[1] == "-r" && tc.code != exitUsage {
					// The object's line, then the summary.
					if r.code != tc.code || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, "1 failed") {
						t.Fatalf("s3c %v: exit %d, want %d with %q:\n%s", args, r.code, tc.code, tc.want, r.stderr)
					}
					continue
				}
				c.failed(r, tc.code, tc.want, args...)
			}
		})
	}
	c.noTempFiles()
}
