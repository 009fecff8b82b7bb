package s3crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// markedIndex is what a marked index object's metadata holds.
var markedIndex = map[string]string{core.IndexMarker: "1"}

// DeleteObject and DeleteObjects take a marked index with its object and
// leave an unmarked X.s3c-index, the user's own, alone.
func TestDeleteTakesIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	for _, k := range []string{"a", "b", "c", "d"} {
		e.put(c, k, []byte("data "+k))
	}
	e.rawPut("a"+IndexSuffix, []byte("index of a"), markedIndex)
	e.rawPut("b"+IndexSuffix, []byte("the user's own"), nil)
	e.rawPut("c"+IndexSuffix, []byte("index of c"), markedIndex)
	e.rawPut("d"+IndexSuffix, []byte("the user's own"), map[string]string{"s3c-index": "no"})
	for _, k := range []string{"a", "b"} {
		if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(k)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &e.bucket, Delete: &types.Delete{Objects: []types.ObjectIdentifier{{Key: aws.String("c")}, {Key: aws.String("d")}}}})
	if err != nil || len(out.Errors) > 0 {
		t.Fatalf("DeleteObjects: %v %v", err, out)
	}
	for k, want := range map[string]bool{"a" + IndexSuffix: false, "b" + IndexSuffix: true, "c" + IndexSuffix: false, "d" + IndexSuffix: true} {
		if e.exists(k) != want {
			t.Errorf("%s exists: %v, want %v", k, !want, want)
		}
	}
}

// CopyObject copies a marked index beside the copy, never over a user's
// unmarked object of that name, and not an unmarked source one.
func TestCopyTakesIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	e.put(c, "src", []byte("data"))
	e.rawPut("src"+IndexSuffix, []byte("index of src"), markedIndex)
	e.rawPut("taken"+IndexSuffix, []byte("the user's own"), nil)
	for _, dst := range []string{"dst", "taken"} {
		if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String(dst), CopySource: aws.String(e.bucket + "/src")}); err != nil {
			t.Fatal(err)
		}
	}
	b, meta, err := e.rawGet("dst" + IndexSuffix)
	if err != nil || !bytes.Equal(b, []byte("index of src")) || !IsIndexObject(meta) {
		t.Fatalf("copied index: %q %v %v", b, meta, err)
	}
	if b, _, _ := e.rawGet("taken" + IndexSuffix); string(b) != "the user's own" {
		t.Fatalf("user's object overwritten: %q", b)
	}
	e.rawPut("src2", nil, nil)
	e.put(c, "src2", []byte("data"))
	e.rawPut("src2"+IndexSuffix, []byte("user"), nil)
	if _, err := c.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("dst2"), CopySource: aws.String(e.bucket + "/src2")}); err != nil {
		t.Fatal(err)
	}
	if e.exists("dst2" + IndexSuffix) {
		t.Fatal("an unmarked object was copied as an index")
	}
}

// testChunk is the chunk size of the indexes the tests write.
const testChunk = 4096

// indexedClient writes an index for every object of more than 1 KiB,
// with testChunk chunks, and reads objects over 1 KiB through their
// index.
func (e *env) indexedClient(kr materials.Keyring, format metadata.Format, optFns ...func(*Options)) *Client {
	e.t.Helper()
	c := e.client(kr, append([]func(*Options){func(o *Options) {
		o.Format = format
		o.MemoryBufferSize = 1024
		o.IndexThreshold = 1024
	}}, optFns...)...)
	c.indexChunk = testChunk
	return c
}

// getRecorded reads key in small pieces and returns every byte the caller
// received before the error, the error, and the read path.
func (e *env) getRecorded(c *Client, key string) ([]byte, string, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		return nil, "", err
	}
	defer out.Body.Close()
	info, _ := GetObjectInfo(out.ResultMetadata)
	var got []byte
	buf := make([]byte, 999)
	for {
		n, err := out.Body.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, info.ReadPath, nil
		}
		if err != nil {
			return got, info.ReadPath, err
		}
	}
}

