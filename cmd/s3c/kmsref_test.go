package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

// headRef is the key reference head --json reports for obj.
func (c *cli) headRef(obj string) string {
	c.t.Helper()
	var h objectReport
	if err := json.Unmarshal([]byte(c.ok("head", "--json", obj).stdout), &h); err != nil {
		c.t.Fatal(err)
	}
	return h.KeyRef
}

// The key ARN is the one reference to a KMS key: put with an alias
// writes the ARN, head shows it, and --allow-kms-key takes what head
// shows as well as the alias; objects written earlier under the alias
// still read, and still count as under the key.
func TestKMSKeyARNIsCanonical(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	alias := "alias/canon-" + c.bucket
	keyID, arn := kmsSrv.CreateKey(alias)
	c.write("f", []byte("canonical"))

	var put struct {
		KeyRef string `json:"key_ref"`
	}
	if err := json.Unmarshal([]byte(c.ok("put", "--json", "--kms-key-id", alias, "f", c.url("new")).stdout), &put); err != nil {
		t.Fatal(err)
	}
	if put.KeyRef != arn {
		t.Fatalf("put --json key_ref %q, want the key ARN %q", put.KeyRef, arn)
	}
	if ref := c.headRef(c.url("new")); ref != arn {
		t.Fatalf("head shows %q, want the key ARN %q", ref, arn)
	}
	for _, args := range [][]string{
		{"--allow-kms-key", c.headRef(c.url("new"))},
		{"--allow-kms-key", alias},
		{"--allow-kms-key", keyID},
		{"--allow-kms-key", alias, "--allow-kms-key", kmsARN}, // several: s3c checks the ARN itself
		{"--kms-key-id", alias},
		{"--kms-key-id", keyID},
	} {
		if r := c.ok(append(append([]string{"get"}, args...), c.url("new"), "-")...); r.stdout != "canonical" {
			t.Fatalf("get %v: %q", args, r.stdout)
		}
	}

	// Written before: the object names the alias.
	ctx := context.Background()
	old, err := s3crypto.New(minio.Client(), materials.NewKMS(kmsSrv.Client(ctx), alias))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("old"), Body: bytes.NewReader([]byte("old"))}); err != nil {
		t.Fatal(err)
	}
	if ref := c.headRef(c.url("old")); ref != alias {
		t.Fatalf("the old object names %q, want %q", ref, alias)
	}
	for _, args := range [][]string{
		{"--kms-key-id", alias},
		{"--kms-key-id", arn},
		{"--allow-kms-key", alias},
		{"--allow-kms-key", arn},
		{"--allow-kms-key", alias, "--allow-kms-key", kmsARN},
	} {
		if r := c.ok(append(append([]string{"get"}, args...), c.url("old"), "-")...); r.stdout != "old" {
			t.Fatalf("get %v of the old object: %q", args, r.stdout)
		}
	}
	// Under the key it names, in another spelling: current, not rewrapped.
	r := c.ok("rewrap", "--dry-run", "--json", "--kms-key-id", alias, c.url("old"))
	if s := lastJSON(t, r.stdout); s.Current != 1 || s.Rewrapped != 0 {
		t.Fatalf("rewrap --dry-run of an object under the alias given: %+v", s)
	}
}

// One DescribeKey per distinct key name and invocation; a refused
// DescribeKey leaves the name as given (and --debug says so).
func TestKMSKeyResolution(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	srv, err := kmstest.Start(kmstest.Options{AccessKeyID: minio.AccessKey, SecretAccessKey: minio.SecretKey})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c.setenv("AWS_ENDPOINT_URL_KMS="+srv.URL(), "NO_PROXY="+hostOf(minio.Endpoint)+","+hostOf(srv.URL()))
	_, arn := srv.CreateKey("alias/app")
	c.write("f", []byte("data"))

	c.ok("put", "--kms-key-id", "alias/app", "f", c.url("a"))
	if n := srv.Calls("DescribeKey"); n != 1 {
		t.Fatalf("put: %d DescribeKey calls, want 1", n)
	}
	c.ok("cp", "--kms-key-id", "alias/app", "--allow-kms-key", "alias/app", c.url("a"), c.url("b"))
	if n := srv.Calls("DescribeKey"); n != 2 {
		t.Fatalf("cp naming alias/app thrice: %d DescribeKey calls in all, want 2", n)
	}
	c.ok("get", "--kms-key-id", arn, c.url("b"), "out")
	if n := srv.Calls("DescribeKey"); n != 2 {
		t.Fatalf("a key ARN needs no DescribeKey: %d calls in all, want 2", n)
	}
	if ref := c.headRef(c.url("b")); ref != arn {
		t.Fatalf("cp wrote %q, want %q", ref, arn)
	}

	srv.Deny("DescribeKey")
	r := c.ok("put", "--debug", "--kms-key-id", "alias/app", "f", c.url("c"))
	if !strings.Contains(r.stderr, "s3c: debug: KMS DescribeKey refused for alias/app (AccessDenied): using it as given") {
		t.Fatalf("--debug does not say DescribeKey was refused:\n%s", r.stderr)
	}
	if r := c.ok("put", "--kms-key-id", "alias/app", "f", c.url("d")); strings.Contains(r.stderr, "DescribeKey") {
		t.Fatalf("without --debug a refused DescribeKey is silent: %q", r.stderr)
	}
	if ref := c.headRef(c.url("d")); ref != "alias/app" {
		t.Fatalf("with DescribeKey refused the object names %q, want the alias as given", ref)
	}
	if r := c.ok("get", "--kms-key-id", "alias/app", c.url("d"), "-"); r.stdout != "data" {
		t.Fatalf("get: %q", r.stdout)
	}
}
