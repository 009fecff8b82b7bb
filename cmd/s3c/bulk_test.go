package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/s3crypto"
)

// The streamed listing hands over pages as they come and still leaves
// out instruction files whose object is on an earlier page (here several
// pages earlier: keys "a-N" sort between "a" and "a.instruction"), while
// a user's own X.instruction with no X stays an object.
func TestListStreamPages(t *testing.T) {
	c := newCLI(t)
	c.ok("keygen", "aes", "k.key")
	raw := minio.Client()
	inst, err := s3crypto.New(raw, c.aesKeyring("k.key"), func(o *s3crypto.Options) { o.InstructionFile = true })
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	put := func(cl interface {
		PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	}, key string) {
		t.Helper()
		if _, err := cl.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.bucket, Key: &key, Body: bytes.NewReader([]byte("x"))}); err != nil {
			t.Fatal(err)
		}
	}
	put(inst, "d/a")
	put(inst, "d/b")
	var want []string
	for i := range 7 {
		k := fmt.Sprintf("d/a-%d", i)
		put(raw, k)
		want = append(want, k)
	}
	put(raw, "d/zz.instruction")
	want = append(want, "d/a", "d/b", "d/zz.instruction")
	slices.Sort(want)

	a := &app{stdout: io.Discard, stderr: io.Discard, s3client: raw}
	defer func(n int32) { listPageSize = n }(listPageSize)
	listPageSize = 3
	var got []string
	pages := 0
	if err := a.listStream(ctx, c.bucket, "d/", "", func(p []listed) bool {
		pages++
		for _, o := range p {
			got = append(got, o.key)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || pages != 5 {
		t.Fatalf("%d pages, keys %q\nwant %q", pages, got, want)
	}
	got = nil
	if err := a.listStream(ctx, c.bucket, "d/", "d/a-6", func(p []listed) bool {
		for _, o := range p {
			got = append(got, o.key)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"d/b", "d/zz.instruction"}; !slices.Equal(got, want) {
		t.Fatalf("after d/a-6: %q, want %q", got, want)
	}
}