// Objects with an index stream through it, for every keyring and format,
// at sizes around chunk boundaries (a last chunk shorter than a block
// too); smaller ones get none.
func TestIndexStreamRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, kn := range []string{"aes", "kms"} {
		for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
			c := e.indexedClient(e.keyrings[kn], format)
			for _, n := range []int{testChunk - 1, testChunk, testChunk + 1, 3*testChunk + 5} {
				key := fmt.Sprintf("%s-%s-%d", kn, format, n)
				data := randomBytes(n)
				e.put(c, key, data)
				_, meta, err := e.rawGet(key + IndexSuffix)
				if err != nil || !IsIndexObject(meta) {
					t.Fatalf("%s: no marked index: %v %v", key, meta, err)
				}
				got, path, err := e.getRecorded(c, key)
				if err != nil || !bytes.Equal(got, data) || path != "index-stream" {
					t.Fatalf("%s: %d bytes, path %q, %v", key, len(got), path, err)
				}
			}
			e.put(c, "small", randomBytes(1000))
			if e.exists("small" + IndexSuffix) {
				t.Fatal("index written below the threshold")
			}
		}
	}
}

// A bit flipped in chunk k of the object fails the read after exactly
// the chunks before k: nothing of the bad chunk is released. A tampered,
// swapped, foreign, truncated or deleted index is not used: the read
// falls back to authenticating the whole object, and succeeds.
func TestIndexTamper(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.indexedClient(e.keyrings["aes"], metadata.V3)
	data := randomBytes(3*testChunk + 5)
	e.put(c, "obj", data)
	e.put(c, "other", data)
	stored, meta, err := e.rawGet("obj")
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := e.rawGet("obj" + IndexSuffix)
	if err != nil {
		t.Fatal(err)
	}
	for k := range 4 {
		for _, at := range []int{k * testChunk, min(k*testChunk+testChunk-1, len(data)-1)} {
			b := bytes.Clone(stored)
			b[at] ^= 0x10
			e.rawPut("obj", b, meta)
			got, path, err := e.getRecorded(c, "obj")
			if !errors.Is(err, ErrAuthentication) || !IsIntegrityError(err) || path != "index-stream" {
				t.Fatalf("chunk %d byte %d flipped: path %q, %v", k, at, path, err)
			}
			if !bytes.Equal(got, data[:k*testChunk]) {
				t.Fatalf("chunk %d flipped: %d bytes released, want the %d before it", k, len(got), k*testChunk)
			}
		}
	}
	// The tag: every chunk verifies, but the stream does not end cleanly.
	b := bytes.Clone(stored)
	b[len(b)-1] ^= 1
	e.rawPut("obj", b, meta)
	if got, _, err := e.getRecorded(c, "obj"); !errors.Is(err, ErrAuthentication) || !bytes.Equal(got, data) {
		t.Fatalf("tag flipped: %d bytes, %v", len(got), err)
	}
	// Truncated object: the index does not describe it; the whole-object
	// check fails before any byte.
	e.rawPut("obj", stored[:len(stored)-100], meta)
	if got, path, err := e.getRecorded(c, "obj"); !IsIntegrityError(err) || len(got) != 0 || path != "" {
		t.Fatalf("truncated object: %d bytes, path %q, %v", len(got), path, err)
	}
	e.rawPut("obj", stored, meta)

	swapped := bytes.Clone(idx)
	p := 24 + 28 + 16
	copy(swapped[p:], idx[p+16:p+32])
	copy(swapped[p+16:], idx[p:p+16])
	otherIdx, _, _ := e.rawGet("other" + IndexSuffix)
	flipped := bytes.Clone(idx)
	flipped[len(flipped)/2] ^= 4
	for name, bad := range map[string][]byte{"flipped": flipped, "swapped": swapped, "other object's": otherIdx,
		"truncated": idx[:len(idx)-1], "empty": nil} {
		e.rawPut("obj"+IndexSuffix, bad, markedIndex)
		got, path, err := e.getRecorded(c, "obj")
		if err != nil || !bytes.Equal(got, data) || path != "spool" {
			t.Fatalf("%s index: %d bytes, path %q, %v", name, len(got), path, err)
		}
	}
	if _, err := e.raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("obj" + IndexSuffix)}); err != nil {
		t.Fatal(err)
	}
	if got, path, err := e.getRecorded(c, "obj"); err != nil || !bytes.Equal(got, data) || path != "spool" {
		t.Fatalf("index deleted: %d bytes, path %q, %v", len(got), path, err)
	}
	// The valid index, unmarked, is not taken for one.
	e.rawPut("obj"+IndexSuffix, idx, nil)
	if _, path, _ := e.getRecorded(c, "obj"); path != "spool" {
		t.Fatalf("unmarked index used: %s", path)
	}
}

