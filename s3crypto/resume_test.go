package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
	"github.com/s3c/s3c/internal/nettimeout"
)

// proxied returns a proxy in front of the test S3 server and an
// encryption client that goes through it.
func (e *env) proxied(kr string, optFns ...func(*Options)) (*faultproxy.Proxy, *Client) {
	e.t.Helper()
	p, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	return p, e.via(p, kr, optFns...)
}

// via returns an encryption client that goes through p.
func (e *env) via(p *faultproxy.Proxy, kr string, optFns ...func(*Options)) *Client {
	e.t.Helper()
	c, err := New(minio.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(p.URL()) }), e.keyrings[kr], optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// objectGET matches the GETs of the object itself (not its instruction
// file).
func (e *env) objectGET(key string) func(method, target string) bool {
	prefix := "/" + e.bucket + "/" + key
	return func(method, target string) bool {
		return method == "GET" && (target == prefix || strings.HasPrefix(target, prefix+"?"))
	}
}

// The fault series of issue 9.10: gets of a 20 MiB object, each through a
// connection reset after a random 1–20 MiB of the response (once). Every
// get must resume and succeed. S3C_FAULT_TRIALS raises the number of
// trials (the figures in the notes come from 30).
func TestFaultSeriesGetResumes(t *testing.T) {
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	const size = 20 << 20
	data := randomBytes(size)
	key := "series"
	e.put(e.client(e.keyrings["aes"]), key, data)
	trials := 10
	if n, err := strconv.Atoi(os.Getenv("S3C_FAULT_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	rng := rand.New(rand.NewPCG(9, 10))
	failed := map[string]int{}
	for i := range trials {
		after := 1<<20 + rng.Int64N(19<<20)
		for _, path := range []string{"GetObject", "Downloader"} {
			proxy.Clear()
			rule := proxy.Add(&faultproxy.Rule{Match: e.objectGET(key), Kind: faultproxy.ResetResponse, After: after, Times: 1})
			var got []byte
			var err error
			switch path {
			case "GetObject":
				got, _, err = e.get(c, key)
			case "Downloader":
				var f memWriterAt
				_, err = NewDownloader(c).DownloadUnauthenticated(bg, &f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
				got = f.b
			}
			if rule.Hits() != 1 {
				t.Fatalf("trial %d %s: the fault did not fire", i, path)
			}
			if err != nil || !bytes.Equal(got, data) {
				failed[path]++
				t.Logf("trial %d %s: reset after %d bytes: %v", i, path, after, err)
			}
		}
	}
	t.Logf("fault series: %d trials per path; failed: GetObject %d, Downloader %d", trials, failed["GetObject"], failed["Downloader"])
	if len(failed) > 0 {
		t.Errorf("gets failed under a single connection reset: %v of %d each", failed, trials)
	}
}

// getPaths are the ways to read a whole object (or a range) through c.
func (e *env) getPaths() map[string]func(c *Client, key string) ([]byte, error) {
	return map[string]func(c *Client, key string) ([]byte, error){
		"GetObject": func(c *Client, key string) ([]byte, error) {
			b, _, err := e.get(c, key)
			return b, err
		},
		"stream": func(c *Client, key string) ([]byte, error) {
			b, _, err := e.get(c, key, WithUnauthenticatedStream())
			return b, err
		},
		"Downloader": func(c *Client, key string) ([]byte, error) {
			var w memWriterAt
			_, err := NewDownloader(c, func(d *Downloader) { d.PartSize = 256 << 10 }).DownloadUnauthenticated(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
			if err != nil {
				return nil, err
			}
			return w.b, nil
		},
		"Download": func(c *Client, key string) ([]byte, error) {
			var w memWriterAt
			r, _, err := NewDownloader(c).Download(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
			if err != nil {
				return nil, err
			}
			return io.ReadAll(r)
		},
	}
}

// A body that breaks once is resumed on every read path: in memory,
// spooled, streamed, ranged, the Downloader's ranges and the parallel
// spool of a large object.
func TestResumeEveryPath(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	spooled := e.via(proxy, "aes", func(o *Options) { o.MemoryBufferSize = 256 << 10 })
	data := randomBytes(1 << 20)
	e.put(e.client(e.keyrings["aes"]), "obj", data)
	paths := e.getPaths()
	paths["spooled"] = func(_ *Client, key string) ([]byte, error) {
		b, _, err := e.get(spooled, key)
		return b, err
	}
	paths["range"] = nil // below
	for name, get := range paths {
		for _, after := range []int64{300 << 10, 900 << 10} {
			proxy.Clear()
			rule := proxy.Add(&faultproxy.Rule{Match: e.objectGET("obj"), Kind: faultproxy.ResetResponse, After: after, Times: 1})
			var got []byte
			var err error
			want := data
			if name == "range" {
				out, gerr := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Range: aws.String("bytes=1000-1000000")}, WithUnauthenticatedRange())
				if err = gerr; err == nil {
					got, err = io.ReadAll(out.Body)
					out.Body.Close()
				}
				want = data[1000:1000001]
			} else {
				got, err = get(c, "obj")
			}
			if err != nil || !bytes.Equal(got, want) {
				t.Errorf("%s, reset after %d bytes: %d bytes, %v", name, after, len(got), err)
			}
			if rule.Hits() != 1 {
				t.Errorf("%s: the fault did not fire", name)
			}
		}
	}
}

// The parallel spool of GetObject (objects above 64 MiB): range 0 from
// the open response and a ranged GET both break, and both resume.
func TestResumeParallelSpool(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	data := randomBytes(parallelThreshold + 3<<20)
	key := "large"
	if _, err := NewUploader(e.client(e.keyrings["aes"])).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	rule := proxy.Add(&faultproxy.Rule{Match: e.objectGET(key), Kind: faultproxy.ResetResponse, After: 5 << 20, Times: 3})
	got, _, err := e.get(c, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
	if rule.Hits() != 3 {
		t.Fatalf("%d faults fired, want 3", rule.Hits())
	}
}

// An object replaced between the break and the resume is not mixed with
// its successor: the read fails with ErrObjectChanged, not as tampering.
func TestResumeObjectChanged(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	plain := e.client(e.keyrings["aes"])
	data := randomBytes(1 << 20)
	for name, get := range e.getPaths() {
		key := "changing-" + name
		e.put(plain, key, data)
		var rule *faultproxy.Rule
		replaced := false
		match := e.objectGET(key)
		proxy.Clear()
		rule = proxy.Add(&faultproxy.Rule{Kind: faultproxy.ResetResponse, After: 200 << 10, Times: 1, Match: func(method, target string) bool {
			if !match(method, target) {
				return false
			}
			if rule.Hits() == 1 && !replaced { // after the break: replace the object first
				e.put(plain, key, randomBytes(1<<20))
				replaced = true
			}
			return true
		}})
		got, err := get(c, key)
		if !errors.Is(err, ErrObjectChanged) || IsIntegrityError(err) || !replaced {
			t.Errorf("%s: %d bytes, %v; want ErrObjectChanged", name, len(got), err)
		}
	}
}

// A body that keeps breaking is resumed within the client's retry
// budget (RetryMaxAttempts 3: the GET and 2 resumes), then fails.
func TestResumeGivesUp(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	e.put(e.client(e.keyrings["aes"]), "obj", randomBytes(1<<20))
	rule := proxy.Add(&faultproxy.Rule{Match: e.objectGET("obj"), Kind: faultproxy.ResetResponse, After: 100 << 10})
	_, _, err := e.get(c, "obj")
	if err == nil || IsIntegrityError(err) || !strings.Contains(err.Error(), "gave up after resuming 2 times") {
		t.Fatalf("got %v", err)
	}
	if rule.Hits() != 3 {
		t.Fatalf("%d GETs, want 3", rule.Hits())
	}
}

// A read stopped by the caller's context is not resumed.
func TestResumeNotAfterCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	e.put(e.client(e.keyrings["aes"]), "obj", randomBytes(4<<20))
	ctx, cancel := context.WithCancel(bg)
	defer cancel()
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")}, WithUnauthenticatedStream())
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	if _, err := io.ReadFull(out.Body, make([]byte, 1<<20)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if _, err := io.Copy(io.Discard, out.Body); err == nil {
		t.Fatal("read went on after cancel")
	}
	if n := len(proxy.Requests()); n != 1 {
		t.Fatalf("%d requests, want 1: %v", n, proxy.Requests())
	}
}

// proxiedClientWithTimeouts returns a client under the raw AES keyring
// that reaches MinIO through a fault proxy, with the timeouts of
// internal/nettimeout (which the s3c CLI uses; 1 s idle), and the proxy,
// closed at the end of the test.
func (e *env) proxiedClientWithTimeouts(t *testing.T) (*Client, *faultproxy.Proxy) {
	t.Helper()
	p, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	hc := &http.Client{Transport: nettimeout.Transport(nettimeout.Timeouts{Idle: time.Second})}
	c, err := New(minio.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(p.URL()); o.HTTPClient = hc }), e.keyrings["aes"])
	if err != nil {
		t.Fatal(err)
	}
	return c, p
}

// With the timeouts of internal/nettimeout (which the s3c CLI uses), a
// stalled GET is retried by the SDK when it stalls before the body, and
// resumed when it stalls in it; either way the get succeeds.
func TestStalledGetRecovers(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, p := e.proxiedClientWithTimeouts(t)
	data := randomBytes(1 << 20)
	e.put(e.client(e.keyrings["aes"]), "obj", data)
	for _, after := range []int64{40, 300 << 10} {
		for name, get := range e.getPaths() {
			p.Clear()
			rule := p.Add(&faultproxy.Rule{Match: e.objectGET("obj"), Kind: faultproxy.StallResponse, After: after, Times: 1})
			done := make(chan struct{})
			var got []byte
			var err error
			go func() { defer close(done); got, err = get(c, "obj") }()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%s, stalled after %d bytes: still running", name, after)
			}
			if err != nil || !bytes.Equal(got, data) || rule.Hits() != 1 {
				t.Errorf("%s, stalled after %d bytes: %d bytes, %d stalls, %v", name, after, len(got), rule.Hits(), err)
			}
		}
	}
}

// Reads through a chunk index resume too: a reset, a dropped response
// or a stall of an indexed object's GET, streamed whole, read by an
// authenticated range or by the Downloader, ends in exactly the
// plaintext, still on the index path (no spool, no hang).
func TestIndexedReadsSurviveFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, p := e.proxiedClientWithTimeouts(t)
	data := randomBytes(9<<20 + 5) // above the index threshold: 10 chunks of 1 MiB
	e.put(e.client(e.keyrings["aes"]), "big", data)
	const first, last = 3<<20 + 7, 7<<20 + 11 // across chunk boundaries: chunks 3–7, 5 MiB
	// Inside the body of every read (the range fetches 5 MiB, the
	// Downloader's ranges 4 MiB); a dropped response has no body.
	e.readsSurviveFaults(t, p, "big", 2<<20, []faultRead{
		{"whole", "index-stream", data, func() ([]byte, string, error) {
			return readObject(c, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big")})
		}},
		{"range", "index-range", data[first : last+1], func() ([]byte, string, error) {
			return readObject(c, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("big"), Range: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))})
		}},
		{"Downloader", "index-stream", data, func() ([]byte, string, error) {
			return e.download(c, "big", 4<<20)
		}},
	})
}

