package s3crypto

import (
	"bytes"
	"fmt"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/metadata"
)

var sizes = []int{0, 1, 15, 16, 17, 1<<20 + 3}

// Every keyring × format × envelope storage × size, through the server.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, krName := range []string{"kms", "aes", "rsa"} {
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for _, storage := range []metadata.Storage{metadata.ObjectMetadata, metadata.InstructionFile} {
				name := fmt.Sprintf("%s/%s/%s", krName, format, storage)
				t.Run(name, func(t *testing.T) {
					c := e.client(e.keyrings[krName], func(o *Options) {
						o.Format = format
						o.InstructionFile = storage == metadata.InstructionFile
					})
					for _, n := range sizes {
						key := fmt.Sprintf("%s/%d", name, n)
						data := randomBytes(n)
						e.put(c, key, data)
						got, out, err := e.get(c, key)
						if err != nil {
							t.Fatalf("size %d: %v", n, err)
						}
						if !bytes.Equal(got, data) {
							t.Fatalf("size %d: plaintext differs", n)
						}
						if aws.ToInt64(out.ContentLength) != int64(n) {
							t.Fatalf("size %d: ContentLength %d", n, aws.ToInt64(out.ContentLength))
						}
						info, ok := GetObjectInfo(out.ResultMetadata)
						if !ok || info.Envelope.Format != format || info.Envelope.Storage != storage || info.PlaintextSize != int64(n) || info.StoredSize != int64(n+16) {
							t.Fatalf("size %d: object info %+v", n, info)
						}
						checkStored(t, e, key, data, format, storage)
					}
				})
			}
		}
	}
}

// checkStored looks at the raw object: ciphertext of the right size, and
// the envelope where it belongs.
func checkStored(t *testing.T, e *env, key string, data []byte, format metadata.Format, storage metadata.Storage) {
	t.Helper()
	body, meta, err := e.rawGet(key)
	if err != nil {
		t.Fatal(err)
	}
	if len(body) != len(data)+16 || (len(data) >= 16 && bytes.Contains(body, data[:16])) {
		t.Fatalf("stored body is not ciphertext of the plaintext (%d bytes)", len(body))
	}
	marker := map[metadata.Format]string{metadata.V2: "x-amz-key-v2", metadata.V3: "x-amz-3"}[format]
	_, inMeta := meta[marker]
	hasInst := e.exists(key + ".instruction")
	if inMeta != (storage == metadata.ObjectMetadata) || hasInst != (storage == metadata.InstructionFile) {
		t.Fatalf("envelope marker in metadata: %v, instruction file: %v; want storage %v (metadata %v)", inMeta, hasInst, storage, meta)
	}
	if format == metadata.V3 && (meta["x-amz-c"] != "115" || meta["x-amz-d"] == "" || meta["x-amz-i"] == "") {
		t.Fatalf("V3 object metadata lacks x-amz-c/d/i: %v", meta)
	}
}

func TestUserMetadataKept(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	key := "with-meta"
	user := map[string]string{"owner": "alice", "purpose": "test"}
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader([]byte("hello")),
		Metadata: user, ContentType: aws.String("text/plain")})
	if err != nil {
		t.Fatal(err)
	}
	_, out, err := e.get(c, key)
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(out.Metadata, user) || aws.ToString(out.ContentType) != "text/plain" {
		t.Fatalf("metadata %v, content type %v", out.Metadata, aws.ToString(out.ContentType))
	}
	head, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(head.Metadata, user) || aws.ToInt64(head.ContentLength) != 5 {
		t.Fatalf("head: metadata %v, length %d", head.Metadata, aws.ToInt64(head.ContentLength))
	}
	if info, ok := GetObjectInfo(head.ResultMetadata); !ok || info.KeyRef == "" || info.Envelope.WrapAlg != metadata.WrapAESGCM {
		t.Fatalf("head info %+v", info)
	}
	// The envelope's keys, the instruction-file marker and the chunk
	// index's marker: one list (IsReservedMetadata), in every write path.
	for _, k := range []string{"x-amz-iv", "X-Amz-Meta-X-Amz-Key-V2", "x-amz-3", "x-amz-crypto-instr-file", "s3c-index", "X-Amz-Meta-S3c-Index"} {
		if !IsReservedMetadata(k) {
			t.Errorf("%s not reserved", k)
		}
		meta := map[string]string{k: "x"}
		_, err = c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(nil), Metadata: meta})
		if err == nil || !strings.Contains(err.Error(), "is reserved") {
			t.Errorf("PutObject: caller metadata %s: %v", k, err)
		}
		if _, err = c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: &key, Metadata: meta}, 5<<20); err == nil || !strings.Contains(err.Error(), "is reserved") {
			t.Errorf("NewMultipartUpload: caller metadata %s: %v", k, err)
		}
		_, err = c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String(key + "2"), CopySource: aws.String(e.bucket + "/" + key),
			MetadataDirective: types.MetadataDirectiveReplace, Metadata: meta})
		if err == nil || !strings.Contains(err.Error(), "is reserved") {
			t.Errorf("CopyObject: caller metadata %s: %v", k, err)
		}
	}
	if IsReservedMetadata("s3c-index-of") || IsReservedMetadata("owner") {
		t.Error("a user's own metadata key is reserved")
	}
}
