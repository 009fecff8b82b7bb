package s3crypto

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/metadata"
)

// A small object costs one request to write and one to read, for every
// keyring and format: no HEAD, no instruction-file or index lookup.
func TestSmallObjectOneRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, kr := range []string{"aes", "kms", "rsa"} {
		for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
			log := &requestLog{bucket: e.bucket}
			c, err := New(minio.Client(log.option), e.keyrings[kr], func(o *Options) { o.Format = format })
			if err != nil {
				t.Fatal(err)
			}
			key := "small-" + kr + "-" + format.String()
			data := randomBytes(4096)
			e.put(c, key, data)
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("%s %v: PutObject of 4 KiB sent %d requests: %v", kr, format, len(reqs), reqs)
			}
			got, _, err := e.get(c, key)
			if err != nil || string(got) != string(data) {
				t.Fatalf("%s %v: get: %v", kr, format, err)
			}
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("%s %v: GetObject of 4 KiB sent %d requests: %v", kr, format, len(reqs), reqs)
			}
		}
	}
}

// The Downloader's memory for a small object is on the scale of the
// object, not of its part size: it used to allocate a whole 1 MiB chunk
// buffer (and start its range workers) for every object, which made a
// cp -r of small files spend its time clearing memory and collecting it.
// Not parallel: it reads the process's allocation counter.
func TestSmallDownloadMemory(t *testing.T) {
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	data := randomBytes(4096)
	e.put(c, "small-download", data)
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	d := NewDownloader(c)
	in := &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("small-download")}
	download := func() {
		out, err := d.DownloadUnauthenticated(bg, f, in)
		if err != nil || out.Size != int64(len(data)) {
			t.Fatalf("download: %v", err)
		}
	}
	download() // warm: connections, pools
	const n = 20
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for range n {
		download()
	}
	runtime.ReadMemStats(&after)
	if per := (after.TotalAlloc - before.TotalAlloc) / n; per > 256<<10 {
		t.Errorf("a 4 KiB download allocates %d KiB, want at most 256 KiB", per>>10)
	}
	got, err := os.ReadFile(f.Name())
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("downloaded file differs: %v", err)
	}
}
