package keyring

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/s3c/s3c/metadata"
)

// MultiKeyring generates data keys with its first keyring and decrypts
// with whichever of its keyrings can.
type MultiKeyring struct {
	keyrings []Keyring
}

// Multi returns a keyring that wraps new data keys with primary and tries
// primary and others, in order, to unwrap; keyrings that claim the object
// (see Claimer), as raw keyrings whose material description matches it
// do, are tried before the rest. primary must be able to encrypt; the
// others may be decrypt-only (a KMS discovery keyring) or encrypt-only
// (an RSA public key, which is then just passed over on reads).
func Multi(primary Keyring, others ...Keyring) *MultiKeyring {
	return &MultiKeyring{keyrings: append([]Keyring{primary}, others...)}
}

// Keyrings returns the keyrings, primary first.
func (m *MultiKeyring) Keyrings() []Keyring { return append([]Keyring(nil), m.keyrings...) }

// GenerateDataKey uses the primary keyring. If that one is decrypt-only,
// the error says so, and wraps ErrDecryptOnly.
func (m *MultiKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	dk, err := m.keyrings[0].GenerateDataKey(ctx, req)
	if errors.Is(err, ErrDecryptOnly) {
		return nil, fmt.Errorf("materials: the first keyring given to Multi wraps new keys; it is decrypt-only: %w", err)
	}
	return dk, err
}

// WrapDataKey wraps an existing data key with the primary keyring (see
// KeyWrapper). A primary that does not implement KeyWrapper cannot: the
// error wraps ErrUnsupportedWrap.
func (m *MultiKeyring) WrapDataKey(ctx context.Context, req *EncryptionRequest, dataKey []byte) (*DataKey, error) {
	w, ok := m.keyrings[0].(KeyWrapper)
	if !ok {
		return nil, fmt.Errorf("%w: the first keyring given to Multi (%T) cannot wrap an existing data key", ErrUnsupportedWrap, m.keyrings[0])
	}
	dk, err := w.WrapDataKey(ctx, req, dataKey)
	if errors.Is(err, ErrDecryptOnly) {
		return nil, fmt.Errorf("materials: the first keyring given to Multi wraps keys; it is decrypt-only: %w", err)
	}
	return dk, err
}

// RewrapDataKey moves a data key to the primary keyring's master key
// inside the key manager, if the primary is a Rewrapper; otherwise the
// error wraps ErrUnsupportedWrap (see Rewrapper).
func (m *MultiKeyring) RewrapDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error) {
	r, ok := m.keyrings[0].(Rewrapper)
	if !ok {
		return nil, fmt.Errorf("%w: the first keyring given to Multi cannot rewrap in its key manager", ErrUnsupportedWrap)
	}
	return r.RewrapDataKey(ctx, req)
}

// Claims reports whether the primary keyring claims req (see Claimer):
// an object the primary claims is already wrapped as Multi would wrap it.
func (m *MultiKeyring) Claims(req *DecryptionRequest) bool {
	c, ok := m.keyrings[0].(Claimer)
	return ok && c.Claims(req)
}

// OwnedDescriptionKeys returns the description keys any of its keyrings
// records for objects wrapped with wrapAlg (see DescriptionOwner).
func (m *MultiKeyring) OwnedDescriptionKeys(wrapAlg string) []string {
	var keys []string
	for _, k := range m.keyrings {
		if o, ok := k.(DescriptionOwner); ok {
			keys = append(keys, o.OwnedDescriptionKeys(wrapAlg)...)
		}
	}
	return keys
}

// notMine reports whether a keyring's error means only that the data key
// is not for it (see Keyring), so that the next keyring may be tried.
func notMine(err error) bool {
	var mismatch *ContextMismatchError
	return errors.Is(err, ErrUnsupportedWrap) || errors.Is(err, ErrIncorrectKey) ||
		errors.Is(err, ErrEncryptOnly) || errors.As(err, &mismatch)
}

