package core

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"testing"

	"github.com/s3c/s3c/internal/aesgcm"
)

// sealIndexed encrypts pt and builds its index with chunk size chunk,
// feeding the writer in pieces of step bytes; it returns the stored
// object and the index.
func sealIndexed(t *testing.T, enc *Encryption, pt []byte, chunk int64, step int) (stored, index []byte) {
	t.Helper()
	enc.indexChunk = chunk
	sealed := enc.Content.GCM.Seal(nil, pt, enc.Content.AAD)
	ct, tag := sealed[:len(pt)], sealed[len(pt):]
	w := enc.NewIndexWriter(0)
	for p := ct; len(p) > 0; {
		k := min(step, len(p))
		w.Write(p[:k])
		p = p[k:]
	}
	return sealed, w.Finish(enc.IndexID(), tag)
}

func decryptionFor(t *testing.T, enc *Encryption) *Decryption {
	t.Helper()
	d := &Decryption{env: enc.env, Content: enc.Content, indexKey: enc.indexKey}
	return d
}

// An index decodes for its own object and verifies every chunk, whatever
// the sizes around chunk boundaries and however the ciphertext was fed.
func TestIndexRoundTrip(t *testing.T) {
	for _, n := range []int{0, 1, 15, 16, 63, 64, 65, 64 + 5, 128, 200} {
		for _, step := range []int{1, 7, 64, 1000} {
			enc := newAESEncryption(t)
			pt := make([]byte, n)
			rand.Read(pt)
			stored, idx := sealIndexed(t, enc, pt, 64, step)
			x, err := decryptionFor(t, enc).DecodeIndex(idx, int64(len(stored)))
			if err != nil {
				t.Fatalf("n=%d step=%d: %v", n, step, err)
			}
			if want := int64((n + 63) / 64); x.Chunks != want {
				t.Fatalf("n=%d: %d chunks, want %d", n, x.Chunks, want)
			}
			for i := range x.Chunks {
				c := stored[i*64 : i*64+x.ChunkLen(i)]
				if !x.VerifyChunk(i, c) {
					t.Fatalf("n=%d chunk %d does not verify", n, i)
				}
				if len(c) > 0 {
					c[0] ^= 1
					if x.VerifyChunk(i, c) {
						t.Fatalf("n=%d altered chunk %d verifies", n, i)
					}
					c[0] ^= 1
				}
				if x.Chunks > 1 && x.VerifyChunk((i+1)%x.Chunks, c) && x.ChunkLen(i) == x.ChunkLen((i+1)%x.Chunks) {
					t.Fatalf("chunk %d verifies as another", i)
				}
			}
			if !x.CheckTag(stored[n:]) {
				t.Fatal("tag not recorded")
			}
		}
	}
}

// Any change to an index, or using it for another object, is refused.
func TestIndexTamper(t *testing.T) {
	enc := newAESEncryption(t)
	pt := make([]byte, 300)
	stored, idx := sealIndexed(t, enc, pt, 64, 64)
	d := decryptionFor(t, enc)
	for i := range idx {
		for bit := range 8 {
			b := bytes.Clone(idx)
			b[i] ^= 1 << bit
			if _, err := d.DecodeIndex(b, int64(len(stored))); !errors.Is(err, ErrIndexInvalid) {
				t.Fatalf("bit %d of byte %d flipped: %v", bit, i, err)
			}
		}
	}
	// Swapping two chunk MACs.
	b := bytes.Clone(idx)
	p := indexFixedLen + len(enc.IndexID()) + aesgcm.TagSize
	copy(b[p:p+16], idx[p+16:p+32])
	copy(b[p+16:p+32], idx[p:p+16])
	if _, err := d.DecodeIndex(b, int64(len(stored))); !errors.Is(err, ErrIndexInvalid) {
		t.Fatalf("swapped MACs: %v", err)
	}
	for _, n := range []int{0, 1, len(idx) - 1} {
		if _, err := d.DecodeIndex(idx[:n], int64(len(stored))); !errors.Is(err, ErrIndexInvalid) {
			t.Fatalf("truncated to %d: %v", n, err)
		}
	}
	if _, err := d.DecodeIndex(idx, int64(len(stored))-1); !errors.Is(err, ErrIndexInvalid) {
		t.Fatalf("object one byte shorter: %v", err)
	}
	// Another object's index under the same master key.
	other := newAESEncryption(t)
	_, oidx := sealIndexed(t, other, pt, 64, 64)
	if _, err := d.DecodeIndex(oidx, int64(len(stored))); !errors.Is(err, ErrIndexInvalid) {
		t.Fatalf("another object's index: %v", err)
	}
}

