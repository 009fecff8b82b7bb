package s3crypto

import (
	"bytes"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

func TestCommitmentPolicy(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	kr := e.keyrings["kms"]
	v2 := e.client(kr, func(o *Options) { o.Format = metadata.V2 })
	if v2.opts.CommitmentPolicy != ForbidEncryptAllowDecrypt {
		t.Fatalf("Format V2 alone gives policy %s", v2.opts.CommitmentPolicy)
	}
	e.put(v2, "v2", []byte("old reader"))
	e.put(e.client(kr), "v3", []byte("new reader"))

	before := e.kms.Calls("Decrypt")
	got, _, err := e.get(e.client(kr), "v2")
	var pe *PolicyError
	mustFail(t, "V2 under the default policy", got, err, func(err error) bool { return errors.As(err, &pe) })
	if !strings.Contains(err.Error(), "REQUIRE_ENCRYPT_REQUIRE_DECRYPT") || e.kms.Calls("Decrypt") != before {
		t.Fatalf("policy error %q, or KMS called (%d) before the policy check", err, e.kms.Calls("Decrypt")-before)
	}
	allow := e.client(kr, func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt })
	for _, k := range []string{"v2", "v3"} {
		if _, _, err := e.get(allow, k); err != nil {
			t.Fatalf("allow-decrypt policy reading %s: %v", k, err)
		}
		if _, _, err := e.get(v2, k); err != nil {
			t.Fatalf("forbid-encrypt policy reading %s: %v", k, err)
		}
	}
	e.put(allow, "allow", []byte("x"))
	if _, meta, _ := e.rawGet("allow"); meta["x-amz-c"] != "115" {
		t.Fatalf("RequireEncryptAllowDecrypt wrote %v", meta)
	}
	if _, err := New(minio.Client(), kr, func(o *Options) { o.Format = metadata.V2; o.CommitmentPolicy = RequireEncryptRequireDecrypt }); err == nil {
		t.Fatal("V2 with a policy that requires commitment accepted")
	}
	if _, err := New(minio.Client(), nil); err == nil {
		t.Fatal("nil keyring accepted")
	}
}

func TestEncryptionContext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"kms", "aes"} {
		c := e.client(e.keyrings[name])
		ec := map[string]string{"tenant": "acme", "purpose": "invoices"}
		e.put(c, name, []byte("context bound"), WithEncryptionContext(ec))
		before := e.kms.Calls("Decrypt")
		for _, wrong := range []map[string]string{nil, {"tenant": "acme"}, {"tenant": "evil", "purpose": "invoices"}} {
			opts := []func(*s3.Options){}
			if wrong != nil {
				opts = append(opts, WithEncryptionContext(wrong))
			}
			got, _, err := e.get(c, name, opts...)
			var cm *materials.ContextMismatchError
			mustFail(t, name+" with the wrong context", got, err, func(err error) bool { return errors.As(err, &cm) })
		}
		if e.kms.Calls("Decrypt") != before {
			t.Fatalf("KMS called for a request whose context does not match")
		}
		got, out, err := e.get(c, name, WithEncryptionContext(ec))
		if err != nil || string(got) != "context bound" {
			t.Fatalf("%s with the right context: %v", name, err)
		}
		info, _ := GetObjectInfo(out.ResultMetadata)
		if info.Envelope.Description["tenant"] != "acme" {
			t.Fatalf("stored description %v", info.Envelope.Description)
		}
	}
	// The reserved entries cannot be set by the caller.
	key := "reserved"
	_, err := e.client(e.keyrings["kms"]).PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("x")},
		WithEncryptionContext(map[string]string{"aws:x-amz-cek-alg": "AES/GCM/NoPadding"}))
	if err == nil || e.exists(key) {
		t.Fatalf("reserved context key accepted: %v", err)
	}
}

