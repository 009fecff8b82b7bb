package s3crypto

import (
	"bytes"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/core"
)

// markedIndex is what a marked index object's metadata holds.
var markedIndex = map[string]string{core.IndexMarker: "1"}

// DeleteObject and DeleteObjects take a marked index with its object and
// leave an unmarked X.s3c-index, the user's own, alone.
func TestDeleteTakesIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	for _, k := range []string{"a", "b", "c", "d"} {
		e.put(c, k, []byte("data "+k))
	}
	e.rawPut("a"+IndexSuffix, []byte("index of a"), markedIndex)
	e.rawPut("b"+IndexSuffix, []byte("the user's own"), nil)
	e.rawPut("c"+IndexSuffix, []byte("index of c"), markedIndex)
	e.rawPut("d"+IndexSuffix, []byte("the user's own"), map[string]string{"s3c-index": "no"})
	for _, k := range []string{"a", "b"} {
		if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("c")}, {Key: aws.String("d")}}}})
	if err != nil || len(out.Errors) > 0 {
		t.Fatalf("DeleteObjects: %v %v", err, out)
	}
	for k, want := range map[string]bool{"a" + IndexSuffix: false, "b" + IndexSuffix: true, "c" + IndexSuffix: false, "d" + IndexSuffix: true} {
		if e.exists(k) != want {
			t.Errorf("%s exists: %v, want %v", k, !want, want)
		}
	}
}

// CopyObject copies a marked index beside the copy, never over a user's
// unmarked object of that name, and not an unmarked source one.
func TestCopyTakesIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	e.put(c, "src", []byte("data"))
	e.rawPut("src"+IndexSuffix, []byte("index of src"), markedIndex)
	e.rawPut("taken"+IndexSuffix, []byte("the user's own"), nil)
	for _, dst := range []string{"dst", "taken"} {
		if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String(dst), CopySource: aws.String(e.bucket + "/src")}); err != nil {
			t.Fatal(err)
		}
	}
	b, meta, err := e.rawGet("dst" + IndexSuffix)
	if err != nil || !bytes.Equal(b, []byte("index of src")) || !IsIndexObject(meta) {
		t.Fatalf("copied index: %q %v %v", b, meta, err)
	}
	if b, _, _ := e.rawGet("taken" + IndexSuffix); string(b) != "the user's own" {
		t.Fatalf("user's object overwritten: %q", b)
	}
	e.rawPut("src2", nil, nil)
	e.put(c, "src2", []byte("data"))
	e.rawPut("src2"+IndexSuffix, []byte("user"), nil)
	if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("dst2"), CopySource: aws.String(e.bucket + "/src2")}); err != nil {
		t.Fatal(err)
	}
	if e.exists("dst2" + IndexSuffix) {
		t.Fatal("an unmarked object was copied as an index")
	}
}
