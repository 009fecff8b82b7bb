package s3crypto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/metadata"
)

// cancelAfter is a plaintext source that cancels its upload's context
// once n bytes have been read.
type cancelAfter struct {
	r      io.Reader
	n      int64
	cancel context.CancelFunc
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	k, err := c.r.Read(p)
	if c.n -= int64(k); c.n <= 0 {
		c.cancel()
	}
	return k, err
}

// A cancelled upload is aborted, streamed or file-like.
func TestUploaderAbortsOnCancel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	up := NewUploader(c, func(u *Uploader) { u.PartSize = testPart; u.Concurrency = 2 })
	data, _ := io.ReadAll(newPattern(3, 6*testPart))
	for _, source := range []string{"stream", "readerat"} {
		ctx, cancel := context.WithCancel(bg)
		var body io.Reader = &cancelAfter{r: bytes.NewReader(data), n: 2*testPart + 1, cancel: cancel}
		if source == "readerat" {
			body = &cancelAt{Reader: bytes.NewReader(data), off: 3 * testPart, cancel: cancel}
		}
		key := "cancelled-" + source
		_, err := up.Upload(ctx, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: body})
		cancel()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: %v, want context.Canceled", source, err)
		}
		if e.exists(key) {
			t.Fatalf("%s: object stored", source)
		}
		e.noUploadsLeft()
	}
}

// cancelAt is a file-like source that cancels its upload's context when
// a part at or past off is read.
type cancelAt struct {
	*bytes.Reader
	off    int64
	cancel context.CancelFunc
}

func (c *cancelAt) ReadAt(p []byte, off int64) (int, error) {
	if off >= c.off {
		c.cancel()
	}
	return c.Reader.ReadAt(p, off)
}

// failingComplete fails every CompleteMultipartUpload.
type failingComplete struct{ next http.Client }

func (f *failingComplete) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.URL.Query().Has("uploadId") {
		return s3ErrorResponse(req, 500, "InternalError", "complete failed by test"), nil
	}
	return f.next.Do(req)
}

// When S3 refuses to complete the upload, it is aborted.
func TestCompleteFailureAborts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c, err := New(minio.Client(func(o *s3.Options) {
		o.HTTPClient = &failingComplete{}
		o.RetryMaxAttempts = 1
	}), e.keyrings["aes"])
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
		&s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("incomplete"), Body: newPattern(4, 2*testPart+1)})
	if err == nil || !strings.Contains(err.Error(), "CompleteMultipartUpload") {
		t.Fatalf("upload whose completion fails: %v", err)
	}
	if e.exists("incomplete") {
		t.Fatal("object stored")
	}
	e.noUploadsLeft()
}

// Multipart objects, V2 and V3, download in parallel like any other, and
// GetObject's parallel spool authenticates them: a flipped bit in any
// part, or in the tag, fails the read and releases nothing.
func TestParallelDownloadOfMultipartObjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	const size = 2*DefaultDownloadPartSize + 3*testPart + 5 // above GetObject's parallel threshold
	for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
		c := e.client(e.keyrings["kms"], func(o *Options) { o.Format = format; o.TempDir = t.TempDir() })
		key := fmt.Sprintf("%s/big", format)
		if _, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
			&s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(7, size)}); err != nil {
			t.Fatal(err)
		}
		want := patternSum(7, size)
		got, out, err := e.get(c, key)
		if err != nil || sha256.Sum256(got) != want || aws.ToInt64(out.ContentLength) != size {
			t.Fatalf("%s GetObject: %v", format, err)
		}
		f, err := os.CreateTemp(t.TempDir(), "dl")
		if err != nil {
			t.Fatal(err)
		}
		dl := NewDownloader(c, func(d *Downloader) { d.PartSize = 7 << 20; d.Concurrency = 3 })
		if _, err := dl.DownloadUnauthenticated(bg, f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); err != nil {
			t.Fatalf("%s Download: %v", format, err)
		}
		h := sha256.New()
		f.Seek(0, io.SeekStart)
		io.Copy(h, f)
		f.Close()
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("%s Download: plaintext differs", format)
		}

		body, meta, err := e.rawGet(key)
		if err != nil {
			t.Fatal(err)
		}
		for _, at := range []int{0, testPart + 3, DefaultDownloadPartSize, 2*DefaultDownloadPartSize + 1, len(body) - 17, len(body) - 1} {
			bad := bytes.Clone(body)
			bad[at] ^= 0x10
			tk := fmt.Sprintf("%s/tampered-%d", format, at)
			e.rawPut(tk, bad, meta)
			got, _, err := e.get(c, tk)
			mustFail(t, fmt.Sprintf("%s GetObject, flip at %d", format, at), got, err, is(ErrAuthentication))
			e.raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: &tk})
		}
		entries, _ := os.ReadDir(c.opts.TempDir)
		if len(entries) != 0 {
			t.Fatalf("%d spool files left in TempDir", len(entries))
		}
	}
}

