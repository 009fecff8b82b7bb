package miniocrypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// rawObject is an object as stored: ciphertext and user metadata.
type rawObject struct {
	body []byte
	meta map[string]string
}

func getRaw(t *testing.T, bucket, key string) rawObject {
	t.Helper()
	obj, err := minioClient(t).GetObject(bg, bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	body, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	st, err := obj.Stat()
	if err != nil {
		t.Fatal(err)
	}
	meta := map[string]string{}
	for k, v := range st.UserMetadata {
		meta[k] = v
	}
	return rawObject{body, meta}
}

func putRaw(t *testing.T, bucket, key string, o rawObject) {
	t.Helper()
	if _, err := minioClient(t).PutObject(bg, bucket, key, bytes.NewReader(o.body), int64(len(o.body)), minio.PutObjectOptions{UserMetadata: o.meta}); err != nil {
		t.Fatal(err)
	}
}

// flipMeta flips one bit of the base64 metadata value named name.
func flipMeta(t *testing.T, meta map[string]string, name string) map[string]string {
	t.Helper()
	out := map[string]string{}
	found := false
	for k, v := range meta {
		if strings.EqualFold(k, name) {
			b, err := base64.StdEncoding.DecodeString(v)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			b[len(b)/2] ^= 1
			v, found = base64.StdEncoding.EncodeToString(b), true
		}
		out[k] = v
	}
	if !found {
		t.Fatalf("no %s in %v", name, meta)
	}
	return out
}

// An object larger than minio-go's part size, so uploaded in parts: a bit
// flipped in the body (in its second part), in the tag, or in an envelope
// field makes GetObject fail before it releases anything, and FGetObject
// fail without leaving a file or touching the destination.
func TestTamperMultipart(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["kms"])
	data := randomBytes(17*mib + 5)
	if _, err := c.PutObject(bg, bucket, "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	orig := getRaw(t, bucket, "obj")
	if len(orig.body) != len(data)+16 {
		t.Fatalf("stored %d bytes", len(orig.body))
	}
	flipBody := func(i int) rawObject {
		b := bytes.Clone(orig.body)
		b[i] ^= 0x80
		return rawObject{b, orig.meta}
	}
	cases := map[string]rawObject{
		"body":        flipBody(16*mib + 1),
		"tag":         flipBody(len(orig.body) - 1),
		"message-id":  {orig.body, flipMeta(t, orig.meta, metadata.KeyV3MessageID)},
		"commitment":  {orig.body, flipMeta(t, orig.meta, metadata.KeyV3Commitment)},
		"wrapped-key": {orig.body, flipMeta(t, orig.meta, metadata.KeyV3EncryptedKey)},
	}
	dir := t.TempDir()
	for name, o := range cases {
		key := "tampered/" + name
		putRaw(t, bucket, key, o)
		obj, err := c.GetObject(bg, bucket, key, minio.GetObjectOptions{})
		if err == nil || obj != nil {
			t.Fatalf("%s: GetObject succeeded", name)
		}
		if !s3crypto.IsIntegrityError(err) {
			t.Fatalf("%s: not an integrity error: %v", name, err)
		}
		// Streamed, the failure comes with the last Read; an envelope
		// that does not check out fails at once.
		if obj, err := c.GetObject(WithUnauthenticatedStream(bg), bucket, key, minio.GetObjectOptions{}); err == nil {
			if _, err := io.ReadAll(obj); err == nil {
				t.Fatalf("%s: streamed read succeeded", name)
			}
			obj.Close()
		}

		precious := filepath.Join(dir, "precious")
		os.WriteFile(precious, []byte("precious"), 0o644)
		if err := c.FGetObject(bg, bucket, key, precious, minio.GetObjectOptions{}); err == nil {
			t.Fatalf("%s: FGetObject succeeded", name)
		}
		if got, _ := os.ReadFile(precious); string(got) != "precious" {
			t.Fatalf("%s: FGetObject changed the destination", name)
		}
		fresh := filepath.Join(dir, "fresh")
		if err := c.FGetObject(bg, bucket, key, fresh, minio.GetObjectOptions{}); err == nil {
			t.Fatalf("%s: FGetObject succeeded", name)
		}
		entries, _ := os.ReadDir(dir)
		if len(entries) != 1 || entries[0].Name() != "precious" {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Fatalf("%s: FGetObject left %v", name, names)
		}
	}
	// The untouched object still reads, in both ways.
	got, obj, err := readAll(t, c, bg, bucket, "obj")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("original: %v", err)
	}
	obj.Close()
	dest := filepath.Join(dir, "ok")
	if err := c.FGetObject(bg, bucket, "obj", dest, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("FGetObject content")
	}
}

// A stored AES-GCM object shorter than its 16-byte tag is corrupt:
// StatObject and GetObject say so, and never report a negative size.
func TestShortObject(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"])
	if _, err := c.PutObject(bg, bucket, "obj", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	orig := getRaw(t, bucket, "obj")
	for _, n := range []int{0, 1, 15} {
		key := "short"
		putRaw(t, bucket, key, rawObject{orig.body[:n], orig.meta})
		st, err := c.StatObject(bg, bucket, key, minio.StatObjectOptions{})
		if err == nil || !errors.Is(err, s3crypto.ErrAuthentication) || st.Size != 0 {
			t.Fatalf("StatObject of %d bytes: size %d, %v", n, st.Size, err)
		}
		if !strings.Contains(err.Error(), bucket+"/short") {
			t.Fatalf("StatObject error does not name the object: %v", err)
		}
		for _, ctx := range []bool{false, true} {
			cx := bg
			if ctx {
				cx = WithUnauthenticatedStream(bg)
			}
			if obj, err := c.GetObject(cx, bucket, key, minio.GetObjectOptions{}); err == nil || obj != nil || !s3crypto.IsIntegrityError(err) {
				t.Fatalf("GetObject (stream %v) of %d bytes: %v", ctx, n, err)
			}
		}
	}
	// 16 bytes is the empty object's tag alone: size 0, and it must
	// authenticate.
	putRaw(t, bucket, "tag-only", rawObject{orig.body[len(orig.body)-16:], orig.meta})
	if st, err := c.StatObject(bg, bucket, "tag-only", minio.StatObjectOptions{}); err != nil || st.Size != 0 {
		t.Fatalf("StatObject of the tag alone: %d, %v", st.Size, err)
	}
	if _, err := c.GetObject(bg, bucket, "tag-only", minio.GetObjectOptions{}); !s3crypto.IsIntegrityError(err) {
		t.Fatalf("GetObject of another object's tag: %v", err)
	}
}
