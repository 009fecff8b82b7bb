package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
)

// A user's own X.instruction is an object like any other: listed, copied
// both ways, and not deleted with X.
func TestUserInstructionFileIsAnObject(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	setup := []byte("#!/bin/sh\necho hi\n")
	inst := []byte(`{"run": "setup"}`)
	c.write("proj/setup", setup)
	c.write("proj/setup.instruction", inst)
	r := c.ok("cp", "-r", "--aes-key", "a.key", "proj", c.url("p"))
	if !strings.Contains(r.stderr, "cp: 2 objects") {
		t.Fatalf("upload: %q", r.stderr)
	}
	ls := c.ok("ls", "-r", c.url("p/")).stdout
	if !strings.Contains(ls, " p/setup\n") || !strings.Contains(ls, " p/setup.instruction\n") {
		t.Fatalf("ls -r:\n%s", ls)
	}
	r = c.ok("cp", "-r", "--aes-key", "a.key", c.url("p"), "back")
	if !strings.Contains(r.stderr, "cp: 2 objects") || !strings.Contains(r.stderr, "0 failed") {
		t.Fatalf("download: %q", r.stderr)
	}
	if !bytes.Equal(c.read("back/setup"), setup) || !bytes.Equal(c.read("back/setup.instruction"), inst) {
		t.Fatal("downloaded files differ")
	}
	c.ok("rm", c.url("p/setup"))
	raw := minio.Client()
	if _, err := raw.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.bucket, Key: aws.String("p/setup.instruction")}); err != nil {
		t.Fatalf("rm p/setup took p/setup.instruction with it: %v", err)
	}
	if got := c.ok("get", "--aes-key", "a.key", c.url("p/setup.instruction"), "-").stdout; got != string(inst) {
		t.Fatalf("p/setup.instruction: %q", got)
	}
	// Real instruction files stay hidden.
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "proj/setup", c.url("q/setup"))
	if ls := c.ok("ls", "-r", c.url("q/")).stdout; strings.Contains(ls, "instruction") || strings.Count(ls, "\n") != 1 {
		t.Fatalf("ls -r with an instruction file:\n%s", ls)
	}
	// With --instruction-file the two names collide: the second upload
	// fails, loudly, and the first object stays readable.
	r = c.run("cp", "-r", "--jobs", "1", "--aes-key", "a.key", "--instruction-file", "proj", c.url("r"))
	if r.code != exitError || !strings.Contains(r.stderr, "1 failed") || !strings.Contains(r.stderr, "instruction file in use: r/setup.instruction holds the envelope of r/setup") {
		t.Fatalf("cp -r --instruction-file: exit %d\n%s", r.code, r.stderr)
	}
	if got := c.ok("get", "--aes-key", "a.key", c.url("r/setup"), "-").stdout; got != string(setup) {
		t.Fatalf("r/setup: %q", got)
	}
}

