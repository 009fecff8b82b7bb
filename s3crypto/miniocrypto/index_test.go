package miniocrypto

import (
	"bytes"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
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
