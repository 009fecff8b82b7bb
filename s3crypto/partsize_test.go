package s3crypto

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Download part sizes are held to S3's limits: a huge value is clamped to
// 5 GiB, never an overflow. (Upload part sizes are planned, and tested,
// in internal/core: TestPlanPartSizeLimits.)
func TestPartSizeLimits(t *testing.T) {
	const GiB = int64(1) << 30
	for _, c := range []struct{ part, want int64 }{
		{0, DefaultDownloadPartSize},
		{-5, DefaultDownloadPartSize},
		{1, 16},
		{17, 32},
		{5 * GiB, 5 * GiB},
		{5*GiB + 1, 5 * GiB},
		{math.MaxInt64, 5 * GiB},
		{math.MaxInt64 - 3, 5 * GiB},
	} {
		if got := downloadPartSize(c.part); got != c.want {
			t.Errorf("downloadPartSize(%d) = %d, want %d", c.part, got, c.want)
		}
	}
}

// Through the API: math.MaxInt64 fails an upload cleanly and a download
// still works.
func TestPartSizeMaxInt64(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	data := randomBytes(1000)
	key := "obj"
	_, err := NewUploader(c, func(u *Uploader) { u.PartSize = math.MaxInt64 }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)})
	if err == nil || !strings.Contains(err.Error(), "above S3's limit of 5 GiB") {
		t.Fatalf("Upload with PartSize MaxInt64: %v", err)
	}
	if e.exists(key) {
		t.Fatal("an object was stored")
	}
	e.put(c, key, data)
	var w memWriterAt
	if _, err := NewDownloader(c, func(d *Downloader) { d.PartSize = math.MaxInt64 }).DownloadUnauthenticated(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(key)}); err != nil || !bytes.Equal(w.b, data) {
		t.Fatalf("Download with PartSize MaxInt64: %v", err)
	}
}
