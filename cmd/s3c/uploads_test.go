package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
)

// createUpload begins a multipart upload of key and returns its id and
// initiation time as listed.
func (c *cli) createUpload(key string) (string, time.Time) {
	c.t.Helper()
	raw := minio.Client()
	out, err := raw.CreateMultipartUpload(context.Background(), &s3.CreateMultipartUploadInput{Bucket: &c.bucket, Key: &key})
	if err != nil {
		c.t.Fatal(err)
	}
	ls, err := raw.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &c.bucket, Prefix: &key})
	if err != nil {
		c.t.Fatal(err)
	}
	for _, u := range ls.Uploads {
		if aws.ToString(u.UploadId) == aws.ToString(out.UploadId) {
			return *out.UploadId, aws.ToTime(u.Initiated)
		}
	}
	c.t.Fatalf("upload %s of %s not listed", *out.UploadId, key)
	return "", time.Time{}
}

// faultProxy starts a fault proxy in front of MinIO and points the
// test's S3 endpoint at it.
func (c *cli) faultProxy() *faultproxy.Proxy {
	c.t.Helper()
	p, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(p.Close)
	c.setenv("AWS_ENDPOINT_URL_S3=" + p.URL())
	return p
}

// s3c uploads lists and aborts incomplete multipart uploads, exactly.
// MinIO lists the uploads of one exact key only (AWS S3 takes any
// prefix): the listings here name keys.
func TestUploadsCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	id1, t1 := c.createUpload("a/x")
	id2, t2 := c.createUpload("a/x")
	idZ, tZ := c.createUpload("b/z")
	line := func(id string, at time.Time, key string) string {
		return at.UTC().Format("2006-01-02 15:04:05") + "  " + id + "  " + key + "\n"
	}
	both := line(id1, t1, "a/x") + line(id2, t2, "a/x")
	if t2.Before(t1) || (t2.Equal(t1) && id2 < id1) {
		both = line(id2, t2, "a/x") + line(id1, t1, "a/x")
	}
	if r := c.ok("uploads", c.url("a/x")); r.stdout != both || r.stderr != "" {
		t.Fatalf("uploads a/x: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	r := c.ok("uploads", "--json", c.url("b/z"))
	var listed []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &listed); err != nil || len(listed) != 1 {
		t.Fatalf("uploads --json: %q (%v)", r.stdout, err)
	}
	want := map[string]any{"bucket": c.bucket, "key": "b/z", "upload_id": idZ, "initiated": tZ.Format(time.RFC3339Nano)}
	if fmt.Sprint(listed[0]) != fmt.Sprint(want) {
		t.Fatalf("uploads --json: %v, want %v", listed[0], want)
	}
	// Nothing is old enough: nothing listed, nothing aborted.
	if r := c.ok("uploads", "--older-than", "1d", "--abort", c.url("a/x")); r.stdout != "" || r.stderr != "aborted 0 of 0 multipart uploads under "+c.url("a/x")+"\n" {
		t.Fatalf("uploads --older-than 1d --abort: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if r := c.ok("uploads", "--abort", c.url("a/x")); r.stdout != both ||
		r.stderr != "aborted 2 of 2 multipart uploads under "+c.url("a/x")+"\n" {
		t.Fatalf("uploads --abort a/x: stdout %q, stderr %q", r.stdout, r.stderr)
	}
	if r := c.ok("uploads", c.url("a/x")); r.stdout != "" {
		t.Fatalf("after the abort: %q", r.stdout)
	}
	if r := c.ok("uploads", "--json", c.url("a/x")); r.stdout != "[]\n" {
		t.Fatalf("uploads --json, none: %q", r.stdout)
	}
	if r := c.ok("uploads", c.url("b/z")); r.stdout != line(idZ, tZ, "b/z") {
		t.Fatalf("b/z after aborting a/x: %q", r.stdout)
	}
	// An abort that fails: named on stderr, exit 1.
	p := c.faultProxy()
	p.Add(&faultproxy.Rule{Method: "DELETE", Path: "uploadId=", Kind: faultproxy.ResetRequest})
	r = c.run("uploads", "--abort", "-q", c.url("b/z"))
	if r.code != 1 || r.stdout != line(idZ, tZ, "b/z") ||
		!strings.HasPrefix(r.stderr, "s3c: multipart upload "+idZ+" of "+c.url("b/z")+" left open: ") || strings.Count(r.stderr, "\n") != 1 {
		t.Fatalf("uploads --abort, failing: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	c.fails(2, "not an s3:// URL", "uploads", "local/dir")
	c.fails(2, "--older-than", "uploads", "--older-than", "soon", c.url(""))
	c.fails(2, "--older-than", "uploads", "--older-than", "-1h", c.url(""))
}

// A put that fails and cannot abort its upload names the upload left
// open, and exits 1.
func TestPutAbortFailureNamesTheUpload(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("big.bin", randomBytes(17<<20))
	p := c.faultProxy()
	p.Add(&faultproxy.Rule{Method: "PUT", Path: "partNumber=2&", Kind: faultproxy.ResetRequest, After: 100})
	p.Add(&faultproxy.Rule{Method: "DELETE", Path: "uploadId=", Kind: faultproxy.ResetRequest})
	r := c.fails(1, "could not be aborted", "put", "--aes-key", "a.key", "big.bin", c.url("big"))
	ids := c.uploads("big")
	if len(ids) != 1 {
		t.Fatalf("uploads left: %v", ids)
	}
	out, _ := minio.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &c.bucket})
	id := aws.ToString(out.Uploads[0].UploadId)
	if want := "multipart upload " + id + " of " + c.url("big") + " could not be aborted"; !strings.Contains(r.stderr, want) {
		t.Fatalf("stderr %q does not say %q", r.stderr, want)
	}
	p.Clear()
	c.ok("uploads", "--abort", c.url("big"))
	if ids := c.uploads("big"); len(ids) != 0 {
		t.Fatalf("uploads left after s3c uploads --abort: %v", ids)
	}
}

// A put whose CompleteMultipartUpload answer is lost succeeds: the object
// is stored, with its instruction file if it has one.
func TestPutLostCompleteSucceeds(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	data := randomBytes(17 << 20)
	c.write("big.bin", data)
	p := c.faultProxy()
	for _, inst := range []bool{false, true} {
		key := fmt.Sprintf("big-%v", inst)
		rule := p.Add(&faultproxy.Rule{Method: "POST", Path: "?uploadId=", Times: 1, Kind: faultproxy.DropResponse})
		args := []string{"put", "-q", "--aes-key", "a.key", "big.bin", c.url(key)}
		if inst {
			args = append(args, "--instruction-file")
		}
		if r := c.run(args...); r.code != 0 || r.stderr != "" || rule.Hits() != 1 {
			t.Fatalf("put %s with a lost Complete answer: exit %d, %q (dropped %d)", key, r.code, r.stderr, rule.Hits())
		}
		c.ok("get", "--aes-key", "a.key", c.url(key), key)
		if !bytes.Equal(c.read(key), data) {
			t.Fatalf("%s read back differs", key)
		}
	}
}
