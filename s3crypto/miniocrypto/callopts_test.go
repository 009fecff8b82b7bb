package miniocrypto

import (
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
)

// Per-call settings given as CallOptions through WithCallOptions do what
// the deprecated context values do, apply only to the view they made,
// and win over context values.
func TestWithCallOptions(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["kms"])
	ec := map[string]string{"tenant": "acme"}
	withEC := c.WithCallOptions(CallOptions{EncryptionContext: ec})
	ec["tenant"] = "changed" // the view holds its own copy
	if _, err := withEC.PutObject(bg, bucket, "ctx", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, c, bg, bucket, "ctx"); err == nil {
		t.Fatal("read without the encryption context: the view changed the client it came from")
	}
	if got, _, err := readAll(t, withEC, bg, bucket, "ctx"); err != nil || string(got) != "x" {
		t.Fatalf("read through the view: %q, %v", got, err)
	}
	// The context form reads what the options form wrote.
	if got, _, err := readAll(t, c, WithEncryptionContext(bg, map[string]string{"tenant": "acme"}), bucket, "ctx"); err != nil || string(got) != "x" {
		t.Fatalf("read with the context form: %q, %v", got, err)
	}
	// Explicit call options win: a view without a context ignores the
	// context's.
	if _, _, err := readAll(t, c.WithCallOptions(CallOptions{}), WithEncryptionContext(bg, map[string]string{"tenant": "acme"}), bucket, "ctx"); err == nil {
		t.Fatal("the context's encryption context overrode the call options")
	}

	inst := c.WithCallOptions(CallOptions{InstructionFile: true})
	if _, err := inst.PutObject(bg, bucket, "inst", strings.NewReader("y"), 1, minio.PutObjectOptions{}); err != nil || !exists(t, bucket, "inst.instruction") {
		t.Fatalf("InstructionFile: %v", err)
	}
	if _, err := c.PutObject(bg, bucket, "meta", strings.NewReader("y"), 1, minio.PutObjectOptions{}); err != nil || exists(t, bucket, "meta.instruction") {
		t.Fatalf("the view's InstructionFile leaked into its client: %v", err)
	}
	if _, err := c.WithCallOptions(CallOptions{}).PutObject(WithInstructionFile(bg), bucket, "ctxinst", strings.NewReader("y"), 1, minio.PutObjectOptions{}); err != nil || exists(t, bucket, "ctxinst.instruction") {
		t.Fatalf("the context's InstructionFile overrode the call options: %v", err)
	}

	// UnauthenticatedStream: a tampered object opens, and the last Read
	// fails; without it, GetObject fails at once.
	o := getRaw(t, bucket, "meta")
	o.body[0] ^= 1
	putRaw(t, bucket, "flipped", o)
	if obj, err := c.GetObject(bg, bucket, "flipped", minio.GetObjectOptions{}); err == nil || obj != nil {
		t.Fatal("verified GetObject of a tampered object succeeded")
	}
	obj, err := c.WithCallOptions(CallOptions{UnauthenticatedStream: true}).GetObject(bg, bucket, "flipped", minio.GetObjectOptions{})
	if err != nil {
		t.Fatalf("streamed GetObject: %v", err)
	}
	defer obj.Close()
	if _, err := io.ReadAll(obj); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("streamed read of a tampered object: %v", err)
	}
}
