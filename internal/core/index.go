package core

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// The chunk index: a small object <key>.s3c-index beside an AES-GCM object
// (V2 or V3) written by s3c, holding one MAC per fixed-size chunk of the
// object's ciphertext, so that a reader can release each chunk of
// plaintext as soon as its MAC verifies instead of authenticating the
// whole object first. The MAC keys are derived from the object's data
// key, so only holders of the data key can make or check an index.
//
// Layout (all integers big-endian):
//
//	magic      "S3CIDX"            6 bytes
//	version    3                   1 byte
//	idLen      12 (V2) or 28 (V3)  1 byte
//	chunkSize                      4 bytes, a positive multiple of 16
//	chunkCount                     4 bytes, ceil(ciphertext / chunkSize)
//	stored                         8 bytes, ciphertext + tag
//	id         the V2 IV or the V3 message ID
//	tag        the object's GCM tag, 16 bytes
//	macs       chunkCount × 16 bytes: MAC_i, see below
//	final      32 bytes: HMAC-SHA256(ki, "index" ‖ everything above)
//
// with kc ‖ ki = HKDF-SHA256(data key, salt = id, info = "s3c chunk index
// v3", 64 bytes), and, for C_i the chunk i of the object's ciphertext,
//
//	MAC_i = GHASH_H(∅, C_i) ⊕ AES_kc(BE32(0) ‖ BE64(i) ‖ BE32(1))
//
// where GHASH_H(∅, C_i) is GCM's GHASH of C_i as ciphertext with no
// additional data (its length block included) under the object's own
// hash key H = E_K(0^128), K the object's content key: exactly the GCM
// tag the object's cipher would give C_i, with a pad from kc instead of
// E_K(J0). A Carter–Wegman MAC: a universal hash under a secret key, one
// pseudorandom pad per chunk and object. It binds the chunk's bytes and
// length (the length block), its number (the pad) and its object (H and
// kc come from this object's data key and id). Because it is GCM's own
// hash under the object's key, a reader checks and decrypts a chunk in
// one pass of the standard library's stitched AES+GHASH assembly
// (aesgcm.Cipher.OpenAt), and a writer reads it off the encryption.
// Versions 1 (HMAC-SHA256 per chunk) and 2 (a GMAC under kc, checked in a
// second pass) were never released; readers refuse them and fall back to
// authenticating the whole object.

const (
	// IndexSuffix names an object's index: <key>.s3c-index.
	IndexSuffix = ".s3c-index"
	// IndexMarker is the user-metadata key (without x-amz-meta-) that marks
	// an object as an s3c index, with the value "1". An object without it
	// is never taken for an index, whatever its name.
	IndexMarker = "s3c-index"
	// DefaultIndexThreshold is the stored size above which s3c writes an
	// index by default.
	DefaultIndexThreshold = 8 << 20
	// DefaultIndexChunk is the chunk size of the indexes s3c writes. A
	// reader holds one chunk and releases it once whole: 1 MiB keeps it
	// in the CPU's cache between its decryption and its release (4 MiB
	// chunks made a streamed read ~10% slower), brings the first byte
	// sooner and makes a range read less. GCM caps an object at 64 GiB,
	// so an index has at most 65,536 chunks: 1 MiB.
	DefaultIndexChunk = 1 << 20
	// MaxIndexChunk bounds the chunk size a reader accepts: it holds one
	// chunk in memory.
	MaxIndexChunk = 64 << 20

	indexMagic    = "S3CIDX"
	indexVersion  = 3
	indexInfo     = "s3c chunk index v3"
	indexMACSize  = aesgcm.TagSize
	indexSumSize  = sha256.Size
	indexFixedLen = 6 + 1 + 1 + 4 + 4 + 8
)

// ErrIndexInvalid means an index object is malformed, belongs to another
// object or another key, or was altered. Readers then fall back to
// authenticating the whole object.
var ErrIndexInvalid = errors.New("s3c index invalid")

// IndexKey names an object's index.
func IndexKey(key string) string { return key + IndexSuffix }