// A multipart upload's parts, each indexed on its own from a chunk
// boundary, merge into the index of the whole.
func TestIndexMerge(t *testing.T) {
	enc := newAESEncryption(t)
	pt := make([]byte, 1000)
	rand.Read(pt)
	stored, whole := sealIndexed(t, enc, pt, 64, 1000)
	ct := stored[:1000]
	w := enc.NewIndexWriter(0)
	w.Write(ct[:256])
	if enc.NewIndexWriter(100) != nil {
		t.Fatal("writer off a chunk boundary")
	}
	w2 := enc.NewIndexWriter(256)
	w2.Write(ct[256:])
	if !w.Merge(w2) {
		t.Fatal("merge refused")
	}
	if got := w.Finish(enc.IndexID(), stored[1000:]); !bytes.Equal(got, whole) {
		t.Fatal("merged index differs")
	}
	w = enc.NewIndexWriter(0)
	w.Write(ct[:100])
	w3 := enc.NewIndexWriter(128)
	if w.Merge(w3) {
		t.Fatal("merged after a partial chunk")
	}
}

func TestIsIndexObject(t *testing.T) {
	for meta, want := range map[string]bool{"s3c-index": true, "X-Amz-Meta-S3c-Index": true, "other": false} {
		if got := IsIndexObject(map[string]string{meta: "1"}); got != want {
			t.Errorf("%s: %v", meta, got)
		}
	}
	if IsIndexObject(map[string]string{"s3c-index": ""}) {
		t.Error("empty marker value taken for an index")
	}
}

// The decoder never panics and accepts only what its key made.
func FuzzDecodeIndex(f *testing.F) {
	kr := newAESEncryption(&testing.T{})
	pt := make([]byte, 200)
	stored, idx := sealIndexed(&testing.T{}, kr, pt, 64, 64)
	f.Add(idx, int64(len(stored)))
	f.Add(idx[:20], int64(16))
	f.Add([]byte("S3CIDX\x02\x1c"), int64(0))
	d := &Decryption{env: kr.env, Content: kr.Content, indexKey: kr.indexKey}
	f.Fuzz(func(t *testing.T, b []byte, n int64) {
		x, err := d.DecodeIndex(b, n)
		if err == nil && !(bytes.Equal(b, idx) && n == int64(len(stored))) {
			t.Fatalf("accepted a forged index")
		}
		_ = x
	})
}

