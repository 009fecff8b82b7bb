package miniocrypto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/s3crypto"
)

var userInstruction = []byte(`{"steps": ["unpack", "run"]}`)

func mustHold(t *testing.T, raw *minio.Client, bucket, key string, want []byte) {
	t.Helper()
	obj, err := raw.GetObject(bg, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	got, err := io.ReadAll(obj)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("%s: %q %v, want %q", key, got, err, want)
	}
}

func TestUserInstructionObjectLeftAlone(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	raw := minioClient(t)
	c := newClient(t, keyrings(t)["aes"])
	put := func(key string, body []byte) {
		t.Helper()
		if _, err := raw.PutObject(bg, bucket, key, bytes.NewReader(body), int64(len(body)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("setup", []byte("#!/bin/sh\n"))
	put("setup.instruction", userInstruction)
	if _, err := c.GetObject(bg, bucket, "setup", minio.GetObjectOptions{}); !errors.Is(err, s3crypto.ErrNotEncrypted) {
		t.Fatalf("GetObject beside a user's .instruction: %v", err)
	}
	if st, err := c.StatObject(bg, bucket, "setup", minio.StatObjectOptions{}); err != nil || st.Size != 10 {
		t.Fatalf("StatObject: %v", err)
	}
	if err := c.RemoveObject(bg, bucket, "setup", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	mustHold(t, raw, bucket, "setup.instruction", userInstruction)

	// No instruction file is written over it, and nothing is stored.
	_, err := c.PutObject(WithInstructionFile(bg), bucket, "setup", strings.NewReader("secret"), 6, minio.PutObjectOptions{})
	var nie *s3crypto.NotInstructionFileError
	if !errors.As(err, &nie) {
		t.Fatalf("PutObject over a user's .instruction: %v", err)
	}
	mustHold(t, raw, bucket, "setup.instruction", userInstruction)
	if exists(t, bucket, "setup") {
		t.Fatal("object stored although its envelope could not be")
	}
	if err := c.writeInstructionFile(bg, bucket, "setup.instruction", []byte("{}"), nil, ""); !errors.As(err, &nie) {
		t.Fatalf("conditional write over a user's object: %v", err)
	}
	mustHold(t, raw, bucket, "setup.instruction", userInstruction)
}

func TestCopyObjectKeepsEnvelope(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	for _, inst := range []bool{false, true} {
		c := newClient(t, keyrings(t)["aes"], func(o *s3crypto.Options) { o.InstructionFile = inst })
		name := map[bool]string{false: "meta", true: "inst"}[inst]
		src := name + "-src"
		if _, err := c.PutObject(bg, bucket, src, strings.NewReader("payload"), 7, minio.PutObjectOptions{ContentType: "text/plain", UserMetadata: map[string]string{"a": "1"}}); err != nil {
			t.Fatal(err)
		}
		check := func(key, ctype string) {
			t.Helper()
			got, obj, err := readAll(t, c, bg, bucket, key)
			if err != nil || string(got) != "payload" {
				t.Fatalf("%s: %q %v", key, got, err)
			}
			if st, err := obj.Stat(); err != nil || st.ContentType != ctype {
				t.Fatalf("%s: content type %q %v", key, st.ContentType, err)
			}
		}
		dst := name + "-copy"
		if _, err := c.CopyObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: dst}, minio.CopySrcOptions{Bucket: bucket, Object: src}); err != nil {
			t.Fatal(err)
		}
		check(dst, "text/plain")
		if exists(t, bucket, dst+".instruction") != inst {
			t.Fatalf("%s: instruction file copied: %v", dst, !inst)
		}
		// ReplaceMetadata in place keeps the envelope.
		if _, err := c.CopyObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: src, ReplaceMetadata: true, ContentType: "text/x-new", UserMetadata: map[string]string{"b": "2"}},
			minio.CopySrcOptions{Bucket: bucket, Object: src}); err != nil {
			t.Fatal(err)
		}
		check(src, "text/x-new")
	}
	c := newClient(t, keyrings(t)["aes"])
	if _, err := c.CopyObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: "x", ReplaceMetadata: true, UserMetadata: map[string]string{"x-amz-3": "forged"}},
		minio.CopySrcOptions{Bucket: bucket, Object: "meta-src"}); err == nil || !strings.Contains(err.Error(), "reserved") {
		t.Fatalf("reserved key: %v", err)
	}
	raw := minioClient(t)
	raw.PutObject(bg, bucket, "taken.instruction", bytes.NewReader(userInstruction), int64(len(userInstruction)), minio.PutObjectOptions{})
	_, err := c.CopyObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: "taken"}, minio.CopySrcOptions{Bucket: bucket, Object: "inst-src"})
	var nie *s3crypto.NotInstructionFileError
	if !errors.As(err, &nie) || exists(t, bucket, "taken") {
		t.Fatalf("copy onto a key whose .instruction is the user's: %v", err)
	}
	mustHold(t, raw, bucket, "taken.instruction", userInstruction)
}

func TestInstructionFileInUse(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"])
	if _, err := c.PutObject(WithInstructionFile(bg), bucket, "x", strings.NewReader("needs it"), 8, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(bg, bucket, "x.instruction", strings.NewReader("over"), 4, minio.PutObjectOptions{}); !errors.Is(err, s3crypto.ErrInstructionFileInUse) {
		t.Fatalf("PutObject over an instruction file in use: %v", err)
	}
	minioClient(t).PutObject(bg, bucket, "other", strings.NewReader("plain"), 5, minio.PutObjectOptions{})
	if _, err := c.CopyObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: "x.instruction"}, minio.CopySrcOptions{Bucket: bucket, Object: "other"}); !errors.Is(err, s3crypto.ErrInstructionFileInUse) {
		t.Fatalf("CopyObject over an instruction file in use: %v", err)
	}
	if err := c.RemoveObject(bg, bucket, "x.instruction", minio.RemoveObjectOptions{}); !errors.Is(err, s3crypto.ErrInstructionFileInUse) {
		t.Fatalf("RemoveObject of an instruction file in use: %v", err)
	}
	if got, _, err := readAll(t, c, bg, bucket, "x"); err != nil || string(got) != "needs it" {
		t.Fatalf("x: %q %v", got, err)
	}
	if err := c.RemoveObject(bg, bucket, "x", minio.RemoveObjectOptions{}); err != nil || exists(t, bucket, "x.instruction") {
		t.Fatalf("RemoveObject x: %v", err)
	}
}
