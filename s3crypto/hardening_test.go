package s3crypto

import (
	"bytes"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// sealInMemory encrypts plaintext as PutObject would and returns the
// stored body and the envelope's placement (metadata, instruction file).
func sealInMemory(t *testing.T, opts *Options, plaintext []byte, ec map[string]string) (body []byte, meta map[string]string, inst []byte) {
	t.Helper()
	enc, err := core.NewEncryption(bg, opts, ec)
	if err != nil {
		t.Fatal(err)
	}
	r, err := enc.NewReader(bytes.NewReader(plaintext), int64(len(plaintext)))
	if err != nil {
		t.Fatal(err)
	}
	if body, err = io.ReadAll(r.Body()); err != nil {
		t.Fatal(err)
	}
	meta, inst, err = core.PlaceEnvelope(opts, enc.Envelope(int64(len(plaintext))), nil, false)
	if err != nil {
		t.Fatal(err)
	}
	return body, meta, inst
}

// openInMemory runs the read path on a stored object without a server,
// both verified and streamed; it returns what the verified read released
// and whether each mode failed.
func openInMemory(opts *Options, body []byte, meta map[string]string, inst []byte, ec map[string]string) (got []byte, verifiedErr, streamErr error) {
	env, err := core.ReadEnvelope(opts, "k", meta, func(string) (*core.InstructionFile, error) {
		if inst == nil {
			return nil, core.ErrNoInstructionFile
		}
		return &core.InstructionFile{Body: inst, Metadata: map[string]string{metadata.KeyInstructionFileMarker: ""}}, nil
	})
	if err != nil {
		return nil, err, err
	}
	dec, err := core.NewDecryption(bg, opts, env, ec, true)
	if err != nil {
		return nil, err, err
	}
	if r, _, err := dec.OpenVerified(nopCloser{bytes.NewReader(body)}, int64(len(body))); err != nil {
		verifiedErr = err
	} else {
		got, verifiedErr = io.ReadAll(r)
		r.Close()
	}
	if r, err := dec.OpenStream(nopCloser{bytes.NewReader(body)}, int64(len(body))); err != nil {
		streamErr = err
	} else {
		_, streamErr = io.ReadAll(r)
		r.Close()
	}
	return got, verifiedErr, streamErr
}

// flipEveryBit lists every one-bit change of an envelope value: of the
// decoded bytes for base64 fields, of the text otherwise.
func flipEveryBit(v string) []string {
	var out []string
	if b, err := base64.StdEncoding.Strict().DecodeString(v); err == nil && len(v) >= 8 {
		for i := range len(b) * 8 {
			c := bytes.Clone(b)
			c[i/8] ^= 1 << (i % 8)
			out = append(out, base64.StdEncoding.EncodeToString(c))
		}
		return out
	}
	for i := range len(v) * 8 {
		c := []byte(v)
		c[i/8] ^= 1 << (i % 8)
		out = append(out, string(c))
	}
	return out
}

// Every single bit of the body, of the tag and of every envelope value,
// in metadata or in an instruction file, is checked: flipping any one of
// them fails both the verified and the streamed read, and the verified
// read releases nothing. In memory, so that it can be exhaustive; the
// same tamperings go through MinIO in TestTamperDetected.
func TestEveryBitFlipDetected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ec := map[string]string{"team": "blue"}
	plaintext := randomBytes(33) // two full blocks and a partial one
	for _, krName := range []string{"kms", "aes", "rsa"} {
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for _, instruction := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/instruction=%v", krName, format, instruction)
				t.Run(name, func(t *testing.T) {
					opts, err := core.NewOptions(e.keyrings[krName], func(o *Options) { o.Format = format; o.InstructionFile = instruction })
					if err != nil {
						t.Fatal(err)
					}
					body, meta, inst := sealInMemory(t, &opts, plaintext, ec)
					if got, err, serr := openInMemory(&opts, body, meta, inst, ec); err != nil || serr != nil || !bytes.Equal(got, plaintext) {
						t.Fatalf("untouched object: %v / %v", err, serr)
					}
					check := func(what string, body []byte, meta map[string]string, inst []byte) {
						t.Helper()
						got, err, serr := openInMemory(&opts, body, meta, inst, ec)
						if err == nil || serr == nil {
							t.Fatalf("%s: verified read error %v, streamed read error %v", what, err, serr)
						}
						if len(got) != 0 {
							t.Fatalf("%s: %d bytes released", what, len(got))
						}
					}
					for i := range len(body) * 8 {
						b := bytes.Clone(body)
						b[i/8] ^= 1 << (i % 8)
						check(fmt.Sprintf("body bit %d", i), b, meta, inst)
					}
					for _, k := range slices.Sorted(maps.Keys(meta)) {
						for _, v := range flipEveryBit(meta[k]) {
							m := maps.Clone(meta)
							m[k] = v
							check(fmt.Sprintf("metadata %s=%q", k, v), body, m, inst)
						}
					}
					if inst == nil {
						return
					}
					var file map[string]string
					if err := json.Unmarshal(inst, &file); err != nil {
						t.Fatal(err)
					}
					for _, k := range slices.Sorted(maps.Keys(file)) {
						for _, v := range flipEveryBit(file[k]) {
							f := maps.Clone(file)
							f[k] = v
							b, _ := json.Marshal(f)
							check(fmt.Sprintf("instruction %s=%q", k, v), body, meta, b)
						}
					}
				})
			}
		}
	}
}

