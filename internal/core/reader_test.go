package core

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/s3c/s3c/internal/aesgcm"
)

// onlyReader hides every method but Read (no bytes.Reader fast path).
type onlyReader struct{ io.Reader }

// readInSteps reads r to its end with Reads of step bytes (0: the whole
// rest at once, as io.ReadFull into a large buffer does).
func readInSteps(r io.Reader, total, step int) ([]byte, error) {
	out := make([]byte, total+64)
	got := 0
	for {
		p := out[got:]
		if step > 0 {
			p = p[:min(step, len(p))]
		}
		n, err := r.Read(p)
		got += n
		if err == io.EOF {
			return out[:got], nil
		}
		if err != nil {
			return out[:got], err
		}
	}
}

// The encrypting and decrypting readers give the same bytes as one-shot
// AES-GCM whatever the Read sizes, around chunk boundaries, from a
// *bytes.Reader (sealed from its memory) or any other source, and the
// decrypting reader decrypts into the caller's buffer.
func TestReadersMatchOneShot(t *testing.T) {
	opts := aesOptions(t)
	for _, size := range []int{0, 1, 15, 16, 17, 4096, ChunkSize - 1, ChunkSize, ChunkSize + 1, 2*ChunkSize + 5} {
		msg := make([]byte, size)
		rand.Read(msg)
		for _, step := range []int{0, 1, 17, 32 << 10, 40000, ChunkSize, ChunkSize + aesgcm.TagSize, ChunkSize + 100} {
			if step == 1 && size > 4096 {
				continue
			}
			for _, src := range []string{"bytes.Reader", "reader"} {
				t.Run(fmt.Sprintf("%d/%d/%s", size, step, src), func(t *testing.T) {
					enc, err := NewEncryption(context.Background(), &opts, nil)
					if err != nil {
						t.Fatal(err)
					}
					var in io.Reader = bytes.NewReader(msg)
					if src != "bytes.Reader" {
						in = onlyReader{in}
					}
					r, err := enc.NewReader(in, int64(size))
					if err != nil {
						t.Fatal(err)
					}
					stored, err := readInSteps(r, size+aesgcm.TagSize, step)
					if err != nil {
						t.Fatal(err)
					}
					want := enc.Content.GCM.Seal(nil, msg, enc.Content.AAD)
					if !bytes.Equal(stored, want) {
						t.Fatalf("ciphertext differs from one-shot Seal (%d bytes, want %d)", len(stored), len(want))
					}
					dec, err := NewDecryption(context.Background(), &opts, enc.Envelope(int64(size)), nil, true)
					if err != nil {
						t.Fatal(err)
					}
					pr, err := dec.OpenStream(io.NopCloser(onlyReader{bytes.NewReader(stored)}), int64(len(stored)))
					if err != nil {
						t.Fatal(err)
					}
					got, err := readInSteps(pr, size, step)
					if err != nil || !bytes.Equal(got, msg) {
						t.Fatalf("decrypted %d bytes, %v; want the %d-byte message", len(got), err, size)
					}
					// A flipped bit fails at the end, after the chunks.
					if size == 0 {
						return
					}
					bad := bytes.Clone(stored)
					bad[len(bad)/2] ^= 1
					pr, _ = dec.OpenStream(io.NopCloser(bytes.NewReader(bad)), int64(len(bad)))
					if _, err := readInSteps(pr, size, step); !errors.Is(err, ErrAuthentication) {
						t.Fatalf("tampered: %v, want ErrAuthentication", err)
					}
				})
			}
		}
	}
}

