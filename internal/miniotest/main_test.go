package miniotest

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

func TestStartPutGet(t *testing.T) {
	s, err := Start(t.Logf)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	bucket := s.NewBucket(t)
	c := s.Client()
	ctx := context.Background()
	key := "hello"
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader([]byte("world"))}); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	if string(b) != "world" {
		t.Fatalf("got %q", b)
	}
}

// docker-compose.yml must build the same MinIO the tests use.
func TestComposePinsTheSameRelease(t *testing.T) {
	b, err := os.ReadFile("../../docker-compose.yml")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), Module+"@"+Version) {
		t.Fatalf("docker-compose.yml does not build %s@%s", Module, Version)
	}
}
