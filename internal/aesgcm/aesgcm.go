// Package aesgcm is AES-GCM as a stream: ciphertext and tag bit for bit
// identical to crypto/cipher's one-shot AEAD, produced and checked in chunks,
// at any offset, and in parallel pieces that are combined afterwards.
//
// crypto/cipher only offers one-shot Seal and Open, which need the whole
// message in memory. GCM is CTR-mode encryption plus GHASH, a polynomial
// hash over the ciphertext, so it splits cleanly:
//
//   - the keystream for byte offset o comes from cipher.NewCTR at counter
//     2 + o/16 (NewCTR);
//   - the GHASH contribution of a chunk is read off the library's own
//     assembly by sealing an empty message with the chunk as additional data
//     and removing the parts that do not belong to the chunk (Hash.Write);
//   - contributions combine with one field multiplication: for chunks A then
//     B, with A a whole number of blocks, Y(A‖B) = Y(A)·H^blocks(B) ⊕ Y(B)
//     (Hash.Append).
//
// Here Y(M) is X·H where X is GHASH's running state after absorbing M (NIST
// SP 800-38D, section 6.4). Keeping the state multiplied by H means no field
// inversion is ever needed: the tag is Y(AAD‖C) ⊕ L·H ⊕ E_K(J0), with L the
// length block. The only hand-written arithmetic is GF(2^128)
// multiplication (ghash.go), which the standard library does not expose.
//
// A Cipher is bound to one key and one nonce. Encrypting two different
// plaintexts at the same offset of the same Cipher is the nonce reuse that
// breaks GCM; callers own that rule.
package aesgcm

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"sync"
)

const (
	// NonceSize is the only nonce length supported: 12 bytes, as S3EC uses.
	NonceSize = 12
	// TagSize is the GCM tag length: 16 bytes.
	TagSize = 16
	// BlockSize is the AES block size. Every chunk but the last one of a
	// stream must be a multiple of it.
	BlockSize = 16
	// MaxPlaintextSize is the most plaintext GCM may encrypt under one key
	// and nonce: 2^32 − 2 blocks, that is 2^36 − 32 bytes (SP 800-38D §5.2.1.1).
	MaxPlaintextSize = 1<<36 - 32
)

// Cipher is AES-GCM for one key and one nonce. It is safe for concurrent
// use; the Hash and Stream values it creates are not.
type Cipher struct {
	block cipher.Block
	aead  cipher.AEAD // 12-byte nonces: the message's own GCM
	nonce [NonceSize]byte
	h     element // E_K(0^128), the GHASH key
	ej0   element // E_K(J0), the tag mask

	// For encrypting at any offset (see chunkNonce), made on first use:
	// decryption and one-shot use never need them.
	once   sync.Once
	aead16 cipher.AEAD // 16-byte nonces
	hinv   element     // H^-1
}

