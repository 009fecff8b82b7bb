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
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
		body := `<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>complete failed by test</Message></Error>`
		return &http.Response{StatusCode: 500, Status: "500 Internal Server Error", Header: http.Header{"Content-Type": {"application/xml"}},
			Body: io.NopCloser(strings.NewReader(body)), ContentLength: int64(len(body)), Request: req}, nil
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
		if _, err := dl.Download(bg, f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); err != nil {
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
