package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
)

// get … - spools a large object, encrypted, in --temp-dir: seen among
// the process's open files while the download stalls; the directory is
// empty afterwards. A directory that cannot take the spool is named in
// the error, with what to do; one that does not exist is a usage error.
func TestGetTempDir(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("big", randomBytes(12<<20))
	c.ok("put", "-q", "--aes-key", "a.key", "big", c.url("big"))
	// Without its chunk index a large object is authenticated whole before
	// the first byte, through the spool this test is about.
	if _, err := minio.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &c.bucket, Key: aws.String("big.s3c-index")}); err != nil {
		t.Fatal(err)
	}
	spool := filepath.Join(c.dir, "spool")
	if err := os.Mkdir(spool, 0o700); err != nil {
		t.Fatal(err)
	}

	c.fails(2, "--temp-dir nowhere: no such directory", "get", "--aes-key", "a.key", "--temp-dir", "nowhere", c.url("big"), "-")
	c.fails(2, "--temp-dir big is not a directory", "cp", "--aes-key", "a.key", "--temp-dir", "big", c.url("big"), "-")
	r := c.run("get", "--aes-key", "a.key", "--temp-dir", "/sys", c.url("big"), "-")
	c.failed(r, 1, "(spooling the encrypted object to /sys before writing it: give another directory with --temp-dir, or use --stream)", "get")
	if r.stdout != "" {
		t.Fatal("plaintext written before the object was authenticated")
	}

	stalled := *c
	stalled.env = append([]string(nil), c.env...)
	p := stalled.faultProxy()
	p.Add(&faultproxy.Rule{Kind: faultproxy.StallResponse, After: 6 << 20,
		Match: func(m, target string) bool { return m == "GET" && strings.HasPrefix(target, "/"+c.bucket+"/big") }})
	bg := stalled.start(nil, "get", "--aes-key", "a.key", "--temp-dir", spool, c.url("big"), "-")
	waitFor(t, 10*time.Second, "the spool file in --temp-dir", func() bool {
		for _, size := range openIn(bg.cmd.Process.Pid, spool) {
			if size > 0 {
				return true
			}
		}
		return false
	})
	bg.cmd.Process.Signal(syscall.SIGINT)
	res := bg.wait(10 * time.Second)
	if res.code != 130 || res.stdout != "" {
		t.Fatalf("interrupted: exit %d, %d bytes out, stderr %s", res.code, len(res.stdout), res.stderr)
	}
	if left, _ := os.ReadDir(spool); len(left) > 0 {
		t.Fatalf("left in --temp-dir: %v", left)
	}
	if !strings.Contains(c.ok("get", "--help").stdout, "--temp-dir") {
		t.Fatal("get --help does not mention --temp-dir")
	}
}