// IndexMetadata is the user metadata an index object is stored with.
func IndexMetadata() map[string]string { return map[string]string{IndexMarker: "1"} }

// IsReservedMetadata reports whether a user-metadata key (with or without
// x-amz-meta-, in any case) is one that callers' own metadata must not
// use: the envelope's keys and the instruction-file marker
// (metadata.IsReservedKey), and the chunk index's marker. This is the one
// list every write path (both front ends) and the CLI check.
func IsReservedMetadata(k string) bool {
	if metadata.IsReservedKey(k) {
		return true
	}
	return strings.TrimPrefix(strings.ToLower(strings.TrimSpace(k)), "x-amz-meta-") == IndexMarker
}

// ReservedMetadataError is the error of a write whose user metadata uses
// key k, which IsReservedMetadata refuses.
func ReservedMetadataError(k string) error {
	return fmt.Errorf("user metadata key %q is reserved for the encryption envelope and its companion objects", k)
}

// IsIndexObject reports whether an object's user metadata (keys with or
// without x-amz-meta-, in any case) carries the index marker.
func IsIndexObject(meta map[string]string) bool {
	for k, v := range meta {
		k = strings.TrimPrefix(strings.ToLower(strings.TrimSpace(k)), "x-amz-meta-")
		if k == IndexMarker && strings.TrimSpace(v) == "1" {
			return true
		}
	}
	return false
}

// indexID is the nonce material an index binds: the V3 message ID or the
// V2 IV; nil for objects that cannot have an index.
func indexID(env *metadata.Envelope) []byte {
	switch {
	case env.Format == metadata.V3:
		return env.MessageID
	case env.ContentAlg == metadata.ContentAESGCM:
		return env.IV
	}
	return nil
}

// indexMACKey derives the MAC keys of an object's index: kc (the AES-256
// key of the chunk MACs' pads) followed by ki (the HMAC key of the whole
// index).
func indexMACKey(dataKey, id []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, dataKey, id, indexInfo, 64)
}

// chunkKey and sumKey split what indexMACKey derives.
func chunkKey(key []byte) []byte { return key[:32] }
func sumKey(key []byte) []byte   { return key[32:64] }

// Index is a decoded, authenticated chunk index.
type Index struct {
	ChunkSize int64
	Chunks    int64
	Stored    int64
	ID        []byte
	Tag       [aesgcm.TagSize]byte
	MACs      [][indexMACSize]byte
	key       []byte
	pads      chunkPads
	gcm       *aesgcm.Cipher // the object's
}

// ChunkLen returns the ciphertext length of chunk i.
func (x *Index) ChunkLen(i int64) int64 {
	ct := x.Stored - aesgcm.TagSize
	return min(x.ChunkSize, ct-i*x.ChunkSize)
}

// ghash returns GHASH_H(∅, C_i) as the index records it: MAC_i unpadded.
func (x *Index) ghash(i int64) [aesgcm.TagSize]byte {
	g := x.pads.pad(i)
	subtle.XORBytes(g[:], g[:], x.MACs[i][:])
	return g
}

