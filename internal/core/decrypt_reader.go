package core

import (
	"crypto/cipher"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	"github.com/s3c/s3c/internal/aesgcm"
)

// ErrBadPadding means a legacy AES-CBC object's padding is invalid: it was
// altered or truncated, or decrypted with the wrong key.
var ErrBadPadding = errors.New("AES-CBC padding is invalid (object altered or truncated, or wrong key)")

// OpenVerified reads the whole stored object from body (stored bytes long)
// and authenticates it before returning anything: it returns the
// plaintext as a reader and its size. For AES-GCM objects the reader is
// also an io.ReaderAt and io.Seeker. Objects up to
// Options.MemoryBufferSize are checked in memory; larger ones are spooled,
// as ciphertext, to an unlinked temporary file that the returned reader
// decrypts from; close it to release the file. body is closed. A body
// that holds more than stored bytes is an error.
//
// Legacy AES-CBC objects cannot be authenticated; their padding is checked
// before anything is returned.
func (d *Decryption) OpenVerified(body io.ReadCloser, stored int64) (io.ReadCloser, int64, error) {
	defer body.Close()
	if err := CheckStoredSize(d.env, stored); err != nil {
		return nil, 0, err
	}
	if d.Content != nil {
		ctLen, err := PlaintextSizeOf(stored)
		if err != nil {
			return nil, 0, err
		}
		if stored <= d.opts.MemoryBufferSize {
			return d.gcmInMemory(body, stored)
		}
		return d.gcmSpooled(body, ctLen)
	}
	if stored == 0 || stored%aesgcm.BlockSize != 0 {
		return nil, 0, fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrBadPadding, stored)
	}
	if stored <= d.opts.MemoryBufferSize {
		return d.cbcInMemory(body, stored)
	}
	return d.cbcSpooled(body, stored)
}

func (d *Decryption) gcmInMemory(body io.Reader, stored int64) (io.ReadCloser, int64, error) {
	buf, err := readExactly(body, stored)
	if err != nil {
		return nil, 0, err
	}
	pt, err := d.Content.GCM.Open((*buf)[:0], *buf, d.Content.AAD)
	if err != nil {
		putBuffer(buf)
		return nil, 0, ErrAuthentication
	}
	return newMemBody(buf, pt), int64(len(pt)), nil
}

// spool makes an unlinked temporary file for ciphertext.
func (d *Decryption) Spool() (*os.File, error) {
	f, err := os.CreateTemp(d.tempDir(), "s3c-spool-*")
	if err != nil {
		return nil, fmt.Errorf("s3crypto: spool file for a large object: %w", err)
	}
	os.Remove(f.Name()) // unlinked: nothing is left behind, whatever happens
	return f, nil
}

func (d *Decryption) gcmSpooled(body io.Reader, ctLen int64) (io.ReadCloser, int64, error) {
	f, err := d.Spool()
	if err != nil {
		return nil, 0, err
	}
	h := d.Content.GCM.NewHash()
	buf := make([]byte, ChunkSize)
	for left := ctLen; left > 0; {
		n := min(int64(len(buf)), left)
		if _, err := io.ReadFull(body, buf[:n]); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("s3crypto: reading object body: %w", err)
		}
		h.Write(buf[:n])
		if _, err := f.Write(buf[:n]); err != nil {
			f.Close()
			return nil, 0, fmt.Errorf("s3crypto: spooling object body: %w", err)
		}
		left -= n
	}
	var tag [aesgcm.TagSize]byte
	if _, err := io.ReadFull(body, tag[:]); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("s3crypto: reading object body: %w", err)
	}
	if err := ExpectEOF(body); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("s3crypto: reading object body: %w", err)
	}
	if !h.Verify(d.Content.AAD, tag[:]) {
		f.Close()
		return nil, 0, ErrAuthentication
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	return NewCTRFileReader(f, d.Content.GCM, ctLen), ctLen, nil
}

// ctrFileReader decrypts authenticated ciphertext from a spool file, in
// order or at any offset (AES-CTR at the offset's counter). ReadAt is
// safe for concurrent use, as io.ReaderAt requires; Read and Seek are not.
type ctrFileReader struct {
	f    *os.File
	c    *aesgcm.Cipher
	size int64
	pos  int64

	mu   sync.Mutex
	ctr  cipher.Stream // positioned at next, for reads in order; nil while in use
	next int64
}

func NewCTRFileReader(f *os.File, c *aesgcm.Cipher, size int64) *ctrFileReader {
	return &ctrFileReader{f: f, c: c, size: size, ctr: c.NewCTR(0)}
}

func (r *ctrFileReader) Read(p []byte) (int, error) {
	n, err := r.ReadAt(p, r.pos)
	r.pos += int64(n)
	if err == io.EOF && n > 0 {
		err = nil
	}
	return n, err
}

