package materials

import (
	"crypto/rsa"

	"github.com/s3c/s3c/keyring"
)

// The keyring contract and the raw keyrings live in package keyring; the
// names below are the same types, values and functions under their old
// names, so code written against materials keeps compiling and errors.Is
// matches across both packages.

// DataKeySize is keyring.DataKeySize.
const DataKeySize = keyring.DataKeySize

// DescriptionKeyID is keyring.DescriptionKeyID.
const DescriptionKeyID = keyring.DescriptionKeyID

// MinRSABits is keyring.MinRSABits.
const MinRSABits = keyring.MinRSABits

type (
	// Keyring is keyring.Keyring; see there for the contract.
	Keyring = keyring.Keyring
	// Claimer is keyring.Claimer.
	Claimer = keyring.Claimer
	// KeyWrapper is keyring.KeyWrapper.
	KeyWrapper = keyring.KeyWrapper
	// Rewrapper is keyring.Rewrapper.
	Rewrapper = keyring.Rewrapper
	// DescriptionOwner is keyring.DescriptionOwner.
	DescriptionOwner = keyring.DescriptionOwner
	// EncryptionRequest is keyring.EncryptionRequest.
	EncryptionRequest = keyring.EncryptionRequest
	// DecryptionRequest is keyring.DecryptionRequest.
	DecryptionRequest = keyring.DecryptionRequest
	// DataKey is keyring.DataKey.
	DataKey = keyring.DataKey
	// KeyError is keyring.KeyError.
	KeyError = keyring.KeyError
	// ContextMismatchError is keyring.ContextMismatchError.
	ContextMismatchError = keyring.ContextMismatchError
	// NoKeyError is keyring.NoKeyError.
	NoKeyError = keyring.NoKeyError
	// MultiKeyring is keyring.MultiKeyring.
	MultiKeyring = keyring.MultiKeyring
	// AESKeyring is keyring.AESKeyring.
	AESKeyring = keyring.AESKeyring
	// RSAKeyring is keyring.RSAKeyring.
	RSAKeyring = keyring.RSAKeyring
	// RawOptions is keyring.RawOptions.
	RawOptions = keyring.RawOptions
)

// The keyring errors, the same values as in package keyring.
var (
	// ErrUnsupportedWrap is keyring.ErrUnsupportedWrap.
	ErrUnsupportedWrap = keyring.ErrUnsupportedWrap
	// ErrIncorrectKey is keyring.ErrIncorrectKey.
	ErrIncorrectKey = keyring.ErrIncorrectKey
	// ErrEncryptOnly is keyring.ErrEncryptOnly.
	ErrEncryptOnly = keyring.ErrEncryptOnly
	// ErrDecryptOnly is keyring.ErrDecryptOnly.
	ErrDecryptOnly = keyring.ErrDecryptOnly
	// ErrKMSResponse is keyring.ErrKMSResponse.
	ErrKMSResponse = keyring.ErrKMSResponse
	// ErrOtherKey is keyring.ErrOtherKey.
	ErrOtherKey = keyring.ErrOtherKey
	// ErrKeyNotAllowed is keyring.ErrKeyNotAllowed.
	ErrKeyNotAllowed = keyring.ErrKeyNotAllowed
)

// Multi is keyring.Multi; see there.
func Multi(primary Keyring, others ...Keyring) *MultiKeyring {
	return keyring.Multi(primary, others...)
}

// NewAES is keyring.NewAES; see there.
func NewAES(key []byte, optFns ...func(*RawOptions)) (*AESKeyring, error) {
	return keyring.NewAES(key, optFns...)
}

// AESKeyID is keyring.AESKeyID; see there.
func AESKeyID(key []byte) string { return keyring.AESKeyID(key) }

// NewRSA is keyring.NewRSA; see there.
func NewRSA(priv *rsa.PrivateKey, optFns ...func(*RawOptions)) (*RSAKeyring, error) {
	return keyring.NewRSA(priv, optFns...)
}

// NewRSAPublic is keyring.NewRSAPublic; see there.
func NewRSAPublic(pub *rsa.PublicKey, optFns ...func(*RawOptions)) (*RSAKeyring, error) {
	return keyring.NewRSAPublic(pub, optFns...)
}

// RSAKeyID is keyring.RSAKeyID; see there.
func RSAKeyID(pub *rsa.PublicKey) (string, error) { return keyring.RSAKeyID(pub) }

// ParseAESKey is keyring.ParseAESKey; see there.
func ParseAESKey(data []byte) ([]byte, error) { return keyring.ParseAESKey(data) }

// NewAESKeyFile is keyring.NewAESKeyFile; see there.
func NewAESKeyFile() (key, file []byte) { return keyring.NewAESKeyFile() }

// ParseRSAKey is keyring.ParseRSAKey; see there.
func ParseRSAKey(data []byte) (priv *rsa.PrivateKey, pub *rsa.PublicKey, err error) {
	return keyring.ParseRSAKey(data)
}

// NewRSAKeyFiles is keyring.NewRSAKeyFiles; see there.
func NewRSAKeyFiles(bits int) (priv *rsa.PrivateKey, privPEM, pubPEM []byte, err error) {
	return keyring.NewRSAKeyFiles(bits)
}
