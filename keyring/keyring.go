package keyring

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

// Keyring creates and recovers data keys. The s3crypto client calls
// GenerateDataKey once for each new object and DecryptDataKey once for
// each object it reads; Multi combines keyrings. The keyrings of this
// package follow this contract and nothing more: a keyring for another
// key manager (Vault, an HSM, a key service of one's own) is written
// outside the package against it alone.
//
// GenerateDataKey must return a DataKey with
//
//   - Plaintext: a fresh DataKeySize-byte (32) key from crypto/rand or
//     from the key manager, never reused;
//   - Encrypted: the wrapped key, at most metadata.MaxEncryptedKey bytes,
//     bound to req.ContentAlg (as additional data, or inside the wrap) so
//     that it cannot be unwrapped for another content algorithm;
//   - WrapAlg: one of AWS's names (metadata.WrapKMSContext, WrapAESGCM,
//     WrapRSAOAEP), used only for exactly the wrap AWS's clients mean by
//     it, or a name of the keyring's own, such as
//     "example.com/vault-transit-v1" (see metadata.IsCustomWrap). The
//     name is recorded in the envelope and handed back on read. Legacy
//     names are refused for new objects;
//   - Description: the pairs to store, in the clear, in the envelope:
//     req.Context plus what the keyring needs to find its key again. The
//     key's name goes best under DescriptionKeyID, which the client never
//     asks the caller for and quotes in errors; other pairs of the
//     keyring's own (a key version) it declares with DescriptionOwner.
//     A keyring refuses a req.Context that would overwrite its pairs;
//   - KeyRef: a name of the master key for messages (a key ARN, a
//     fingerprint), never key material.
//
// A keyring that cannot encrypt returns an error wrapping ErrDecryptOnly.
// Every error from GenerateDataKey is final: Multi wraps new keys with
// its first keyring only.
//
// DecryptDataKey gets the envelope's wrapping algorithm, content
// algorithm, encrypted key and stored description. It must
//
//   - dispatch on req.WrapAlg, and return an error wrapping
//     ErrUnsupportedWrap for every name it does not handle;
//   - return an error wrapping ErrEncryptOnly if it cannot decrypt at all;
//   - return an error wrapping ErrOtherKey when the description (or the
//     key manager) says the data key is under a master key that is not
//     its own: the object is sound, just not for this keyring;
//   - return an error wrapping ErrIncorrectKey when it tried its master
//     key and the unwrap failed: the encrypted key, the description or
//     the content algorithm was altered, or the object is under another
//     key that its description does not name (s3crypto.IsIntegrityError
//     counts this one, not ErrOtherKey, as a sign of tampering);
//   - unwrap only for req.ContentAlg: a key bound to another content
//     algorithm fails with ErrIncorrectKey and is never returned;
//   - leave req.Context alone: the client has compared it with the
//     stored description, once, before calling (see DescriptionOwner for
//     the pairs a keyring records and checks itself);
//   - return a DataKeySize-byte Plaintext.
//
// These errors, and a *ContextMismatchError, mean "not mine, try the
// next": Multi goes on to its next keyring and, when none is left,
// returns a *NoKeyError holding each keyring's error. Any other error is
// fatal: a key manager that is unreachable, refuses the caller's
// credentials or answers nonsense (ErrKMSResponse), a cancelled context.
// Multi stops at it and returns it as it is, so that an outage is never
// reported as a missing or wrong key. A keyring should put its errors in
// a *KeyError naming its key, and never key material in any error.
//
// Keyrings are used concurrently, by many goroutines at once; both
// methods must be safe for that. They must not modify, or keep, the
// request's slices and maps. The caller owns the returned DataKey and
// zeroes its Plaintext after use (DataKey.Zero): the keyring must not
// keep a reference to it.
//
// Optional interfaces refine the contract: DescriptionOwner for the
// description pairs a keyring records itself, Claimer to let Multi try
// first the keyring whose key an object names, and KeyWrapper and
// Rewrapper for moving existing objects to a new master key (rewrap).
type Keyring interface {
	// GenerateDataKey returns a fresh random data key and its encrypted
	// form, with the description to store in the envelope.
	GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error)
	// DecryptDataKey recovers the data key of an envelope.
	DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error)
}

// Claimer is an optional interface for a keyring that can tell from the
// stored wrapping algorithm and description alone, with no cryptography
// and no network call, that an object names its master key. Multi tries
// the keyrings that claim a request first, in their order, then the
// others: so of several keys of one kind the one an object names is
// tried first, and the others (an RSA private-key operation, a key
// manager's round trip) are asked only if it fails. Claims is a hint
// only: a keyring that does not claim a request is still tried, as
// objects written by AWS's clients often name no key.
type Claimer interface {
	// Claims reports whether req names the keyring's master key. It
	// must be cheap and must not fail.
	Claims(req *DecryptionRequest) bool
}

// DescriptionOwner is implemented by a keyring that records pairs of its
// own in the material description (a raw keyring's RawOptions.Description
// or its s3c:key-id). OwnedDescriptionKeys returns the keys of those pairs
// for objects wrapped with wrapAlg (none for an algorithm the keyring does
// not handle). The s3crypto client leaves these keys out when it compares
// the stored description with the encryption context the caller asked
// for, unless the caller names them; the keyring itself is then
// responsible for checking their values.
//
// A reader that is not configured with the owning keyring cannot know
// that such a pair is not the caller's to give: its read fails with a
// *ContextMismatchError naming the pair, rather than a *NoKeyError. So a
// keyring names its key under DescriptionKeyID, and keeps pairs of its own
// for what that cannot hold.
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
	WrapAlg      string            // from the envelope: a metadata.Wrap* name or a custom name
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
	// WrapAlg is the algorithm that produced Encrypted: a metadata.Wrap*
	// name or a custom name (see metadata.IsCustomWrap).
	WrapAlg string
	// Description is the encryption context or material description to
	// store (on generate) or that was stored (on decrypt).
	Description map[string]string
	// KeyRef names the master key: a KMS key ARN, or a raw key's
	// fingerprint such as "aes:0123456789abcdef". Never key material.
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
	// public key); Multi goes on to its next keyring. ErrDecryptOnly is
	// returned by those that cannot encrypt (a KMS discovery keyring),
	// which may be given to Multi after its first.
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

// checkDataKey refuses a data key to wrap that is not DataKeySize bytes.
func checkDataKey(dk []byte) error {
	if len(dk) != DataKeySize {
		return fmt.Errorf("a data key to wrap must be %d bytes, not %d", DataKeySize, len(dk))
	}
	return nil
}

// checkContentAlg refuses content algorithms a new key must not be made for.
func checkContentAlg(alg string) error {
	if alg != metadata.ContentCommittingGCM && alg != metadata.ContentAESGCM {
		return fmt.Errorf("materials: no data key for content algorithm %q", alg)
	}
	return nil
}
