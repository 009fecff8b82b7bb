package s3crypto

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"

	"github.com/s3c/s3c/internal/aesgcm"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// Decryption is the content-decryption state of one stored object: its
// envelope checked against the policy, its data key unwrapped and, for V3,
// its key commitment verified. Client.GetObject uses it; it is exported
// for callers that fetch the bytes themselves.
type Decryption struct {
	env    *metadata.Envelope
	gcm    *contentCipher // AES-GCM content (V2, V3)
	cbc    cipher.Block   // legacy AES-CBC content (V1, V2)
	keyRef string
	opts   *Options
}

// NewDecryption checks env against the commitment policy and the legacy
// settings, before any keyring call, then unwraps the data key with ec as
// the expected encryption context (nil: none) and prepares the content
// cipher. For V3 it compares the key commitment, in constant time, before
// deriving the content key.
func NewDecryption(ctx context.Context, opts *Options, env *metadata.Envelope, ec map[string]string) (*Decryption, error) {
	if err := opts.resolve(); err != nil {
		return nil, err
	}
	if err := checkReadable(opts, env); err != nil {
		return nil, err
	}
	dk, err := opts.Keyring.DecryptDataKey(ctx, &materials.DecryptionRequest{
		WrapAlg:      env.WrapAlg,
		ContentAlg:   env.ContentAlg,
		EncryptedKey: env.EncryptedKey,
		Description:  env.Description,
		Context:      ec,
	})
	if err != nil {
		return nil, err
	}
	defer dk.Zero()
	d := &Decryption{env: env, keyRef: dk.KeyRef, opts: opts}
	if len(dk.Plaintext) != materials.DataKeySize {
		return nil, fmt.Errorf("s3crypto: keyring returned a %d-byte data key", len(dk.Plaintext))
	}
	switch {
	case env.Format == metadata.V3:
		d.gcm, err = newV3Cipher(dk.Plaintext, env)
	case env.ContentAlg == metadata.ContentAESGCM:
		d.gcm, err = newV2Cipher(dk.Plaintext, env)
	default:
		d.cbc, err = aes.NewCipher(dk.Plaintext)
	}
	if err != nil {
		return nil, err
	}
	return d, nil
}

// checkReadable applies the commitment policy and the legacy switches.
func checkReadable(opts *Options, env *metadata.Envelope) error {
	refuse := func(reason string) error {
		return &PolicyError{Format: env.Format, Content: env.ContentAlg, Wrap: env.WrapAlg, Reason: reason}
	}
	if !opts.CommitmentPolicy.allowsRead(env.Format) {
		return refuse(fmt.Sprintf("it has no key commitment and the commitment policy %s requires it (use %s to read it)",
			opts.CommitmentPolicy, RequireEncryptAllowDecrypt))
	}
	if env.ContentAlg == metadata.ContentAESCBC && !opts.AllowLegacyContent {
		return refuse("AES-CBC has no integrity protection; reading it needs AllowLegacyContent")
	}
	if metadata.IsLegacyWrap(env.WrapAlg) && !opts.AllowLegacyWrapping {
		return refuse("legacy key wrapping; reading it needs AllowLegacyWrapping")
	}
	return nil
}

// KeyRef names the master key that unwrapped the data key.
func (d *Decryption) KeyRef() string { return d.keyRef }

// Envelope returns the object's envelope.
func (d *Decryption) Envelope() *metadata.Envelope { return d.env }

// checkStoredSize compares a recorded plaintext length with the stored
// size, so that a tampered x-amz-unencrypted-content-length is caught too.
func checkStoredSize(env *metadata.Envelope, stored int64) error {
	if env.PlaintextLength < 0 {
		return nil
	}
	ok := env.PlaintextLength == stored-aesgcm.TagSize
	if env.ContentAlg == metadata.ContentAESCBC {
		ok = env.PlaintextLength < stored && env.PlaintextLength >= stored-aesgcm.BlockSize
	}
	if !ok {
		return &metadata.FormatError{Key: metadata.KeyPlaintextLength,
			Reason: fmt.Sprintf("records %d bytes of plaintext, but %d bytes are stored", env.PlaintextLength, stored)}
	}
	return nil
}

// PlaintextSize returns the plaintext size of an object stored in stored
// bytes, or -1 where only decryption can tell (AES-CBC without a recorded
// length).
func (d *Decryption) PlaintextSize(stored int64) int64 {
	n, err := StoredPlaintextSize(d.env, stored)
	if err != nil {
		return -1
	}
	return n
}

func (d *Decryption) tempDir() string { return d.opts.TempDir }