// DecryptDataKey tries each keyring, those that claim the object first
// (see Claimer), until one succeeds. It moves on when a keyring does not
// handle the wrap, cannot decrypt at all, holds another key, or finds a
// context it does not expect (see Keyring); any other error (a key
// manager unreachable, the context cancelled) stops it and is returned
// as it is. When no keyring is left, the error is a *NoKeyError.
func (m *MultiKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error) {
	var first, rest []Keyring
	for _, k := range m.keyrings {
		if c, ok := k.(Claimer); ok && c.Claims(req) {
			first = append(first, k)
		} else {
			rest = append(rest, k)
		}
	}
	var errs []error
	for _, k := range append(first, rest...) {
		dk, err := k.DecryptDataKey(ctx, req)
		if err == nil {
			return dk, nil
		}
		if !notMine(err) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, newNoKeyError(req, errs)
}

// NoKeyError means no keyring could decrypt the data key: none handles
// the object's wrapping algorithm, or those that do hold other keys or
// cannot decrypt. It names what the object needs and wraps each keyring's
// error.
type NoKeyError struct {
	WrapAlg string // the object's wrapping algorithm
	// KeyRef is the master key the object's description names: the
	// kms_cmk_id of a KMS object, the s3c:key-id of a raw one; "" if it
	// names none (as Java's clients write raw objects by default).
	KeyRef string
	Errs   []error
}

// newNoKeyError returns the error for a request that none of the keyrings
// that returned errs could decrypt.
func newNoKeyError(req *DecryptionRequest, errs []error) *NoKeyError {
	ref := req.Description[DescriptionKeyID]
	switch req.WrapAlg {
	case metadata.WrapKMSContext, metadata.WrapKMS:
		ref = req.Description[metadata.ContextKMSKeyID]
	}
	return &NoKeyError{WrapAlg: req.WrapAlg, KeyRef: ref, Errs: errs}
}

// wrapKind names, in words, the kind of master key a wrapping algorithm
// needs: "local AES key", "local RSA key" or "AWS KMS key"; "" for an
// algorithm it does not know, such as a custom one.
func wrapKind(wrapAlg string) string {
	switch wrapAlg {
	case metadata.WrapAESGCM, metadata.WrapAESWrap, metadata.WrapAESECB:
		return "local AES key"
	case metadata.WrapRSAOAEP, metadata.WrapRSAOAEPSHA256, metadata.WrapRSAPKCS1:
		return "local RSA key"
	case metadata.WrapKMSContext, metadata.WrapKMS:
		return "AWS KMS key"
	}
	return ""
}

// needs says what the object needs, e.g. `an AWS KMS key "alias/app"`.
func (e *NoKeyError) needs() string {
	kind := wrapKind(e.WrapAlg)
	var s string
	switch {
	case kind == "":
		s = fmt.Sprintf("a keyring for wrapping algorithm %q", e.WrapAlg)
	case strings.HasPrefix(kind, "AWS"):
		s = "an " + kind
	default:
		s = "a " + kind
	}
	if e.KeyRef != "" {
		s += fmt.Sprintf(" (%q)", e.KeyRef)
	}
	return s
}

func (e *NoKeyError) Error() string {
	var parts []string
	for _, err := range e.Errs {
		if !errors.Is(err, ErrUnsupportedWrap) {
			parts = append(parts, err.Error())
		}
	}
	if len(parts) == 0 && wrapKind(e.WrapAlg) == "" {
		return fmt.Sprintf("the object needs %s to decrypt its data key, and none is configured", e.needs())
	}
	if len(parts) == 0 {
		return fmt.Sprintf("the object needs %s to decrypt its data key (wrapping algorithm %s), and no keyring of that kind is configured",
			e.needs(), e.WrapAlg)
	}
	return fmt.Sprintf("no keyring could decrypt the data key, which needs %s: %s", e.needs(), strings.Join(parts, "; "))
}

// Unwrap returns the keyrings' errors.
func (e *NoKeyError) Unwrap() []error { return e.Errs }
