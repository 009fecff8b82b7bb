package s3crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/metadata"
)

// Ranged GETs at every alignment against the plaintext itself, for V2 and
// V3, single-PUT and multipart objects.
func TestRangedGet(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		c := e.client(e.keyrings["aes"], func(o *Options) { o.Format = format })
		objects := map[string][]byte{"small": randomBytes(1000), "empty": {}, "multi": randomBytes(2*testPart + 37)}
		e.put(c, format.String()+"small", objects["small"])
		e.put(c, format.String()+"empty", objects["empty"])
		key := format.String() + "multi"
		if _, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(objects["multi"])}); err != nil {
			t.Fatal(err)
		}
		get := func(name, rng string) ([]byte, *s3.GetObjectOutput, error) {
			out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String(format.String() + name), Range: aws.String(rng)}, WithUnauthenticatedRange())
			if err != nil {
				return nil, nil, err
			}
			defer out.Body.Close()
			b, err := io.ReadAll(out.Body)
			return b, out, err
		}
		check := func(name, rng string, want []byte, wantRange string) {
			t.Helper()
			got, out, err := get(name, rng)
			if err != nil {
				t.Fatalf("%s %s %s: %v", format, name, rng, err)
			}
			if !bytes.Equal(got, want) || aws.ToInt64(out.ContentLength) != int64(len(want)) || aws.ToString(out.ContentRange) != wantRange {
				t.Fatalf("%s %s %s: got %d bytes, range %q; want %d bytes, range %q", format, name, rng, len(got), aws.ToString(out.ContentRange), len(want), wantRange)
			}
		}
		pt := objects["small"]
		for a := 0; a < 48; a++ {
			for _, b := range []int{a, a + 1, a + 15, a + 16, a + 17, 500, 999} {
				if b < a {
					continue
				}
				check("small", fmt.Sprintf("bytes=%d-%d", a, b), pt[a:b+1], fmt.Sprintf("bytes %d-%d/1000", a, b))
			}
		}
		check("small", "bytes=990-", pt[990:], "bytes 990-999/1000")
		check("small", "bytes=995-5000", pt[995:], "bytes 995-999/1000") // past the end: stops before the tag
		check("small", "bytes=-7", pt[993:], "bytes 993-999/1000")
		check("small", "bytes=-5000", pt, "bytes 0-999/1000")
		check("empty", "bytes=-5", []byte{}, "bytes */0")
		for _, bad := range []string{"bytes=1000-1005", "bytes=1010-", "bytes=0-1,5-6", "items=0-1", "bytes=5-2"} {
			if got, _, err := get("small", bad); err == nil || len(got) != 0 {
				t.Fatalf("%s: range %s accepted", format, bad)
			}
		}
		mp := objects["multi"]
		for _, a := range []int{0, 1, testPart - 17, testPart - 1, testPart, testPart + 3, 2*testPart - 1, 2 * testPart, 2*testPart + 36} {
			b := min(a+100000, len(mp)-1)
			check("multi", fmt.Sprintf("bytes=%d-%d", a, b), mp[a:b+1], fmt.Sprintf("bytes %d-%d/%d", a, b, len(mp)))
		}
		// A part of a multipart object.
		out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key, PartNumber: aws.Int32(3)}, WithUnauthenticatedRange())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if !bytes.Equal(got, mp[2*testPart:]) {
			t.Fatalf("%s: part 3 differs (%d bytes)", format, len(got))
		}
	}
	// Without the opt-in: refused.
	_, err := e.client(e.keyrings["aes"]).GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("V3small"), Range: aws.String("bytes=0-1")})
	if !errors.Is(err, ErrRangeNotAllowed) {
		t.Fatalf("range without opt-in: %v", err)
	}
}

// memWriterAt is an io.WriterAt and io.ReaderAt in memory, safe for
// concurrent use.
type memWriterAt struct {
	mu sync.Mutex
	b  []byte
}

func (m *memWriterAt) WriteAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if need := int(off) + len(p); need > len(m.b) {
		m.b = append(m.b, make([]byte, need-len(m.b))...)
	}
	return copy(m.b[off:], p), nil
}

func (m *memWriterAt) ReadAt(p []byte, off int64) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Parallel download: ranges around part boundaries, and a flipped bit in
// any range fails the whole download.
func TestDownloader(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["kms"])
	const part = 1 << 20
	d := NewDownloader(c, func(d *Downloader) { d.PartSize = part; d.Concurrency = 3 })
	for _, n := range []int{0, 1, part - 17, part - 16, part - 1, part, part + 1, 3*part + 5} {
		key := fmt.Sprintf("dl/%d", n)
		data := randomBytes(n)
		e.put(c, key, data)
		var w memWriterAt
		out, err := d.DownloadUnauthenticated(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
		if err != nil || !bytes.Equal(w.b[:out.Size], data) || out.Size != int64(n) {
			t.Fatalf("%d bytes: %v", n, err)
		}
		f, err := os.CreateTemp(t.TempDir(), "spool")
		if err != nil {
			t.Fatal(err)
		}
		r, _, err := d.Download(bg, f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(r)
		f.Close()
		if !bytes.Equal(got, data) {
			t.Fatalf("%d bytes: Download differs", n)
		}
	}
	// Tamper with each range in turn.
	key := "dl/tamper"
	data := randomBytes(3*part + 5)
	e.put(c, key, data)
	body, meta, _ := e.rawGet(key)
	for _, at := range []int{0, part - 1, part, 2*part + 7, 3 * part, len(body) - 1} {
		bad := bytes.Clone(body)
		bad[at] ^= 1
		tk := fmt.Sprintf("dl/tamper-%d", at)
		e.rawPut(tk, bad, meta)
		var w memWriterAt
		if _, err := d.DownloadUnauthenticated(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: &tk}); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("flip at %d: %v", at, err)
		}
		if r, _, err := d.Download(bg, &memWriterAt{}, &s3.GetObjectInput{Bucket: &e.bucket, Key: &tk}); !errors.Is(err, ErrAuthentication) || r != nil {
			t.Fatalf("verified, flip at %d: %v", at, err)
		}
	}
}
