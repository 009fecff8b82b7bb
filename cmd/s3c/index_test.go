package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// A marked chunk index X.s3c-index is hidden by ls and cp -r like an
// instruction file; a user's unmarked one is an object like any other.
func TestIndexObjectsHidden(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("data"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("p/x"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("p/y"))
	raw := minio.Client()
	put := func(key string, meta map[string]string) {
		if _, err := raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(key), Body: bytes.NewReader([]byte("idx")), Metadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	put("p/x.s3c-index", map[string]string{"s3c-index": "1"})
	put("p/y.s3c-index", nil)
	ls := c.ok("ls", "-r", c.url("p/")).stdout
	if strings.Contains(ls, "p/x.s3c-index") || !strings.Contains(ls, " p/y.s3c-index\n") || strings.Count(ls, "\n") != 3 {
		t.Fatalf("ls -r:\n%s", ls)
	}
	// p/y.s3c-index is not encrypted: cp refuses it, but it is listed.
	r := c.run("cp", "-r", "--aes-key", "a.key", c.url("p"), "back")
	if strings.Contains(r.stderr, "x.s3c-index") || !strings.Contains(r.stderr, "1 of 3 objects failed") {
		t.Fatalf("cp -r: %q", r.stderr)
	}
}

// head says whether a chunk index is stored beside an object.
func TestHeadShowsIndex(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("small", []byte("data"))
	c.write("big", bytes.Repeat([]byte("x"), 9<<20))
	c.ok("put", "--aes-key", "a.key", "small", c.url("s"))
	c.ok("put", "--aes-key", "a.key", "big", c.url("b"))
	if out := c.ok("head", c.url("s")).stdout; !strings.Contains(out, "chunk index:           none\n") {
		t.Fatalf("head of a small object:\n%s", out)
	}
	if out := c.ok("head", c.url("b")).stdout; !strings.Contains(out, "chunk index:           b.s3c-index (streamed, authenticated reads)\n") {
		t.Fatalf("head of a large object:\n%s", out)
	}
	if out := c.ok("head", "--json", c.url("b")).stdout; !strings.Contains(out, `"chunk_index": true`) {
		t.Fatalf("head --json:\n%s", out)
	}
}
