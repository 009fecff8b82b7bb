package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// mb makes a bucket; rb removes an empty one, refuses one that holds
// objects, and with --force deletes its objects (instruction files
// included) and its incomplete uploads first.
func TestMakeAndRemoveBucket(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("secret"))
	b := "s3://" + c.bucket + "-mb"
	bucket := c.bucket + "-mb"
	exists := func() bool {
		_, err := minio.Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: aws.String(bucket)})
		return err == nil
	}
	t.Cleanup(func() {
		if exists() {
			c.run("rb", "--force", b)
		}
	})

	if r := c.ok("mb", b); r.stderr != "mb "+b+"\n" || !exists() {
		t.Fatalf("mb: %q, exists %v", r.stderr, exists())
	}
	c.fails(1, "mb "+b+": the bucket exists already, and is yours", "mb", b)
	c.fails(2, "is not an s3://bucket URL", "mb", b+"/key")
	c.fails(2, "is not an s3://bucket URL", "rb", "local-dir")

	c.ok("put", "-q", "--aes-key", "a.key", "f", b+"/one")
	c.ok("put", "-q", "--aes-key", "a.key", "--instruction-file", "f", b+"/two")
	c.ok("put", "-q", "--aes-key", "a.key", "f", b+"/dir/three")
	if _, err := minio.Client().CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String("open")}); err != nil {
		t.Fatal(err)
	}
	c.fails(1, "rb "+b+": the bucket is not empty (it holds dir/three, …): rb --force deletes its objects first", "rb", b)
	if !exists() {
		t.Fatal("rb removed a bucket that holds objects")
	}
	r := c.ok("rb", "--force", b)
	// Four: two.instruction is one.
	if r.stderr != "rb "+b+": 4 objects deleted, bucket removed\n" || exists() {
		t.Fatalf("rb --force: %q, exists %v", r.stderr, exists())
	}
	c.fails(1, "rb "+b+": no such bucket", "rb", b)

	c.ok("mb", "-q", b)
	if r := c.ok("rb", "--json", b); !strings.Contains(r.stdout, `"bucket": "`+bucket+`"`) || exists() {
		t.Fatalf("rb --json of an empty bucket: %q", r.stdout)
	}
}