// ReadAt implements io.ReaderAt.
func (r *ctrFileReader) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("s3crypto: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	short := false
	if int64(len(p)) > r.size-off {
		p, short = p[:r.size-off], true
	}
	n, err := r.f.ReadAt(p, off)
	if n < len(p) && err == io.EOF {
		err = io.ErrUnexpectedEOF // the spool file is shorter than it was written
	}
	r.mu.Lock()
	ctr := r.ctr
	if ctr == nil || off != r.next {
		ctr = r.c.NewCTR(uint64(off))
	}
	r.ctr = nil // ours until we put it back
	r.mu.Unlock()
	ctr.XORKeyStream(p[:n], p[:n])
	r.mu.Lock()
	r.ctr, r.next = ctr, off+int64(n)
	r.mu.Unlock()
	if err == nil && short {
		err = io.EOF
	}
	return n, err
}

// Seek implements io.Seeker.
func (r *ctrFileReader) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += r.pos
	case io.SeekEnd:
		offset += r.size
	}
	if offset < 0 {
		return 0, errors.New("s3crypto: negative position")
	}
	r.pos = offset
	return offset, nil
}

func (r *ctrFileReader) Close() error { return r.f.Close() }

// checkCBCLength compares a CBC object's recorded plaintext length, if
// any, with the length its padding gives.
func (d *Decryption) checkCBCLength(n int64) error {
	if d.env.PlaintextLength >= 0 && d.env.PlaintextLength != n {
		return fmt.Errorf("%w: padding leaves %d bytes, the envelope records %d", ErrBadPadding, n, d.env.PlaintextLength)
	}
	return nil
}

// unpad checks PKCS #7 padding of the final block in constant time and
// returns its length.
func unpad(last []byte) (int, error) {
	p := int(last[len(last)-1])
	good := subtle.ConstantTimeLessOrEq(1, p) & subtle.ConstantTimeLessOrEq(p, aesgcm.BlockSize)
	for i := 0; i < aesgcm.BlockSize; i++ {
		inPad := subtle.ConstantTimeLessOrEq(aesgcm.BlockSize-p, i)
		good &= subtle.ConstantTimeSelect(inPad, subtle.ConstantTimeByteEq(last[i], byte(p)), 1)
	}
	if good != 1 {
		return 0, ErrBadPadding
	}
	return p, nil
}

func (d *Decryption) cbcInMemory(body io.Reader, stored int64) (io.ReadCloser, int64, error) {
	pbuf, err := readExactly(body, stored)
	if err != nil {
		return nil, 0, err
	}
	buf := *pbuf
	cipher.NewCBCDecrypter(d.cbc, d.env.IV).CryptBlocks(buf, buf)
	p, err := unpad(buf[len(buf)-aesgcm.BlockSize:])
	if err != nil {
		putBuffer(pbuf)
		return nil, 0, err
	}
	pt := buf[:len(buf)-p]
	if err := d.checkCBCLength(int64(len(pt))); err != nil {
		putBuffer(pbuf)
		return nil, 0, err
	}
	return newMemBody(pbuf, pt), int64(len(pt)), nil
}

func (d *Decryption) cbcSpooled(body io.Reader, stored int64) (io.ReadCloser, int64, error) {
	f, err := d.Spool()
	if err != nil {
		return nil, 0, err
	}
	n, err := io.CopyN(f, body, stored)
	if err == nil && n == stored {
		err = ExpectEOF(body)
	}
	if err != nil || n != stored {
		f.Close()
		return nil, 0, fmt.Errorf("s3crypto: reading object body: %w", err)
	}
	// The last block, chained to the one before it, gives the padding.
	var tail [2 * aesgcm.BlockSize]byte
	if _, err := f.ReadAt(tail[:], stored-int64(len(tail))); err != nil {
		f.Close()
		return nil, 0, err
	}
	var last [aesgcm.BlockSize]byte
	cipher.NewCBCDecrypter(d.cbc, tail[:aesgcm.BlockSize]).CryptBlocks(last[:], tail[aesgcm.BlockSize:])
	p, err := unpad(last[:])
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		f.Close()
		return nil, 0, err
	}
	size := stored - int64(p)
	if err := d.checkCBCLength(size); err != nil {
		f.Close()
		return nil, 0, err
	}
	r := &cbcReader{src: f, closer: f, mode: cipher.NewCBCDecrypter(d.cbc, d.env.IV), left: size, stored: stored}
	return r, size, nil
}

// cbcReader decrypts AES-CBC block by block, returning at most left bytes.
type cbcReader struct {
	src    io.Reader
	closer io.Closer
	mode   cipher.BlockMode
	buf    []byte
	out    []byte
	left   int64 // plaintext bytes still to return; -1: find out from the padding
	stored int64 // ciphertext bytes still to read
	err    error
}

