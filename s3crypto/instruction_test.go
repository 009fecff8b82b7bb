package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
)

// userInstruction is a user's own object that happens to be named like an
// instruction file: JSON, but without the marker.
var userInstruction = []byte(`{"steps": ["unpack", "run"], "x-amz-note": "mine"}`)

func (e *env) mustBe(key string, want []byte) {
	e.t.Helper()
	got, _, err := e.rawGet(key)
	if err != nil {
		e.t.Fatalf("%s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		e.t.Fatalf("%s changed: %q, want %q", key, got, want)
	}
}

func TestUserInstructionObjectIsNotAnEnvelope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	// An unencrypted object beside the user's unmarked setup.instruction:
	// not encrypted, the JSON is not taken for an envelope.
	e.rawPut("setup", []byte("#!/bin/sh\n"), nil)
	e.rawPut("setup.instruction", userInstruction, nil)
	got, _, err := e.get(c, "setup")
	mustFail(t, "plain object beside a user's .instruction", got, err, is(ErrNotEncrypted))
	head, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("setup")})
	if err != nil || aws.ToInt64(head.ContentLength) != 10 {
		t.Fatalf("HeadObject: %v", err)
	}
	if _, ok := GetObjectInfo(head.ResultMetadata); ok {
		t.Fatal("plain object described as encrypted")
	}

	// DeleteObject of the neighbour leaves the user's object.
	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("setup")}); err != nil {
		t.Fatal(err)
	}
	if e.exists("setup") {
		t.Fatal("setup not deleted")
	}
	e.mustBe("setup.instruction", userInstruction)

	// Same for an encrypted neighbour, and through DeleteObjects.
	e.put(c, "a", []byte("a"))
	e.rawPut("a.instruction", userInstruction, nil)
	e.put(c, "b", []byte("b"))
	e.rawPut("b.instruction", userInstruction, map[string]string{"x-amz-crypto-instr-file": ""}) // marked: ours
	out, err := c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("a")}, {Key: aws.String("b")}}}})
	if err != nil || len(out.Errors) != 0 {
		t.Fatalf("DeleteObjects: %v %v", err, out.Errors)
	}
	e.mustBe("a.instruction", userInstruction)
	if e.exists("a") || e.exists("b") || e.exists("b.instruction") {
		t.Fatal("DeleteObjects left an object or a marked instruction file")
	}
}

func TestInstructionFileWriteKeepsUserObject(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	e.rawPut("k.instruction", userInstruction, map[string]string{"owner": "me"})
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("k"), Body: strings.NewReader("secret")}, WithInstructionFile())
	var nie *NotInstructionFileError
	if !errors.As(err, &nie) || nie.Key != "k.instruction" || !strings.Contains(err.Error(), "k.instruction exists and is not an instruction file") {
		t.Fatalf("PutObject over a user's k.instruction: %v", err)
	}
	e.mustBe("k.instruction", userInstruction)
	if e.exists("k") {
		t.Fatal("object stored although its envelope could not be")
	}

	// The conditional write itself, should the name be taken between the
	// check and the write.
	err = c.writeInstructionFile(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("k.instruction")}, []byte(`{}`), nil)
	if !errors.As(err, &nie) {
		t.Fatalf("writeInstructionFile over a user's object: %v", err)
	}
	e.mustBe("k.instruction", userInstruction)

	// A marked instruction file is replaced.
	e.rawPut("m.instruction", []byte("old"), map[string]string{"x-amz-crypto-instr-file": ""})
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("m"), Body: strings.NewReader("secret")}, WithInstructionFile()); err != nil {
		t.Fatal(err)
	}
	if got, _, err := e.get(c, "m"); err != nil || string(got) != "secret" {
		t.Fatalf("reading m back: %q %v", got, err)
	}
}

// TestUnmarkedV1InstructionFile: AWS SDK for Go v1 writes instruction
// files without the marker; they are still read (the captured vector
// s3crypto-v2-kms-instruction-17 is one), but not deleted.
func TestUnmarkedV1InstructionFile(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	// A V2 object: a V3 instruction file needs the commitment in the
	// object's metadata, which GOV1 never wrote.
	c2 := e.client(e.keyrings["aes"], func(o *Options) { o.InstructionFile = true; o.CommitmentPolicy = ForbidEncryptAllowDecrypt })
	e.put(c2, "v2", []byte("from go v1"))
	body, _, err := e.rawGet("v2.instruction")
	if err != nil {
		t.Fatal(err)
	}
	e.rawPut("v2.instruction", body, nil)
	if got, _, err := e.get(c2, "v2"); err != nil || string(got) != "from go v1" {
		t.Fatalf("unmarked V2 instruction file not read: %q %v", got, err)
	}
}