// A put never overwrites a user's unmarked X.s3c-index, and succeeds
// without writing its index.
func TestPutKeepsUsersIndexName(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.indexedClient(e.keyrings["aes"], metadata.V3)
	e.rawPut("u"+IndexSuffix, []byte("mine"), nil)
	data := randomBytes(2 * testChunk)
	e.put(c, "u", data)
	if b, _, _ := e.rawGet("u" + IndexSuffix); string(b) != "mine" {
		t.Fatalf("user's object overwritten: %q", b)
	}
	if got, path, err := e.getRecorded(c, "u"); err != nil || !bytes.Equal(got, data) || path != "spool" {
		t.Fatalf("%d bytes, path %q, %v", len(got), path, err)
	}
	// An older marked index is replaced by the new object's.
	e.rawPut("v"+IndexSuffix, []byte("stale"), markedIndex)
	e.put(c, "v", data)
	if got, path, err := e.getRecorded(c, "v"); err != nil || !bytes.Equal(got, data) || path != "index-stream" {
		t.Fatalf("over a stale index: %d bytes, path %q, %v", len(got), path, err)
	}
}

// getIndexedRange reads a Range through c; it returns the bytes received before
// any error.
func (e *env) getIndexedRange(c *Client, key, rng string) ([]byte, *s3.GetObjectOutput, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key, Range: &rng})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	return b, out, err
}

// Ranges of an indexed object are authenticated without an opt-in, at
// every alignment around chunk and block boundaries, and equal the
// plaintext's; a tampered chunk fails the ranges that cover it, releasing
// nothing of it.
func TestIndexedRange(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.indexedClient(e.keyrings["aes"], metadata.V2)
	data := randomBytes(3*testChunk + 5)
	e.put(c, "obj", data)
	size := len(data)
	offs := []int{0, 1, 15, 16, 17, testChunk - 1, testChunk, testChunk + 1, 2*testChunk - 16, 3 * testChunk, size - 5, size - 1}
	for _, a := range offs {
		for _, b := range offs {
			if b < a {
				continue
			}
			got, out, err := e.getIndexedRange(c, "obj", fmt.Sprintf("bytes=%d-%d", a, b))
			if err != nil || !bytes.Equal(got, data[a:b+1]) {
				t.Fatalf("bytes=%d-%d: %d bytes, %v", a, b, len(got), err)
			}
			info, _ := GetObjectInfo(out.ResultMetadata)
			if info.ReadPath != "index-range" || aws.ToInt64(out.ContentLength) != int64(b-a+1) ||
				aws.ToString(out.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", a, b, size) {
				t.Fatalf("bytes=%d-%d: %s %d %s", a, b, info.ReadPath, aws.ToInt64(out.ContentLength), aws.ToString(out.ContentRange))
			}
		}
	}
	for rng, want := range map[string][]byte{"bytes=-3": data[size-3:], "bytes=-100000": data, "bytes=4000-": data[4000:], "bytes=5-99999": data[5:]} {
		if got, _, err := e.getIndexedRange(c, "obj", rng); err != nil || !bytes.Equal(got, want) {
			t.Fatalf("%s: %d bytes, %v", rng, len(got), err)
		}
	}
	if _, _, err := e.getIndexedRange(c, "obj", fmt.Sprintf("bytes=%d-", size)); err == nil {
		t.Fatal("range past the end")
	}
	// Tamper with chunk 1.
	stored, meta, _ := e.rawGet("obj")
	stored[testChunk+7] ^= 1
	e.rawPut("obj", stored, meta)
	if got, _, err := e.getIndexedRange(c, "obj", "bytes=10-20"); err != nil || !bytes.Equal(got, data[10:21]) {
		t.Fatalf("untouched chunk: %v", err)
	}
	got, _, err := e.getIndexedRange(c, "obj", fmt.Sprintf("bytes=100-%d", testChunk+100))
	if !errors.Is(err, ErrAuthentication) || !bytes.Equal(got, data[100:testChunk]) {
		t.Fatalf("across the tampered chunk: %d bytes, %v", len(got), err)
	}
	// Without an index: refused, as before.
	e.raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String("obj" + IndexSuffix)})
	if _, _, err := e.getIndexedRange(c, "obj", "bytes=10-20"); !errors.Is(err, ErrRangeNotAllowed) {
		t.Fatalf("no index: %v", err)
	}
}

