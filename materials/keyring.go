package materials

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/s3c/s3c/metadata"
)

// DataKeySize is the size of every data key: AES-256.
const DataKeySize = 32

// Keyring creates and recovers data keys.
type Keyring interface {
	// GenerateDataKey returns a fresh random data key and its encrypted
	// form, with the description to store in the envelope.
	GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error)
	// DecryptDataKey recovers the data key of an envelope.
	DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error)
}

// EncryptionRequest asks a keyring for a new data key.
type EncryptionRequest struct {
	// ContentAlg is the content cipher the key is for:
	// metadata.ContentCommittingGCM or metadata.ContentAESGCM. Keyrings bind
	// it into the wrapped key so it cannot be used with another cipher.
	ContentAlg string
	// Context is the caller's encryption context (KMS) or the pairs to add
	// to the material description (raw keys). Readers must present the
	// same pairs.
	Context map[string]string
}

// DecryptionRequest asks a keyring to recover a data key.
type DecryptionRequest struct {
	WrapAlg      string            // metadata.Wrap* name from the envelope
	ContentAlg   string            // metadata.Content* name from the envelope
	EncryptedKey []byte            // the encrypted data key
	Description  map[string]string // the stored encryption context or material description
	// Context is what the caller expects the stored context to hold,
	// besides the keyring's own reserved pairs; nil means none. It must
	// match exactly, as AWS's Java client checks it.
	Context map[string]string
}

// DataKey is a data key in plaintext and encrypted form.
type DataKey struct {
	// Plaintext is the 32-byte data key. Whoever receives it should clear
	// it after use.
	Plaintext []byte
	// Encrypted is the wrapped key stored in the envelope.
	Encrypted []byte
	// WrapAlg is the metadata.Wrap* algorithm that produced Encrypted.
	WrapAlg string
	// Description is the encryption context or material description to
	// store (on generate) or that was stored (on decrypt).
	Description map[string]string
	// KeyRef names the master key: a KMS key ARN, or a raw key's
	// fingerprint such as "aes:0123456789abcdef".
	KeyRef string
}

// Zero overwrites the plaintext key.
func (k *DataKey) Zero() {
	if k != nil {
		clear(k.Plaintext)
	}
}

var (
	// ErrUnsupportedWrap means the keyring does not handle the envelope's
	// wrapping algorithm at all.
	ErrUnsupportedWrap = errors.New("keyring does not handle this wrapping algorithm")
	// ErrIncorrectKey means the keyring's master key did not decrypt the
	// data key: the object was written under another key, or its
	// encrypted key or context was altered.
	ErrIncorrectKey = errors.New("master key cannot decrypt this data key")
	// ErrEncryptOnly is returned by keyrings that cannot decrypt (an RSA
	// public key), and ErrDecryptOnly by those that cannot encrypt (a KMS
	// discovery keyring).
	ErrEncryptOnly = errors.New("keyring can only encrypt")
	ErrDecryptOnly = errors.New("keyring can only decrypt")
)

// KeyError is an error from one keyring, naming its master key.
type KeyError struct {
	KeyRef string // the master key, as DataKey.KeyRef
	Err    error
}

func (e *KeyError) Error() string { return e.KeyRef + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *KeyError) Unwrap() error { return e.Err }

// ContextMismatchError means the stored encryption context or material
// description is not the one the caller presented. Only key names are
// reported; the values are in the object's metadata for anyone who can
// read it.
type ContextMismatchError struct {
	StoredKeys    []string // keys of the stored context, reserved ones left out
	RequestedKeys []string // keys the caller presented
}

func (e *ContextMismatchError) Error() string {
	return fmt.Sprintf("encryption context does not match the object's: object has [%s], request has [%s]",
		strings.Join(e.StoredKeys, " "), strings.Join(e.RequestedKeys, " "))
}

// checkContext compares stored, minus the keys reserved says to skip,
// with requested.
func checkContext(stored, requested map[string]string, reserved func(string) bool) error {
	rest := maps.Clone(stored)
	maps.DeleteFunc(rest, func(k, _ string) bool { return reserved(k) })
	if maps.Equal(rest, requested) || (len(rest) == 0 && len(requested) == 0) {
		return nil
	}
	return &ContextMismatchError{StoredKeys: sortedKeys(rest), RequestedKeys: sortedKeys(requested)}
}

func sortedKeys(m map[string]string) []string {
	return slices.Sorted(maps.Keys(m))
}

// newDataKey returns 32 bytes from crypto/rand.
func newDataKey() []byte {
	k := make([]byte, DataKeySize)
	rand.Read(k) // never fails (crypto/rand panics rather than return short)
	return k
}

// checkContentAlg refuses content algorithms a new key must not be made for.
func checkContentAlg(alg string) error {
	if alg != metadata.ContentCommittingGCM && alg != metadata.ContentAESGCM {
		return fmt.Errorf("materials: no data key for content algorithm %q", alg)
	}
	return nil
}