func TestCopyObjectKeepsEnvelope(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, inst := range []bool{false, true} {
		c := e.client(e.keyrings["aes"], func(o *Options) { o.InstructionFile = inst })
		name := map[bool]string{false: "meta", true: "inst"}[inst]
		src := name + "-src"
		_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &src, Body: strings.NewReader("payload " + name),
			ContentType: aws.String("text/plain"), Metadata: map[string]string{"a": "1"}})
		if err != nil {
			t.Fatal(err)
		}
		check := func(key, ctype string, meta map[string]string) {
			t.Helper()
			got, out, err := e.get(c, key)
			if err != nil || string(got) != "payload "+name {
				t.Fatalf("%s: %q %v", key, got, err)
			}
			if aws.ToString(out.ContentType) != ctype || len(out.Metadata) != len(meta) {
				t.Fatalf("%s: content type %q, metadata %v", key, aws.ToString(out.ContentType), out.Metadata)
			}
			for k, v := range meta {
				if out.Metadata[k] != v {
					t.Fatalf("%s: metadata %v, want %v", key, out.Metadata, meta)
				}
			}
		}
		// COPY.
		dst := name + "-copy"
		if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: &dst, CopySource: aws.String(e.bucket + "/" + src)}); err != nil {
			t.Fatal(err)
		}
		check(dst, "text/plain", map[string]string{"a": "1"})
		if e.exists(dst+".instruction") != inst {
			t.Fatalf("%s: instruction file copied: %v", dst, !inst)
		}
		// REPLACE to another key.
		dst = name + "-replace"
		if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: &dst, CopySource: aws.String(e.bucket + "/" + src),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-new"), Metadata: map[string]string{"b": "2"}}); err != nil {
			t.Fatal(err)
		}
		check(dst, "text/x-new", map[string]string{"b": "2"})
		// REPLACE in place: the only copy stays readable.
		if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: &src, CopySource: aws.String(e.bucket + "/" + src),
			MetadataDirective: types.MetadataDirectiveReplace, ContentType: aws.String("text/x-in-place")}); err != nil {
			t.Fatal(err)
		}
		check(src, "text/x-in-place", nil)
	}
	c := e.client(e.keyrings["aes"])
	// The caller may not set envelope keys.
	_, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("x"), CopySource: aws.String(e.bucket + "/meta-src"),
		MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{"x-amz-key-v2": "forged"}})
	if err == nil || !strings.Contains(err.Error(), "reserved") || e.exists("x") {
		t.Fatalf("reserved metadata key: %v", err)
	}
	// An instruction-file object is not copied over a user's object named
	// like its instruction file; the user's object is untouched.
	e.rawPut("taken.instruction", userInstruction, nil)
	_, err = c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("taken"), CopySource: aws.String(e.bucket + "/inst-src")})
	var nie *NotInstructionFileError
	if !errors.As(err, &nie) || e.exists("taken") {
		t.Fatalf("copy onto a key whose .instruction is the user's: %v", err)
	}
	e.mustBe("taken.instruction", userInstruction)
	// A plain object is copied as it is, its user .instruction neighbour
	// being nothing to copy.
	e.rawPut("plain", []byte("plain"), nil)
	e.rawPut("plain.instruction", userInstruction, nil)
	if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("plain2"), CopySource: aws.String(e.bucket + "/plain")}); err != nil {
		t.Fatal(err)
	}
	e.mustBe("plain2", []byte("plain"))
	if e.exists("plain2.instruction") {
		t.Fatal("a user's .instruction object was copied as an instruction file")
	}
	// Refused: calls that would splice or strand envelopes.
	if _, err := c.UploadPartCopy(bg, &s3.UploadPartCopyInput{}); !errors.Is(err, errSpliceCopy) {
		t.Fatalf("UploadPartCopy: %v", err)
	}
	if _, err := c.RenameObject(bg, &s3.RenameObjectInput{}); !errors.Is(err, errRename) {
		t.Fatalf("RenameObject: %v", err)
	}
}

// TestCopyObjectInstructionFailureRemovesCopy: when the instruction file
// cannot be written after the object was copied (its name taken between
// the check and the write), the copy, undecryptable without it, is
// deleted and CopyObject fails.
func TestCopyObjectInstructionFailureRemovesCopy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	e.put(c, "src", []byte("x"))
	// Take the name during the CopyObject request itself.
	raw := minio.Client()
	hook := func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			return st.Initialize.Add(middleware.InitializeMiddlewareFunc("take-name", func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
				if _, ok := in.Parameters.(*s3.CopyObjectInput); ok {
					raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("dst.instruction"), Body: bytes.NewReader(userInstruction)})
				}
				return next.HandleInitialize(ctx, in)
			}), middleware.After)
		})
	}
	_, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("dst"), CopySource: aws.String(e.bucket + "/src")}, hook)
	var nie *NotInstructionFileError
	if !errors.As(err, &nie) || !strings.Contains(err.Error(), "the copy was deleted again") {
		t.Fatalf("CopyObject: %v", err)
	}
	if e.exists("dst") {
		t.Fatal("undecryptable copy left behind")
	}
	e.mustBe("dst.instruction", userInstruction)
}

