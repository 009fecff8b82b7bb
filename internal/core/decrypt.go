package core

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"maps"
	"slices"

	"github.com/s3c/s3c/internal/aesgcm"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// Decryption is the content-decryption state of one stored object: its
// envelope checked against the policy, its data key unwrapped and, for V3,
// its key commitment verified. The front ends' GetObject and Downloader
// use it.
type Decryption struct {
	env     *metadata.Envelope
	Content *ContentCipher // AES-GCM content (V2, V3)
	cbc     cipher.Block   // legacy AES-CBC content (V1, V2)
	keyRef  string
	opts    *Options

	indexKey []byte // the chunk-index MAC key, for GCM content
}

// NewDecryption checks env against the commitment policy and the legacy
// settings, and its stored encryption context or material description
// against ec, the expected one (nil: none), before any keyring call. Then
// it unwraps the data key and prepares the content cipher. For V3 it
// compares the key commitment, in constant time, before deriving the
// content key.
//
// The context comparison is made here for every keyring, so that a
// keyring cannot skip it: the stored pairs, but for the reserved ones,
// must be exactly ec (see keyring.DescriptionOwner), or the error is a
// *keyring.ContextMismatchError. A keyring error that only means no
// configured key fits (see keyring.Keyring) comes as a
// *keyring.NoKeyError naming what the object needs.
//
// withIndex derives the chunk index's key too (an HKDF per object), for
// a read that will call DecodeIndex or NewIndexWriter; without it they
// find no index. The data key is wiped before NewDecryption returns, so
// the choice cannot be deferred.
func NewDecryption(ctx context.Context, opts *Options, env *metadata.Envelope, ec map[string]string, withIndex bool) (*Decryption, error) {
	if err := Resolve(opts); err != nil {
		return nil, err
	}
	if err := checkReadable(opts, env); err != nil {
		return nil, err
	}
	if err := checkContext(opts.Keyring, env, ec); err != nil {
		return nil, err
	}
	kr := opts.Keyring
	if _, ok := kr.(*keyring.MultiKeyring); !ok {
		kr = keyring.Multi(kr) // for its NoKeyError
	}
	dk, err := kr.DecryptDataKey(ctx, &keyring.DecryptionRequest{
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
	if len(dk.Plaintext) != keyring.DataKeySize {
		return nil, fmt.Errorf("s3crypto: keyring returned a %d-byte data key", len(dk.Plaintext))
	}
	switch {
	case env.Format == metadata.V3:
		d.Content, err = newV3Cipher(dk.Plaintext, env)
	case env.ContentAlg == metadata.ContentAESGCM:
		d.Content, err = newV2Cipher(dk.Plaintext, env)
	default:
		d.cbc, err = aes.NewCipher(dk.Plaintext)
	}
	if err != nil {
		return nil, err
	}
	if d.Content != nil && withIndex {
		if d.indexKey, err = indexMACKey(dk.Plaintext, indexID(env)); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// Description keys the formats reserve, which a reader does not present
// in its context: for KMS, the content algorithm and key ID that the
// client adds to every context; for raw keys, the key ID s3c records.
var (
	kmsReservedContext = []string{metadata.ContextContentAlg, metadata.ContextKMSKeyID}
	rawReservedContext = []string{keyring.DescriptionKeyID}
)

// notCallers holds the stored description keys that are not part of the
// context a reader presents: those the format reserves for the wrap, and
// those the keyring records itself (see keyring.DescriptionOwner).
type notCallers struct{ reserved, owned []string }

func notCallersOf(kr keyring.Keyring, wrap string) notCallers {
	n := notCallers{reserved: rawReservedContext}
	if wrap == metadata.WrapKMSContext || wrap == metadata.WrapKMS {
		n.reserved = kmsReservedContext
	}
	if o, ok := kr.(keyring.DescriptionOwner); ok {
		n.owned = o.OwnedDescriptionKeys(wrap)
	}
	return n
}

func (n notCallers) has(k string) bool {
	return slices.Contains(n.reserved, k) || slices.Contains(n.owned, k)
}

// checkContext compares the caller's part of the stored description (see
// CallerContext) with the context the caller expects. Only key names go
// into the error.
func checkContext(kr keyring.Keyring, env *metadata.Envelope, ec map[string]string) error {
	if callerContextIs(notCallersOf(kr, env.WrapAlg), env.Description, ec) {
		return nil
	}
	return &keyring.ContextMismatchError{StoredKeys: slices.Sorted(maps.Keys(CallerContext(kr, env))), RequestedKeys: slices.Sorted(maps.Keys(ec))}
}

// callerContextIs reports whether the pairs of desc not in skip are
// exactly ec, without building that map (a small get makes one per
// object otherwise).
func callerContextIs(skip notCallers, desc, ec map[string]string) bool {
	n := 0
	for k, v := range desc {
		if skip.has(k) {
			continue
		}
		if w, ok := ec[k]; !ok || w != v {
			return false
		}
		n++
	}
	return n == len(ec)
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

// CheckStoredSize compares a recorded plaintext length with the stored
// size, so that a tampered x-amz-unencrypted-content-length is caught too.
func CheckStoredSize(env *metadata.Envelope, stored int64) error {
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