// OpenIndexed, in memory: every range of a small object equals the
// plaintext; a tampered chunk stops the stream after exactly the chunks
// before it; Close in the middle stops it.
func TestOpenIndexed(t *testing.T) {
	enc := newAESEncryption(t)
	pt := make([]byte, 3*64+5)
	rand.Read(pt)
	stored, idx := sealIndexed(t, enc, pt, 64, 64)
	d := decryptionFor(t, enc)
	x, err := d.DecodeIndex(idx, int64(len(stored)))
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(d.OpenIndexed(io.NopCloser(bytes.NewReader(stored)), x, 0, int64(len(pt)), true))
	if err != nil || !bytes.Equal(got, pt) {
		t.Fatalf("whole: %v", err)
	}
	for a := range len(pt) {
		for b := a; b < len(pt); b++ {
			cs, ce := a/64*64, min((b/64+1)*64, len(pt))
			got, err := io.ReadAll(d.OpenIndexed(io.NopCloser(bytes.NewReader(stored[cs:ce])), x, int64(a), int64(b-a+1), false))
			if err != nil || !bytes.Equal(got, pt[a:b+1]) {
				t.Fatalf("%d-%d: %v", a, b, err)
			}
		}
	}
	for k := range 4 {
		bad := bytes.Clone(stored)
		bad[k*64] ^= 1
		got, err := io.ReadAll(d.OpenIndexed(io.NopCloser(bytes.NewReader(bad)), x, 0, int64(len(pt)), true))
		if !errors.Is(err, ErrAuthentication) || !bytes.Equal(got, pt[:k*64]) {
			t.Fatalf("chunk %d flipped: %d bytes, %v", k, len(got), err)
		}
	}
	// io.Copy goes through WriteTo: the same verified prefix.
	for k := range 4 {
		bad := bytes.Clone(stored)
		bad[k*64+3] ^= 1
		var got bytes.Buffer
		n, err := io.Copy(&got, d.OpenIndexed(io.NopCloser(bytes.NewReader(bad)), x, 0, int64(len(pt)), true))
		if !errors.Is(err, ErrAuthentication) || n != int64(k*64) || !bytes.Equal(got.Bytes(), pt[:k*64]) {
			t.Fatalf("WriteTo, chunk %d flipped: %d bytes, %v", k, n, err)
		}
	}
	var all bytes.Buffer
	if n, err := io.Copy(&all, d.OpenIndexed(io.NopCloser(bytes.NewReader(stored)), x, 0, int64(len(pt)), true)); err != nil || n != int64(len(pt)) || !bytes.Equal(all.Bytes(), pt) {
		t.Fatalf("WriteTo: %d, %v", n, err)
	}
	// The tag must be the recorded one (the whole-object GHASH is not
	// computed: the chunk MACs and the recorded tag stand for it).
	bad := bytes.Clone(stored)
	bad[len(bad)-1] ^= 1
	if _, err := io.Copy(io.Discard, d.OpenIndexed(io.NopCloser(bytes.NewReader(bad)), x, 0, int64(len(pt)), true)); !errors.Is(err, ErrAuthentication) {
		t.Fatalf("tag flipped: %v", err)
	}
	if _, err := io.Copy(io.Discard, d.OpenIndexed(io.NopCloser(bytes.NewReader(append(bytes.Clone(stored), 0))), x, 0, int64(len(pt)), true)); err == nil {
		t.Fatal("a trailing byte after the tag was accepted")
	}
	r := d.OpenIndexed(io.NopCloser(bytes.NewReader(stored)), x, 0, int64(len(pt)), true)
	if _, err := r.Read(make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	r.Close()
	if _, err := io.ReadAll(r); err == nil {
		t.Fatal("read after Close succeeded to the end")
	}
}

// The index is exactly what the layout comment describes, computed here
// from the standard library alone: HKDF for kc ‖ ki, each MAC_i the GCM tag
// crypto/cipher gives chunk i's ciphertext under kc and nonce BE32(0) ‖
// BE64(i) (found by sealing the chunk's CTR decryption under kc), and an
// HMAC-SHA256 under ki over the body.
func TestIndexFormatV2(t *testing.T) {
	enc := newAESEncryption(t)
	pt := make([]byte, 2*64+5)
	rand.Read(pt)
	stored, idx := sealIndexed(t, enc, pt, 64, 7)
	id := enc.IndexID()
	dataKey := bytes.Repeat([]byte{7}, 32)
	keys, err := hkdf.Key(sha256.New, dataKey, id, "s3c chunk index v2", 64)
	if got, _ := indexMACKey(dataKey, id); err != nil || !bytes.Equal(keys, got) {
		t.Fatalf("HKDF: %v", err)
	}
	kc, ki := enc.indexKey[:32], enc.indexKey[32:] // derived likewise from the object's data key
	block, _ := aes.NewCipher(kc)
	gcm, _ := cipher.NewGCM(block)
	want := []byte("S3CIDX\x02")
	want = append(want, byte(len(id)))
	want = binary.BigEndian.AppendUint32(want, 64)
	want = binary.BigEndian.AppendUint32(want, 3)
	want = binary.BigEndian.AppendUint64(want, uint64(len(stored)))
	want = append(want, id...)
	want = append(want, stored[len(pt):]...)
	for i := range 3 {
		c := stored[i*64 : min((i+1)*64, len(pt))]
		nonce := make([]byte, 12)
		binary.BigEndian.PutUint64(nonce[4:], uint64(i))
		iv := append(bytes.Clone(nonce), 0, 0, 0, 2)
		p := make([]byte, len(c))
		cipher.NewCTR(block, iv).XORKeyStream(p, c)
		sealed := gcm.Seal(nil, nonce, p, nil)
		if !bytes.Equal(sealed[:len(c)], c) {
			t.Fatal("CTR under kc")
		}
		want = append(want, sealed[len(c):]...)
	}
	m := hmac.New(sha256.New, ki)
	m.Write([]byte("index"))
	m.Write(want)
	want = m.Sum(want)
	if !bytes.Equal(idx, want) {
		t.Fatalf("index differs from its specification:\n got %x\nwant %x", idx, want)
	}
}

// Close from another goroutine interrupts a read that waits for the
// body, and nothing of the unfinished chunk is released.
func TestOpenIndexedCloseInterrupts(t *testing.T) {
	enc := newAESEncryption(t)
	pt := make([]byte, 3*64)
	rand.Read(pt)
	stored, idx := sealIndexed(t, enc, pt, 64, 64)
	d := decryptionFor(t, enc)
	x, err := d.DecodeIndex(idx, int64(len(stored)))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	go pw.Write(stored[:64+10]) // the first chunk and part of the second; then the body stalls
	r := d.OpenIndexed(pr, x, 0, int64(len(pt)), true)
	got := make([]byte, 64)
	if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, pt[:64]) {
		t.Fatalf("first chunk: %v", err)
	}
	done := make(chan error, 1)
	go func() {
		n, err := r.Read(got)
		if n > 0 {
			err = errors.New("released bytes of an unverified chunk")
		}
		done <- err
	}()
	r.Close()
	if err := <-done; err == nil || err.Error() == "released bytes of an unverified chunk" {
		t.Fatalf("read after Close: %v", err)
	}
}
