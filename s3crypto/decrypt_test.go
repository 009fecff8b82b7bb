package s3crypto

import (
	"bytes"
	"github.com/s3c/s3c/internal/core"
	"io"
	"testing"

	"github.com/s3c/s3c/materials"
)

// Authenticated plaintext, in memory or spooled, reads in order and at any
// offset.
func TestOpenVerifiedRandomAccess(t *testing.T) {
	kr, err := materials.NewAES(randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(3<<20 + 21)
	for _, mem := range []int64{64 << 20, 1 << 10} { // in memory, spooled
		opts := &Options{Keyring: kr, MemoryBufferSize: mem, TempDir: t.TempDir()}
		enc, err := core.NewEncryption(bg, opts, nil)
		if err != nil {
			t.Fatal(err)
		}
		r, _ := enc.NewReader(bytes.NewReader(data), int64(len(data)))
		sealed, _ := io.ReadAll(r)
		dec, err := core.NewDecryption(bg, opts, enc.Envelope(int64(len(data))), nil, true)
		if err != nil {
			t.Fatal(err)
		}
		body, size, err := dec.OpenVerified(io.NopCloser(bytes.NewReader(sealed)), int64(len(sealed)))
		if err != nil || size != int64(len(data)) {
			t.Fatalf("open: %v", err)
		}
		ra := body.(io.ReaderAt)
		for _, off := range []int{0, 1, 15, 16, 17, 1 << 20, len(data) - 5} {
			p := make([]byte, 100)
			n, err := ra.ReadAt(p, int64(off))
			want := data[off:min(off+100, len(data))]
			if !bytes.Equal(p[:n], want) || (n < 100 && err != io.EOF) {
				t.Fatalf("mem %d: ReadAt %d: %d bytes, %v", mem, off, n, err)
			}
		}
		sk := body.(io.Seeker)
		sk.Seek(1000, io.SeekStart)
		rest, _ := io.ReadAll(body)
		if !bytes.Equal(rest, data[1000:]) {
			t.Fatalf("mem %d: Seek then Read", mem)
		}
		body.Close()
	}
}