// Multipart uploads index each part as they seal it (parts start on chunk
// boundaries), from a file and from a stream, and the merged index
// verifies.
func TestMultipartIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.indexedClient(e.keyrings["aes"], metadata.V3)
	data := randomBytes(2*testPart + 100)
	for name, body := range map[string]io.Reader{"file": bytes.NewReader(data), "stream": struct{ io.Reader }{bytes.NewReader(data)}} {
		key := "mp-" + name
		_, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart; u.Concurrency = 2 }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: body})
		if err != nil {
			t.Fatal(err)
		}
		got, path, err := e.getRecorded(c, key)
		if err != nil || !bytes.Equal(got, data) || path != "index-stream" {
			t.Fatalf("%s: %d bytes, path %q, %v", name, len(got), path, err)
		}
	}
}

// The chunk size of a multipart upload's index divides its part size.
func TestPartIndexChunk(t *testing.T) {
	c := &Client{}
	for ps, want := range map[int64]int64{8 << 20: 1 << 20, 5 << 20: 1 << 20, 16 << 20: 1 << 20, 5<<20 + 16: 0} {
		got := c.partIndexChunk(ps)
		if got != want && !(want == 0 && got > 0 && ps%got == 0 && got%16 == 0) {
			t.Errorf("part size %d: chunk %d, want %d", ps, got, want)
		}
	}
}

// A rewrap keeps the data key, so the index stays valid: the rewrapped
// object still streams through it, under the new master key.
func TestRewrapKeepsIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.indexedClient(e.keyrings["aes"], metadata.V3)
	data := randomBytes(2*testChunk + 3)
	e.put(c, "r", data)
	newKR := e.keyrings["kms"]
	if _, err := e.rewrap(c, "r", newKR); err != nil {
		t.Fatal(err)
	}
	c2 := e.indexedClient(newKR, metadata.V3)
	if got, path, err := e.getRecorded(c2, "r"); err != nil || !bytes.Equal(got, data) || path != "index-stream" {
		t.Fatalf("after rewrap: %d bytes, path %q, %v", len(got), path, err)
	}
}

// BuildIndex indexes an object written without one, after authenticating
// it whole; a tampered object gets none.
func TestBuildIndex(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
		w := e.indexedClient(e.keyrings["kms"], format, func(o *Options) { o.IndexThreshold = -1 })
		c := e.indexedClient(e.keyrings["kms"], format)
		key := "b-" + format.String()
		data := randomBytes(2*testChunk + 9)
		e.put(w, key, data)
		if e.exists(key + IndexSuffix) {
			t.Fatal("index written with IndexThreshold < 0")
		}
		if err := c.BuildIndex(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); err != nil {
			t.Fatal(err)
		}
		if got, path, err := e.getRecorded(c, key); err != nil || !bytes.Equal(got, data) || path != "index-stream" {
			t.Fatalf("%s: %d bytes, path %q, %v", key, len(got), path, err)
		}
		stored, meta, _ := e.rawGet(key)
		stored[5] ^= 1
		e.rawPut(key, stored, meta)
		e.raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(key + IndexSuffix)})
		if err := c.BuildIndex(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); !errors.Is(err, ErrAuthentication) || e.exists(key+IndexSuffix) {
			t.Fatalf("tampered object indexed: %v", err)
		}
	}
}

// recordingWriterAt keeps what a download writes, and where; safe for
// the Downloader's concurrent WriteAt calls.
type recordingWriterAt struct {
	mu     sync.Mutex
	buf    []byte
	writes [][2]int64 // [off, end) of each WriteAt
}

func (w *recordingWriterAt) WriteAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if end := off + int64(len(p)); end > int64(len(w.buf)) {
		w.buf = append(w.buf, make([]byte, end-int64(len(w.buf)))...)
	}
	copy(w.buf[off:], p)
	w.writes = append(w.writes, [2]int64{off, off + int64(len(p))})
	return len(p), nil
}

