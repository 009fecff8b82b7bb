package core

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// The chunk index: a small object <key>.s3c-index beside an AES-GCM object
// (V2 or V3) written by s3c, holding one HMAC-SHA256 per fixed-size chunk
// of the object's ciphertext, so that a reader can release each chunk of
// plaintext as soon as its MAC verifies instead of authenticating the
// whole object first. The MAC key is derived from the object's data key,
// so only holders of the data key can make or check an index.
//
// Layout (all integers big-endian):
//
//	magic      "S3CIDX"            6 bytes
//	version    1                   1 byte
//	idLen      12 (V2) or 28 (V3)  1 byte
//	chunkSize                      4 bytes, a positive multiple of 16
//	chunkCount                     4 bytes, ceil(ciphertext / chunkSize)
//	stored                         8 bytes, ciphertext + tag
//	id         the V2 IV or the V3 message ID
//	tag        the object's GCM tag, 16 bytes
//	macs       chunkCount × 32 bytes: HMAC(k, "chunk" ‖ BE64(i) ‖ C_i ‖ BE64(len(C_i)))
//	final      32 bytes: HMAC(k, "index" ‖ everything above)
//
// with k = HKDF-SHA256(data key, salt = id, info = "s3c chunk index v1").

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
	// DefaultIndexChunk is the chunk size of the indexes s3c writes.
	DefaultIndexChunk = 4 << 20
	// MaxIndexChunk bounds the chunk size a reader accepts: it holds one
	// chunk in memory.
	MaxIndexChunk = 64 << 20

	indexMagic    = "S3CIDX"
	indexVersion  = 1
	indexInfo     = "s3c chunk index v1"
	indexMACSize  = sha256.Size
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

// indexMACKey derives the MAC key of an object's index.
func indexMACKey(dataKey, id []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, dataKey, id, indexInfo, 32)
}

// Index is a decoded, authenticated chunk index.
type Index struct {
	ChunkSize int64
	Chunks    int64
	Stored    int64
	ID        []byte
	Tag       [aesgcm.TagSize]byte
	MACs      [][indexMACSize]byte
	key       []byte
}

// ChunkLen returns the ciphertext length of chunk i.
func (x *Index) ChunkLen(i int64) int64 {
	ct := x.Stored - aesgcm.TagSize
	return min(x.ChunkSize, ct-i*x.ChunkSize)
}

// VerifyChunk reports, in constant time, whether ct is chunk i's
// ciphertext as the index records it.
func (x *Index) VerifyChunk(i int64, ct []byte) bool {
	if i < 0 || i >= x.Chunks || int64(len(ct)) != x.ChunkLen(i) {
		return false
	}
	m := chunkMAC(x.key, i)
	m.Write(ct)
	sum := chunkSum(m, int64(len(ct)))
	return subtle.ConstantTimeCompare(sum[:], x.MACs[i][:]) == 1
}

// CheckTag reports, in constant time, whether tag is the one the index
// recorded.
func (x *Index) CheckTag(tag []byte) bool {
	return subtle.ConstantTimeCompare(tag, x.Tag[:]) == 1
}

// chunkMAC starts the MAC of chunk i; chunkSum finishes it with the
// chunk's length, which the writer knows only at its end.
func chunkMAC(key []byte, i int64) hash.Hash {
	m := hmac.New(sha256.New, key)
	var b [5 + 8]byte
	copy(b[:], "chunk")
	binary.BigEndian.PutUint64(b[5:], uint64(i))
	m.Write(b[:])
	return m
}

func chunkSum(m hash.Hash, n int64) (s [indexMACSize]byte) {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(n))
	m.Write(b[:])
	m.Sum(s[:0])
	return s
}

// DecodeIndex parses and authenticates an index against the object it
// should describe: its envelope, its stored size and its data key (held
// by d). Any mismatch is ErrIndexInvalid.
func (d *Decryption) DecodeIndex(b []byte, stored int64) (*Index, error) {
	if d.Content == nil || d.indexKey == nil {
		return nil, fmt.Errorf("%w: the object's format has no index", ErrIndexInvalid)
	}
	return decodeIndex(b, d.indexKey, indexID(d.env), stored)
}

