package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/s3c/s3c/internal/faultproxy"
)

// runBounded runs s3c and fails the test if it is still running after
// limit: the timeouts must end a stalled exchange, not the test.
func (c *cli) runBounded(limit time.Duration, args ...string) result {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if ctx.Err() != nil {
		c.t.Fatalf("s3c %s: still running after %v\nstderr: %s", strings.Join(args, " "), limit, stderr.String())
	}
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running s3c %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func startProxy(t *testing.T, target string) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestTimeoutFlagsChecked(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.write("f", []byte("x"))
	for _, flag := range []string{"--connect-timeout", "--first-byte-timeout", "--idle-timeout"} {
		c.fails(2, flag+" must be a positive duration", flag, "0", "put", "--aes-key", "missing.key", "f", c.url("x"))
		c.fails(2, flag+" must be a positive duration", "get", flag, "-5s", "--aes-key", "missing.key", c.url("x"), "-")
		c.fails(2, flag, "ls", flag, "soon", c.url(""))
	}
	c.ok("--idle-timeout", "90s", "--connect-timeout", "1m", "--first-byte-timeout", "2m30s", "ls", c.url(""))
}

// A get and a put whose connection stalls: with --idle-timeout 1s, the
// stalled request is retried (and a stalled body resumed) and the command
// succeeds; if every attempt stalls, it fails with a clear error, within
// a bound.
func TestStalledTransfersEnd(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	p := startProxy(t, minio.Endpoint)
	c.setenv("AWS_ENDPOINT_URL_S3=" + p.URL())
	c.ok("keygen", "aes", "a.key")
	data := make([]byte, 3<<20)
	rand.Read(data)
	c.write("f", data)
	// The requests for the objects obj and obj2, not their listings.
	isObject := func(method string) func(string, string) bool {
		return func(m, target string) bool {
			return m == method && strings.HasPrefix(target, "/"+c.bucket+"/obj")
		}
	}
	const limit = 40 * time.Second

	// put: S3 stores the object and never answers. (A stall within the
	// response's headers also ends at the idle timeout, but Go's HTTP
	// client then reports the headers as malformed.)
	timeouts := []string{"--idle-timeout", "1s", "--first-byte-timeout", "1s"}
	rule := p.Add(&faultproxy.Rule{Match: isObject("PUT"), Kind: faultproxy.StallResponse, Times: 1})
	if r := c.runBounded(limit, append(timeouts, "put", "-q", "--aes-key", "a.key", "f", c.url("obj"))...); r.code != 0 || rule.Hits() != 1 {
		t.Fatalf("put through one stall: exit %d, %d stalls\n%s", r.code, rule.Hits(), r.stderr)
	}
	p.Clear()
	p.Add(&faultproxy.Rule{Match: isObject("PUT"), Kind: faultproxy.StallResponse})
	r := c.runBounded(limit, append(timeouts, "put", "-q", "--aes-key", "a.key", "f", c.url("obj2"))...)
	c.failed(r, 1, "timeout awaiting response headers", "put")

	// get: the body stalls part-way.
	p.Clear()
	rule = p.Add(&faultproxy.Rule{Match: isObject("GET"), Kind: faultproxy.StallResponse, After: 1 << 20, Times: 1})
	if r := c.runBounded(limit, "--idle-timeout", "1s", "get", "-q", "--aes-key", "a.key", c.url("obj"), "out"); r.code != 0 || rule.Hits() != 1 {
		t.Fatalf("get through one stall: exit %d, %d stalls\n%s", r.code, rule.Hits(), r.stderr)
	}
	if !bytes.Equal(c.read("out"), data) {
		t.Fatal("get through one stall: wrong content")
	}
	p.Clear()
	p.Add(&faultproxy.Rule{Match: isObject("GET"), Kind: faultproxy.StallResponse, After: 1 << 20})
	r = c.runBounded(limit, "--idle-timeout", "1s", "get", "-q", "--aes-key", "a.key", c.url("obj"), "out2")
	c.failed(r, 1, "idle timeout", "get")
	t.Logf("get through stalls: %s", r.stderr)
	c.noTempFiles()
}

// KMS stalls too: retried, or a clear error within a bound.
func TestStalledKMSEnds(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	p := startProxy(t, kmsSrv.URL())
	c.setenv("AWS_ENDPOINT_URL_KMS=" + p.URL())
	c.write("f", []byte("secret"))
	const limit = 40 * time.Second
	timeouts := []string{"--idle-timeout", "1s", "--first-byte-timeout", "1s"}
	rule := p.Add(&faultproxy.Rule{Method: "POST", Kind: faultproxy.StallResponse, Times: 1})
	if r := c.runBounded(limit, append(timeouts, "put", "-q", "--kms-key-id", "alias/cli", "f", c.url("obj"))...); r.code != 0 || rule.Hits() != 1 {
		t.Fatalf("put through one KMS stall: exit %d, %d stalls\n%s", r.code, rule.Hits(), r.stderr)
	}
	p.Clear()
	p.Add(&faultproxy.Rule{Method: "POST", Kind: faultproxy.StallResponse})
	r := c.runBounded(limit, append(timeouts, "put", "-q", "--kms-key-id", "alias/cli", "f", c.url("obj2"))...)
	c.failed(r, 1, "timeout awaiting response headers", "put")
	r = c.runBounded(limit, append(timeouts, "get", "-q", c.url("obj"), "out")...)
	c.failed(r, 1, "timeout awaiting response headers", "get")
	if !strings.Contains(r.stderr, "operation error KMS") {
		t.Fatalf("the error should name KMS: %s", r.stderr)
	}
	t.Logf("get through KMS stalls: %s", r.stderr)
}