func (w *recordingWriterAt) ReadAt(p []byte, off int64) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if off >= int64(len(w.buf)) {
		return 0, io.EOF
	}
	n := copy(p, w.buf[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// The Downloader reads through an object's index: each chunk is checked
// against its MAC before it is decrypted and written, so a tampered chunk
// fails the download without any of it, or anything unverified, reaching
// w. Without the index it authenticates the whole object as before.
func TestDownloaderIndexed(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
		c := e.indexedClient(e.keyrings["aes"], format)
		dl := NewDownloader(c, func(d *Downloader) { d.PartSize, d.Concurrency = 2*testChunk, 2 })
		const n = 5*testChunk + 5
		data := randomBytes(n)
		key := fmt.Sprintf("dl-%s", format)
		e.put(c, key, data)
		in := &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}
		w := &recordingWriterAt{}
		out, err := dl.DownloadUnauthenticated(bg, w, in)
		if err != nil || !bytes.Equal(w.buf, data) || out.Info.ReadPath != core.ReadIndexStream {
			t.Fatalf("%s: %v, path %q", format, err, out.Info.ReadPath)
		}
		r, out, err := dl.Download(bg, &recordingWriterAt{}, in)
		if err != nil || out.Info.ReadPath != core.ReadIndexStream {
			t.Fatalf("%s Download: %v", format, err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s Download read: %v", format, err)
		}
		stored, meta, err := e.rawGet(key)
		if err != nil {
			t.Fatal(err)
		}
		for k := range 6 {
			bad := bytes.Clone(stored)
			bad[k*testChunk+3] ^= 1
			e.rawPut(key, bad, meta)
			w := &recordingWriterAt{}
			if _, err := dl.DownloadUnauthenticated(bg, w, in); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("%s chunk %d flipped: %v", format, k, err)
			}
			for _, wr := range w.writes {
				if wr[0] < int64(k+1)*testChunk && wr[1] > int64(k)*testChunk {
					t.Fatalf("%s chunk %d flipped: bytes %d-%d written", format, k, wr[0], wr[1])
				}
				if !bytes.Equal(w.buf[wr[0]:wr[1]], data[wr[0]:wr[1]]) {
					t.Fatalf("%s chunk %d flipped: unverified bytes %d-%d written", format, k, wr[0], wr[1])
				}
			}
			if _, _, err := dl.Download(bg, &recordingWriterAt{}, in); !errors.Is(err, ErrAuthentication) {
				t.Fatalf("%s Download, chunk %d flipped: %v", format, k, err)
			}
		}
		// The tag: the index records another one.
		bad := bytes.Clone(stored)
		bad[len(bad)-1] ^= 1
		e.rawPut(key, bad, meta)
		if _, err := dl.DownloadUnauthenticated(bg, &recordingWriterAt{}, in); !errors.Is(err, ErrAuthentication) {
			t.Fatalf("%s tag flipped: %v", format, err)
		}
		// No index: the whole object is authenticated, as before.
		e.rawPut(key, stored, meta)
		if _, err := e.raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &e.bucket, Key: aws.String(key + IndexSuffix)}); err != nil {
			t.Fatal(err)
		}
		w = &recordingWriterAt{}
		if out, err := dl.DownloadUnauthenticated(bg, w, in); err != nil || !bytes.Equal(w.buf, data) || out.Info.ReadPath != "" {
			t.Fatalf("%s without index: %v", format, err)
		}
	}
}

// chunkyReader yields its data in pieces, then err.
type chunkyReader struct {
	data []byte
	err  error
	gate chan struct{} // each Read waits for a token, if set
}

func (r *chunkyReader) Read(p []byte) (int, error) {
	if r.gate != nil {
		<-r.gate
	}
	if len(r.data) == 0 {
		return 0, r.err
	}
	n := copy(p[:min(len(p), 1000)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// closeGate closes a gate on Close, as closing a network body interrupts
// a read.
type closeGate struct {
	*chunkyReader
	once sync.Once
}

func (c *closeGate) Close() error {
	c.once.Do(func() { close(c.gate) })
	return nil
}

// GetObject's prefetch hands over exactly the bytes of the body, then its
// error, however far it got; Close interrupts it.
func TestPrefetch(t *testing.T) {
	data := randomBytes(10 << 10)
	for _, limit := range []int{0, 1, 999, 4096, 10 << 10, 1 << 20} {
		for _, tail := range []error{io.EOF, io.ErrUnexpectedEOF} {
			p := startPrefetch(io.NopCloser(&chunkyReader{data: data, err: tail}), limit)
			got, err := io.ReadAll(p)
			if tail == io.EOF && err != nil || tail != io.EOF && err != tail || !bytes.Equal(got, data) {
				t.Fatalf("limit %d, %v: %d bytes, %v", limit, tail, len(got), err)
			}
		}
	}
	gated := &closeGate{chunkyReader: &chunkyReader{data: data, err: io.EOF, gate: make(chan struct{})}}
	p := startPrefetch(gated, 1<<20)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
}
