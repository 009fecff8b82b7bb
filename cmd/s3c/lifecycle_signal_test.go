//go:build linux || darwin

package main

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
)

// A second signal while the first one's abort hangs still aborts the
// upload before exiting: no incomplete upload remains.
func TestSecondSignalAbortsTheUpload(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("big.bin", randomBytes(17<<20))
	p := c.faultProxy()
	sending := p.Add(&faultproxy.Rule{Method: "PUT", Path: "partNumber=", Kind: faultproxy.StallRequest, After: 1000}).Hit()
	aborting := p.Add(&faultproxy.Rule{Method: "DELETE", Path: "uploadId=", Times: 1, Kind: faultproxy.StallRequest}).Hit()
	bg := c.start(nil, "put", "--aes-key", "a.key", "big.bin", c.url("big"))
	wait := func(ch <-chan struct{}, what string) {
		select {
		case <-ch:
		case <-bg.done:
			t.Fatalf("s3c exited before %s: %s", what, bg.stderr.String())
		case <-time.After(10 * time.Second):
			t.Fatalf("timed out waiting for %s", what)
		}
	}
	wait(sending, "a part is sent")
	bg.cmd.Process.Signal(syscall.SIGINT)
	wait(aborting, "the abort") // and it hangs
	bg.cmd.Process.Signal(syscall.SIGINT)
	r := bg.wait(10 * time.Second)
	if r.code != 130 || !strings.Contains(r.stderr, "SIGINT again: stopped at once") {
		t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
	}
	if ids := c.uploads("big"); len(ids) > 0 {
		t.Fatalf("uploads left open: %v", ids)
	}
}

// An interrupted put whose abort fails still names the upload left open.
func TestInterruptedPutNamesTheUploadLeftOpen(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("big.bin", randomBytes(17<<20))
	p := c.faultProxy()
	sending := p.Add(&faultproxy.Rule{Method: "PUT", Path: "partNumber=", Kind: faultproxy.StallRequest, After: 1000}).Hit()
	p.Add(&faultproxy.Rule{Method: "DELETE", Path: "uploadId=", Kind: faultproxy.ResetRequest})
	bg := c.start(nil, "put", "--aes-key", "a.key", "big.bin", c.url("big"))
	select {
	case <-sending:
	case <-time.After(10 * time.Second):
		t.Fatal("no part was sent")
	}
	bg.cmd.Process.Signal(syscall.SIGTERM)
	r := bg.wait(20 * time.Second)
	ids := c.uploads("big")
	if len(ids) != 1 {
		t.Fatalf("uploads open: %v", ids)
	}
	c.failed(r, 143, "interrupted by SIGTERM", "put")
	out, err := minio.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &c.bucket, Prefix: aws.String("big")})
	if err != nil || len(out.Uploads) != 1 {
		t.Fatal(err)
	}
	if !strings.Contains(r.stderr, "multipart upload "+aws.ToString(out.Uploads[0].UploadId)+" of "+c.url("big")+" could not be aborted") || !strings.Contains(r.stderr, "s3c uploads --abort "+c.url("big")) {
		t.Fatalf("the upload left open is not named: %s", r.stderr)
	}
	p.Clear()
	c.ok("uploads", "--abort", c.url("big"))
}
