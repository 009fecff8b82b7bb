package materials

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"

	"github.com/s3c/s3c/metadata"
)

// DataKeySize is the size of every data key: AES-256.
const DataKeySize = 32

// Keyring creates and recovers data keys.
//
// The contract of DecryptDataKey: when the keyring cannot decrypt the
// data key because it is not the keyring for it, it returns an error
// wrapping one of these, and MultiKeyring goes on to its next keyring:
//
//   - ErrUnsupportedWrap: it does not handle the wrapping algorithm;
//   - ErrEncryptOnly: it cannot decrypt at all (an RSA public key);
//   - ErrIncorrectKey: it handles the algorithm but its master key does
//     not open this data key (another key, or an altered envelope);
//   - *ContextMismatchError: it found a context it does not expect.
//
// Any other error (a KMS service unreachable or answering nonsense, a
// cancelled context) stops MultiKeyring and is reported as it is.
//
// A keyring need not compare the stored description with the caller's
// context: the s3crypto client does that, in one place, before it calls
// DecryptDataKey (see DescriptionOwner). A keyring that records pairs of
// its own in the description declares them by implementing
// DescriptionOwner; otherwise every stored pair but the well-known
// reserved ones (aws:x-amz-cek-alg, kms_cmk_id, s3c:key-id) must be
// presented by the caller.
type Keyring interface {
	// GenerateDataKey returns a fresh random data key and its encrypted
	// form, with the description to store in the envelope.
	GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error)
	// DecryptDataKey recovers the data key of an envelope.
	DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error)
}

// DescriptionOwner is implemented by a keyring that records pairs of its
// own in the material description (a raw keyring's RawOptions.Description
// or its s3c:key-id). OwnedDescriptionKeys returns the keys of those pairs
// for objects wrapped with wrapAlg (none for an algorithm the keyring does
// not handle). The s3crypto client leaves these keys out when it compares
// the stored description with the encryption context the caller asked
// for, unless the caller names them; the keyring itself is then
// responsible for checking their values.
type DescriptionOwner interface {
	OwnedDescriptionKeys(wrapAlg string) []string
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
	// besides the reserved pairs; nil means none. The s3crypto client has
	// already compared it with Description, exactly as AWS's Java client
	// does, before calling DecryptDataKey: keyrings need not check it
	// again.
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
	// ErrKMSResponse means AWS KMS answered a call with something that is
	// not a valid data key (the wrong length, or no ciphertext). It is a
	// fault of the service or of whatever stands in for it, not a sign
	// that the object was altered; MultiKeyring does not try other
	// keyrings after it.
	ErrKMSResponse = errors.New("KMS returned a malformed data key")

	// ErrOtherKey means the object names a master key that is not this
	// keyring's: its material description records another key, or KMS
	// reports that its data key is under another KMS key. The object may
	// be perfectly sound; it is just not for this key. It matches
	// ErrIncorrectKey too, so MultiKeyring goes on to its next keyring.
	ErrOtherKey error = incorrectKeyKind("the object names another master key")
	// ErrKeyNotAllowed means a KMS discovery keyring refused an object
	// whose KMS key is not in KMSOptions.AllowedKeys: a key the caller
	// did not choose to trust. It matches ErrIncorrectKey too.
	ErrKeyNotAllowed error = incorrectKeyKind("KMS key is not in the allowed list")
)

// incorrectKeyKind is a sentinel that is also an ErrIncorrectKey: a
// reason a keyring is not the one for an object that says nothing
// against the object itself.
type incorrectKeyKind string

func (e incorrectKeyKind) Error() string { return string(e) }

// Is makes errors.Is(err, ErrIncorrectKey) hold for these too.
func (e incorrectKeyKind) Is(target error) bool { return target == ErrIncorrectKey }

// KeyError is an error from one keyring, naming its master key.
type KeyError struct {
	KeyRef string // the master key, as DataKey.KeyRef
	Err    error
}

func (e *KeyError) Error() string { return e.KeyRef + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *KeyError) Unwrap() error { return e.Err }

// ContextMismatchError means the stored encryption context or material
// description is not the one the caller presented. The object may be
// perfectly sound: the caller must present the context it was written
// with. Only key names are reported; the values are in the object's
// metadata for anyone who can read it.
type ContextMismatchError struct {
	StoredKeys    []string // keys of the stored context, reserved ones left out
	RequestedKeys []string // keys the caller presented
}

func (e *ContextMismatchError) Error() string {
	return fmt.Sprintf("encryption context does not match the object's: the object's context has keys [%s], the request has [%s]; "+
		"reading it needs the same context it was written with",
		strings.Join(e.StoredKeys, " "), strings.Join(e.RequestedKeys, " "))
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
