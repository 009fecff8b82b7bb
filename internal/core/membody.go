package core

import (
	"errors"
	"fmt"
	"io"
	"math/bits"
	"sync"
	"sync/atomic"
)

// The buffer that holds a small object between its read and its release:
// authenticated plaintext in memory.

// Buffers of small objects are pooled by power-of-two size, from
// 1 << minPooledShift to 1 << maxPooledShift bytes: a program that reads
// many small objects then allocates little per object, and a large
// object's buffer, worth its allocation, is not kept.
const (
	minPooledShift = 10 // 1 KiB
	maxPooledShift = 17 // 128 KiB
)

var memPools [maxPooledShift - minPooledShift + 1]sync.Pool

// poolClass returns the pool index for a buffer of n bytes, or -1.
func poolClass(n int64) int {
	if n > 1<<maxPooledShift {
		return -1
	}
	shift := max(minPooledShift, bits.Len64(uint64(max(n, 1)-1)))
	return shift - minPooledShift
}

// getBuffer returns a buffer of n bytes, pooled if small. Its contents
// are undefined.
func getBuffer(n int64) *[]byte {
	c := poolClass(n)
	if c < 0 {
		b := make([]byte, n)
		return &b
	}
	if p, ok := memPools[c].Get().(*[]byte); ok {
		*p = (*p)[:n]
		return p
	}
	b := make([]byte, n, 1<<(c+minPooledShift))
	return &b
}

// putBuffer gives a buffer from getBuffer back: a pooled one is wiped
// first (its bytes past len(*b) were never written), a large one left to
// the garbage collector.
func putBuffer(b *[]byte) {
	if c := poolClass(int64(cap(*b))); c >= 0 && cap(*b) == 1<<(c+minPooledShift) {
		clear(*b)
		memPools[c].Put(b)
	}
}

// readExactly reads the whole body, n bytes, into a buffer from
// getBuffer and checks that the body holds no more.
func readExactly(r io.Reader, n int64) (*[]byte, error) {
	buf := getBuffer(n)
	if _, err := io.ReadFull(r, *buf); err != nil {
		putBuffer(buf)
		return nil, fmt.Errorf("s3crypto: reading object body: %w", err)
	}
	if err := ExpectEOF(r); err != nil {
		putBuffer(buf)
		return nil, fmt.Errorf("s3crypto: reading object body: %w", err)
	}
	return buf, nil
}

// errBodyClosed is a read of a memBody after its Close.
var errBodyClosed = errors.New("s3crypto: read from a closed object body")

// memBody is authenticated plaintext in memory: readable in order or at
// any offset, from several goroutines. Close gives its buffer back
// (putBuffer); reads after it fail. Close may race
// a read (as with an HTTP body) without blocking on it: the read in
// progress then releases the buffer when it is done, so that the buffer
// never holds another object's plaintext while a read copies from it.
type memBody struct {
	mu     sync.Mutex
	closed atomic.Bool
	buf    *[]byte // nil once released
	b      []byte  // the plaintext, within *buf
	off    int64
}

func newMemBody(buf *[]byte, plaintext []byte) *memBody {
	return &memBody{buf: buf, b: plaintext}
}

// lock takes the lock for a read; it reports false after Close.
func (m *memBody) lock() bool {
	m.mu.Lock()
	if m.closed.Load() {
		m.releaseLocked()
		m.mu.Unlock()
		return false
	}
	return true
}

// unlock ends a read, releasing the buffer if Close came meanwhile.
func (m *memBody) unlock() {
	m.mu.Unlock()
	if m.closed.Load() && m.mu.TryLock() {
		m.releaseLocked()
		m.mu.Unlock()
	}
}

func (m *memBody) releaseLocked() {
	if m.buf != nil {
		putBuffer(m.buf)
		m.buf, m.b = nil, nil
	}
}

func (m *memBody) Read(p []byte) (int, error) {
	if !m.lock() {
		return 0, errBodyClosed
	}
	defer m.unlock()
	if m.off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[m.off:])
	m.off += int64(n)
	return n, nil
}

// WriteTo writes the rest of the plaintext to w, which must not keep it
// (io.Writer's contract): Close may give the buffer to another read.
func (m *memBody) WriteTo(w io.Writer) (int64, error) {
	if !m.lock() {
		return 0, errBodyClosed
	}
	defer m.unlock()
	if m.off >= int64(len(m.b)) {
		return 0, nil
	}
	rest := m.b[m.off:]
	n, err := w.Write(rest)
	m.off += int64(n)
	if err == nil && n < len(rest) {
		err = io.ErrShortWrite
	}
	return int64(n), err
}

// ReadAt implements io.ReaderAt.
func (m *memBody) ReadAt(p []byte, off int64) (int, error) {
	if !m.lock() {
		return 0, errBodyClosed
	}
	defer m.unlock()
	if off < 0 {
		return 0, errors.New("s3crypto: negative offset")
	}
	if off >= int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// Seek implements io.Seeker.
func (m *memBody) Seek(offset int64, whence int) (int64, error) {
	if !m.lock() {
		return 0, errBodyClosed
	}
	defer m.unlock()
	abs, err := seekPosition(m.off, int64(len(m.b)), offset, whence)
	if err != nil {
		return 0, err
	}
	m.off = abs
	return abs, nil
}

// Close releases the buffer, at once or, if a read is in progress, when
// that read ends. It never blocks and may be called more than once.
func (m *memBody) Close() error {
	m.closed.Store(true)
	if m.mu.TryLock() {
		m.releaseLocked()
		m.mu.Unlock()
	}
	return nil
}