func (r *cbcReader) Read(p []byte) (int, error) {
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.left == 0 || r.stored == 0 {
			return 0, io.EOF
		}
		if r.buf == nil {
			r.buf = make([]byte, 64<<10)
		}
		n := min(int64(len(r.buf)), r.stored)
		if _, err := io.ReadFull(r.src, r.buf[:n]); err != nil {
			r.err = fmt.Errorf("s3crypto: reading object body: %w", err)
			return 0, r.err
		}
		r.stored -= n
		if r.stored == 0 {
			if err := ExpectEOF(r.src); err != nil {
				r.err = fmt.Errorf("s3crypto: reading object body: %w", err)
				return 0, r.err
			}
		}
		r.mode.CryptBlocks(r.buf[:n], r.buf[:n])
		out := r.buf[:n]
		if r.stored == 0 && r.left < 0 {
			p, err := unpad(out[len(out)-aesgcm.BlockSize:])
			if err != nil {
				r.err = err
				return 0, err
			}
			out = out[:len(out)-p]
		}
		if r.left >= 0 && int64(len(out)) > r.left {
			out = out[:r.left]
		}
		r.out = out
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	if r.left > 0 {
		r.left -= int64(n)
	}
	return n, nil
}

func (r *cbcReader) Close() error { return r.closer.Close() }

// OpenStream returns the plaintext of body as it is decrypted, before the
// object is authenticated: the final Read reports ErrAuthentication (or
// ErrBadPadding) if the object was altered. See WithUnauthenticatedStream.
// Closing the reader closes body.
func (d *Decryption) OpenStream(body io.ReadCloser, stored int64) (io.ReadCloser, error) {
	if err := CheckStoredSize(d.env, stored); err != nil {
		body.Close()
		return nil, err
	}
	if d.Content != nil {
		ctLen, err := PlaintextSizeOf(stored)
		if err != nil {
			body.Close()
			return nil, err
		}
		return &gcmStreamReader{
			body: body, ct: io.LimitReader(body, ctLen), left: ctLen,
			stream: d.Content.GCM.NewStream(0), aad: d.Content.AAD,
		}, nil
	}
	if stored == 0 || stored%aesgcm.BlockSize != 0 {
		body.Close()
		return nil, fmt.Errorf("%w: %d bytes is not a whole number of AES blocks", ErrBadPadding, stored)
	}
	return &cbcReader{src: body, closer: body, mode: cipher.NewCBCDecrypter(d.cbc, d.env.IV), left: -1, stored: stored}, nil
}

// directRead is the smallest Read that gcmStreamReader decrypts in the
// caller's buffer: below it, the fixed cost of a step (a GHASH call and
// a field multiplication) outweighs the copy it saves, and whole chunks
// through the reader's buffer are faster.
const directRead = 32 << 10

// gcmStreamReader decrypts as it reads and checks the tag at the end.
type gcmStreamReader struct {
	body   io.ReadCloser
	ct     io.Reader
	left   int64
	stream *aesgcm.Stream
	aad    []byte
	buf    []byte // made on first use: reads into a large enough p need none
	out    []byte
	err    error
}

func (r *gcmStreamReader) Read(p []byte) (int, error) {
	if len(r.out) == 0 && r.err == nil && r.left > 0 && (int64(len(p)) >= r.left || len(p) >= directRead) {
		// Read the ciphertext into p and decrypt it there in place: no
		// copy through the reader's buffer. Every step but the last is
		// whole blocks, at most a chunk (so that the hash and the
		// keystream passes find it in the cache).
		n := min(r.left, ChunkSize, int64(len(p)))
		if n < r.left {
			n -= n % aesgcm.BlockSize
		}
		if _, err := io.ReadFull(r.ct, p[:n]); err != nil {
			clear(p[:n])
			r.err = fmt.Errorf("s3crypto: reading object body: %w", err)
			return 0, r.err
		}
		r.left -= n
		r.stream.Open(p[:n], p[:n])
		return int(n), nil
	}
	for len(r.out) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		if r.left == 0 {
			var tag [aesgcm.TagSize]byte
			if _, err := io.ReadFull(r.body, tag[:]); err != nil {
				r.err = fmt.Errorf("s3crypto: reading object body: %w", err)
			} else if err := ExpectEOF(r.body); err != nil {
				r.err = fmt.Errorf("s3crypto: reading object body: %w", err)
			} else if !r.stream.Hash().Verify(r.aad, tag[:]) {
				r.err = ErrAuthentication
			} else {
				r.err = io.EOF
			}
			continue
		}
		if r.buf == nil {
			r.buf = make([]byte, min(r.left, ChunkSize))
		}
		n := min(int64(len(r.buf)), r.left)
		if _, err := io.ReadFull(r.ct, r.buf[:n]); err != nil {
			r.err = fmt.Errorf("s3crypto: reading object body: %w", err)
			continue
		}
		r.left -= n
		r.stream.Open(r.buf[:n], r.buf[:n])
		r.out = r.buf[:n]
	}
	n := copy(p, r.out)
	r.out = r.out[n:]
	return n, nil
}

func (r *gcmStreamReader) Close() error { return r.body.Close() }
