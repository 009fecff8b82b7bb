package miniocrypto

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/s3crypto"
)

// RemoveObject takes a marked chunk index with its object, CopyObject
// copies it; an unmarked X.s3c-index, the user's own, is left alone.
func TestIndexRemovedAndCopied(t *testing.T) {
	t.Parallel()
	c := newClient(t, keyrings(t)["aes"])
	raw := minioClient(t)
	bucket := server.NewBucket(t)
	put := func(key string, meta map[string]string) {
		if _, err := raw.PutObject(bg, bucket, key, bytes.NewReader([]byte("idx")), 3, minio.PutObjectOptions{UserMetadata: meta}); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"a", "b"} {
		if _, err := c.PutObject(bg, bucket, k, strings.NewReader("data"), 4, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	put("a.s3c-index", map[string]string{"s3c-index": "1"})
	put("b.s3c-index", nil)
	for _, k := range []string{"a", "b"} {
		if _, err := c.CopyObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: k + "2"}, minio.CopySrcOptions{Bucket: bucket, Object: k}); err != nil {
			t.Fatal(err)
		}
	}
	if !exists(t, bucket, "a2.s3c-index") || exists(t, bucket, "b2.s3c-index") {
		t.Fatal("copy: marked index not copied, or unmarked one copied")
	}
	for _, k := range []string{"a", "b"} {
		if err := c.RemoveObject(bg, bucket, k, minio.RemoveObjectOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if exists(t, bucket, "a.s3c-index") || !exists(t, bucket, "b.s3c-index") {
		t.Fatal("remove: marked index left, or unmarked one removed")
	}
}

// GetObject reads an object with a chunk index (written by s3crypto)
// through it: streamed, no temporary file, each chunk verified before it
// is released; ReadAt and Seek fetch the covering chunks, verified. A
// tampered chunk ends Read after exactly the chunks before it; without
// the index the object is authenticated whole, as before.
func TestGetObjectIndexed(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	kr := keyrings(t)["aes"]
	const chunk = 1 << 20            // the chunk size of the indexes s3c writes
	data := randomBytes(8*chunk + 5) // above the 8 MiB IndexThreshold; a last chunk of 5 bytes
	ac, err := s3crypto.New(server.Client(), kr)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ac.PutObject(bg, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("big"), Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	c := newClient(t, kr, func(o *s3crypto.Options) { o.MemoryBufferSize = 1 << 20; o.TempDir = tmp })
	noTemp := func(what string) {
		if ents, _ := os.ReadDir(tmp); len(ents) > 0 {
			t.Fatalf("%s: %d files in TempDir", what, len(ents))
		}
	}
	obj, err := c.GetObject(bg, bucket, "big", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !obj.streamed {
		t.Fatal("not read through the index")
	}
	noTemp("GetObject")
	if st, err := obj.Stat(); err != nil || st.Size != int64(len(data)) {
		t.Fatalf("Stat: %v %v", st.Size, err)
	}
	for _, r := range [][2]int64{{0, 10}, {chunk - 3, 7}, {chunk, chunk}, {2 * chunk, 5}, {2*chunk + 2, 10}, {int64(len(data)), 1}, {5, 3 * chunk}} {
		p := make([]byte, r[1])
		n, err := obj.ReadAt(p, r[0])
		want := data[min(r[0], int64(len(data))):min(r[0]+r[1], int64(len(data)))]
		if !bytes.Equal(p[:n], want) || (n < len(p)) != (err == io.EOF) || err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d, %d): %d, %v", r[1], r[0], n, err)
		}
	}
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Read: %v", err)
	}
	if _, err := obj.Seek(chunk+1, io.SeekStart); err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data[chunk+1:]) {
		t.Fatalf("Read after Seek: %d bytes, %v", len(got), err)
	}
	obj.Close()
	noTemp("Read")

	// Tampered chunks.
	raw := server.Client()
	out, err := raw.GetObject(bg, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("big")})
	if err != nil {
		t.Fatal(err)
	}
	stored, _ := io.ReadAll(out.Body)
	out.Body.Close()
	put := func(b []byte) {
		t.Helper()
		if _, err := raw.PutObject(bg, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("big"), Body: bytes.NewReader(b), Metadata: out.Metadata}); err != nil {
			t.Fatal(err)
		}
	}
	for k := range 3 {
		bad := bytes.Clone(stored)
		bad[k*chunk+1] ^= 1
		put(bad)
		obj, err := c.GetObject(bg, bucket, "big", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(obj)
		obj.Close()
		if !IsIntegrityError(err) || !bytes.Equal(got, data[:k*chunk]) {
			t.Fatalf("chunk %d flipped: %d bytes, %v", k, len(got), err)
		}
	}
	// The tag: every chunk verifies, but the object's tag is not the one
	// the index records; the end of the stream says so.
	bad := bytes.Clone(stored)
	bad[len(bad)-1] ^= 1
	put(bad)
	obj, err = c.GetObject(bg, bucket, "big", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got, err := io.ReadAll(obj); !IsIntegrityError(err) || !bytes.Equal(got, data) {
		t.Fatalf("tag flipped: %d bytes, %v", len(got), err)
	}
	obj.Close()
	put(stored)
	// No index: authenticated whole (spooled).
	if _, err := raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String("big" + s3crypto.IndexSuffix)}); err != nil {
		t.Fatal(err)
	}
	obj, err = c.GetObject(bg, bucket, "big", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	if obj.streamed {
		t.Fatal("streamed without an index")
	}
	if got, err := io.ReadAll(obj); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("without index: %v", err)
	}
}