// VerifyChunk reports, in constant time, whether ct is chunk i's
// ciphertext as the index records it.
func (x *Index) VerifyChunk(i int64, ct []byte) bool {
	if i < 0 || i >= x.Chunks || int64(len(ct)) != x.ChunkLen(i) {
		return false
	}
	h := x.gcm.NewHash()
	h.Write(ct)
	got, want := h.GHASH(), x.ghash(i)
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// OpenChunk checks ct, chunk i's ciphertext, against its MAC and
// decrypts it in place, in one pass (aesgcm.Cipher.OpenAt, which needs
// 16 bytes of ct's capacity past its length as scratch and panics
// without them). It reports whether the MAC verified; if not, ct is
// zeroed: nothing of it may be released.
func (x *Index) OpenChunk(i int64, ct []byte) bool {
	if i < 0 || i >= x.Chunks || int64(len(ct)) != x.ChunkLen(i) {
		clear(ct)
		return false
	}
	g := x.ghash(i)
	return x.gcm.OpenAt(ct, uint64(i*x.ChunkSize), &g)
}

// CheckTag reports, in constant time, whether tag is the one the index
// recorded.
func (x *Index) CheckTag(tag []byte) bool {
	return subtle.ConstantTimeCompare(tag, x.Tag[:]) == 1
}

// chunkPads makes the chunk MACs' pads: AES under kc.
type chunkPads struct{ block cipher.Block }

func newChunkPads(key []byte) chunkPads {
	b, err := aes.NewCipher(chunkKey(key))
	if err != nil {
		panic(err) // a 32-byte key cannot fail
	}
	return chunkPads{b}
}

// pad returns chunk i's pad, AES_kc(BE32(0) ‖ BE64(i) ‖ BE32(1)).
func (p chunkPads) pad(i int64) [aesgcm.TagSize]byte {
	var b [aesgcm.TagSize]byte
	binary.BigEndian.PutUint64(b[4:], uint64(i))
	binary.BigEndian.PutUint32(b[12:], 1)
	p.block.Encrypt(b[:], b[:])
	return b
}

// chunkMAC returns MAC_i for a chunk whose hash under the object's
// cipher is h.
func (p chunkPads) chunkMAC(i int64, h *aesgcm.Hash) [indexMACSize]byte {
	m := p.pad(i)
	g := h.GHASH()
	subtle.XORBytes(m[:], m[:], g[:])
	return m
}

// indexSum is the HMAC that authenticates an index's body.
func indexSum(key, body []byte) []byte {
	m := hmac.New(sha256.New, sumKey(key))
	m.Write([]byte("index"))
	m.Write(body)
	return m.Sum(nil)
}

// DecodeIndex parses and authenticates an index against the object it
// should describe: its envelope, its stored size and its data key (held
// by d). Any mismatch is ErrIndexInvalid.
func (d *Decryption) DecodeIndex(b []byte, stored int64) (*Index, error) {
	if d.Content == nil || d.indexKey == nil {
		return nil, fmt.Errorf("%w: the object's format has no index", ErrIndexInvalid)
	}
	return decodeIndex(b, d.indexKey, indexID(d.env), stored, d.Content.GCM)
}

func decodeIndex(b, key, id []byte, stored int64, gcm *aesgcm.Cipher) (*Index, error) {
	bad := func(why string) (*Index, error) { return nil, fmt.Errorf("%w: %s", ErrIndexInvalid, why) }
	if len(b) < indexFixedLen || string(b[:6]) != indexMagic {
		return bad("not an index")
	}
	if b[6] != indexVersion {
		return bad(fmt.Sprintf("version %d", b[6]))
	}
	idLen := int(b[7])
	chunk := int64(binary.BigEndian.Uint32(b[8:]))
	count := int64(binary.BigEndian.Uint32(b[12:]))
	st := binary.BigEndian.Uint64(b[16:])
	if chunk <= 0 || chunk%aesgcm.BlockSize != 0 || chunk > MaxIndexChunk {
		return bad("chunk size")
	}
	if st < aesgcm.TagSize || st > aesgcm.MaxPlaintextSize+aesgcm.TagSize {
		return bad("stored size")
	}
	ct := int64(st) - aesgcm.TagSize
	if count != (ct+chunk-1)/chunk {
		return bad("chunk count")
	}
	want := indexFixedLen + idLen + aesgcm.TagSize + int(count)*indexMACSize + indexSumSize
	if len(b) != want {
		return bad("length")
	}
	body := b[:len(b)-indexSumSize]
	if !hmac.Equal(indexSum(key, body), b[len(body):]) {
		return bad("MAC does not verify (altered, or another object's index)")
	}
	// Authentic: now bind it to this object.
	if subtle.ConstantTimeCompare(b[indexFixedLen:indexFixedLen+idLen], id) != 1 {
		return bad("written for another object")
	}
	if int64(st) != stored {
		return bad(fmt.Sprintf("describes %d stored bytes, the object has %d", st, stored))
	}
	x := &Index{ChunkSize: chunk, Chunks: count, Stored: int64(st), ID: id, key: key, pads: newChunkPads(key), gcm: gcm}
	p := indexFixedLen + idLen
	copy(x.Tag[:], b[p:])
	p += aesgcm.TagSize
	x.MACs = make([][indexMACSize]byte, count)
	for i := range x.MACs {
		copy(x.MACs[i][:], b[p:])
		p += indexMACSize
	}
	return x, nil
}

// IndexWriter computes the chunk MACs of a run of ciphertext that starts
// at a chunk boundary. Parts of a multipart upload each use their own
// (their offsets must be multiples of the chunk size); Merge joins them.
type IndexWriter struct {
	key   []byte
	pads  chunkPads
	gcm   *aesgcm.Cipher // the object's
	chunk int64
	first int64 // global index of the first chunk
	cur   *aesgcm.Hash
	n     int64 // bytes of the current chunk seen, pend included
	pend  [aesgcm.BlockSize]byte
	np    int // bytes in pend: the hash takes whole blocks until the last
	total int64
	macs  [][indexMACSize]byte
}

// NewIndexWriter returns the writer for ciphertext starting at byte off,
// or nil if the encryption has no index (not GCM) or off is not on a
// chunk boundary.
func (e *Encryption) NewIndexWriter(off int64) *IndexWriter {
	if e.indexKey == nil || off%e.indexChunk != 0 {
		return nil
	}
	return &IndexWriter{key: e.indexKey, pads: newChunkPads(e.indexKey), gcm: e.Content.GCM, chunk: e.indexChunk, first: off / e.indexChunk}
}

// Write absorbs ciphertext. It never fails.
func (w *IndexWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = w.gcm.NewHash()
			w.n = 0
		}
		k := min(int64(len(p)), w.chunk-w.n)
		w.absorb(p[:k])
		w.n += k
		w.total += k
		p = p[k:]
		if w.n == w.chunk {
			w.flush()
		}
	}
	return n, nil
}