func decodeIndex(b, key, id []byte, stored int64) (*Index, error) {
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
	want := indexFixedLen + idLen + aesgcm.TagSize + int(count)*indexMACSize + indexMACSize
	if len(b) != want {
		return bad("length")
	}
	body := b[:len(b)-indexMACSize]
	m := hmac.New(sha256.New, key)
	m.Write([]byte("index"))
	m.Write(body)
	if !hmac.Equal(m.Sum(nil), b[len(body):]) {
		return bad("MAC does not verify (altered, or another object's index)")
	}
	// Authentic: now bind it to this object.
	if subtle.ConstantTimeCompare(b[indexFixedLen:indexFixedLen+idLen], id) != 1 {
		return bad("written for another object")
	}
	if int64(st) != stored {
		return bad(fmt.Sprintf("describes %d stored bytes, the object has %d", st, stored))
	}
	x := &Index{ChunkSize: chunk, Chunks: count, Stored: int64(st), ID: id, key: key}
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
	chunk int64
	first int64 // global index of the first chunk
	cur   hash.Hash
	n     int64 // bytes in cur
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
	return &IndexWriter{key: e.indexKey, chunk: e.indexChunk, first: off / e.indexChunk}
}

// Write absorbs ciphertext. It never fails.
func (w *IndexWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		if w.cur == nil {
			w.cur = chunkMAC(w.key, w.first+int64(len(w.macs)))
			w.n = 0
		}
		k := min(int64(len(p)), w.chunk-w.n)
		w.cur.Write(p[:k])
		w.n += k
		w.total += k
		p = p[k:]
		if w.n == w.chunk {
			w.flush()
		}
	}
	return n, nil
}

func (w *IndexWriter) flush() {
	if w.cur == nil {
		return
	}
	w.macs = append(w.macs, chunkSum(w.cur, w.n))
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
	w.cur, w.n = next.cur, next.n
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
	b := make([]byte, 0, indexFixedLen+len(id)+aesgcm.TagSize+(len(macs)+1)*indexMACSize)
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
	m := hmac.New(sha256.New, key)
	m.Write([]byte("index"))
	m.Write(b)
	return m.Sum(b)
}

// OpenIndexed returns the plaintext bytes off … off+n−1 of an object
// with a valid index x, read from body, which must yield the object's
// stored bytes from the start of the chunk holding off (off/ChunkSize ×
// ChunkSize) to the end of the chunk holding the last byte asked for and,
// if withTag, on to the end of the object, tag included. Each chunk is
// released only after its MAC verifies; with withTag, the end of the
// stream is reported only after the object's tag equals the one the index
// recorded and nothing follows it; when the whole object is read (off 0,
// withTag), its GCM tag must verify as well.
//
// A goroutine reads the chunks in order while indexWorkers goroutines
// verify and decrypt them; the caller gets them in order. Memory is at
// most indexInFlight chunks. Close the reader to stop them.
func (d *Decryption) OpenIndexed(body io.ReadCloser, x *Index, off, n int64, withTag bool) io.ReadCloser {
	first := off / x.ChunkSize
	last := first - 1
	if n > 0 {
		last = (off + n - 1) / x.ChunkSize
	}
	r := &indexedReader{
		body: body, x: x, gcm: d.Content.GCM,
		first: first, last: last, skip: off - first*x.ChunkSize, left: n, withTag: withTag,
		queue: make(chan chan verified, indexWorkers), jobs: make(chan indexJob),
		free: make(chan []byte, indexInFlight), stop: make(chan struct{}),
	}
	if withTag && first == 0 {
		// The whole object: its GCM tag is checked too, as a reader
		// without the index would (GHASH costs little beside the MACs).
		r.hash, r.aad = d.Content.GCM.NewHash(), d.Content.AAD
	}
	return r
}

const (
	// indexWorkers is how many chunks are verified at once.
	indexWorkers = 2
	// indexInFlight bounds the chunk buffers of one reader: one being
	// read, the workers', the queue's, the caller's.
	indexInFlight = 2*indexWorkers + 2
)

type indexedReader struct {
	body    io.ReadCloser
	x       *Index
	gcm     *aesgcm.Cipher
	first   int64 // the first chunk to read
	last    int64 // the last chunk to read
	skip    int64 // plaintext bytes to drop from the first chunk
	left    int64 // plaintext bytes to release
	withTag bool
	hash    *aesgcm.Hash // the whole object's GHASH, if it is read whole (the caller's side)
	aad     []byte

	queue chan chan verified // results in chunk order; closed at the end
	jobs  chan indexJob
	free  chan []byte   // buffers the caller is done with
	stop  chan struct{} // closed by Close
	once  sync.Once

	started bool
	cur     verified
	err     error
}

// indexJob is one chunk for a worker: its ciphertext in buf, and which
// plaintext bytes of it to release.
type indexJob struct {
	i        int64
	buf      []byte
	from, to int64
	res      chan verified
}

// verified is one chunk's plaintext, released to the caller, or the
// error that ends the stream; final carries the object's tag.
type verified struct {
	out, buf []byte
	hash     *aesgcm.Hash
	tag      []byte
	final    bool
	err      error
}

