package materials

import (
	"context"
	"errors"
	"strings"
)

// MultiKeyring generates data keys with its first keyring and decrypts
// with whichever of its keyrings can.
type MultiKeyring struct {
	keyrings []Keyring
}

// Multi returns a keyring that wraps new data keys with primary and tries
// primary and others, in order, to unwrap. Raw keyrings whose material
// description matches the object's are tried before the rest.
func Multi(primary Keyring, others ...Keyring) *MultiKeyring {
	return &MultiKeyring{keyrings: append([]Keyring{primary}, others...)}
}

// Keyrings returns the keyrings, primary first.
func (m *MultiKeyring) Keyrings() []Keyring { return append([]Keyring(nil), m.keyrings...) }

// GenerateDataKey uses the primary keyring.
func (m *MultiKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	return m.keyrings[0].GenerateDataKey(ctx, req)
}

type claimer interface {
	claimsRequest(*DecryptionRequest) bool
}

// DecryptDataKey tries each keyring until one succeeds. It moves on when
// a keyring does not handle the wrap, holds another key, or finds a
// context it does not expect; any other error (KMS unreachable, context
// cancelled) stops it.
func (m *MultiKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error) {
	var first, rest []Keyring
	for _, k := range m.keyrings {
		if c, ok := k.(claimer); ok && c.claimsRequest(req) {
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
		var mismatch *ContextMismatchError
		if !errors.Is(err, ErrUnsupportedWrap) && !errors.Is(err, ErrIncorrectKey) && !errors.As(err, &mismatch) {
			return nil, err
		}
		errs = append(errs, err)
	}
	return nil, &NoKeyError{WrapAlg: req.WrapAlg, Errs: errs}
}

// NoKeyError means no keyring of a MultiKeyring could decrypt the data
// key. It wraps each keyring's error.
type NoKeyError struct {
	WrapAlg string
	Errs    []error
}

func (e *NoKeyError) Error() string {
	var parts []string
	for _, err := range e.Errs {
		if !errors.Is(err, ErrUnsupportedWrap) {
			parts = append(parts, err.Error())
		}
	}
	if len(parts) == 0 {
		return "no keyring handles wrapping algorithm " + e.WrapAlg
	}
	return "no keyring could decrypt the data key: " + strings.Join(parts, "; ")
}

// Unwrap returns the keyrings' errors.
func (e *NoKeyError) Unwrap() []error { return e.Errs }