func TestInstructionFilePlacement(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["kms"])
	// Per call.
	key := "per-call"
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("x")}, WithInstructionFile()); err != nil {
		t.Fatal(err)
	}
	if !e.exists(key + ".instruction") {
		t.Fatal("WithInstructionFile wrote no instruction file")
	}
	_, instMeta, _ := e.rawGet(key + ".instruction")
	if _, ok := instMeta["x-amz-crypto-instr-file"]; !ok {
		t.Fatalf("instruction file lacks its marker: %v", instMeta)
	}
	// Automatically, when the envelope would not fit beside the caller's metadata.
	key = "big-meta"
	user := map[string]string{"note": strings.Repeat("n", 1800)}
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("big"), Metadata: user}); err != nil {
		t.Fatal(err)
	}
	if !e.exists(key + ".instruction") {
		t.Fatal("envelope over the metadata limit was not moved to an instruction file")
	}
	if got, _, err := e.get(c, key); err != nil || string(got) != "big" {
		t.Fatalf("reading it back: %v", err)
	}
	// Caller metadata alone over the limit: refused, nothing stored.
	key = "too-big"
	user = map[string]string{"note": strings.Repeat("n", 2100)}
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("x"), Metadata: user})
	if err == nil || !strings.Contains(err.Error(), "limit") || e.exists(key) {
		t.Fatalf("oversize metadata: %v", err)
	}
	// A large material description also moves to the instruction file.
	key = "big-context"
	ec := map[string]string{"k": strings.Repeat("v", 1900)}
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("x")}, WithEncryptionContext(ec)); err != nil {
		t.Fatal(err)
	}
	if !e.exists(key+".instruction") || func() bool { _, _, err := e.get(c, key, WithEncryptionContext(ec)); return err != nil }() {
		t.Fatal("large encryption context did not round-trip through an instruction file")
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	for _, k := range []string{"a", "b", "c"} {
		e.put(c, k, []byte(k))
	}
	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("a")}); err != nil {
		t.Fatal(err)
	}
	if e.exists("a") || e.exists("a.instruction") {
		t.Fatal("DeleteObject left the object or its instruction file")
	}
	out, err := c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("b")}, {Key: aws.String("c")}}}})
	if err != nil || len(out.Errors) != 0 {
		t.Fatalf("DeleteObjects: %v %v", err, out.Errors)
	}
	for _, k := range []string{"b", "c", "b.instruction", "c.instruction"} {
		if e.exists(k) {
			t.Fatalf("DeleteObjects left %s", k)
		}
	}
	// Deleting an object that is not there is not an error, as in S3.
	if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("never")}); err != nil {
		t.Fatal(err)
	}
}

func TestNotEncryptedAndMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	e.rawPut("plain", []byte("not encrypted"), map[string]string{"owner": "bob"})
	got, _, err := e.get(c, "plain")
	mustFail(t, "plain object", got, err, is(ErrNotEncrypted))
	head, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("plain")})
	if err != nil || aws.ToInt64(head.ContentLength) != 13 {
		t.Fatalf("head of a plain object: %v", err)
	}
	if _, ok := GetObjectInfo(head.ResultMetadata); ok {
		t.Fatal("plain object described as encrypted")
	}
	got, _, err = e.get(c, "missing")
	var nsk *types.NoSuchKey
	mustFail(t, "missing object", got, err, func(err error) bool { return errors.As(err, &nsk) })
	if !strings.Contains(err.Error(), "s3://"+e.bucket+"/missing") {
		t.Fatalf("error does not name the object: %v", err)
	}
	// A V3 object whose instruction file is gone.
	c2 := e.client(e.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	e.put(c2, "orphan", []byte("x"))
	e.raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("orphan.instruction")})
	got, _, err = e.get(c2, "orphan")
	mustFail(t, "V3 object without its instruction file", got, err, nil)
	if !strings.Contains(err.Error(), "orphan.instruction not found") {
		t.Fatalf("unclear error: %v", err)
	}
}

func TestRefusedOperations(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	e.put(c, "obj", randomBytes(100))
	_, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Range: aws.String("bytes=0-9")})
	if !errors.Is(err, ErrRangeNotAllowed) {
		t.Fatalf("ranged GET: %v", err)
	}
	_, err = c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), PartNumber: aws.Int32(1)})
	if !errors.Is(err, ErrRangeNotAllowed) {
		t.Fatalf("part GET: %v", err)
	}
	if _, err := c.CreateMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("mp")}); err == nil {
		t.Fatal("plaintext multipart upload allowed")
	}
}

