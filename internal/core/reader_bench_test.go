package core

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"io"
	"testing"

	"github.com/s3c/s3c/internal/aesgcm"
)

// The in-memory reader path against crypto/cipher's one-shot AES-GCM,
// the same 16 MiB message each (the rows "seal/open s3crypto reader" of
// make bench): go test -run XXX -bench ReaderPath ./internal/core. The
// issue's target is ≥ 0.9× of crypto/cipher for both directions.
const readerBenchMsg = 16 << 20

type readerBench struct {
	opts   Options
	msg    []byte
	gcm    cipher.AEAD
	nonce  []byte
	sealed []byte // msg sealed by crypto/cipher
	stored []byte // msg encrypted by an EncryptReader
	dec    *Decryption
	dst    []byte
}

func newReaderBench(b testing.TB) *readerBench {
	b.Helper()
	rb := &readerBench{msg: make([]byte, readerBenchMsg), nonce: make([]byte, aesgcm.NonceSize), opts: aesOptions(b)}
	for i := range rb.msg {
		rb.msg[i] = byte(i * 7)
	}
	blk, _ := aes.NewCipher(make([]byte, 32))
	rb.gcm, _ = cipher.NewGCM(blk)
	rb.sealed = rb.gcm.Seal(nil, rb.nonce, rb.msg, nil)
	enc, err := NewEncryption(context.Background(), &rb.opts, nil)
	if err != nil {
		b.Fatal(err)
	}
	r, err := enc.NewReader(bytes.NewReader(rb.msg), int64(len(rb.msg)))
	if err != nil {
		b.Fatal(err)
	}
	if rb.stored, err = io.ReadAll(r); err != nil {
		b.Fatal(err)
	}
	if rb.dec, err = NewDecryption(context.Background(), &rb.opts, enc.Envelope(int64(len(rb.msg))), nil, false); err != nil {
		b.Fatal(err)
	}
	rb.dst = make([]byte, len(rb.msg)+aesgcm.TagSize)
	if b, ok := b.(*testing.B); ok {
		b.SetBytes(readerBenchMsg)
		b.ReportAllocs()
	}
	return rb
}

// drain reads r to its end into dst, as make bench's rows do.
func drain(b *testing.B, r io.Reader, dst []byte) {
	if _, err := io.ReadFull(r, dst); err != nil {
		b.Fatal(err)
	}
	var one [1]byte
	if n, err := r.Read(one[:]); n != 0 || err != io.EOF {
		b.Fatalf("at the end: %d, %v", n, err)
	}
}

func BenchmarkReaderPath(b *testing.B) {
	b.Run("seal/crypto-cipher", func(b *testing.B) {
		rb := newReaderBench(b)
		for b.Loop() {
			rb.gcm.Seal(rb.dst[:0], rb.nonce, rb.msg, nil)
		}
	})
	b.Run("seal/reader", func(b *testing.B) {
		rb := newReaderBench(b)
		for b.Loop() {
			enc, err := NewEncryption(context.Background(), &rb.opts, nil)
			if err != nil {
				b.Fatal(err)
			}
			r, err := enc.NewReader(bytes.NewReader(rb.msg), int64(len(rb.msg)))
			if err != nil {
				b.Fatal(err)
			}
			drain(b, r, rb.dst)
		}
	})
	b.Run("open/crypto-cipher", func(b *testing.B) {
		rb := newReaderBench(b)
		for b.Loop() {
			if _, err := rb.gcm.Open(rb.dst[:0], rb.nonce, rb.sealed, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open/reader", func(b *testing.B) {
		rb := newReaderBench(b)
		for b.Loop() {
			r, err := rb.dec.OpenStream(io.NopCloser(bytes.NewReader(rb.stored)), int64(len(rb.stored)))
			if err != nil {
				b.Fatal(err)
			}
			drain(b, r, rb.dst[:len(rb.msg)])
		}
	})
}