// Small objects resume too, on the paths this size takes: GetObject
// into a pooled buffer, and the Downloader with the whole object in its
// first response (no prefetch, no range workers). A reset, a dropped
// response or a stall ends in exactly the plaintext, no hang.
func TestSmallReadsSurviveFaults(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, p := e.proxiedClientWithTimeouts(t)
	data := randomBytes(60 << 10) // below prefetchMin and the largest pooled buffer
	e.put(e.client(e.keyrings["aes"]), "small", data)
	e.readsSurviveFaults(t, p, "small", 20<<10, []faultRead{
		{"GetObject", "memory", data, func() ([]byte, string, error) {
			return readObject(c, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("small")})
		}},
		{"Downloader", "", data, func() ([]byte, string, error) {
			return e.download(c, "small", 0)
		}},
	})
}

// faultRead is one way to read an object under faults: what it must
// return, and the read path it must take.
type faultRead struct {
	name, path string
	want       []byte
	read       func() ([]byte, string, error)
}

// readsSurviveFaults runs each read once per fault (reset, dropped
// response, stall) of key's GETs after bytes into the body, and checks
// that it ends, within 30 s, in exactly its bytes on its path, the fault
// having fired once.
func (e *env) readsSurviveFaults(t *testing.T, p *faultproxy.Proxy, key string, after int64, reads []faultRead) {
	t.Helper()
	for _, kind := range []faultproxy.Kind{faultproxy.ResetResponse, faultproxy.DropResponse, faultproxy.StallResponse} {
		for _, r := range reads {
			p.Clear()
			rule := p.Add(&faultproxy.Rule{Match: e.objectGET(key), Kind: kind, After: after, Times: 1})
			done := make(chan struct{})
			var got []byte
			var readPath string
			var err error
			go func() {
				defer close(done)
				got, readPath, err = r.read()
			}()
			select {
			case <-done:
			case <-time.After(30 * time.Second):
				t.Fatalf("%v, %s: still running", kind, r.name)
			}
			if err != nil || !bytes.Equal(got, r.want) || rule.Hits() != 1 || readPath != r.path {
				t.Errorf("%v, %s: %d bytes of %d, %d faults, path %q, %v", kind, r.name, len(got), len(r.want), rule.Hits(), readPath, err)
			}
		}
	}
}

// readObject reads a GetObject's body whole and returns its read path.
func readObject(c *Client, in *s3.GetObjectInput) ([]byte, string, error) {
	out, err := c.GetObject(bg, in)
	if err != nil {
		return nil, "", err
	}
	defer out.Body.Close()
	got, err := io.ReadAll(out.Body)
	info, _ := GetObjectInfo(out.ResultMetadata)
	return got, info.ReadPath, err
}

// download reads key with the Downloader (partSize 0: the default) and
// returns its read path.
func (e *env) download(c *Client, key string, partSize int64) ([]byte, string, error) {
	var w memWriterAt
	out, err := NewDownloader(c, func(d *Downloader) { d.PartSize = partSize }).DownloadUnauthenticated(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)})
	if err != nil {
		return nil, "", err
	}
	return w.b, out.Info.ReadPath, nil
}