// New returns the GCM cipher for key (16, 24 or 32 bytes) and a 12-byte nonce.
func New(key, nonce []byte) (*Cipher, error) {
	if len(nonce) != NonceSize {
		return nil, errors.New("aesgcm: nonce must be 12 bytes")
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	c := &Cipher{block: block, aead: aead}
	copy(c.nonce[:], nonce)
	var b [16]byte
	block.Encrypt(b[:], b[:])
	c.h = loadElement(b[:])
	copy(b[:], nonce)
	binary.BigEndian.PutUint32(b[12:], 1)
	block.Encrypt(b[:], b[:])
	c.ej0 = loadElement(b[:])
	return c, nil
}

// NewCTR returns the GCM keystream starting at byte offset off of the
// plaintext (equivalently, of the ciphertext). XORing it encrypts or
// decrypts; it does not authenticate anything.
func (c *Cipher) NewCTR(off uint64) cipher.Stream {
	var iv [16]byte
	copy(iv[:], c.nonce[:])
	binary.BigEndian.PutUint32(iv[12:], uint32(2+off/BlockSize))
	s := cipher.NewCTR(c.block, iv[:])
	if r := off % BlockSize; r != 0 {
		var skip [BlockSize]byte
		s.XORKeyStream(skip[:r], skip[:r])
	}
	return s
}

// segment returns Y(seg) for one chunk, using the library's GHASH: sealing
// an empty message with seg as additional data yields
// T = (X ⊕ L)·H ⊕ E_K(J0) with L = lengthBlock(len(seg), 0), so
// Y = X·H = T ⊕ E_K(J0) ⊕ L·H. lh is L·H, passed in so callers can cache it.
func (c *Cipher) segment(seg []byte, lh element, scratch *[TagSize]byte) element {
	t := c.aead.Seal(scratch[:0], c.nonce[:], nil, seg)
	return loadElement(t).xor(c.ej0).xor(lh)
}

// tag finishes GHASH over aad followed by a ciphertext whose state is y
// after ctLen bytes, and returns the tag.
func (c *Cipher) tag(aad []byte, y element, ctLen uint64) [TagSize]byte {
	if len(aad) > 0 {
		var scratch [TagSize]byte
		ya := c.segment(aad, mul(lengthBlock(uint64(len(aad)), 0), c.h), &scratch)
		y = mul(ya, pow(c.h, blocks(ctLen))).xor(y)
	}
	g := y.xor(mul(lengthBlock(uint64(len(aad)), ctLen), c.h)).xor(c.ej0)
	var t [TagSize]byte
	g.put(t[:])
	return t
}

func blocks(n uint64) uint64 { return (n + BlockSize - 1) / BlockSize }

// chunkNonce returns a 16-byte nonce under which GCM's first counter
// block is nonce‖BE32(2+off/16), the counter of byte offset off of this
// message, and the tag mask E_K(J0') that comes with it. For a nonce that is
// not 12 bytes long GCM derives J0' = GHASH_H(iv ‖ 0^64 ‖ [128]_64) =
// (iv·H ⊕ L)·H, so iv = (J0'·H⁻¹ ⊕ L)·H⁻¹. This lets the library's stitched
// AES+GHASH assembly encrypt a chunk at any offset.
func (c *Cipher) chunkNonce(off uint64) (iv [16]byte, mask element) {
	c.once.Do(func() {
		c.aead16, _ = cipher.NewGCMWithNonceSize(c.block, 16) // cannot fail for an AES block
		c.hinv = inverse(c.h)
	})
	var j [16]byte
	copy(j[:], c.nonce[:])
	binary.BigEndian.PutUint32(j[12:], uint32(1+off/BlockSize))
	j0 := loadElement(j[:])
	x := mul(mul(j0, c.hinv).xor(lengthBlock(0, 16)), c.hinv)
	x.put(iv[:])
	c.block.Encrypt(j[:], j[:])
	return iv, loadElement(j[:])
}

// Hash accumulates GHASH over a run of ciphertext, written in order in
// chunks that are whole blocks, except possibly the last one.
type Hash struct {
	c       *Cipher
	y       element
	n       uint64
	partial bool

	// Factors for the two most recent chunk lengths; streams use one or
	// two lengths for all but the last chunk, so these are computed once
	// or twice per stream.
	cache   [2]lengthFactors
	scratch [TagSize]byte
}

type lengthFactors struct {
	n   int
	lh  element // lengthBlock(n, 0)·H: a chunk hashed as AAD
	lhc element // lengthBlock(0, n)·H: a chunk hashed as ciphertext
	hn  element // H^blocks(n)
}

// NewHash returns an empty Hash for ciphertext under c.
func (c *Cipher) NewHash() *Hash {
	return &Hash{c: c, cache: [2]lengthFactors{{n: -1}, {n: -1}}}
}

// factors returns, for a chunk of n bytes, L·H with L its length block when
// hashed as additional data (lh) or as ciphertext (lhc), and H^blocks(n).
func (h *Hash) factors(n int) (lh, lhc, hn element) {
	if h.cache[0].n != n {
		if h.cache[1].n != n {
			h.cache[1] = lengthFactors{n: n,
				lh:  mul(lengthBlock(uint64(n), 0), h.c.h),
				lhc: mul(lengthBlock(0, uint64(n)), h.c.h),
				hn:  pow(h.c.h, blocks(uint64(n))),
			}
		}
		h.cache[0], h.cache[1] = h.cache[1], h.cache[0]
	}
	f := &h.cache[0]
	return f.lh, f.lhc, f.hn
}

// absorb appends the state ys of a chunk of n bytes.
func (h *Hash) absorb(ys element, n int, hn element) {
	if h.partial {
		panic("aesgcm: chunk after a partial block")
	}
	h.y = mul(h.y, hn).xor(ys)
	h.n += uint64(n)
	h.partial = n%BlockSize != 0
}

// Write absorbs the next chunk of ciphertext. It panics if an earlier chunk
// was not a whole number of blocks: that chunk had to be the last one.
func (h *Hash) Write(ct []byte) {
	if len(ct) == 0 {
		return
	}
	lh, _, hn := h.factors(len(ct))
	h.absorb(h.c.segment(ct, lh, &h.scratch), len(ct), hn)
}

// Append absorbs the state of next, a Hash over the ciphertext that
// directly follows the ciphertext h has seen. It panics if h ended on a
// partial block.
func (h *Hash) Append(next *Hash) {
	if next.n == 0 {
		return
	}
	if h.partial {
		panic("aesgcm: append after a partial block")
	}
	h.y = mul(h.y, pow(h.c.h, blocks(next.n))).xor(next.y)
	h.n += next.n
	h.partial = next.partial
}

// Clone returns a copy of h that evolves independently.
func (h *Hash) Clone() *Hash {
	c := *h
	return &c
}

// Len reports how many ciphertext bytes h has absorbed.
func (h *Hash) Len() uint64 { return h.n }

// State returns h's running state. Equal states over equal lengths mean,
// except with negligible probability for data chosen without knowledge of
// the key, equal ciphertext: it is a universal hash keyed by the secret H.
func (h *Hash) State() [16]byte {
	var s [16]byte
	h.y.put(s[:])
	return s
}

// Sum returns the GCM tag for aad followed by the ciphertext absorbed so far.
func (h *Hash) Sum(aad []byte) [TagSize]byte {
	return h.c.tag(aad, h.y, h.n)
}

// Verify reports, in constant time, whether tag is the GCM tag for aad
// followed by the ciphertext absorbed so far.
func (h *Hash) Verify(aad, tag []byte) bool {
	want := h.Sum(aad)
	return subtle.ConstantTimeCompare(want[:], tag) == 1
}

// GHASH returns S = GHASH_H(∅, C) for the ciphertext C absorbed so far,
// with no additional data: GCM's tag before its mask E_K(J0). Like H it
// is secret: a universal hash of C that reveals H to whoever sees it with
// C. Store or send it only masked by a one-time pad (see OpenAt).
func (h *Hash) GHASH() [TagSize]byte {
	t := h.Sum(nil)
	var s [TagSize]byte
	loadElement(t[:]).xor(h.c.ej0).put(s[:])
	return s
}

// OpenAt authenticates and decrypts seg, the ciphertext at byte offset off
// of the message (a multiple of BlockSize), in place, in one pass of the
// library's stitched AES+GHASH assembly: it checks, in constant time, that
// GHASH_H(∅, seg) equals ghash (see Hash.GHASH), which the caller got from
// a source it trusts. It reports whether it did; if not, seg is zeroed.
// It uses the 16 bytes of seg's capacity past its length as scratch, and
// panics if there are not 16.
func (c *Cipher) OpenAt(seg []byte, off uint64, ghash *[TagSize]byte) bool {
	n := len(seg)
	if cap(seg) < n+TagSize {
		panic("aesgcm: OpenAt needs 16 bytes of spare capacity")
	}
	if off%BlockSize != 0 {
		panic("aesgcm: OpenAt offset is not a multiple of the block size")
	}
	iv, mask := c.chunkNonce(off)
	// Under iv, GCM's tag for seg is GHASH_H(∅, seg) ⊕ E_K(J0').
	sealed := seg[:n+TagSize]
	loadElement(ghash[:]).xor(mask).put(sealed[n:])
	if _, err := c.aead16.Open(seg[:0], iv[:], sealed, nil); err != nil {
		clear(seg)
		return false
	}
	return true
}

// Stream encrypts or decrypts a run of the message starting at some offset,
// hashing the ciphertext as it goes. A Stream is used for one direction only.
type Stream struct {
	c    *Cipher
	off  uint64
	ctr  cipher.Stream // decryption only, created on first use
	hash *Hash
}

// NewStream returns a Stream that starts at byte offset off, which must be a
// multiple of BlockSize. Its Hash covers only what it processes; combine the
// Hashes of consecutive Streams with Append.
func (c *Cipher) NewStream(off uint64) *Stream {
	if off%BlockSize != 0 {
		panic("aesgcm: stream offset is not a multiple of the block size")
	}
	return &Stream{c: c, off: off, hash: c.NewHash()}
}

// Seal encrypts src, appends the ciphertext to dst and returns the updated
// slice, like cipher.AEAD.Seal without the tag. It may use 16 bytes of dst's
// spare capacity past the result as scratch space; to encrypt in place use
// src[:0] as dst with cap(src) ≥ len(src)+16. Without room, dst is copied
// into a new slice of exactly the needed size, as cipher.AEAD does, so
// growing a slice by many small calls is quadratic: give dst capacity.
// Every call but the last must pass whole blocks.
//
// Each chunk is one call into the library's stitched AES+GHASH assembly
// (see chunkNonce), so streaming costs the same as one-shot Seal.
func (s *Stream) Seal(dst, src []byte) []byte {
	n := len(src)
	if n == 0 {
		return dst
	}
	iv, mask := s.c.chunkNonce(s.off)
	out := s.c.aead16.Seal(dst, iv[:], src, nil)
	// The chunk's tag is (X ⊕ L)·H ⊕ E_K(J0') with L = lengthBlock(0, n).
	_, lhc, hn := s.hash.factors(n)
	ys := loadElement(out[len(out)-TagSize:]).xor(mask).xor(lhc)
	s.hash.absorb(ys, n, hn)
	s.off += uint64(n)
	return out[:len(out)-TagSize]
}

// Open hashes src and decrypts it into dst (which may alias src exactly).
// Every call but the last must pass whole blocks. The plaintext is not
// authenticated until the Hash of the whole message is verified.
func (s *Stream) Open(dst, src []byte) {
	if s.ctr == nil {
		s.ctr = s.c.NewCTR(s.off)
	}
	s.hash.Write(src)
	s.ctr.XORKeyStream(dst, src)
	s.off += uint64(len(src))
}

// Hash returns the Hash of the ciphertext the Stream has processed.
func (s *Stream) Hash() *Hash { return s.hash }

// Seal is crypto/cipher's one-shot Seal for this key and nonce: it
// encrypts plaintext, authenticates it with aad, and appends
// ciphertext‖tag to dst.
func (c *Cipher) Seal(dst, plaintext, aad []byte) []byte {
	return c.aead.Seal(dst, c.nonce[:], plaintext, aad)
}

// Open is crypto/cipher's one-shot Open for this key and nonce: it
// authenticates ciphertext‖tag and aad, and decrypts. It is the fastest
// path when the whole message is in memory.
func (c *Cipher) Open(dst, sealed, aad []byte) ([]byte, error) {
	return c.aead.Open(dst, c.nonce[:], sealed, aad)
}