// Sizes known up front are checked before anything is sent.
func TestTooLargeRefusedUpFront(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["kms"])
	huge := int64(aesgcm.MaxPlaintextSize + 1)
	before := e.kms.Calls("GenerateDataKey")
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("huge"), Body: strings.NewReader("x"), ContentLength: &huge})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("PutObject: %v, want ErrTooLarge", err)
	}
	_, err = NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("huge"), Body: strings.NewReader("x"), ContentLength: &huge})
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Upload: %v, want ErrTooLarge", err)
	}
	if e.kms.Calls("GenerateDataKey") != before {
		t.Fatal("a data key was made for an object that cannot be stored")
	}
	if e.exists("huge") {
		t.Fatal("object stored")
	}
}

// A low-level upload must not forget a part it sent: sealing part 3 as the
// last before part 2 exists fails, and part 3 keeps its first plaintext.
func TestMultipartKeepsSentParts(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	const part = 5 << 20
	mp, err := c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: aws.String("mp")}, part)
	if err != nil {
		t.Fatal(err)
	}
	defer mp.Abort(bg)
	p3 := randomBytes(part)
	if _, err := mp.UploadPart(bg, 3, bytes.NewReader(p3), part, false); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.UploadPart(bg, 3, bytes.NewReader(p3), part, true); err == nil {
		t.Fatal("part 3 sealed as the last before part 2")
	}
	other := randomBytes(part)
	if _, err := mp.UploadPart(bg, 3, bytes.NewReader(other), part, false); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("part 3 again with other bytes: %v, want ErrSourceChanged", err)
	}
}

// failingReader yields n bytes, then err.
type failingReader struct {
	n   int
	err error
}

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n == 0 {
		return 0, r.err
	}
	k := min(len(p), r.n)
	clear(p[:k])
	r.n -= k
	return k, nil
}

// A stream that fails after exactly one part must fail the upload, not be
// stored as a complete one-part object.
func TestUploaderReportsReadErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	boom := errors.New("disk on fire")
	for _, n := range []int{DefaultPartSize, DefaultPartSize + 1, 3 * DefaultPartSize} {
		key := fmt.Sprintf("fail-%d", n)
		_, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: &failingReader{n, boom}})
		if !errors.Is(err, boom) {
			t.Fatalf("%d bytes then an error: %v", n, err)
		}
		if e.exists(key) {
			t.Fatalf("%d bytes then an error: object stored", n)
		}
	}
	e.noUploadsLeft()
}

// noUploadsLeft fails if the bucket holds an unfinished multipart upload.
func (e *env) noUploadsLeft() {
	e.t.Helper()
	out, err := e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		e.t.Fatal(err)
	}
	if len(out.Uploads) != 0 {
		e.t.Fatalf("%d multipart uploads left behind", len(out.Uploads))
	}
}

// Checksums of the plaintext are checked on multipart uploads too: a
// right one stores the object, a wrong one aborts the upload.
func TestMultipartPlaintextChecksum(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	data := randomBytes(2*DefaultPartSize + 100)
	sum := md5.Sum(data)
	good := base64.StdEncoding.EncodeToString(sum[:])
	sum[0] ^= 1
	bad := base64.StdEncoding.EncodeToString(sum[:])
	for _, tc := range []struct {
		body func() io.Reader
		size *int64
	}{
		{func() io.Reader { return bytes.NewReader(data) }, nil},                                              // a file-like source
		{func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, nil},                         // a stream of unknown length
		{func() io.Reader { return struct{ io.Reader }{bytes.NewReader(data)} }, aws.Int64(int64(len(data)))}, // a stream of known length
	} {
		body := tc.body
		_, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("sum-bad"), Body: body(), ContentLength: tc.size, ContentMD5: &bad})
		var ce *ChecksumError
		if !errors.As(err, &ce) {
			t.Fatalf("wrong Content-MD5: %v, want a ChecksumError", err)
		}
		if e.exists("sum-bad") {
			t.Fatal("object stored despite a wrong Content-MD5")
		}
		if _, err := NewUploader(c).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("sum-good"), Body: body(), ContentLength: tc.size, ContentMD5: &good}); err != nil {
			t.Fatalf("right Content-MD5: %v", err)
		}
		got, _, err := e.get(c, "sum-good")
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("read back: %v", err)
		}
	}
	e.noUploadsLeft()
}

// ReadAt on a verified large object is safe for concurrent use, as
// io.ReaderAt promises.
func TestSpooledReadAtConcurrent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"], func(o *Options) { o.MemoryBufferSize = 1 << 10 })
	data := randomBytes(3<<20 + 7)
	e.put(c, "spooled", data)
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("spooled")})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	ra, ok := out.Body.(io.ReaderAt)
	if !ok {
		t.Fatalf("spooled body %T is not an io.ReaderAt", out.Body)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 4099)
			for i := range 64 {
				off := int64((w*7919 + i*104729) % (len(data) - len(buf)))
				if i%2 == 0 {
					off = int64(w * len(buf)) // the same offsets from several readers
				}
				n, err := ra.ReadAt(buf, off)
				if err != nil || !bytes.Equal(buf[:n], data[off:off+int64(n)]) {
					errs <- fmt.Errorf("ReadAt(%d): %d bytes, %v, match=%v", off, n, err, bytes.Equal(buf[:n], data[off:off+int64(n)]))
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