// absorb hashes q, holding back a partial block (the chunk size is a
// multiple of the block size, so only the last chunk can end in one).
func (w *IndexWriter) absorb(q []byte) {
	if w.np > 0 {
		k := copy(w.pend[w.np:], q)
		w.np += k
		q = q[k:]
		if w.np < aesgcm.BlockSize {
			return
		}
		w.cur.Write(w.pend[:])
		w.np = 0
	}
	whole := len(q) / aesgcm.BlockSize * aesgcm.BlockSize
	w.cur.Write(q[:whole])
	w.np = copy(w.pend[:], q[whole:])
}

func (w *IndexWriter) flush() {
	if w.cur == nil {
		return
	}
	w.cur.Write(w.pend[:w.np])
	w.np = 0
	w.macs = append(w.macs, w.pads.chunkMAC(w.first+int64(len(w.macs)), w.cur))
	w.cur = nil
}

// Len reports how many ciphertext bytes w has absorbed.
func (w *IndexWriter) Len() int64 { return w.total }

// Merge appends the chunks of next, the writer of the ciphertext that
// directly follows w's. It returns false if w ended inside a chunk, or
// next does not start where w ends: the index is then not written.
func (w *IndexWriter) Merge(next *IndexWriter) bool {
	if next == nil || w.n != 0 && w.cur != nil || next.first != w.first+int64(len(w.macs)) {
		return false
	}
	w.macs = append(w.macs, next.macs...)
	w.cur, w.n, w.pend, w.np = next.cur, next.n, next.pend, next.np
	w.total += next.total
	return true
}

// Finish closes the last chunk and returns the encoded index for an
// object whose ciphertext w has seen from its start and whose tag is tag.
// It returns nil if w did not start at the object's start.
func (w *IndexWriter) Finish(id []byte, tag []byte) []byte {
	if w.first != 0 || len(tag) != aesgcm.TagSize {
		return nil
	}
	w.flush()
	count := int64(len(w.macs))
	if count != (w.total+w.chunk-1)/w.chunk || len(id) > 255 {
		return nil
	}
	return encodeIndex(w.key, id, w.chunk, w.total+aesgcm.TagSize, tag, w.macs)
}