// A reader that reads into a buffer large enough for a chunk seals and
// opens there in place: no chunk-sized buffer of its own.
func TestReadersNoChunkBufferForLargeReads(t *testing.T) {
	opts := aesOptions(t)
	const size = 4 << 20
	msg := make([]byte, size)
	dst := make([]byte, size+aesgcm.TagSize)
	enc, err := NewEncryption(context.Background(), &opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	env := enc.Envelope(size)
	r, _ := enc.NewReader(bytes.NewReader(msg), size)
	stored, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := NewDecryption(context.Background(), &opts, env, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range []string{"bytes.Reader", "reader"} {
		got := allocatedBytes(t, func() {
			enc, _ := NewEncryption(context.Background(), &opts, nil)
			var in io.Reader = bytes.NewReader(msg)
			if src != "bytes.Reader" {
				in = onlyReader{in}
			}
			r, _ := enc.NewReader(in, size)
			if _, err := io.ReadFull(r, dst); err != nil {
				t.Fatal(err)
			}
		})
		if got > 64<<10 {
			t.Errorf("sealing %d bytes from a %s into one buffer allocated %d bytes", size, src, got)
		}
	}
	got := allocatedBytes(t, func() {
		r, _ := dec.OpenStream(io.NopCloser(bytes.NewReader(stored)), int64(len(stored)))
		if _, err := io.ReadFull(r, dst[:size]); err != nil {
			t.Fatal(err)
		}
	})
	if got > 64<<10 {
		t.Errorf("opening %d bytes into one buffer allocated %d bytes", size, got)
	}
}

// allocatedBytes returns the heap bytes f allocates per call (the
// least of a few calls, so that a stray allocation elsewhere does not
// count).
func allocatedBytes(t *testing.T, f func()) uint64 {
	t.Helper()
	f() // warm up
	least := ^uint64(0)
	for range 3 {
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		f()
		runtime.ReadMemStats(&after)
		least = min(least, after.TotalAlloc-before.TotalAlloc)
	}
	return least
}

// A *bytes.Reader body that is re-read (an SDK retry) is compared with
// the first pass chunk by chunk, as any other source is.
func TestBytesReaderRewindChecked(t *testing.T) {
	enc := newAESEncryption(t)
	data := make([]byte, 2*ChunkSize+100)
	src := bytes.NewReader(data)
	r, err := enc.NewReader(src, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	body := r.Body().(io.ReadSeeker)
	first, err := io.ReadAll(body)
	if err != nil {
		t.Fatal(err)
	}
	body.Seek(0, io.SeekStart)
	again, err := readInSteps(body, len(first), 0)
	if err != nil || !bytes.Equal(again, first) {
		t.Fatalf("second pass: %v, equal %v", err, bytes.Equal(again, first))
	}
	body.Seek(0, io.SeekStart)
	data[ChunkSize+5] ^= 1 // the caller changed its buffer between passes
	if _, err := readInSteps(body, len(first), 0); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("changed source: %v, want ErrSourceChanged", err)
	}
}

// A Decryption made for a read without an index decrypts the same, and
// has no index key: it neither decodes nor writes an index.
func TestDecryptionNoIndex(t *testing.T) {
	opts := aesOptions(t)
	enc, err := NewEncryption(context.Background(), &opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	msg := []byte("a small object")
	r, _ := enc.NewReader(bytes.NewReader(msg), int64(len(msg)))
	stored, _ := io.ReadAll(r)
	env := enc.Envelope(int64(len(msg)))
	full, err := NewDecryption(context.Background(), &opts, env, nil, true)
	if err != nil {
		t.Fatal(err)
	}
	small, err := NewDecryption(context.Background(), &opts, env, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	body, n, err := small.OpenVerified(io.NopCloser(bytes.NewReader(stored)), int64(len(stored)))
	if err != nil || n != int64(len(msg)) {
		t.Fatalf("OpenVerified: %d, %v", n, err)
	}
	if got, _ := io.ReadAll(body); !bytes.Equal(got, msg) {
		t.Fatalf("decrypted %q", got)
	}
	if full.NewIndexWriter(0) == nil || small.NewIndexWriter(0) != nil {
		t.Fatal("only the full Decryption should have an index key")
	}
	if _, err := small.DecodeIndex([]byte("x"), int64(len(stored))); !errors.Is(err, ErrIndexInvalid) {
		t.Fatalf("DecodeIndex without a key: %v", err)
	}
}

// Encrypting a buffer in place through the reader (the source is the
// start of the very buffer the ciphertext is read into) gives the same
// ciphertext as one-shot Seal: the reader writes nothing past the bytes a
// Read returns, where the source's next bytes still wait.
func TestEncryptInPlace(t *testing.T) {
	opts := aesOptions(t)
	for _, size := range []int{1, 33, 4096, ChunkSize - 1, ChunkSize, ChunkSize + 17, 3*ChunkSize + 40} {
		for _, step := range []int{0, ChunkSize + aesgcm.TagSize, 2*ChunkSize + 1} {
			for _, src := range []string{"bytes.Reader", "reader"} {
				msg := make([]byte, size)
				rand.Read(msg)
				buf := make([]byte, size+aesgcm.TagSize)
				copy(buf, msg)
				enc, err := NewEncryption(context.Background(), &opts, nil)
				if err != nil {
					t.Fatal(err)
				}
				var in io.Reader = bytes.NewReader(buf[:size])
				if src != "bytes.Reader" {
					in = onlyReader{in}
				}
				r, err := enc.NewReader(in, int64(size))
				if err != nil {
					t.Fatal(err)
				}
				for got := 0; got < len(buf); {
					p := buf[got:]
					if step > 0 {
						p = p[:min(step, len(p))]
					}
					n, err := r.Read(p)
					got += n
					if err != nil {
						t.Fatalf("%d/%d/%s: read %d: %v", size, step, src, got, err)
					}
				}
				if want := enc.Content.GCM.Seal(nil, msg, enc.Content.AAD); !bytes.Equal(buf, want) {
					t.Fatalf("%d/%d/%s: in-place ciphertext differs from one-shot Seal", size, step, src)
				}
			}
		}
	}
}
