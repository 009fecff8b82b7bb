package aesgcm

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"testing"
)

func oneShot(t testing.TB, key, nonce, aad, pt []byte) []byte {
	t.Helper()
	b, err := aes.NewCipher(key)
	if err != nil {
		t.Fatal(err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		t.Fatal(err)
	}
	return g.Seal(nil, nonce, pt, aad)
}

// streamSeal encrypts pt in chunks of chunk bytes (a multiple of 16) and
// returns ciphertext||tag.
func streamSeal(t testing.TB, key, nonce, aad, pt []byte, chunk int) []byte {
	t.Helper()
	c, err := New(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	s := c.NewStream(0)
	out := make([]byte, 0, len(pt)+TagSize)
	for off := 0; off < len(pt); off += chunk {
		end := min(off+chunk, len(pt))
		out = s.Seal(out, pt[off:end])
	}
	tag := s.Hash().Sum(aad)
	return append(out, tag[:]...)
}

// parallelSeal encrypts pt as independent parts of part bytes (a multiple
// of 16), each in chunks of chunk bytes, and stitches the hashes.
func parallelSeal(t testing.TB, key, nonce, aad, pt []byte, part, chunk int) []byte {
	t.Helper()
	c, err := New(key, nonce)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]byte, len(pt))
	total := c.NewHash()
	for p := 0; p < len(pt) || p == 0; p += part {
		pe := min(p+part, len(pt))
		s := c.NewStream(uint64(p))
		for off := p; off < pe; off += chunk {
			end := min(off+chunk, pe)
			// Encrypt in place in a buffer with room for the scratch tag.
			buf := make([]byte, end-off, end-off+TagSize)
			copy(buf, pt[off:end])
			copy(out[off:end], s.Seal(buf[:0], buf))
		}
		total.Append(s.Hash())
		if len(pt) == 0 {
			break
		}
	}
	tag := total.Sum(aad)
	return append(out, tag[:]...)
}

func TestKnownAnswer(t *testing.T) {
	// NIST GCM test case 16 (AES-256, 60-byte plaintext, 20-byte AAD).
	key, _ := hex.DecodeString("feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308")
	nonce, _ := hex.DecodeString("cafebabefacedbaddecaf888")
	pt, _ := hex.DecodeString("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39")
	aad, _ := hex.DecodeString("feedfacedeadbeeffeedfacedeadbeefabaddad2")
	want, _ := hex.DecodeString("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662" +
		"76fc6ece0f4e1768cddf8853bb2d551b")
	for _, chunk := range []int{16, 32, 48, 64} {
		if got := streamSeal(t, key, nonce, aad, pt, chunk); !bytes.Equal(got, want) {
			t.Fatalf("chunk %d: got %x, want %x", chunk, got, want)
		}
	}
}

