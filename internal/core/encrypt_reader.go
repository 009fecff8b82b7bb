package core

import (
	"bytes"
	"crypto/subtle"
	"errors"
	"fmt"
	"hash"
	"io"
	"unsafe"

	"github.com/s3c/s3c/internal/aesgcm"
)

// ChunkSize is how much plaintext the encrypting reader seals per step.
const ChunkSize = 1 << 20

// EncryptReader turns a plaintext stream into the object body: AES-GCM
// ciphertext followed by the 16-byte tag. Memory use is one chunk
// (1 MiB), whatever the object's size.
//
// If the plaintext source is an io.Seeker and its size is known, the
// reader can be rewound (see Body), so an SDK may re-read it to sign,
// checksum or retry a request. A second pass encrypts under the same key
// and nonce, which is only safe for identical plaintext; so every chunk of
// a repeated pass is compared, through the running GHASH state (a
// universal hash keyed by the secret GCM key), with the first pass before
// any of it is released. A source that changed fails with
// ErrSourceChanged and nothing of the differing chunk leaves.
type EncryptReader struct {
	c      *ContentCipher
	src    io.Reader
	seeker io.Seeker // nil: not rewindable
	start  int64     // the source's offset at the start of the plaintext
	size   int64     // plaintext size, -1 if unknown

	off     uint64                    // offset in the GCM stream of the first byte
	tailLen int64                     // bytes that follow the ciphertext
	tail    func(*aesgcm.Hash) []byte // what follows the ciphertext; nil: the tag
	stream  *aesgcm.Stream
	chunk0  int64  // plaintext bytes sealed per step (ChunkSize, or less for a small body)
	buf     []byte // made on first use: reads into a large enough p need none
	out     []byte // ciphertext not yet returned
	read    int64  // plaintext bytes taken from src in this pass
	emitted int64  // ciphertext bytes returned in this pass
	pos     int64  // position requested through Seek
	done    bool
	err     error

	index *IndexWriter // chunk MACs of the ciphertext, if asked for
	tag   []byte       // the object's tag, once sealed (whole-object readers)
	id    []byte       // the object's IV or message ID, for the index

	states [][16]byte // hash state after each chunk, if rewindable
	chunk  int        // chunks sealed in this pass
	seen   int        // chunks sealed in the furthest pass
	Verify []Verifier // plaintext checksums the caller gave, checked at EOF
}

// Verifier checks the whole plaintext against a checksum at the end.
type Verifier struct {
	Name string
	H    hash.Hash
	Want []byte
}

// VerifyWrite writes p to every Verifier.
func VerifyWrite(vs []Verifier, p []byte) {
	for _, v := range vs {
		v.H.Write(p)
	}
}

// VerifyAll checks every Verifier's sum, in constant time.
func VerifyAll(vs []Verifier) error {
	for _, v := range vs {
		if subtle.ConstantTimeCompare(v.H.Sum(nil), v.Want) != 1 {
			return &ChecksumError{Algorithm: v.Name}
		}
	}
	return nil
}

// NewReader returns the encrypted body for plaintext of size bytes (-1 if
// unknown). The reader must be consumed once in full, or rewound to its
// start only; see EncryptReader. An Encryption gives one reader: a second
// would encrypt under the same key and nonce, so it is refused.
func (e *Encryption) NewReader(plaintext io.Reader, size int64) (*EncryptReader, error) {
	if !e.used.CompareAndSwap(false, true) {
		return nil, ErrReadOnce
	}
	return e.newReader(plaintext, size)
}

func (e *Encryption) newReader(plaintext io.Reader, size int64) (*EncryptReader, error) {
	if err := CheckSize(size); err != nil {
		return nil, err
	}
	r := &EncryptReader{c: e.Content, src: plaintext, size: size, tailLen: aesgcm.TagSize, id: e.IndexID()}
	if s, ok := plaintext.(io.Seeker); ok && size >= 0 {
		start, err := s.Seek(0, io.SeekCurrent)
		if err == nil {
			r.seeker, r.start = s, start
		}
	}
	r.chunk0 = ChunkSize
	if size >= 0 && size < r.chunk0 {
		r.chunk0 = size
	}
	r.stream = r.c.GCM.NewStream(0)
	return r, nil
}

