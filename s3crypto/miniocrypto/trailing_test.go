package miniocrypto

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// Bytes after the tag in what S3 stores: a V3 object fails its tag; a V2
// object whose instruction file records its plaintext length is refused
// for the length, before any key is unwrapped. On every read path.
func TestStoredTrailingBytes(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	kr := keyrings(t)["aes"]
	data := randomBytes(300 << 10)
	reader := newClient(t, kr, func(o *s3crypto.Options) { o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt })
	spooled := newClient(t, kr, func(o *s3crypto.Options) {
		o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt
		o.MemoryBufferSize = 64 << 10
	})
	paths := map[string]func(key string) ([]byte, error){
		"GetObject": func(key string) ([]byte, error) {
			b, _, err := readAll(t, reader, bg, bucket, key)
			return b, err
		},
		"spooled": func(key string) ([]byte, error) {
			b, _, err := readAll(t, spooled, bg, bucket, key)
			return b, err
		},
		"stream": func(key string) ([]byte, error) {
			_, _, err := readAll(t, reader, WithUnauthenticatedStream(context.Background()), bucket, key)
			return nil, err // plaintext is released as it comes, by design
		},
		"FGetObject": func(key string) ([]byte, error) {
			p := filepath.Join(t.TempDir(), "out")
			err := reader.FGetObject(bg, bucket, key, p, minio.GetObjectOptions{})
			b, _ := os.ReadFile(p)
			return b, err
		},
	}
	check := func(key string, want func(error) bool) {
		t.Helper()
		for name, get := range paths {
			got, err := get(key)
			if len(got) != 0 || err == nil || !want(err) || !s3crypto.IsIntegrityError(err) {
				t.Errorf("%s %s: %d bytes, %v", key, name, len(got), err)
			}
		}
	}

	v3 := newClient(t, kr)
	if _, err := v3.PutObject(bg, bucket, "v3", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	o := getRaw(t, bucket, "v3")
	o.body = append(o.body, 0)
	putRaw(t, bucket, "v3-appended", o)
	check("v3-appended", func(err error) bool { return errors.Is(err, s3crypto.ErrAuthentication) })

	v2 := newClient(t, kr, func(o *s3crypto.Options) { o.Format = metadata.V2; o.InstructionFile = true })
	if _, err := v2.PutObject(bg, bucket, "v2", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj, inst := getRaw(t, bucket, "v2"), getRaw(t, bucket, "v2.instruction")
	var fields map[string]string
	if err := json.Unmarshal(inst.body, &fields); err != nil || fields[metadata.KeyPlaintextLength] != strconv.Itoa(len(data)) {
		t.Fatalf("instruction file %s (%v) does not record the length", inst.body, err)
	}
	appended := obj
	appended.body = append(append([]byte(nil), obj.body...), 0)
	putRaw(t, bucket, "v2-appended", appended)
	putRaw(t, bucket, "v2-appended.instruction", inst)
	fields[metadata.KeyPlaintextLength] = strconv.Itoa(len(data) + 1)
	wrong := inst
	wrong.body, _ = json.Marshal(fields)
	putRaw(t, bucket, "v2-wrong", obj)
	putRaw(t, bucket, "v2-wrong.instruction", wrong)
	length := func(err error) bool {
		var fe *metadata.FormatError
		return errors.As(err, &fe) && fe.Key == metadata.KeyPlaintextLength
	}
	check("v2-appended", length)
	check("v2-wrong", length)
}