// random returns n random bytes.
func random(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestMatchesOneShot(t *testing.T) {
	key, nonce := random(32), random(12)
	sizes := []int{0, 1, 15, 16, 17, 31, 32, 33, 255, 256, 257, 4096, 65536 + 5, 1<<20 + 3}
	aads := [][]byte{nil, {0x00, 0x73}, bytes.Repeat([]byte{7}, 17), bytes.Repeat([]byte{9}, 48)}
	for _, n := range sizes {
		pt := random(n)
		for _, aad := range aads {
			want := oneShot(t, key, nonce, aad, pt)
			for _, chunk := range []int{16, 48, 4096, 65536} {
				if got := streamSeal(t, key, nonce, aad, pt, chunk); !bytes.Equal(got, want) {
					t.Fatalf("size %d aad %d chunk %d: stream differs from one-shot", n, len(aad), chunk)
				}
			}
			for _, part := range []int{16, 4096, 65536} {
				if got := parallelSeal(t, key, nonce, aad, pt, part, 1024); !bytes.Equal(got, want) {
					t.Fatalf("size %d aad %d part %d: parallel differs from one-shot", n, len(aad), part)
				}
			}
		}
	}
}

func TestDecryptAndVerify(t *testing.T) {
	key, nonce := random(32), random(12)
	pt := random(100_000)
	aad := []byte{0x00, 0x73}
	sealed := oneShot(t, key, nonce, aad, pt)
	c, _ := New(key, nonce)
	ct, tag := sealed[:len(pt)], sealed[len(pt):]

	s := c.NewStream(0)
	got := make([]byte, len(ct))
	for off := 0; off < len(ct); off += 8192 {
		end := min(off+8192, len(ct))
		s.Open(got[off:end], ct[off:end])
	}
	if !bytes.Equal(got, pt) || !s.Hash().Verify(aad, tag) {
		t.Fatal("stream decryption of a one-shot message failed")
	}
	if s.Hash().Verify(nil, tag) {
		t.Fatal("tag verified with the wrong AAD")
	}
	for _, i := range []int{0, len(ct) / 2, len(ct) - 1} {
		bad := bytes.Clone(ct)
		bad[i] ^= 1
		h := c.NewHash()
		h.Write(bad)
		if h.Verify(aad, tag) {
			t.Fatalf("flipped bit at %d not detected", i)
		}
	}
}

func TestCTRAtOffset(t *testing.T) {
	key, nonce := random(32), random(12)
	pt := random(1000)
	ct := oneShot(t, key, nonce, nil, pt)[:len(pt)]
	c, _ := New(key, nonce)
	for off := 0; off < len(pt); off += 37 {
		got := make([]byte, len(pt)-off)
		c.NewCTR(uint64(off)).XORKeyStream(got, ct[off:])
		if !bytes.Equal(got, pt[off:]) {
			t.Fatalf("CTR at offset %d does not decrypt", off)
		}
	}
}

func TestFieldArithmetic(t *testing.T) {
	var b [16]byte
	rand.Read(b[:])
	x := loadElement(b[:])
	rand.Read(b[:])
	y := loadElement(b[:])
	if mul(x, one) != x || mul(one, x) != x {
		t.Fatal("1 is not the identity")
	}
	if mul(x, y) != mul(y, x) {
		t.Fatal("multiplication is not commutative")
	}
	if pow(x, 5) != mul(mul(mul(mul(x, x), x), x), x) {
		t.Fatal("pow(x,5) != x·x·x·x·x")
	}
	// x^(2^128) = x in GF(2^128).
	z := x
	for i := 0; i < 128; i++ {
		z = mul(z, z)
	}
	if z != x {
		t.Fatal("Frobenius identity x^(2^128) = x does not hold")
	}
}

func FuzzMatchesOneShot(f *testing.F) {
	f.Add([]byte("key material 32 bytes long......"), []byte("nonce 12 byt"), []byte{}, []byte("hello"), uint16(1), uint16(1))
	f.Add(make([]byte, 32), make([]byte, 12), []byte{0, 0x73}, make([]byte, 100), uint16(2), uint16(3))
	f.Fuzz(func(t *testing.T, key, nonce, aad, pt []byte, chunkBlocks, partBlocks uint16) {
		if len(key) != 32 || len(nonce) != 12 || chunkBlocks == 0 || partBlocks == 0 {
			return
		}
		want := oneShot(t, key, nonce, aad, pt)
		if got := streamSeal(t, key, nonce, aad, pt, int(chunkBlocks)*16); !bytes.Equal(got, want) {
			t.Fatalf("stream differs from one-shot")
		}
		if got := parallelSeal(t, key, nonce, aad, pt, int(partBlocks)*16, int(chunkBlocks)*16); !bytes.Equal(got, want) {
			t.Fatalf("parallel differs from one-shot")
		}
	})
}

// The cipher benchmarks compare streaming with crypto/cipher's one-shot
// AES-GCM on the same message, as `make bench` does: a 16 MiB message,
// streamed in 1 MiB chunks (s3crypto's chunk size), from one buffer into
// another, the tag computed or verified. Run with
//
//	go test -run XXX -bench 'OneShot|Stream' ./internal/aesgcm
const (
	benchMsg   = 16 << 20
	benchChunk = 1 << 20
)

func benchCiphers(b *testing.B) (*Cipher, cipher.AEAD, []byte) {
	key, nonce := make([]byte, 32), make([]byte, 12)
	c, err := New(key, nonce)
	if err != nil {
		b.Fatal(err)
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		b.Fatal(err)
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(benchMsg)
	return c, g, nonce
}

func BenchmarkOneShotSeal(b *testing.B) {
	_, g, nonce := benchCiphers(b)
	msg := make([]byte, benchMsg)
	out := make([]byte, 0, benchMsg+TagSize)
	for b.Loop() {
		out = g.Seal(out[:0], nonce, msg, nil)
	}
}

func BenchmarkStreamEncrypt(b *testing.B) {
	c, _, _ := benchCiphers(b)
	msg := make([]byte, benchMsg)
	out := make([]byte, 0, benchMsg+TagSize)
	for b.Loop() {
		s := c.NewStream(0)
		ct := out[:0]
		for off := 0; off < len(msg); off += benchChunk {
			ct = s.Seal(ct, msg[off:min(off+benchChunk, len(msg))])
		}
		tag := s.Hash().Sum(nil)
		out = append(ct, tag[:]...)
	}
}

func BenchmarkOneShotOpen(b *testing.B) {
	_, g, nonce := benchCiphers(b)
	sealed := g.Seal(nil, nonce, make([]byte, benchMsg), nil)
	out := make([]byte, 0, benchMsg)
	for b.Loop() {
		if _, err := g.Open(out[:0], nonce, sealed, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamDecrypt(b *testing.B) {
	c, g, nonce := benchCiphers(b)
	sealed := g.Seal(nil, nonce, make([]byte, benchMsg), nil)
	ct, tag := sealed[:benchMsg], sealed[benchMsg:]
	out := make([]byte, benchMsg)
	for b.Loop() {
		s := c.NewStream(0)
		for off := 0; off < len(ct); off += benchChunk {
			end := min(off+benchChunk, len(ct))
			s.Open(out[off:end], ct[off:end])
		}
		if !s.Hash().Verify(nil, tag) {
			b.Fatal("tag mismatch")
		}
	}
}

// GHASH is GCM's tag without its mask: computed here from the standard
// library alone, as the tag crypto/cipher gives the same ciphertext under
// a 12-byte nonce n, unmasked with E_K(n ‖ 1). OpenAt decrypts a segment
// at any block offset given that value, and refuses (zeroing the
// segment) any other value or any altered byte.
func TestGHASHAndOpenAt(t *testing.T) {
	key, nonce := random(32), random(12)
	pt := random(5000)
	ct := oneShot(t, key, nonce, nil, pt)[:len(pt)]
	c, _ := New(key, nonce)
	block, _ := aes.NewCipher(key)
	gcm, _ := cipher.NewGCM(block)
	for _, seg := range [][2]int{{0, 5000}, {0, 16}, {16, 1024}, {4096, 5000}, {4992, 5000}, {32, 33}} {
		a, b := seg[0], seg[1]
		h := c.NewHash()
		h.Write(ct[a:b])
		s := h.GHASH()

		n := random(12)
		iv := append(bytes.Clone(n), 0, 0, 0, 2)
		p := make([]byte, b-a)
		cipher.NewCTR(block, iv).XORKeyStream(p, ct[a:b])
		sealed := gcm.Seal(nil, n, p, nil)
		mask := append(bytes.Clone(n), 0, 0, 0, 1)
		block.Encrypt(mask, mask)
		subtle.XORBytes(mask, mask, sealed[b-a:])
		if !bytes.Equal(s[:], mask) {
			t.Fatalf("%d-%d: GHASH differs from the standard library's unmasked tag", a, b)
		}

		buf := make([]byte, b-a, b-a+TagSize)
		copy(buf, ct[a:b])
		if !c.OpenAt(buf, uint64(a), &s) || !bytes.Equal(buf, pt[a:b]) {
			t.Fatalf("%d-%d: OpenAt did not decrypt", a, b)
		}
		for _, flip := range []int{0, (b - a) / 2, b - a - 1, -1} {
			copy(buf, ct[a:b])
			bad := s
			if flip < 0 {
				bad[15] ^= 1
			} else {
				buf[flip] ^= 0x80
			}
			if c.OpenAt(buf, uint64(a), &bad) || !bytes.Equal(buf, make([]byte, b-a)) {
				t.Fatalf("%d-%d: a flip at %d was accepted, or left bytes behind", a, b, flip)
			}
		}
	}
}
