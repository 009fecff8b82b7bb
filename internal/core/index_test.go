package core

import (
	"bytes"
	"context"
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
	"github.com/s3c/s3c/keyring"
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

// indexedObject encrypts n random bytes with an index of 64-byte chunks
// and returns the object's decryption, its decoded index, the plaintext
// and the stored object.
func indexedObject(t *testing.T, n int) (*Decryption, *Index, []byte, []byte) {
	t.Helper()
	enc := newAESEncryption(t)
	pt := make([]byte, n)
	rand.Read(pt)
	stored, idx := sealIndexed(t, enc, pt, 64, 64)
	d := decryptionFor(t, enc)
	x, err := d.DecodeIndex(idx, int64(len(stored)))
	if err != nil {
		t.Fatal(err)
	}
	return d, x, pt, stored
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
	d, x, pt, stored := indexedObject(t, 3*64+5)
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

// recordingKeyring keeps a copy of the last data key it generated, so a
// test can recompute from it what s3c derives.
type recordingKeyring struct {
	keyring.Keyring
	last []byte
}

func (k *recordingKeyring) GenerateDataKey(ctx context.Context, req *keyring.EncryptionRequest) (*keyring.DataKey, error) {
	dk, err := k.Keyring.GenerateDataKey(ctx, req)
	if err == nil {
		k.last = bytes.Clone(dk.Plaintext)
	}
	return dk, err
}

// The index is exactly what the layout comment describes, computed here
// from the data key with the standard library (and the V3 content-key
// derivation, checked against AWS's vectors elsewhere): HKDF for kc ‖ ki;
// each MAC_i the GCM tag crypto/cipher gives chunk i's ciphertext under
// the object's content key and a 12-byte nonce n (found by sealing the
// chunk's CTR decryption), unmasked with E_K(n ‖ 1) and padded with
// AES_kc(BE32(0) ‖ BE64(i) ‖ BE32(1)); and an HMAC-SHA256 under ki over
// the body.
func TestIndexFormatV3(t *testing.T) {
	aesKR, err := keyring.NewAES(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	kr := &recordingKeyring{Keyring: aesKR}
	opts, err := NewOptions(kr)
	if err != nil {
		t.Fatal(err)
	}
	enc, err := NewEncryption(context.Background(), &opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	pt := make([]byte, 2*64+5)
	rand.Read(pt)
	stored, idx := sealIndexed(t, enc, pt, 64, 7)
	id := enc.IndexID()
	keys, err := hkdf.Key(sha256.New, kr.last, id, "s3c chunk index v3", 64)
	if err != nil || !bytes.Equal(keys, enc.indexKey) {
		t.Fatalf("HKDF: %v", err)
	}
	kc, ki := keys[:32], keys[32:]
	_, contentKey, err := deriveV3(kr.last, enc.env.MessageID, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := aes.NewCipher(contentKey)
	gcm, _ := cipher.NewGCM(block)
	padBlock, _ := aes.NewCipher(kc)
	want := []byte("S3CIDX\x03")
	want = append(want, byte(len(id)))
	want = binary.BigEndian.AppendUint32(want, 64)
	want = binary.BigEndian.AppendUint32(want, 3)
	want = binary.BigEndian.AppendUint64(want, uint64(len(stored)))
	want = append(want, id...)
	want = append(want, stored[len(pt):]...)
	for i := range 3 {
		c := stored[i*64 : min((i+1)*64, len(pt))]
		n := make([]byte, 12)
		rand.Read(n)
		p := make([]byte, len(c))
		cipher.NewCTR(block, append(bytes.Clone(n), 0, 0, 0, 2)).XORKeyStream(p, c)
		sealed := gcm.Seal(nil, n, p, nil)
		if !bytes.Equal(sealed[:len(c)], c) {
			t.Fatal("CTR under the content key")
		}
		mac := sealed[len(c):]
		ej0 := append(bytes.Clone(n), 0, 0, 0, 1)
		block.Encrypt(ej0, ej0)
		pad := make([]byte, 16)
		binary.BigEndian.PutUint64(pad[4:], uint64(i))
		binary.BigEndian.PutUint32(pad[12:], 1)
		padBlock.Encrypt(pad, pad)
		for k := range mac {
			mac[k] ^= ej0[k] ^ pad[k]
		}
		want = append(want, mac...)
	}
	m := hmac.New(sha256.New, ki)
	m.Write([]byte("index"))
	m.Write(want)
	want = m.Sum(want)
	if !bytes.Equal(idx, want) {
		t.Fatalf("index differs from its specification:\n got %x\nwant %x", idx, want)
	}
}

// A version 2 index (a GMAC under kc, never released) is refused, so the
// read falls back to authenticating the whole object.
func TestIndexOldVersionRefused(t *testing.T) {
	enc := newAESEncryption(t)
	pt := make([]byte, 100)
	rand.Read(pt)
	stored, idx := sealIndexed(t, enc, pt, 64, 64)
	old := bytes.Clone(idx)
	old[6] = 2
	if _, err := decryptionFor(t, enc).DecodeIndex(old, int64(len(stored))); !errors.Is(err, ErrIndexInvalid) {
		t.Fatalf("version 2 index: %v, want ErrIndexInvalid", err)
	}
}

// Close from another goroutine interrupts a read that waits for the
// body, and nothing of the unfinished chunk is released.
func TestOpenIndexedCloseInterrupts(t *testing.T) {
	d, x, pt, stored := indexedObject(t, 3*64)
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