// Errors name the object and the key, and never hold key material.
func TestErrorsNameObjectAndKey(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	e.put(c, "secret", []byte("top secret"))
	otherKey := randomBytes(32)
	other, _ := materials.NewAES(otherKey)
	got, _, err := e.get(e.client(other), "secret")
	mustFail(t, "wrong key", got, err, is(materials.ErrOtherKey))
	msg := err.Error()
	for _, want := range []string{"s3://" + e.bucket + "/secret", other.KeyRef()} {
		if !strings.Contains(msg, want) {
			t.Fatalf("error %q does not mention %q", msg, want)
		}
	}
	for _, k := range [][]byte{e.aesKey, otherKey} {
		for _, enc := range []string{hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k), string(k)} {
			if strings.Contains(msg, enc) {
				t.Fatalf("error contains key material: %q", msg)
			}
		}
	}
}

func TestUnavailableServices(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["kms"])
	e.put(c, "obj", []byte("x"))
	e.kms.Close()
	key := "new"
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("x")})
	if err == nil || IsIntegrityError(err) || e.exists(key) || !strings.Contains(err.Error(), "alias/s3c-test") {
		t.Fatalf("PutObject with KMS down: %v", err)
	}
	got, _, err := e.get(c, "obj")
	mustFail(t, "GetObject with KMS down", got, err, func(err error) bool { return !IsIntegrityError(err) })

	dead, err := New(s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String("http://127.0.0.1:1"), UsePathStyle: true,
		Credentials: minio.Config().Credentials, RetryMaxAttempts: 1}), e.keyrings["aes"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = dead.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: strings.NewReader("x")})
	if err == nil || !strings.Contains(err.Error(), "s3://"+e.bucket+"/new") {
		t.Fatalf("PutObject with S3 down: %v", err)
	}
}

func TestPlaintextChecksums(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	data := randomBytes(3 << 20)
	md5sum := md5.Sum(data)
	shasum := sha256.Sum256(data)
	good := base64.StdEncoding.EncodeToString
	cases := []struct {
		name   string
		set    func(*s3.PutObjectInput)
		wantOK bool
	}{
		{"md5", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(good(md5sum[:])) }, true},
		{"sha256", func(in *s3.PutObjectInput) { in.ChecksumSHA256 = aws.String(good(shasum[:])) }, true},
		{"bad md5", func(in *s3.PutObjectInput) { in.ContentMD5 = aws.String(good(make([]byte, 16))) }, false},
		{"bad crc32", func(in *s3.PutObjectInput) { in.ChecksumCRC32 = aws.String(good([]byte{1, 2, 3, 4})) }, false},
	}
	for _, tc := range cases {
		for _, seekable := range []bool{true, false} {
			key := tc.name
			var body io.Reader = bytes.NewReader(data)
			if !seekable {
				key += "-stream"
				body = io.MultiReader(body)
			}
			in := &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: body, ContentLength: aws.Int64(int64(len(data)))}
			tc.set(in)
			_, err := c.PutObject(bg, in)
			if tc.wantOK {
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if got, _, err := e.get(c, key); err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: read back: %v", key, err)
				}
				continue
			}
			var ce *ChecksumError
			if !errors.As(err, &ce) || e.exists(key) {
				t.Fatalf("%s: %v (stored: %v), want a ChecksumError and nothing stored", key, err, e.exists(key))
			}
		}
	}
	// The SDK's checksum describes the ciphertext S3 stores.
	out, err := e.raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: aws.String("sha256"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	stored, _, _ := e.rawGet("sha256")
	sum := sha256.Sum256(stored)
	if aws.ToString(out.ChecksumSHA256) != good(sum[:]) {
		t.Fatalf("stored SHA-256 %s is not that of the ciphertext", aws.ToString(out.ChecksumSHA256))
	}
}
