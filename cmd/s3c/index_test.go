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

// s3c index builds the chunk index of an object that has none (here
// removed, as for an object from AWS's clients): head then reports the
// streamed read path and get - reads it through the index; -r skips
// small, unencrypted and legacy objects, --dry-run writes nothing, and an
// altered object gets no index and exit 3.
func TestIndexCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	big := bytes.Repeat([]byte("0123456789abcdef"), 9<<16) // 9 MiB
	c.write("big", big)
	c.write("small", []byte("small"))
	c.ok("put", "--aes-key", "a.key", "big", c.url("p/big"))
	c.ok("put", "--aes-key", "a.key", "small", c.url("p/small"))
	raw := minio.Client()
	if _, err := raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("p/plain"), Body: bytes.NewReader([]byte("plain"))}); err != nil {
		t.Fatal(err)
	}
	rmIndex := func() {
		if _, err := raw.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &c.bucket, Key: aws.String("p/big.s3c-index")}); err != nil {
			t.Fatal(err)
		}
	}
	rmIndex()
	if out := c.ok("head", c.url("p/big")).stdout; !strings.Contains(out, "read path:             spool (") {
		t.Fatalf("head without an index:\n%s", out)
	}
	if out := c.ok("head", "--json", c.url("p/small")).stdout; !strings.Contains(out, `"read_path": "memory"`) {
		t.Fatalf("head --json of a small object:\n%s", out)
	}

	r := c.ok("index", "-r", "--dry-run", c.url("p/"))
	if want := "would index " + c.url("p/big") + " ("; !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "skipped "+c.url("p/small")+" (") ||
		!strings.Contains(r.stdout, "not encrypted "+c.url("p/plain")) || c.exists("p/big.s3c-index") {
		t.Fatalf("--dry-run:\n%s", r.stdout)
	}
	if want := "index: 3 seen, 1 indexed, 1 skipped, 1 not encrypted, 0 failed, 0 integrity failures\n"; r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	r = c.ok("index", "-r", "--aes-key", "a.key", c.url("p/"))
	if !strings.Contains(r.stdout, "indexed "+c.url("p/big")+" (") || !c.exists("p/big.s3c-index") || c.exists("p/small.s3c-index") {
		t.Fatalf("index -r:\n%s", r.stdout)
	}
	if out := c.ok("head", c.url("p/big")).stdout; !strings.Contains(out, "read path:             index-stream (") {
		t.Fatalf("head with an index:\n%s", out)
	}
	if got := c.ok("get", "--aes-key", "a.key", c.url("p/big"), "-").stdout; got != string(big) {
		t.Fatal("get - of the indexed object differs")
	}
	// A single small object is indexed when named.
	c.ok("index", "--aes-key", "a.key", c.url("p/small"))
	if !c.exists("p/small.s3c-index") {
		t.Fatal("named small object not indexed")
	}

	// An altered object: no index, exit 3.
	rmIndex()
	c.rawRewrite("p/big", func(b []byte) []byte { b[5<<20] ^= 1; return b })
	r = c.run("index", "--aes-key", "a.key", c.url("p/big"))
	if r.code != exitIntegrity || !strings.HasPrefix(r.stderr, "s3c: "+c.url("p/big")+": ") ||
		!strings.Contains(r.stderr, "ciphertext failed authentication") || !strings.HasSuffix(r.stderr, "1 failed, 1 integrity failures\ns3c: 1 of 1 objects failed\n") {
		t.Fatalf("altered object: exit %d\n%s", r.code, r.stderr)
	}
	if c.exists("p/big.s3c-index") {
		t.Fatal("index written for an altered object")
	}
	c.fails(exitUsage, "index needs the keys that read the objects", "index", c.url("p/big"))
}
