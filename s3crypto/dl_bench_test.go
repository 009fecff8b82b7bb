package s3crypto

import (
	"fmt"
	"io"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// BenchmarkGetLarge downloads 256 MiB to a file in b.TempDir(): plain
// GetObject, the plain transfer manager's Downloader set like the
// Downloader (part size, concurrency), the Downloader (decrypts in place,
// parallel ranges), GetObject of an object with a chunk index
// (getobject-stream: authenticated chunk by chunk, no spool) and of the
// same object without one (getobject-spool: authenticates via a spool in
// os.TempDir() first). Any error, a failed authentication included, fails
// the benchmark.
func BenchmarkGetLarge(b *testing.B) {
	e := newEnv(b)
	c := e.client(e.keyrings["aes"])
	const n = largeBenchSize
	key := "big"
	if _, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(1, n), ContentLength: aws.Int64(n)}); err != nil {
		b.Fatal(err)
	}
	spoolKey := "big-noindex"
	if _, err := NewUploader(e.client(e.keyrings["aes"], func(o *Options) { o.IndexThreshold = -1 })).Upload(bg,
		&s3.PutObjectInput{Bucket: &e.bucket, Key: &spoolKey, Body: newPattern(1, n), ContentLength: aws.Int64(n)}); err != nil {
		b.Fatal(err)
	}
	plainKey := "big-plain"
	if _, err := e.raw.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &plainKey, Body: newPattern(1, n), ContentLength: aws.Int64(n)},
		unsignedPayload, noRequestChecksum); err != nil {
		b.Fatal(err)
	}
	f, err := os.CreateTemp(b.TempDir(), "dl")
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// stream copies body to the start of f.
	stream := func(body io.ReadCloser) error {
		defer body.Close()
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		k, err := io.Copy(f, body)
		if err == nil && k != n {
			err = fmt.Errorf("got %d bytes, want %d", k, n)
		}
		return err
	}
	get := func(b *testing.B, download func() error) {
		b.ReportAllocs()
		b.SetBytes(n)
		for b.Loop() {
			if err := download(); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.Run("plain", func(b *testing.B) {
		get(b, func() error {
			out, err := e.raw.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &plainKey})
			if err != nil {
				return err
			}
			return stream(out.Body)
		})
	})
	b.Run("plain-downloader-s3c-settings", func(b *testing.B) {
		get(b, func() error {
			k, err := manager.NewDownloader(e.raw, func(d *manager.Downloader) {
				d.PartSize, d.Concurrency = DefaultDownloadPartSize, DefaultConcurrency
			}).Download(bg, f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &plainKey})
			if err == nil && k != n {
				err = fmt.Errorf("got %d bytes, want %d", k, n)
			}
			return err
		})
	})
	b.Run("downloader", func(b *testing.B) {
		get(b, func() error {
			out, err := NewDownloader(c).DownloadUnauthenticated(bg, f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
			if err == nil && out.Size != n {
				err = fmt.Errorf("got %d bytes, want %d", out.Size, n)
			}
			return err
		})
	})
	getObject := func(key, path string) func() error {
		return func() error {
			out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
			if err != nil {
				return err
			}
			if info, _ := GetObjectInfo(out.ResultMetadata); info.ReadPath != path {
				out.Body.Close()
				return fmt.Errorf("read path %q, want %q", info.ReadPath, path)
			}
			return stream(out.Body)
		}
	}
	b.Run("getobject-stream", func(b *testing.B) { get(b, getObject(key, "index-stream")) })
	b.Run("getobject-spool", func(b *testing.B) { get(b, getObject(spoolKey, "spool")) })
}
