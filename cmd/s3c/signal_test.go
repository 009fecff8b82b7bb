//go:build linux || darwin

package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// silentS3 is a fake S3 endpoint on 127.0.0.1 that accepts connections
// and never answers: whatever is sent to it waits.
func silentS3(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
	})
	return "http://" + ln.Addr().String()
}

// lockedBuffer collects a subprocess's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// background runs s3c without waiting for it.
type background struct {
	t              *testing.T
	cmd            *exec.Cmd
	stdout, stderr lockedBuffer
	done           chan struct{}
}

func (c *cli) start(stdin *os.File, args ...string) *background {
	c.t.Helper()
	b := &background{t: c.t, done: make(chan struct{})}
	b.cmd = exec.Command(binary, args...)
	b.cmd.Dir, b.cmd.Env = c.dir, c.env
	if stdin != nil {
		b.cmd.Stdin = stdin
	}
	b.cmd.Stdout, b.cmd.Stderr = &b.stdout, &b.stderr
	if err := b.cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	go func() { b.cmd.Wait(); close(b.done) }()
	c.t.Cleanup(func() {
		b.cmd.Process.Kill()
		<-b.done
	})
	return b
}

// wait waits at most d for the process to exit and returns its result.
func (b *background) wait(d time.Duration) result {
	b.t.Helper()
	select {
	case <-b.done:
	case <-time.After(d):
		b.cmd.Process.Kill()
		<-b.done
		b.t.Fatalf("s3c %v did not exit within %v; stderr: %s", b.cmd.Args[1:], d, b.stderr.String())
	}
	return result{b.stdout.String(), b.stderr.String(), b.cmd.ProcessState.ExitCode()}
}

// waitFor polls cond for up to d.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A signal during a get to a file stops it: exit 128+signal, one line, the
// destination untouched, no temporary file left.
func TestSignalDuringGet(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGHUP, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.ok("keygen", "aes", "a.key")
			c.write("dest", []byte("precious"))
			c.setenv("AWS_ENDPOINT_URL_S3=" + silentS3(t))
			for _, args := range [][]string{
				{"get", "--aes-key", "a.key", c.url("obj"), "dest"},
				{"cp", "--aes-key", "a.key", c.url("obj"), "dest"},
			} {
				p := c.start(nil, args...)
				// The file to write is open while the object is awaited.
				waitFor(t, 10*time.Second, "the file to write", func() bool {
					return len(tempFilesIn(t, c.dir)) > 0 || len(openIn(p.cmd.Process.Pid, c.dir)) > 0
				})
				p.cmd.Process.Signal(sig)
				r := p.wait(10 * time.Second)
				c.failed(r, 128+int(sig), "interrupted by SIG", args...)
				if !strings.Contains(r.stderr, c.url("obj")) {
					t.Fatalf("the interruption does not name the object: %s", r.stderr)
				}
				if string(c.read("dest")) != "precious" {
					t.Fatal("the destination was changed")
				}
				c.noTempFiles()
			}
		})
	}
}

// put - blocked on stdin (a pipe whose writer sends nothing more) stops at
// SIGTERM: exit 143 at once, and a multipart upload begun is aborted.
func TestSigtermPutStdinBlocked(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	for _, sent := range []int{1 << 20, 9 << 20} { // within the first part; into the second
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		p := c.start(r, "put", "--aes-key", "a.key", "-", c.url("piped"))
		r.Close()
		// Write returns once s3c has read (nearly) all of it: it is then
		// reading stdin, its signal handling long set up.
		if _, err := w.Write(randomBytes(sent)); err != nil {
			t.Fatal(err)
		}
		if sent > 8<<20 {
			waitFor(t, 10*time.Second, "the multipart upload", func() bool { return len(c.uploads("piped")) > 0 })
		}
		start := time.Now()
		p.cmd.Process.Signal(syscall.SIGTERM)
		res := p.wait(10 * time.Second)
		w.Close()
		c.failed(res, 143, "interrupted by SIGTERM", "put", "-")
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("SIGTERM took %v to stop put -", d)
		}
		if c.exists("piped") {
			t.Fatal("an object was stored")
		}
		if u := c.uploads("piped"); len(u) > 0 {
			t.Fatalf("multipart uploads left: %v", u)
		}
	}
}

// uploads lists the multipart uploads in progress in the test's bucket
// for keys under prefix.
func (c *cli) uploads(prefix string) []string {
	c.t.Helper()
	out, err := minio.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &c.bucket, Prefix: &prefix})
	if err != nil {
		c.t.Fatal(err)
	}
	var keys []string
	for _, u := range out.Uploads {
		keys = append(keys, *u.Key)
	}
	return keys
}