// cp -r from S3 into "." or an absolute directory.
func TestCpRecursiveIntoDot(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("dot"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("p/sub/x.txt"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("p/y.txt"))
	for _, dst := range []string{".", "./", c.path("abs")} {
		r := c.ok("cp", "-r", "--aes-key", "a.key", c.url("p"), dst)
		if !strings.Contains(r.stderr, "cp: 2 objects") || !strings.Contains(r.stderr, "0 failed") {
			t.Fatalf("cp -r into %s: %q", dst, r.stderr)
		}
	}
	for _, name := range []string{"sub/x.txt", "y.txt", "abs/sub/x.txt", "abs/y.txt"} {
		if string(c.read(name)) != "dot" {
			t.Fatalf("%s", name)
		}
	}
}

func TestWithin(t *testing.T) {
	for _, tc := range []struct {
		root, p string
		ok      bool
	}{
		{".", "a", true}, {".", "a/b", true}, {"/", "/a", true}, {"/x", "/x/a", true}, {"d", "d/a", true},
		{".", ".", false}, {".", "../a", false}, {"d", "d", false}, {"d", "e/a", false}, {"/x", "/xy/a", false}, {"/x", "/a", false},
	} {
		if got := within(tc.root, tc.p); got != tc.ok {
			t.Errorf("within(%q, %q) = %v", tc.root, tc.p, got)
		}
	}
}

// A copied tree's entry lands under the destination: a key under its
// prefix, or a file inside its directory; an object key that would climb
// out of the directory (cp -r or sync from S3) is refused.
func TestUnder(t *testing.T) {
	dir := location{path: "/x/dst"}
	if l, err := under(dir, "a/b.txt", "p/a/b.txt"); err != nil || l != (location{path: "/x/dst/a/b.txt"}) {
		t.Fatalf("under(dir, a/b.txt) = %+v, %v", l, err)
	}
	for _, rel := range []string{"../evil", "a/../../evil", ".."} {
		if _, err := under(dir, rel, "p/"+rel); err == nil || err.Error() != `object key "p/`+rel+`" would be written outside /x/dst` {
			t.Errorf("under(dir, %q): %v", rel, err)
		}
	}
	pfx := location{s3: true, bucket: "b", key: "to"}
	if l, err := under(pfx, "a/b.txt", "p/a/b.txt"); err != nil || l != (location{s3: true, bucket: "b", key: "to/a/b.txt"}) {
		t.Fatalf("under(prefix, a/b.txt) = %+v, %v", l, err)
	}
}

// Re-encrypting in place keeps the object's properties and its own
// encryption context (or material description).
func TestCpInPlaceKeepsProperties(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "old.key")
	newRef := strings.TrimSpace(c.ok("keygen", "aes", "new.key").stdout)
	c.write("f", []byte("keep everything"))
	raw := minio.Client()
	bg := context.Background()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, kind := range []string{"aes", "kms"} {
		key := "obj-" + kind
		putKey := []string{"--aes-key", "old.key"}
		if kind == "kms" {
			putKey = []string{"--kms-key-id", "alias/cli"}
		}
		c.ok(append(append([]string{"put"}, putKey...), "--context", "team=blue", "f", c.url(key))...)
		// Give it every property, keeping the envelope.
		h, err := raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &c.bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		meta := h.Metadata
		meta["owner"] = "alice"
		_, err = raw.CopyObject(bg, &s3.CopyObjectInput{Bucket: &c.bucket, Key: &key, CopySource: aws.String(c.bucket + "/" + key),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta,
			ContentType: aws.String("text/x-kept"), CacheControl: aws.String("max-age=60"), ContentDisposition: aws.String("attachment; filename=\"k.txt\""),
			ContentEncoding: aws.String("identity"), ContentLanguage: aws.String("de-CH"), Expires: &expires,
			StorageClass:     types.StorageClassReducedRedundancy,
			TaggingDirective: types.TaggingDirectiveReplace, Tagging: aws.String("project=s3c&note=a%20b%2Bc")})
		if err != nil {
			t.Fatal(err)
		}

		args := []string{"cp", "--aes-key", "new.key", "--aes-key", "old.key", c.url(key), c.url(key)}
		if kind == "kms" {
			args = []string{"cp", "--kms-key-id", "alias/cli", c.url(key), c.url(key)}
		}
		c.ok(args...)

		h, err = raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &c.bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		for name, got := range map[string]string{
			"Content-Type": aws.ToString(h.ContentType), "Cache-Control": aws.ToString(h.CacheControl),
			"Content-Disposition": aws.ToString(h.ContentDisposition), "Content-Encoding": aws.ToString(h.ContentEncoding),
			"Content-Language": aws.ToString(h.ContentLanguage), "owner": h.Metadata["owner"], "storage class": string(h.StorageClass),
		} {
			want := map[string]string{"Content-Type": "text/x-kept", "Cache-Control": "max-age=60", "Content-Disposition": "attachment; filename=\"k.txt\"",
				"Content-Encoding": "identity", "Content-Language": "de-CH", "owner": "alice", "storage class": "REDUCED_REDUNDANCY"}[name]
			if got != want {
				t.Errorf("%s: %s is %q, want %q", kind, name, got, want)
			}
		}
		if h.Expires == nil || !h.Expires.Equal(expires) {
			t.Errorf("%s: Expires %v", kind, h.Expires)
		}
		tags, err := raw.GetObjectTagging(bg, &s3.GetObjectTaggingInput{Bucket: &c.bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tg := range tags.TagSet {
			got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
		}
		if len(got) != 2 || got["project"] != "s3c" || got["note"] != "a b+c" {
			t.Errorf("%s: tags %v", kind, got)
		}
		// Same context, and for the raw key, only the new key reads it.
		if kind == "aes" {
			c.fails(1, "is wrapped by local AES key "+newRef+", which is not among the keys given", "get", "--aes-key", "old.key", "--context", "team=blue", c.url(key), "-")
			if r := c.ok("head", "--json", c.url(key)); !strings.Contains(r.stdout, newRef) {
				t.Errorf("re-keyed object does not name %s:\n%s", newRef, r.stdout)
			}
			if r := c.ok("get", "--aes-key", "new.key", "--context", "team=blue", c.url(key), "-"); r.stdout != "keep everything" {
				t.Fatal("re-keyed object")
			}
		} else if r := c.ok("get", "--kms-key-id", "alias/cli", "--context", "team=blue", c.url(key), "-"); r.stdout != "keep everything" {
			t.Fatal("re-encrypted KMS object")
		}
		readKey := []string{"--aes-key", "new.key"}
		if kind == "kms" {
			readKey = putKey
		}
		c.fails(1, "with other values than the request gave", append(append([]string{"get"}, readKey...), "--context", "team=red", c.url(key), "-")...)
	}
}

// AWS SDK for Go v1 wrote instruction files without the marker: ls and
// cp -r still treat them as the envelope they are.
func TestUnmarkedInstructionFileHidden(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("go v1"))
	c.ok("put", "--aes-key", "a.key", "--format", "v2", "--instruction-file", "f", c.url("p/old"))
	raw := minio.Client()
	bg := context.Background()
	// Drop the marker, as GOV1's S3SaveStrategy never set it.
	if _, err := raw.CopyObject(bg, &s3.CopyObjectInput{Bucket: &c.bucket, Key: aws.String("p/old.instruction"), CopySource: aws.String(c.bucket + "/p/old.instruction"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	if ls := c.ok("ls", "-r", c.url("p/")).stdout; strings.Contains(ls, "instruction") || strings.Count(ls, "\n") != 1 {
		t.Fatalf("ls -r:\n%s", ls)
	}
	r := c.ok("cp", "-r", "--aes-key", "a.key", "--format", "v2", c.url("p"), "out")
	if !strings.Contains(r.stderr, "cp: 1 objects") || string(c.read("out/old")) != "go v1" {
		t.Fatalf("cp -r: %q", r.stderr)
	}
}