func encodeIndex(key, id []byte, chunk, stored int64, tag []byte, macs [][indexMACSize]byte) []byte {
	b := make([]byte, 0, indexFixedLen+len(id)+aesgcm.TagSize+len(macs)*indexMACSize+indexSumSize)
	b = append(b, indexMagic...)
	b = append(b, indexVersion, byte(len(id)))
	b = binary.BigEndian.AppendUint32(b, uint32(chunk))
	b = binary.BigEndian.AppendUint32(b, uint32(len(macs)))
	b = binary.BigEndian.AppendUint64(b, uint64(stored))
	b = append(b, id...)
	b = append(b, tag...)
	for _, m := range macs {
		b = append(b, m[:]...)
	}
	return append(b, indexSum(key, b)...)
}

// OpenIndexed returns the plaintext bytes off … off+n−1 of an object
// with a valid index x, read from body, which must yield the object's
// stored bytes from the start of the chunk holding off (off/ChunkSize ×
// ChunkSize) to the end of the chunk holding the last byte asked for and,
// if withTag, on to the end of the object, tag included. Each chunk is
// released only after its MAC verifies; with withTag, the end of the
// stream is reported only after the object's tag equals the one the index
// recorded and nothing follows it.
//
// The object's own GHASH is not computed: once every chunk's MAC
// verifies, every byte of ciphertext is the one the index's writer MACed
// under a key derived from the data key, and the tag is the one it
// recorded after authenticating (or producing) that ciphertext, so the
// GCM check could not fail.
//
// The reader works on the caller's goroutine, like the body it reads: it
// reads a chunk, checks and decrypts it in one pass (OpenChunk) while it
// is still in the CPU's cache, and releases it. It holds one chunk in
// memory. It implements io.WriterTo, which hands each verified chunk to
// the writer without a copy. Close, from any goroutine, closes the body,
// which interrupts a read in progress.
func (d *Decryption) OpenIndexed(body io.ReadCloser, x *Index, off, n int64, withTag bool) io.ReadCloser {
	first := off / x.ChunkSize
	last := first - 1
	if n > 0 {
		last = (off + n - 1) / x.ChunkSize
	}
	return &indexedReader{
		body: body, x: x,
		next: first, last: last, skip: off - first*x.ChunkSize, left: n, withTag: withTag,
	}
}

// A synchronous reader rather than a pipeline of goroutines: measured
// on 2 cores beside a local MinIO, handing each chunk from a reading
// goroutine to the caller's cost more (wake-ups, and chunks gone cold
// in the cache before the caller writes them) than the overlap gained;
// the socket's buffers already keep the network busy while the caller
// writes.

type indexedReader struct {
	body    io.ReadCloser
	x       *Index
	next    int64 // the next chunk to read
	last    int64 // the last chunk to read
	skip    int64 // plaintext bytes to drop from the next chunk
	left    int64 // plaintext bytes still to release
	withTag bool

	buf    []byte // the current chunk
	out    []byte // its verified plaintext not yet released
	err    error  // what ends the stream (io.EOF at its authenticated end)
	closed atomic.Bool
}

var errReadAfterClose = errors.New("s3crypto: read from a closed body")

// fill makes r.out hold verified plaintext, or returns the error that
// ends the stream.
func (r *indexedReader) fill() error {
	for len(r.out) == 0 {
		if r.closed.Load() {
			return errReadAfterClose
		}
		if r.err != nil {
			return r.err
		}
		r.err = r.advance()
	}
	return nil
}

