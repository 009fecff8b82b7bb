package miniocrypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

const mib = 1 << 20

// Every keyring × format × envelope storage, sizes around minio-go's part
// size, known and unknown length.
func TestRoundTrip(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	for name, kr := range keyrings(t) {
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for _, inst := range []bool{false, true} {
				c := newClient(t, kr, func(o *s3crypto.Options) { o.Format = format; o.InstructionFile = inst })
				sizes := []int{0, 1, 17, 1<<20 + 3}
				if name == "aes" && !inst {
					// minio-go switches to multipart at 16 MiB.
					sizes = append(sizes, 16*mib-17, 16*mib-16, 16*mib, 16*mib+1, 33*mib+5)
				}
				for _, n := range sizes {
					for _, known := range []bool{true, false} {
						key := fmt.Sprintf("%s/%s/%v/%d/%v", name, format, inst, n, known)
						data := randomBytes(n)
						size := int64(n)
						var r io.Reader = bytes.NewReader(data)
						if !known {
							size, r = -1, io.MultiReader(r)
						}
						info, err := c.PutObject(bg, bucket, key, r, size, minio.PutObjectOptions{UserMetadata: map[string]string{"owner": "alice"}})
						if err != nil {
							t.Fatalf("%s: put: %v", key, err)
						}
						if info.Size != int64(n) {
							t.Fatalf("%s: UploadInfo.Size %d", key, info.Size)
						}
						got, obj, err := readAll(t, c, bg, bucket, key)
						if err != nil || !bytes.Equal(got, data) {
							t.Fatalf("%s: get: %v", key, err)
						}
						st, _ := obj.Stat()
						obj.Close()
						if st.Size != int64(n) || st.UserMetadata["Owner"] != "alice" || len(st.UserMetadata) != 1 {
							t.Fatalf("%s: Stat %d %v", key, st.Size, st.UserMetadata)
						}
						if exists(t, bucket, key+".instruction") != inst {
							t.Fatalf("%s: instruction file present: %v", key, !inst)
						}
					}
				}
			}
		}
	}
}

// Objects cross between the minio-go and aws-sdk-go-v2 front ends, both
// ways, for every keyring × format × envelope storage, with an
// encryption context; each (format, storage) pair also crosses a
// multipart object, with a different keyring each time.
func TestCrossFrontEnds(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	krs := keyrings(t)
	ec := map[string]string{"tenant": "acme"}
	for ki, name := range []string{"kms", "aes", "rsa"} {
		kr := krs[name]
		for fi, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for ii, inst := range []bool{false, true} {
				opt := func(o *s3crypto.Options) { o.Format = format; o.InstructionFile = inst }
				mc := newClient(t, kr, opt)
				ac, err := s3crypto.New(server.Client(), kr, opt)
				if err != nil {
					t.Fatal(err)
				}
				wantStorage := metadata.ObjectMetadata
				if inst {
					wantStorage = metadata.InstructionFile
				}
				sizes := []int{0, 1000}
				if ki == (fi*2+ii)%3 {
					sizes = append(sizes, 17*mib+3) // multipart on both sides
				}
				for _, n := range sizes {
					data := randomBytes(n)
					key := fmt.Sprintf("from-minio/%s/%s/%v/%d", name, format, inst, n)
					if _, err := mc.PutObject(WithEncryptionContext(bg, ec), bucket, key, bytes.NewReader(data), int64(n), minio.PutObjectOptions{}); err != nil {
						t.Fatalf("%s: %v", key, err)
					}
					out, err := ac.GetObject(bg, &s3.GetObjectInput{Bucket: &bucket, Key: &key}, s3crypto.WithEncryptionContext(ec))
					if err != nil {
						t.Fatalf("aws front reads %s: %v", key, err)
					}
					got, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("aws front reads %s: differs (%v)", key, err)
					}
					info, _ := s3crypto.GetObjectInfo(out.ResultMetadata)
					if info == nil || info.Envelope.Format != format || info.Envelope.Storage != wantStorage {
						t.Fatalf("%s: envelope %+v", key, info)
					}

					key = fmt.Sprintf("from-aws/%s/%s/%v/%d", name, format, inst, n)
					up := s3crypto.NewUploader(ac, func(u *s3crypto.Uploader) {
						u.PartSize = 5 * mib
						u.ClientOptions = []func(*s3.Options){s3crypto.WithEncryptionContext(ec)}
					})
					if _, err := up.Upload(bg, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
						t.Fatalf("%s: %v", key, err)
					}
					if exists(t, bucket, key+".instruction") != inst {
						t.Fatalf("%s: instruction file present: %v", key, !inst)
					}
					got, obj, err := readAll(t, mc, WithEncryptionContext(bg, ec), bucket, key)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("minio front reads %s: %v", key, err)
					}
					if st, err := obj.Stat(); err != nil || st.Size != int64(n) {
						t.Fatalf("%s: Stat %d, %v", key, st.Size, err)
					}
					obj.Close()
					if st, err := mc.StatObject(bg, bucket, key, minio.StatObjectOptions{}); err != nil || st.Size != int64(n) {
						t.Fatalf("%s: StatObject %d, %v", key, st.Size, err)
					}
				}
			}
		}
	}
}