// Parts sent another way: sealed with SealPart, uploaded to a presigned
// URL, reported with AddCompletedPart. A Complete with a part missing
// leaves the upload open, to be finished.
func TestSealPartPresigned(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	key := "presigned"
	data := randomBytes(2*testPart + 33)
	part := func(n int32) []byte { return data[int(n-1)*testPart : min(int(n)*testPart, len(data))] }
	mp, err := c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: &key}, testPart)
	if err != nil {
		t.Fatal(err)
	}
	seal := func(n int32) []byte {
		t.Helper()
		buf := make([]byte, len(part(n)), len(part(n))+16)
		copy(buf, part(n))
		ct, err := mp.SealPart(n, buf, n == 3)
		if err != nil {
			t.Fatalf("sealing part %d: %v", n, err)
		}
		return ct
	}
	presign := s3.NewPresignClient(c.Client)
	send := func(n int32, ct []byte) {
		t.Helper()
		req, err := presign.PresignUploadPart(bg, &s3.UploadPartInput{Bucket: &e.bucket, Key: &key, UploadId: aws.String(mp.UploadID()),
			PartNumber: aws.Int32(n), ContentLength: aws.Int64(int64(len(ct)))})
		if err != nil {
			t.Fatal(err)
		}
		hr, _ := http.NewRequest(req.Method, req.URL, bytes.NewReader(ct))
		for k, v := range req.SignedHeader {
			if !strings.EqualFold(k, "host") {
				hr.Header[k] = v
			}
		}
		resp, err := http.DefaultClient.Do(hr)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("part %d: %s", n, resp.Status)
		}
		if err := mp.AddCompletedPart(types.CompletedPart{PartNumber: aws.Int32(n), ETag: aws.String(resp.Header.Get("ETag"))}); err != nil {
			t.Fatal(err)
		}
	}
	if err := mp.AddCompletedPart(types.CompletedPart{PartNumber: aws.Int32(1), ETag: aws.String(`"x"`)}); err == nil {
		t.Fatal("a part never sealed was recorded")
	}
	p1, p2, p3 := seal(1), seal(2), seal(3)
	send(1, p1)
	send(3, p3)
	if _, err := mp.Complete(bg); err == nil || !strings.Contains(err.Error(), "part 2 was never uploaded") {
		t.Fatalf("Complete without part 2: %v", err)
	}
	send(2, p2)
	if !bytes.Equal(seal(2), p2) {
		t.Fatal("part 2 sealed again differs")
	}
	if _, err := mp.Complete(bg); err != nil {
		t.Fatal(err)
	}
	got, _, err := e.get(c, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v", err)
	}
	e.noUploadsLeft()
}

// failFirstAttempt fails the first attempt of one part's upload after
// reading its body, so that the SDK sends the part again.
type failFirstAttempt struct {
	next   http.Client
	part   string
	failed atomic.Bool
}

func (f *failFirstAttempt) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Get("partNumber") == f.part && f.failed.CompareAndSwap(false, true) {
		io.Copy(io.Discard, req.Body)
		return s3ErrorResponse(req, 500, "InternalError", "try again"), nil
	}
	return f.next.Do(req)
}

// changingFile is a file whose second part changes once it has been
// read through.
type changingFile struct {
	*bytes.Reader
	data  []byte
	reads atomic.Int32
}

func (s *changingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := s.Reader.ReadAt(p, off)
	if off < 2*testPart && off+int64(n) == 2*testPart && s.reads.Add(1) == 1 {
		s.data[testPart+1] ^= 1 // the end of part 2 was read: change it
	}
	return n, err
}

// A part of a file-like source that the SDK sends twice is encrypted
// twice under the same counters: it goes out again only if its bytes are
// the same; a source that changed in between fails the upload.
func TestRetriedSectionPart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, changing := range []bool{false, true} {
		hc := &failFirstAttempt{part: "2"}
		c, err := New(minio.Client(func(o *s3.Options) { o.HTTPClient = hc }), e.keyrings["aes"])
		if err != nil {
			t.Fatal(err)
		}
		data := randomBytes(3*testPart + 9)
		orig := bytes.Clone(data)
		var src io.Reader = bytes.NewReader(data)
		if changing {
			src = &changingFile{Reader: bytes.NewReader(data), data: data}
		}
		key := fmt.Sprintf("retried-%v", changing)
		_, err = NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: src})
		if !hc.failed.Load() {
			t.Fatal("part 2 was never retried")
		}
		if changing {
			if !errors.Is(err, ErrSourceChanged) {
				t.Fatalf("changed source: %v, want ErrSourceChanged", err)
			}
			if e.exists(key) {
				t.Fatal("changed source: object stored")
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := e.get(c, key)
		if err != nil || !bytes.Equal(got, orig) {
			t.Fatalf("read back after a retried part: %v", err)
		}
	}
	e.noUploadsLeft()
}
