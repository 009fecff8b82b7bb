package s3crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"errors"
	"io"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// patternReader yields n deterministic pseudo-random bytes (an AES-CTR
// keystream) without holding them, and is not an io.Seeker.
type patternReader struct {
	ctr  cipher.Stream
	left int64
}

func newPattern(seed byte, n int64) *patternReader {
	b, _ := aes.NewCipher(bytes.Repeat([]byte{seed}, 16))
	return &patternReader{ctr: cipher.NewCTR(b, make([]byte, 16)), left: n}
}

func (p *patternReader) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	clear(b)
	p.ctr.XORKeyStream(b, b)
	p.left -= int64(len(b))
	return len(b), nil
}

func patternSum(seed byte, n int64) [32]byte {
	h := sha256.New()
	io.Copy(h, newPattern(seed, n))
	var s [32]byte
	copy(s[:], h.Sum(nil))
	return s
}

// peakHeap samples the heap while f runs.
func peakHeap(f func()) uint64 {
	runtime.GC()
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	f()
	close(stop)
	wg.Wait()
	return peak.Load()
}

// A 256 MiB object streams through put and get, in both read modes,
// without memory growing with its size. Not parallel: it measures the heap.
func TestLargeObjectStreams(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.keyrings["kms"], func(o *Options) { o.TempDir = t.TempDir() })
	const n = 256<<20 + 5
	want := patternSum(7, n)
	key := "large"
	peak := peakHeap(func() {
		_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(7, n), ContentLength: aws.Int64(n)})
		if err != nil {
			t.Fatal(err)
		}
	})
	t.Logf("put of %d MiB: peak heap %d MiB", n>>20, peak>>20)
	if peak > 64<<20 {
		t.Fatalf("put: peak heap %d MiB for a %d MiB object", peak>>20, n>>20)
	}
	for _, stream := range []bool{false, true} {
		var sum [32]byte
		peak := peakHeap(func() {
			var opts []func(*s3.Options)
			if stream {
				opts = append(opts, WithUnauthenticatedStream())
			}
			out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}, opts...)
			if err != nil {
				t.Fatal(err)
			}
			defer out.Body.Close()
			if aws.ToInt64(out.ContentLength) != n {
				t.Fatalf("ContentLength %d", aws.ToInt64(out.ContentLength))
			}
			h := sha256.New()
			if _, err := io.Copy(h, out.Body); err != nil {
				t.Fatal(err)
			}
			copy(sum[:], h.Sum(nil))
		})
		t.Logf("get (stream %v): peak heap %d MiB", stream, peak>>20)
		if sum != want {
			t.Fatalf("get (stream %v): plaintext differs", stream)
		}
		if peak > 64<<20 {
			t.Fatalf("get (stream %v): peak heap %d MiB for a %d MiB object", stream, peak>>20, n>>20)
		}
	}
}

// A body of unknown length, not seekable: sent in one pass.
func TestUnknownLengthBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	for _, n := range []int64{0, 17, 3<<20 + 1} {
		key := "unknown"
		if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(3, n)}); err != nil {
			t.Fatalf("%d bytes: %v", n, err)
		}
		got, _, err := e.get(c, key)
		if err != nil || sha256.Sum256(got) != patternSum(3, n) {
			t.Fatalf("%d bytes: %v", n, err)
		}
	}
	// ContentLength that the body does not honour.
	key := "short"
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(3, 10), ContentLength: aws.Int64(20)})
	if err == nil || e.exists(key) {
		t.Fatalf("body shorter than ContentLength: %v", err)
	}
	_, err = c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(3, 30), ContentLength: aws.Int64(20)})
	if err == nil || !strings.Contains(err.Error(), "longer") || e.exists(key) {
		t.Fatalf("body longer than ContentLength: %v", err)
	}
}

// changingSource is a seekable body whose byte at index change is altered
// once a full pass over it has been read (change < 0: never).
type changingSource struct {
	*bytes.Reader
	data    []byte
	change  int
	read    int
	rewinds int
	changed bool
}

func (s *changingSource) Read(p []byte) (int, error) {
	n, err := s.Reader.Read(p)
	s.read += n
	return n, err
}

func (s *changingSource) Seek(off int64, whence int) (int64, error) {
	if off == 0 && whence == io.SeekStart && s.read > 0 {
		s.rewinds++
		if s.change >= 0 && !s.changed && s.read >= len(s.data) {
			d := bytes.Clone(s.data)
			d[s.change] ^= 1
			s.Reader, s.changed = bytes.NewReader(d), true
		}
	}
	return s.Reader.Seek(off, whence)
}

// The SDK re-reads a seekable body to retry (and, with some settings, to
// hash or checksum it first). Identical re-reads are fine; a body that
// changed between reads must not be encrypted again under the same key and
// nonce.
func TestRewoundBody(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(3<<20 + 7)
	// The first attempt reads the whole body, then fails with a throttling
	// error: the SDK rewinds the body and sends it again.
	newClient := func() *Client {
		c, err := New(minio.Client(func(o *s3.Options) {
			o.HTTPClient = &flakyHTTP{next: http.DefaultClient, readAll: true}
			o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) { so.MaxBackoff = 10 * time.Millisecond })
		}), e.keyrings["aes"])
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	src := &changingSource{Reader: bytes.NewReader(data), data: data, change: -1}
	key := "steady"
	if _, err := newClient().PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: src}); err != nil {
		t.Fatal(err)
	}
	if src.rewinds < 1 {
		t.Fatalf("the SDK never re-read the body; this test needs it to")
	}
	if got, _, err := e.get(e.client(e.keyrings["aes"]), key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	for _, at := range []int{0, len(data) / 2, len(data) - 1} {
		key := "changing"
		changing := &changingSource{Reader: bytes.NewReader(data), data: data, change: at}
		_, err := newClient().PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: changing})
		if !changing.changed {
			t.Fatalf("byte %d: the source was never re-read after a full pass", at)
		}
		if !errors.Is(err, ErrSourceChanged) || e.exists(key) {
			t.Fatalf("byte %d changed between passes: %v (stored: %v)", at, err, e.exists(key))
		}
	}
}

// flakyHTTP fails the first PutObject after reading part or all of its
// body, with a throttling error the SDK retries.
type flakyHTTP struct {
	next    aws.HTTPClient
	readAll bool // read the whole body before failing
	failed  atomic.Bool
}

func (f *flakyHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && f.failed.CompareAndSwap(false, true) {
		if f.readAll {
			io.Copy(io.Discard, req.Body)
		} else {
			io.CopyN(io.Discard, req.Body, 100<<10)
		}
		req.Body.Close()
		return s3ErrorResponse(req, 503, "SlowDown", "Please reduce your request rate."), nil
	}
	return f.next.Do(req)
}

func TestRetriedPut(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	flaky := &flakyHTTP{next: http.DefaultClient}
	c, err := New(minio.Client(func(o *s3.Options) { o.HTTPClient = flaky }), e.keyrings["kms"])
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(2<<20 + 1)
	key := "retried"
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatal(err)
	}
	if !flaky.failed.Load() {
		t.Fatal("no attempt failed")
	}
	if got, _, err := e.get(e.client(e.keyrings["kms"]), key); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("after a retry: %v", err)
	}
}

func sha256Sum(b []byte) [32]byte { return sha256.Sum256(b) }