var errReadAfterClose = errors.New("s3crypto: read from a closed body")

func (r *indexedReader) Read(p []byte) (int, error) {
	select {
	case <-r.stop:
		return 0, errReadAfterClose
	default:
	}
	if !r.started {
		r.started = true
		go r.produce()
		for range indexWorkers {
			go r.work()
		}
	}
	for len(r.cur.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.cur.buf != nil {
			select {
			case r.free <- r.cur.buf:
			default:
			}
			r.cur.buf = nil
		}
		res, ok := <-r.queue
		if !ok {
			r.err = errReadAfterClose
			continue
		}
		c, ok := <-res
		if !ok {
			r.err = errReadAfterClose
			continue
		}
		r.cur, r.err = c, c.err
		if r.err != nil {
			continue
		}
		if c.hash != nil {
			r.hash.Append(c.hash)
		}
		if c.final {
			r.err = r.finish(c.tag)
		}
	}
	k := copy(p, r.cur.out)
	r.cur.out = r.cur.out[k:]
	return k, nil
}

// finish checks the object's tag: io.EOF if it is the recorded one and,
// for a whole object, the GCM tag of what was read.
func (r *indexedReader) finish(tag []byte) error {
	if tag == nil {
		return io.EOF
	}
	if !r.x.CheckTag(tag) {
		return fmt.Errorf("%w: the object's tag is not the one its index records", ErrAuthentication)
	}
	if r.hash != nil && !r.hash.Verify(r.aad, tag) {
		return ErrAuthentication
	}
	return io.EOF
}

// produce reads the chunks in order and hands each to a worker, queueing
// its result for the caller; then the tag. It stops at the first error
// or at Close.
func (r *indexedReader) produce() {
	defer close(r.queue)
	defer close(r.jobs)
	send := func(res chan verified) bool {
		select {
		case r.queue <- res:
			return true
		case <-r.stop:
			return false
		}
	}
	fail := func(err error) {
		res := make(chan verified, 1)
		res <- verified{err: err}
		send(res)
	}
	skip, left := r.skip, r.left
	for i := r.first; i <= r.last; i++ {
		cl := r.x.ChunkLen(i)
		var buf []byte
		select {
		case buf = <-r.free:
		default:
		}
		if int64(cap(buf)) < cl {
			buf = make([]byte, r.x.ChunkSize)
		}
		buf = buf[:cl]
		if _, err := io.ReadFull(r.body, buf); err != nil {
			fail(truncated(err, fmt.Sprintf("chunk %d", i)))
			return
		}
		to := min(cl, skip+left)
		job := indexJob{i: i, buf: buf, from: skip, to: to, res: make(chan verified, 1)}
		left -= to - skip
		skip = 0
		if !send(job.res) {
			return
		}
		select {
		case r.jobs <- job:
		case <-r.stop:
			return
		}
	}
	final := verified{final: true}
	if r.withTag {
		final.tag = make([]byte, aesgcm.TagSize)
		if _, err := io.ReadFull(r.body, final.tag); err != nil {
			fail(truncated(err, "its tag"))
			return
		}
		if err := ExpectEOF(r.body); err != nil {
			fail(err)
			return
		}
	}
	res := make(chan verified, 1)
	res <- final
	send(res)
}

// work verifies and decrypts chunks.
func (r *indexedReader) work() {
	for job := range r.jobs {
		c := job.buf
		if !r.x.VerifyChunk(job.i, c) {
			job.res <- verified{buf: job.buf, err: fmt.Errorf("%w: chunk %d (bytes %d–%d) does not match its MAC in the index",
				ErrAuthentication, job.i, job.i*r.x.ChunkSize, job.i*r.x.ChunkSize+int64(len(c))-1)}
			continue
		}
		var h *aesgcm.Hash
		if r.hash != nil {
			h = r.gcm.NewHash()
			h.Write(c)
		}
		r.gcm.NewCTR(uint64(job.i*r.x.ChunkSize)).XORKeyStream(c, c)
		job.res <- verified{out: c[job.from:job.to], buf: job.buf, hash: h}
	}
}

// truncated turns a short read into an authentication failure: the
// object is shorter than its index says.
func truncated(err error, what string) error {
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return fmt.Errorf("%w: the object ends before %s", ErrAuthentication, what)
	}
	return err
}

// Close stops the goroutines and closes the body, which interrupts a
// read in progress.
func (r *indexedReader) Close() error {
	r.once.Do(func() { close(r.stop) })
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
	return &IndexWriter{key: d.indexKey, chunk: chunk}
}

// IndexID returns what the object's index binds: its V3 message ID or
// V2 IV.
func (d *Decryption) IndexID() []byte { return indexID(d.env) }