// advance reads, verifies and decrypts the next chunk into r.buf and
// sets r.out; after the last chunk it checks the object's tag and
// returns io.EOF.
func (r *indexedReader) advance() error {
	if r.next > r.last {
		if b := r.buf; b != nil {
			chunkPool.Put(&b)
			r.buf = nil
		}
		return r.finish()
	}
	i := r.next
	r.next++
	cl := r.x.ChunkLen(i)
	if r.buf == nil {
		if p, ok := chunkPool.Get().(*[]byte); ok {
			r.buf = *p
		}
	}
	if int64(cap(r.buf)) < cl+aesgcm.TagSize { // OpenChunk's scratch
		r.buf = make([]byte, r.x.ChunkSize, r.x.ChunkSize+aesgcm.TagSize)
	}
	buf := r.buf[:cl]
	if err := r.readChunk(i, buf); err != nil {
		return err
	}
	to := min(cl, r.skip+r.left)
	r.out = buf[r.skip:to]
	r.left -= to - r.skip
	r.skip = 0
	return nil
}

// chunkPool keeps the chunk buffers of finished readers for the next
// ones: allocating (and zeroing) a chunk per object is a measurable part
// of a read.
var chunkPool sync.Pool

func (r *indexedReader) Read(p []byte) (int, error) {
	if err := r.fill(); err != nil {
		return 0, err
	}
	k := copy(p, r.out)
	r.out = r.out[k:]
	return k, nil
}

// WriteTo writes the verified plaintext to w, a chunk at a time.
func (r *indexedReader) WriteTo(w io.Writer) (int64, error) {
	var n int64
	for {
		if err := r.fill(); err == io.EOF {
			return n, nil
		} else if err != nil {
			return n, err
		}
		k, err := w.Write(r.out)
		n += int64(k)
		r.out = r.out[k:]
		if err != nil {
			return n, err
		}
		if len(r.out) > 0 {
			return n, io.ErrShortWrite
		}
	}
}

// finish reads the object's tag, if the stream includes it, and checks
// it: io.EOF if it is the one the index recorded and nothing follows.
func (r *indexedReader) finish() error {
	if !r.withTag {
		return io.EOF
	}
	tag := make([]byte, aesgcm.TagSize)
	if _, err := io.ReadFull(r.body, tag); err != nil {
		return truncated(err, "its tag")
	}
	if err := ExpectEOF(r.body); err != nil {
		return err
	}
	if !r.x.CheckTag(tag) {
		return fmt.Errorf("%w: the object's tag is not the one its index records", ErrAuthentication)
	}
	return io.EOF
}

// readChunk reads chunk i into buf, checks it against its MAC and
// decrypts it in place. On any failure buf is zeroed: nothing of it may
// be released.
func (r *indexedReader) readChunk(i int64, buf []byte) error {
	if _, err := io.ReadFull(r.body, buf); err != nil {
		clear(buf)
		return truncated(err, fmt.Sprintf("chunk %d", i))
	}
	if !r.x.OpenChunk(i, buf) {
		return fmt.Errorf("%w: chunk %d (bytes %d–%d) does not match its MAC in the index",
			ErrAuthentication, i, i*r.x.ChunkSize, i*r.x.ChunkSize+int64(len(buf))-1)
	}
	return nil
}

// truncated turns a short read into an authentication failure: the
// object is shorter than its index says.
func truncated(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: the object ends before %s", ErrAuthentication, what)
	}
	return err
}

// Close closes the body, which interrupts a read in progress; later
// reads fail.
func (r *indexedReader) Close() error {
	r.closed.Store(true)
	return r.body.Close()
}

// NewIndexWriter returns a writer for the index of the object d
// decrypts, with chunks of chunk bytes (core.DefaultIndexChunk if 0), for
// indexing an existing object (its ciphertext from the start).
func (d *Decryption) NewIndexWriter(chunk int64) *IndexWriter {
	if d.indexKey == nil {
		return nil
	}
	if chunk <= 0 || chunk%aesgcm.BlockSize != 0 || chunk > MaxIndexChunk {
		chunk = DefaultIndexChunk
	}
	return &IndexWriter{key: d.indexKey, pads: newChunkPads(d.indexKey), gcm: d.Content.GCM, chunk: chunk}
}

// IndexID returns what the object's index binds: its V3 message ID or
// V2 IV.
func (d *Decryption) IndexID() []byte { return indexID(d.env) }
