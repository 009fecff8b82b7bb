//go:build !cgo

package pkcs11

import (
	"context"
	"crypto/rsa"

	"github.com/s3c/s3c/keyring"
)

// Keyring is a PKCS#11 keyring; in this build (no cgo) it cannot be made.
type Keyring struct{}

// Open returns ErrNoCgo: this binary was built without cgo.
func Open(uri string, optFns ...func(*Options)) (*Keyring, error) { return nil, ErrNoCgo }

// GenerateKey returns ErrNoCgo: this binary was built without cgo.
func GenerateKey(uri string, kind string, optFns ...func(*Options)) error { return ErrNoCgo }

// Close does nothing.
func (k *Keyring) Close() error { return nil }

// KeyRef returns "".
func (k *Keyring) KeyRef() string { return "" }

// GenerateDataKey returns ErrNoCgo.
func (k *Keyring) GenerateDataKey(context.Context, *keyring.EncryptionRequest) (*keyring.DataKey, error) {
	return nil, ErrNoCgo
}

// DecryptDataKey returns ErrNoCgo.
func (k *Keyring) DecryptDataKey(context.Context, *keyring.DecryptionRequest) (*keyring.DataKey, error) {
	return nil, ErrNoCgo
}

// Description returns nil.
func (k *Keyring) Description() map[string]string { return nil }

// PublicKey returns nil.
func (k *Keyring) PublicKey() *rsa.PublicKey { return nil }
