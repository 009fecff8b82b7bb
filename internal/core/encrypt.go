package core

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// Encryption is the content-encryption state of one new object: a fresh
// data key from the keyring, the content cipher derived from it, and the
// envelope that lets a reader recover it. Use it for exactly one object.
//
// The front ends' PutObject, Uploader and MultipartUpload use it (see
// NewReader and NewPartReader).
type Encryption struct {
	env     *metadata.Envelope
	Content *ContentCipher
	keyRef  string
	used    atomic.Bool // NewReader was called

	indexKey   []byte // the chunk-index MAC key (see index.go)
	indexChunk int64
}

// NewEncryption asks the keyring for a new data key bound to ec (the
// encryption context or material-description pairs; may be nil) and
// prepares the content cipher. opts must have passed through New, or be
// filled in the same way by NewOptions.
func NewEncryption(ctx context.Context, opts *Options, ec map[string]string) (*Encryption, error) {
	if err := Resolve(opts); err != nil {
		return nil, err
	}
	alg := opts.contentAlg()
	dk, err := opts.Keyring.GenerateDataKey(ctx, &keyring.EncryptionRequest{ContentAlg: alg, Context: ec})
	if err != nil {
		return nil, err
	}
	defer dk.Zero()
	if len(dk.Plaintext) != keyring.DataKeySize {
		return nil, fmt.Errorf("s3crypto: keyring returned a %d-byte data key", len(dk.Plaintext))
	}
	switch w := dk.WrapAlg; {
	case metadata.IsLegacyWrap(w):
		return nil, fmt.Errorf("s3crypto: keyring used legacy wrap %q for a new object", w)
	case w != metadata.WrapKMSContext && w != metadata.WrapAESGCM && w != metadata.WrapRSAOAEP && !metadata.IsCustomWrap(w):
		return nil, fmt.Errorf("s3crypto: keyring returned wrapping algorithm %q, which is neither one of AWS's nor a valid custom name (see metadata.IsCustomWrap)", w)
	}
	env := &metadata.Envelope{
		Format:          opts.Format,
		ContentAlg:      alg,
		WrapAlg:         dk.WrapAlg,
		EncryptedKey:    dk.Encrypted,
		Description:     dk.Description,
		PlaintextLength: -1,
	}
	e := &Encryption{env: env, keyRef: dk.KeyRef}
	if env.Format == metadata.V3 {
		env.MessageID = newMessageID()
		commitment, key, err := deriveV3(dk.Plaintext, env.MessageID, nil)
		if err != nil {
			return nil, err
		}
		defer clear(key)
		env.Commitment = commitment
		gcm, err := aesgcm.New(key, v3Nonce)
		if err != nil {
			return nil, err
		}
		e.Content = &ContentCipher{GCM: gcm, AAD: v3AAD}
	} else {
		env.IV = make([]byte, aesgcm.NonceSize)
		rand.Read(env.IV)
		if e.Content, err = newV2Cipher(dk.Plaintext, env); err != nil {
			return nil, err
		}
	}
	if err := env.Validate(); err != nil {
		return nil, err
	}
	if e.indexKey, err = indexMACKey(dk.Plaintext, indexID(env)); err != nil {
		return nil, err
	}
	e.indexChunk = DefaultIndexChunk
	return e, nil
}

// Envelope returns the object's envelope, recording PlaintextSizeOf (pass -1
// if unknown) where the format has room for it.
func (e *Encryption) Envelope(PlaintextSizeOf int64) *metadata.Envelope {
	env := *e.env
	if env.Format != metadata.V3 {
		env.PlaintextLength = PlaintextSizeOf
	}
	return &env
}

// KeyRef names the master key that wrapped the data key.
func (e *Encryption) KeyRef() string { return e.keyRef }

// IndexID returns what the object's index binds: its V3 message ID or
// V2 IV.
func (e *Encryption) IndexID() []byte { return indexID(e.env) }

// IndexChunk returns the chunk size of the object's index.
func (e *Encryption) IndexChunk() int64 { return e.indexChunk }

// SetIndexChunk sets the chunk size of the object's index (a positive
// multiple of 16 up to MaxIndexChunk; others are ignored), before any
// IndexWriter is made.
func (e *Encryption) SetIndexChunk(n int64) {
	if n > 0 && n%aesgcm.BlockSize == 0 && n <= MaxIndexChunk {
		e.indexChunk = n
	}
}

// CiphertextSize returns the stored size of a plaintext of n bytes.
func CiphertextSize(n int64) int64 { return n + aesgcm.TagSize }

func CheckSize(n int64) error {
	if n > aesgcm.MaxPlaintextSize {
		return fmt.Errorf("%w (this one is %d)", ErrTooLarge, n)
	}
	return nil
}

// ErrReadOnce refuses a second NewReader on one Encryption.
var ErrReadOnce = errors.New("s3crypto: this Encryption already encrypted a body; use a new one (a second body would reuse its key and nonce)")