// newPartReader is an EncryptReader for a section of the stream starting
// at offset off, followed by tail(hash): the tag (16 bytes) if last,
// nothing otherwise. The caller (MultipartUpload) makes sure that no
// offset is encrypted twice with different plaintext.
func (e *Encryption) NewPartReader(src io.ReadSeeker, size int64, off uint64, last bool, tail func(*aesgcm.Hash) []byte) (*EncryptReader, error) {
	r, err := e.newReader(src, size)
	if err != nil {
		return nil, err
	}
	if r.seeker == nil {
		return nil, errors.New("s3crypto: part source cannot rewind")
	}
	r.off, r.tail, r.tailLen = off, tail, 0
	if last {
		r.tailLen = aesgcm.TagSize
	}
	r.stream = r.c.GCM.NewStream(off)
	return r, nil
}

// Size returns the ciphertext size, or -1 if the plaintext size is unknown.
func (r *EncryptReader) Size() int64 {
	if r.size < 0 {
		return -1
	}
	return r.size + r.tailLen
}

// Read implements io.Reader.
func (r *EncryptReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.pos != r.emitted {
		if err := r.reposition(); err != nil {
			return 0, err
		}
		if r.pos != r.emitted { // at the end
			return 0, io.EOF
		}
	}
	if len(r.out) == 0 && !r.done && r.chunk == r.seen && int64(len(p)) >= r.chunk0+aesgcm.TagSize {
		// A fresh chunk, with its tail, fits in p: read and seal it there
		// in place, without a copy through the reader's buffer. (A chunk
		// of a repeated pass goes through the buffer, to be compared
		// before any of it reaches the caller.)
		out, err := r.next(p[:0:len(p)], true)
		if err != nil {
			r.err = err
			return 0, err
		}
		r.emitted += int64(len(out))
		r.pos = r.emitted
		return len(out), nil
	}
	for len(r.out) == 0 {
		if r.done {
			return 0, io.EOF
		}
		if r.buf == nil {
			r.buf = make([]byte, 0, r.chunk0+aesgcm.TagSize)
		}
		out, err := r.next(r.buf, false)
		if err != nil {
			r.err = err
			r.out = nil
			return 0, err
		}
		r.out = out
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	r.emitted += int64(n)
	r.pos = r.emitted
	return n, nil
}

// next reads the next chunk of plaintext into dst and seals it there in
// place, returning the ciphertext (and the tail, if it is the last
// chunk). dst must have room for a chunk and its tail: cap(dst) ≥
// r.chunk0 + TagSize. direct means dst is the caller's p: nothing is then
// written past the bytes returned. On an error dst is cleared.
func (r *EncryptReader) next(dst []byte, direct bool) ([]byte, error) {
	out, err := r.seal(dst, direct)
	if err != nil {
		clear(dst[:cap(dst)])
	}
	return out, err
}

func (r *EncryptReader) seal(dst []byte, direct bool) ([]byte, error) {
	want := r.chunk0
	if r.size >= 0 && r.size-r.read < want {
		want = r.size - r.read
	}
	var buf []byte
	var n int
	var err error
	if b, ok := borrow(r.src, want, dst[:cap(dst)]); ok {
		// Sealed from the source's own memory into dst: no copy.
		buf, n = b, len(b)
		switch {
		case n == 0 && want > 0:
			err = io.EOF
		case int64(n) < want:
			err = io.ErrUnexpectedEOF
		}
	} else {
		buf = dst[:want]
		n, err = io.ReadFull(r.src, buf)
	}
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if r.size >= 0 {
			return nil, fmt.Errorf("s3crypto: request body ended after %d bytes, ContentLength is %d", r.read+int64(n), r.size)
		}
		r.done = true
	case err != nil:
		return nil, err
	case r.size >= 0 && r.read+int64(n) == r.size:
		r.done = true
		if err := r.checkNoMore(); err != nil {
			return nil, err
		}
	}
	buf = buf[:n]
	r.read += int64(n)
	if err := CheckSize(int64(r.off) + r.read); err != nil {
		// Only reachable when the size was not known up front: past the
		// limit GCM's 32-bit block counter would wrap and repeat the key
		// stream.
		return nil, err
	}
	fresh := r.chunk == r.seen // no earlier pass got this far
	if fresh {
		VerifyWrite(r.Verify, buf)
	}
	var out []byte
	var state [16]byte
	if r.chunk == 0 && r.done && r.off == 0 && r.tail == nil {
		// The whole object is one chunk: seal it in one call, tag
		// included, and let the tag stand for the hash state.
		out = r.c.GCM.Seal(dst[:0], buf, r.c.AAD)
		copy(state[:], out[len(out)-aesgcm.TagSize:])
	} else {
		if direct {
			out = r.sealWithin(dst, buf)
		} else {
			out = r.stream.Seal(dst[:0], buf)
		}
		state = r.stream.Hash().State()
	}
	if fresh && r.index != nil {
		r.index.Write(out[:len(buf)])
	}
	switch {
	case !fresh:
		if subtle.ConstantTimeCompare(state[:], r.states[r.chunk][:]) != 1 {
			return nil, ErrSourceChanged
		}
	case r.seeker != nil:
		r.states = append(r.states, state)
	}
	r.chunk++
	r.seen = max(r.seen, r.chunk)
	if r.done {
		if fresh {
			if err := VerifyAll(r.Verify); err != nil {
				return nil, err
			}
		}
		switch {
		case r.tail != nil:
			out = append(out, r.tail(r.stream.Hash())...)
		case r.chunk > 1 || r.off != 0:
			tag := r.stream.Hash().Sum(r.c.AAD)
			out = append(out, tag[:]...)
		}
		if r.tail == nil {
			r.tag = append(r.tag[:0], out[len(out)-aesgcm.TagSize:]...)
		}
	}
	return out, nil
}