func TestParseCopySource(t *testing.T) {
	for _, tc := range []struct{ in, bucket, key, version string }{
		{"b/k", "b", "k", ""},
		{"/b/dir/k%20x%2By", "b", "dir/k x+y", ""},
		{"b/k?versionId=abc", "b", "k", "abc"},
		{"arn:aws:s3:us-east-1:123:accesspoint/ap/object/dir/k", "arn:aws:s3:us-east-1:123:accesspoint/ap", "dir/k", ""},
	} {
		got, err := parseCopySource(tc.in)
		if err != nil || got.bucket != tc.bucket || got.key != tc.key || aws.ToString(got.version) != tc.version {
			t.Errorf("%q: %+v %v", tc.in, got, err)
		}
	}
	for _, bad := range []string{"", "b", "b/", "/k"} {
		if _, err := parseCopySource(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// An instruction file that an existing object needs is neither
// overwritten nor deleted through the client; a stale one (its object
// gone, or keeping its envelope in its metadata) is.
func TestInstructionFileInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("x"), Body: strings.NewReader("needs its file")}, WithInstructionFile()); err != nil {
		t.Fatal(err)
	}
	inst, _, _ := e.rawGet("x.instruction")
	readable := func() {
		t.Helper()
		e.mustBe("x.instruction", inst)
		if got, _, err := e.get(c, "x"); err != nil || string(got) != "needs its file" {
			t.Fatalf("x no longer readable: %v", err)
		}
	}
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("x.instruction"), Body: strings.NewReader("over it")})
	if !errors.Is(err, ErrInstructionFileInUse) || !strings.Contains(err.Error(), "x.instruction holds the envelope of x") {
		t.Fatalf("PutObject over an instruction file in use: %v", err)
	}
	readable()
	_, err = NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("x.instruction"), Body: bytes.NewReader(make([]byte, DefaultPartSize+1))})
	if !errors.Is(err, ErrInstructionFileInUse) {
		t.Fatalf("multipart Upload over an instruction file in use: %v", err)
	}
	readable()
	e.rawPut("other", []byte("plain"), nil)
	if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("x.instruction"), CopySource: aws.String(e.bucket + "/other")}); !errors.Is(err, ErrInstructionFileInUse) {
		t.Fatalf("CopyObject over an instruction file in use: %v", err)
	}
	readable()
	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("x.instruction")}); !errors.Is(err, ErrInstructionFileInUse) {
		t.Fatalf("DeleteObject of an instruction file in use: %v", err)
	}
	readable()
	// Stale: x now keeps its envelope in its metadata.
	e.put(c, "x", []byte("new x"))
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("x.instruction"), Body: strings.NewReader("mine now")}); err != nil {
		t.Fatalf("PutObject over a stale instruction file: %v", err)
	}
	if got, _, err := e.get(c, "x.instruction"); err != nil || string(got) != "mine now" {
		t.Fatalf("x.instruction: %q %v", got, err)
	}
}

func TestDeleteObjectsInstructionFileInUse(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	e.put(c, "x", []byte("x"))
	e.put(c, "y", []byte("y"))
	e.rawPut("z", []byte("z"), nil)
	ids := func(keys ...string) *types.Delete {
		d := &types.Delete{}
		for _, k := range keys {
			d.Objects = append(d.Objects, types.ObjectIdentifier{Key: aws.String(k)})
		}
		return d
	}
	// x.instruction alone: refused, x stays readable.
	out, err := c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: ids("x.instruction")})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Code) != "InstructionFileInUse" {
		t.Fatalf("DeleteObjects of an instruction file in use: %v %+v", err, out)
	}
	if got, _, err := e.get(c, "x"); err != nil || string(got) != "x" {
		t.Fatalf("x: %v", err)
	}
	// With its object, and beside others: all go.
	out, err = c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: ids("x", "x.instruction", "y.instruction", "z")})
	if err != nil || len(out.Errors) != 1 || aws.ToString(out.Errors[0].Key) != "y.instruction" {
		t.Fatalf("DeleteObjects: %v %+v", err, out.Errors)
	}
	for _, k := range []string{"x", "x.instruction", "z"} {
		if e.exists(k) {
			t.Fatalf("%s left", k)
		}
	}
	if got, _, err := e.get(c, "y"); err != nil || string(got) != "y" {
		t.Fatalf("y: %v", err)
	}
}
