package core

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/keyring"
)

// aesOptions returns the options of a client with a raw AES key (all
// zeros).
func aesOptions(t testing.TB) Options {
	t.Helper()
	kr, err := keyring.NewAES(make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	opts, err := NewOptions(kr)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

// newAESEncryption returns the encryption state of a new object under a
// raw AES key.
func newAESEncryption(t *testing.T) *Encryption {
	t.Helper()
	opts := aesOptions(t)
	enc, err := NewEncryption(context.Background(), &opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	return enc
}

// One Encryption encrypts one body: a second reader would reuse its key
// and nonce.
func TestEncryptionGivesOneReader(t *testing.T) {
	enc := newAESEncryption(t)
	if _, err := enc.NewReader(strings.NewReader("one"), 3); err != nil {
		t.Fatal(err)
	}
	if _, err := enc.NewReader(strings.NewReader("two"), 3); !errors.Is(err, ErrReadOnce) {
		t.Fatalf("second NewReader: %v, want a refusal", err)
	}
}

// A stream of unknown length stops at AES-GCM's limit instead of letting
// the 32-bit block counter wrap.
func TestUnknownLengthStopsAtGCMLimit(t *testing.T) {
	enc := newAESEncryption(t)
	r, err := enc.NewReader(bytes.NewReader(make([]byte, 64)), -1)
	if err != nil {
		t.Fatal(err)
	}
	// Pretend the first 2^36 − 48 bytes went by already.
	r.off = aesgcm.MaxPlaintextSize - 3*aesgcm.BlockSize
	r.stream = r.c.GCM.NewStream(r.off)
	if _, err := io.ReadAll(r.Body()); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("reading past the limit: %v, want ErrTooLarge", err)
	}
}