// sealWithin seals src with r.stream into dst[:len(src)] and returns
// it, writing nothing past it: Stream.Seal uses 16 bytes past its result
// as scratch, and in the caller's p those may be the source's own next
// bytes (a caller encrypting a buffer in place, src = dst[:len(src)]).
// So the last 16 to 31 bytes are saved first and sealed apart.
func (r *EncryptReader) sealWithin(dst, src []byte) []byte {
	n := len(src)
	k := 0
	if n > 2*aesgcm.BlockSize {
		k = (n - aesgcm.BlockSize) &^ (aesgcm.BlockSize - 1) // 16 ≤ n−k < 32
	}
	var saved [2 * aesgcm.BlockSize]byte
	var sealed [3 * aesgcm.BlockSize]byte
	t := copy(saved[:], src[k:])
	out := r.stream.Seal(dst[:0], src[:k]) // its scratch, dst[k:k+16], is within dst[:n]
	return append(out, r.stream.Seal(sealed[:0], saved[:t])...)
}

// borrow returns the next n bytes (fewer at its end) of src, if it is a
// *bytes.Reader whose memory does not overlap avoid (where the chunk is
// sealed to), without copying them, and advances src past them; ok is
// false otherwise, and src is left as it was. bytes.Reader.WriteTo hands
// its unread bytes to one Write and advances by the count that Write
// returns; the slice is the caller's own plaintext, which bytes.Reader
// never changes, and is used only until the chunk is sealed.
func borrow(src io.Reader, n int64, avoid []byte) (b []byte, ok bool) {
	br, ok := src.(*bytes.Reader)
	if !ok {
		return nil, false
	}
	g := grabber{n: n, avoid: avoid}
	br.WriteTo(&g)
	return g.b, !g.overlap
}

// grabber takes up to n bytes of one Write and stops the writer; it takes
// none if they overlap avoid.
type grabber struct {
	n       int64
	avoid   []byte
	b       []byte
	overlap bool
}

var errGrabbed = errors.New("grabbed")

func (g *grabber) Write(p []byte) (int, error) {
	b := p[:min(int64(len(p)), g.n)]
	if overlaps(b, g.avoid) {
		g.overlap = true
		return 0, errGrabbed
	}
	g.b = b
	return len(b), errGrabbed
}

