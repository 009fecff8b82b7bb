package s3crypto

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Part sizes are held to S3's limits: 5 MiB to 5 GiB, 10,000 parts. A
// huge value is an error for uploads (clamped for downloads), never an
// overflow.
func TestPartSizeLimits(t *testing.T) {
	const (
		MiB = int64(1) << 20
		GiB = int64(1) << 30
	)
	for _, c := range []struct {
		part, size int64
		want       int64
		err        string
	}{
		{0, 100, DefaultPartSize, ""},
		{-1, 100, DefaultPartSize, ""},
		{1, 100, 5 * MiB, ""},
		{5*MiB + 1, -1, 5*MiB + 16, ""},
		{64 * MiB, 1 * GiB, 64 * MiB, ""},
		{5 * GiB, -1, 5 * GiB, ""},
		{5*GiB + 1, -1, 0, "PartSize 5368709121 is above S3's limit of 5 GiB"},
		{math.MaxInt64, 100, 0, "PartSize 9223372036854775807 is above S3's limit of 5 GiB"},
		{math.MaxInt64 - 7, -1, 0, "above S3's limit of 5 GiB"},
		{5 * MiB, 64 * GiB, 7 * MiB, ""}, // 10,000 parts need 6.9 MB: raised to whole MiB
		{8 * MiB, 64 * GiB, 8 * MiB, ""},
		{5 * MiB, 100 * GiB, 11 * MiB, ""}, // (past the GCM limit, Upload refuses it earlier)
		{5 * GiB, 50000 * GiB, 5 * GiB, ""},
		{5 * GiB, 60000 * GiB, 0, "do not fit in S3's 10,000 parts"},
	} {
		got, err := uploadPartSize(c.part, c.size)
		switch {
		case c.err == "" && (err != nil || got != c.want):
			t.Errorf("uploadPartSize(%d, %d) = %d, %v; want %d", c.part, c.size, got, err, c.want)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("uploadPartSize(%d, %d) = %d, %v; want error %q", c.part, c.size, got, err, c.err)
		}
	}
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
