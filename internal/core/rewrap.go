package core

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// Rewrap: moving an object's data key to another master key without
// touching its content. Only the envelope's wrapped key, wrapping
// algorithm and description change; the format, content algorithm, IV,
// message ID and key commitment stay.

// RewrapRequest is the keyring request that describes env's wrap.
func RewrapRequest(env *metadata.Envelope) *keyring.DecryptionRequest {
	return &keyring.DecryptionRequest{WrapAlg: env.WrapAlg, ContentAlg: env.ContentAlg, EncryptedKey: env.EncryptedKey, Description: env.Description}
}

// CheckRewrappable refuses the legacy forms, which a rewrap would keep:
// V1, AES-CBC content and the legacy key wraps. They are re-encrypted
// (read and written again), not rewrapped.
func CheckRewrappable(env *metadata.Envelope) error {
	if env.Format == metadata.V1 || env.ContentAlg == metadata.ContentAESCBC || metadata.IsLegacyWrap(env.WrapAlg) {
		return &PolicyError{Format: env.Format, Content: env.ContentAlg, Wrap: env.WrapAlg,
			Reason: "legacy objects are not rewrapped (a rewrap keeps the format and algorithms); re-encrypt it instead, by copying it with a current client"}
	}
	return nil
}

// IsCurrent reports whether env is already wrapped by kr's master key:
// kr (for a Multi, its first keyring) claims it (see keyring.Claimer).
func IsCurrent(kr keyring.Keyring, env *metadata.Envelope) bool {
	c, ok := kr.(keyring.Claimer)
	return ok && c.Claims(RewrapRequest(env))
}

// claimedBy reports whether kr, or any keyring inside a Multi, claims req.
func claimedBy(kr keyring.Keyring, req *keyring.DecryptionRequest) bool {
	if m, ok := kr.(*keyring.MultiKeyring); ok {
		return slices.ContainsFunc(m.Keyrings(), func(k keyring.Keyring) bool { return claimedBy(k, req) })
	}
	c, ok := kr.(keyring.Claimer)
	return ok && c.Claims(req)
}

// CallerContext is the part of env's stored description that is the
// writer's encryption context or material description, as a reader
// would have to present it: the pairs the formats reserve and those
// kr's keyrings record themselves left out (see keyring.DescriptionOwner).
func CallerContext(kr keyring.Keyring, env *metadata.Envelope) map[string]string {
	skip := notCallersOf(kr, env.WrapAlg)
	var rest map[string]string
	for k, v := range env.Description {
		if !skip.has(k) {
			if rest == nil {
				rest = map[string]string{}
			}
			rest[k] = v
		}
	}
	return rest
}

// Rewrapped is the result of RewrapEnvelope.
type Rewrapped struct {
	Envelope  *metadata.Envelope // env with the new wrap
	KeyRef    string             // the new master key, as DataKey.KeyRef
	InManager bool               // moved inside the key manager (keyring.Rewrapper)
}

// RewrapEnvelope returns env with its data key wrapped by newKR instead.
// When newKR is a keyring.Rewrapper and opts.Keyring claims the object
// (it names a master key the reader trusts), the key manager moves the
// key itself. Otherwise opts.Keyring unwraps it as for a read (the
// commitment policy, the stored description as the expected context,
// the V3 key commitment checked) and newKR wraps it (keyring.KeyWrapper)
// with the same caller pairs; the plaintext key is zeroed.
func RewrapEnvelope(ctx context.Context, opts *Options, env *metadata.Envelope, newKR keyring.Keyring) (*Rewrapped, error) {
	if err := Resolve(opts); err != nil {
		return nil, err
	}
	if err := CheckRewrappable(env); err != nil {
		return nil, err
	}
	if err := checkReadable(opts, env); err != nil {
		return nil, err
	}
	req := RewrapRequest(env)
	if r, ok := newKR.(keyring.Rewrapper); ok && claimedBy(opts.Keyring, req) {
		dk, err := r.RewrapDataKey(ctx, req)
		switch {
		case err == nil:
			out, err := withWrap(env, dk)
			if err != nil {
				return nil, err
			}
			return &Rewrapped{Envelope: out, KeyRef: dk.KeyRef, InManager: true}, nil
		case !errors.Is(err, keyring.ErrUnsupportedWrap):
			return nil, err
		}
	}
	w, ok := newKR.(keyring.KeyWrapper)
	if !ok {
		return nil, fmt.Errorf("%w: the new keyring (%T) cannot wrap an existing data key (it implements neither keyring.KeyWrapper nor keyring.Rewrapper)", keyring.ErrUnsupportedWrap, newKR)
	}
	ec := CallerContext(opts.Keyring, env)
	if err := checkContext(opts.Keyring, env, ec); err != nil {
		return nil, err
	}
	kr := opts.Keyring
	if _, ok := kr.(*keyring.MultiKeyring); !ok {
		kr = keyring.Multi(kr) // for its NoKeyError
	}
	req.Context = ec
	old, err := kr.DecryptDataKey(ctx, req)
	if err != nil {
		return nil, err
	}
	defer old.Zero()
	if len(old.Plaintext) != keyring.DataKeySize {
		return nil, fmt.Errorf("s3crypto: keyring returned a %d-byte data key", len(old.Plaintext))
	}
	if env.Format == metadata.V3 {
		// Never wrap anew a key that is not the object's.
		_, ck, err := deriveV3(old.Plaintext, env.MessageID, env.Commitment)
		if err != nil {
			return nil, err
		}
		clear(ck)
	}
	dk, err := w.WrapDataKey(ctx, &keyring.EncryptionRequest{ContentAlg: env.ContentAlg, Context: ec}, old.Plaintext)
	if err != nil {
		return nil, err
	}
	dk.Zero()
	out, err := withWrap(env, dk)
	if err != nil {
		return nil, err
	}
	return &Rewrapped{Envelope: out, KeyRef: dk.KeyRef}, nil
}

// withWrap returns a copy of env with dk's wrapped key, wrapping
// algorithm and description, checked against env's format.
func withWrap(env *metadata.Envelope, dk *keyring.DataKey) (*metadata.Envelope, error) {
	if len(dk.Encrypted) == 0 || len(dk.Encrypted) > metadata.MaxEncryptedKey {
		return nil, fmt.Errorf("s3crypto: the new keyring returned a %d-byte wrapped key", len(dk.Encrypted))
	}
	out := *env
	out.EncryptedKey = dk.Encrypted
	out.WrapAlg = dk.WrapAlg
	out.Description = maps.Clone(dk.Description)
	if out.Description == nil {
		out.Description = map[string]string{}
	}
	if err := out.Validate(); err != nil {
		return nil, fmt.Errorf("s3crypto: the new wrap does not fit the object's format: %w", err)
	}
	return &out, nil
}