// overlaps reports whether x and y share any byte of memory.
func overlaps(x, y []byte) bool {
	if len(x) == 0 || len(y) == 0 {
		return false
	}
	xs, ys := uintptr(unsafe.Pointer(unsafe.SliceData(x))), uintptr(unsafe.Pointer(unsafe.SliceData(y)))
	return xs < ys+uintptr(len(y)) && ys < xs+uintptr(len(x))
}

// checkNoMore fails if the source has bytes past the declared size, as
// net/http does for a body longer than its ContentLength.
func (r *EncryptReader) checkNoMore() error {
	var b [1]byte
	n, err := io.ReadFull(r.src, b[:])
	if n > 0 {
		return fmt.Errorf("s3crypto: request body is longer than ContentLength %d", r.size)
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// IndexFrom makes the reader compute the chunk MACs of the ciphertext it
// produces into w (one pass; passes repeated for a rewind produce the
// same ciphertext, verified, and are not hashed again).
func (r *EncryptReader) IndexFrom(w *IndexWriter) { r.index = w }

// Index returns the encoded chunk index of a whole object this reader
// has produced to its end, or nil if it has not, or was not asked to (see
// IndexFrom).
func (r *EncryptReader) Index() []byte {
	if r.index == nil || !r.done || r.err != nil || r.tag == nil || r.read != r.index.total {
		return nil
	}
	return r.index.Finish(r.id, r.tag)
}

// Err returns the error that stopped the reader, if it was the source's
// or a check's (not the transport's): a changed source, a checksum
// mismatch, a body shorter or longer than declared.
func (r *EncryptReader) Err() error {
	if r.err == io.EOF {
		return nil
	}
	return r.err
}

// PlaintextRead reports how many plaintext bytes the furthest pass read.
func (r *EncryptReader) PlaintextRead() int64 { return r.read }

// Rewindable reports whether the reader can be re-read from its start.
func (r *EncryptReader) Rewindable() bool { return r.seeker != nil }

// Body returns the reader as an HTTP request body: an io.ReadSeeker when
// it is Rewindable, a plain io.Reader otherwise, so that SDKs do not try
// to rewind what cannot be rewound.
func (r *EncryptReader) Body() io.Reader {
	if r.seeker != nil {
		return rewindable{r}
	}
	return oneShot{r}
}

type oneShot struct{ r *EncryptReader }

func (o oneShot) Read(p []byte) (int, error) { return o.r.Read(p) }

type rewindable struct{ r *EncryptReader }

func (w rewindable) Read(p []byte) (int, error) { return w.r.Read(p) }

// Seek sets the position for the next Read. Any position may be set (SDKs
// seek to the end to learn the length), but reading resumes only from
// where the last read stopped, from the start, or at the end.
func (w rewindable) Seek(offset int64, whence int) (int64, error) { return w.r.seek(offset, whence) }

func (r *EncryptReader) seek(offset int64, whence int) (int64, error) {
	abs, err := seekPosition(r.pos, r.Size(), offset, whence)
	if err != nil {
		return 0, err
	}
	r.pos = abs
	return abs, nil
}

// seekPosition is io.Seeker's new position for a reader at pos of size
// bytes.
func seekPosition(pos, size, offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += pos
	case io.SeekEnd:
		offset += size
	default:
		return 0, errors.New("s3crypto: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("s3crypto: negative position")
	}
	return offset, nil
}

// reposition makes a read at r.pos possible, rewinding to the start.
func (r *EncryptReader) reposition() error {
	switch {
	case r.pos >= r.Size():
		return nil
	case r.pos != 0:
		return fmt.Errorf("s3crypto: encrypted body can only be re-read from its start, not from byte %d", r.pos)
	}
	if _, err := r.seeker.Seek(r.start, io.SeekStart); err != nil {
		return err
	}
	r.stream = r.c.GCM.NewStream(r.off)
	r.out, r.read, r.emitted, r.chunk, r.done = nil, 0, 0, 0, false
	return nil
}
