package miniocrypto

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3c/s3c/internal/faultproxy"
)

// A put cancelled while its instruction file is written leaves no object
// that cannot be read: the object is removed on a context of its own.
func TestCancelWhileInstructionFileIsWritten(t *testing.T) {
	t.Parallel()
	p, err := faultproxy.Start(server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	mc, err := minio.New(p.Addr(), &minio.Options{Creds: credentials.NewStaticV4(server.AccessKey, server.SecretKey, ""), Region: server.Region})
	if err != nil {
		t.Fatal(err)
	}
	kr := keyrings(t)["aes"]
	c, err := New(mc, kr)
	if err != nil {
		t.Fatal(err)
	}
	bucket := server.NewBucket(t)
	key := "cancelled"
	// An older object with its own instruction file.
	plain := newClient(t, kr)
	if _, err := plain.PutObject(WithInstructionFile(bg), bucket, key, strings.NewReader("old"), 3, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	hit := make(chan struct{})
	var once sync.Once
	rule := p.Add(&faultproxy.Rule{Method: "PUT", Kind: faultproxy.StallRequest, Match: func(_, target string) bool {
		if !strings.Contains(target, "/"+key+".instruction") {
			return false
		}
		once.Do(func() { close(hit) })
		return true
	}})
	defer rule.Release()
	ctx, cancel := context.WithCancel(WithInstructionFile(bg))
	go func() { <-hit; cancel() }()
	data := randomBytes(1000)
	_, err = c.PutObject(ctx, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("put cancelled while its instruction file is written: %v", err)
	}
	if exists(t, bucket, key) {
		got, _, err := readAll(t, plain, bg, bucket, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("an object is left that cannot be read: %v", err)
		}
	}
}