func TestRandomAccess(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	for _, mem := range []int64{0, 1 << 10} { // in memory; spooled
		c := newClient(t, keyrings(t)["aes"], func(o *s3crypto.Options) { o.MemoryBufferSize = mem; o.TempDir = t.TempDir() })
		data := randomBytes(3*mib + 7)
		c.PutObject(bg, bucket, "ra", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{})
		obj, err := c.GetObject(bg, bucket, "ra", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := make([]byte, 1000)
		for _, off := range []int64{0, 15, 16, 2*mib + 1, int64(len(data)) - 10} {
			n, err := obj.ReadAt(p, off)
			if !bytes.Equal(p[:n], data[off:min(off+1000, int64(len(data)))]) || (n < 1000 && err != io.EOF) {
				t.Fatalf("ReadAt %d: %d, %v", off, n, err)
			}
		}
		if _, err := obj.Seek(-5, io.SeekEnd); err != nil {
			t.Fatal(err)
		}
		tail, _ := io.ReadAll(obj)
		if !bytes.Equal(tail, data[len(data)-5:]) {
			t.Fatal("Seek from the end")
		}
		obj.Close()
		// A streamed object is read in order only.
		obj, err = c.GetObject(WithUnauthenticatedStream(bg), bucket, "ra", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := obj.ReadAt(p, 0); !errors.Is(err, ErrNotSeekable) {
			t.Fatalf("ReadAt on a stream: %v", err)
		}
		obj.Close()
	}
}

func TestTamperAndFGetObject(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"])
	data := randomBytes(5 * mib)
	if _, err := c.PutObject(bg, bucket, "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	dest := filepath.Join(dir, "sub", "obj.bin")
	if err := c.FGetObject(bg, bucket, "obj", dest, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(dest); !bytes.Equal(got, data) {
		t.Fatal("FGetObject content")
	}
	// Tamper: one bit of the body, then one of the commitment.
	raw := minioClient(t)
	obj, _ := raw.GetObject(bg, bucket, "obj", minio.GetObjectOptions{})
	body, _ := io.ReadAll(obj)
	st, _ := obj.Stat()
	obj.Close()
	meta := map[string]string{}
	for k, v := range st.UserMetadata {
		meta[k] = v
	}
	put := func(key string, b []byte, m map[string]string) {
		if _, err := raw.PutObject(bg, bucket, key, bytes.NewReader(b), int64(len(b)), minio.PutObjectOptions{UserMetadata: m}); err != nil {
			t.Fatal(err)
		}
	}
	bad := bytes.Clone(body)
	bad[len(bad)/3] ^= 1
	put("flipped", bad, meta)
	m2 := maps.Clone(meta)
	for k := range m2 {
		if strings.EqualFold(k, "x-amz-d") {
			m2[k] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
		}
	}
	put("commitment", body, m2)
	for _, key := range []string{"flipped", "commitment"} {
		got, _, err := readAll(t, c, bg, bucket, key)
		if err == nil || len(got) != 0 || !s3crypto.IsIntegrityError(err) {
			t.Fatalf("%s: %v (%d bytes)", key, err, len(got))
		}
		os.WriteFile(dest, []byte("precious"), 0o644)
		if err := c.FGetObject(bg, bucket, key, dest, minio.GetObjectOptions{}); err == nil || !s3crypto.IsIntegrityError(err) {
			t.Fatalf("FGetObject of %s: %v", key, err)
		}
		if got, _ := os.ReadFile(dest); string(got) != "precious" {
			t.Fatalf("FGetObject of %s changed the destination", key)
		}
		entries, _ := os.ReadDir(filepath.Dir(dest))
		if len(entries) != 1 {
			t.Fatalf("FGetObject of %s left %d files", key, len(entries))
		}
	}
	// Streaming reports the failure at the end.
	obj2, err := c.GetObject(WithUnauthenticatedStream(bg), bucket, "flipped", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(obj2); !errors.Is(err, s3crypto.ErrAuthentication) {
		t.Fatalf("streamed tampered object: %v", err)
	}
}

func TestStatRemoveFPut(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["rsa"], func(o *s3crypto.Options) { o.InstructionFile = true })
	path := filepath.Join(t.TempDir(), "page.html")
	os.WriteFile(path, []byte("<p>hi</p>"), 0o644)
	if _, err := c.FPutObject(bg, bucket, "page", path, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	st, err := c.StatObject(bg, bucket, "page", minio.StatObjectOptions{})
	if err != nil || st.Size != 9 || !strings.HasPrefix(st.ContentType, "text/html") {
		t.Fatalf("StatObject: %v %d %q", err, st.Size, st.ContentType)
	}
	for k := range st.Metadata {
		if strings.HasPrefix(strings.ToLower(k), "x-amz-meta-x-amz-") {
			t.Fatalf("envelope header %s in Stat", k)
		}
	}
	if err := c.RemoveObject(bg, bucket, "page", minio.RemoveObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if exists(t, bucket, "page") || exists(t, bucket, "page.instruction") {
		t.Fatal("RemoveObject left the object or its instruction file")
	}
	// A plain object: Stat passes it through, GetObject refuses it.
	raw := minioClient(t)
	raw.PutObject(bg, bucket, "plain", strings.NewReader("plain"), 5, minio.PutObjectOptions{})
	if st, err := c.StatObject(bg, bucket, "plain", minio.StatObjectOptions{}); err != nil || st.Size != 5 {
		t.Fatalf("Stat of a plain object: %v", err)
	}
	if _, err := c.GetObject(bg, bucket, "plain", minio.GetObjectOptions{}); !errors.Is(err, s3crypto.ErrNotEncrypted) {
		t.Fatalf("GetObject of a plain object: %v", err)
	}
	if _, err := c.GetObject(bg, bucket, "missing", minio.GetObjectOptions{}); err == nil || !strings.Contains(err.Error(), bucket+"/missing") {
		t.Fatalf("missing object: %v", err)
	}
}

func TestContextAndRefusals(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["kms"])
	ec := map[string]string{"tenant": "acme"}
	if _, err := c.PutObject(WithEncryptionContext(bg, ec), bucket, "ctx", strings.NewReader("x"), 1, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := readAll(t, c, bg, bucket, "ctx"); err == nil {
		t.Fatal("read without the encryption context")
	}
	if got, _, err := readAll(t, c, WithEncryptionContext(bg, ec), bucket, "ctx"); err != nil || string(got) != "x" {
		t.Fatalf("read with the encryption context: %v", err)
	}
	if _, err := c.PutObject(WithInstructionFile(bg), bucket, "inst", strings.NewReader("y"), 1, minio.PutObjectOptions{}); err != nil || !exists(t, bucket, "inst.instruction") {
		t.Fatalf("WithInstructionFile: %v", err)
	}
	var opts minio.GetObjectOptions
	opts.SetRange(0, 0)
	if _, err := c.GetObject(bg, bucket, "inst", opts); err == nil {
		t.Fatal("ranged GetObject accepted")
	}
	if _, err := c.ComposeObject(bg, minio.CopyDestOptions{Bucket: bucket, Object: "c"}, minio.CopySrcOptions{Bucket: bucket, Object: "inst"}); err == nil {
		t.Fatal("ComposeObject accepted")
	}
	if _, err := c.PutObject(bg, bucket, "bad", strings.NewReader("z"), 1, minio.PutObjectOptions{UserMetadata: map[string]string{"x-amz-key-v2": "x"}}); err == nil {
		t.Fatal("reserved metadata key accepted")
	}
	// RDMA buffers would move bytes around the cipher.
	buf := make([]byte, 16)
	if _, err := c.PutObject(bg, bucket, "rdma", strings.NewReader("z"), 1, minio.PutObjectOptions{RDMABuffer: unsafe.Pointer(&buf[0]), RDMABufferSize: len(buf)}); !errors.Is(err, errRDMA) {
		t.Fatalf("PutObject with an RDMA buffer: %v", err)
	}
	if _, err := c.GetObject(bg, bucket, "inst", minio.GetObjectOptions{RDMABuffer: unsafe.Pointer(&buf[0]), RDMABufferSize: len(buf)}); !errors.Is(err, errRDMA) {
		t.Fatalf("GetObject with an RDMA buffer: %v", err)
	}
}

// A failed upload leaves nothing behind: minio-go aborts its multipart
// upload when the encrypted body fails (the source's error, a short
// source; ErrTooLarge past AES-GCM's limit takes the same path), and the
// body's error is the one reported. A known size past the limit is
// refused before anything is sent.
func TestPutFailureAborts(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"])
	boom := errors.New("source failed")
	for _, tc := range []struct {
		name string
		r    io.Reader
		size int64
		want func(error) bool
	}{
		{"unknown-length", io.MultiReader(io.LimitReader(zeros{}, 20*mib), failing{boom}), -1, func(err error) bool { return errors.Is(err, boom) }},
		{"known-length", io.MultiReader(io.LimitReader(zeros{}, 20*mib), failing{boom}), 40 * mib, func(err error) bool { return errors.Is(err, boom) }},
		{"short", io.LimitReader(zeros{}, 20*mib), 40 * mib, func(err error) bool { return err != nil && strings.Contains(err.Error(), "ended after") }},
		{"too-large", zeros{}, 1 << 36, func(err error) bool { return errors.Is(err, s3crypto.ErrTooLarge) }},
	} {
		_, err := c.PutObject(bg, bucket, tc.name, tc.r, tc.size, minio.PutObjectOptions{})
		if !tc.want(err) {
			t.Fatalf("%s: %v", tc.name, err)
		}
		var oe *s3crypto.ObjectError
		if !errors.As(err, &oe) || oe.Key != tc.name {
			t.Fatalf("%s: error does not name the object: %v", tc.name, err)
		}
		if exists(t, bucket, tc.name) {
			t.Fatalf("%s: object stored", tc.name)
		}
		for u := range minioClient(t).ListIncompleteUploads(bg, bucket, tc.name, true) {
			if u.Err != nil {
				t.Fatalf("%s: listing uploads: %v", tc.name, u.Err)
			}
			t.Fatalf("%s: upload left behind: %+v", tc.name, u)
		}
	}
}

type failing struct{ err error }

func (f failing) Read([]byte) (int, error) { return 0, f.err }

// minio-go's server-side encryption composes with client-side encryption.
func TestServerSideEncryptionComposes(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"], func(o *s3crypto.Options) { o.InstructionFile = true })
	data := randomBytes(100000)
	info, err := c.PutObject(bg, bucket, "sse", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{ServerSideEncryption: encrypt.NewSSE()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := minioClient(t).StatObject(bg, bucket, "sse", minio.StatObjectOptions{})
	if err != nil || st.Metadata.Get("X-Amz-Server-Side-Encryption") != "AES256" {
		t.Fatalf("stored without SSE-S3: %v %v", err, st.Metadata)
	}
	got, _, err := readAll(t, c, bg, bucket, "sse")
	if err != nil || !bytes.Equal(got, data) || info.Size != int64(len(data)) {
		t.Fatalf("read back: %v", err)
	}
}

// A long stream of unknown length goes up in constant memory: the heap's
// peak, sampled while a stream five times the bound goes up, stays below
// the bound. Buffering the stream (or even a fifth of it) would show.
// Not parallel: the other tests wait, so the heap is this test's.
func TestUnknownLengthMemory(t *testing.T) {
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"])
	const (
		bound = 64 * mib // one 16 MiB part buffered by minio-go, a 1 MiB chunk, garbage
		n     = 5 * bound
	)
	runtime.GC()
	base := heapObjects()
	var peak atomic.Uint64
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapObjects(); h > peak.Load() {
				peak.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	_, err := c.PutObject(bg, bucket, "stream", io.LimitReader(zeros{}, n), -1, minio.PutObjectOptions{})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	grown := int64(peak.Load()) - int64(base)
	t.Logf("heap peak %d MiB above the %d MiB baseline while streaming %d MiB", grown>>20, base>>20, n>>20)
	if grown > bound {
		t.Fatalf("heap grew by %d MiB while streaming %d MiB (bound %d MiB)", grown>>20, n>>20, bound>>20)
	}
	st, err := c.StatObject(bg, bucket, "stream", minio.StatObjectOptions{})
	if err != nil || st.Size != n {
		t.Fatalf("stat: %v %d", err, st.Size)
	}
}

// heapObjects is the heap memory occupied by objects, live or not yet
// swept: what a buffered stream would fill.
func heapObjects() uint64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64()
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) { clear(p); return len(p), nil }
