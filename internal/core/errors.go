package core

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

var (
	// ErrAuthentication means the object's ciphertext or tag failed
	// AES-GCM authentication: it was altered or truncated, or the envelope
	// does not belong to it.
	ErrAuthentication = errors.New("ciphertext failed authentication (object altered or truncated)")

	// ErrCommitmentMismatch means a V3 object's key commitment does not
	// match its data key: the envelope was altered, or the encrypted key
	// in an instruction file belongs to another object.
	ErrCommitmentMismatch = errors.New("derived key commitment does not match the one stored with the object")

	// ErrNotEncrypted means the object has no envelope in its metadata and
	// no instruction file.
	ErrNotEncrypted = errors.New("object is not client-side encrypted: no envelope in its metadata and no instruction file")

	// ErrSourceChanged means the body of a PutObject gave different bytes
	// when the SDK rewound and re-read it. Encrypting them under the same
	// key and nonce would break AES-GCM, so nothing more was sent.
	ErrSourceChanged = errors.New("request body changed when re-read for a retry; upload stopped")

	// ErrRangeNotAllowed means GetObject was asked for a byte range (or a
	// part number) without WithUnauthenticatedRange: a range of an AES-GCM
	// object cannot be authenticated.
	ErrRangeNotAllowed = errors.New("ranged GET of an encrypted object cannot be authenticated; use WithUnauthenticatedRange to allow it")

	// ErrTooLarge means the plaintext exceeds what AES-GCM may encrypt
	// under one key and nonce, 2^36 − 32 bytes.
	ErrTooLarge = errors.New("object too large for AES-GCM: at most 68719476704 bytes")
)

// PolicyError means the commitment policy or the legacy settings forbid
// decrypting an object of this format or algorithm. It is raised before
// any key is unwrapped.
type PolicyError struct {
	Format  metadata.Format
	Content string // content algorithm
	Wrap    string // wrapping algorithm
	Reason  string
}

func (e *PolicyError) Error() string {
	return fmt.Sprintf("%s object (content %s, wrap %s) refused: %s", e.Format, e.Content, e.Wrap, e.Reason)
}

// ChecksumError means the plaintext did not match a checksum the caller
// gave on PutObject (Content-MD5 or x-amz-checksum-*). The upload was
// stopped before the object was complete.
type ChecksumError struct {
	Algorithm string
}

func (e *ChecksumError) Error() string {
	return "plaintext does not match the " + e.Algorithm + " given with the request; upload stopped"
}

// ObjectError reports a failure on one object, naming it and the master
// key involved. It never contains key material.
type ObjectError struct {
	Op     string // "PutObject", "GetObject", …
	Bucket string
	Key    string
	KeyRef string // the master key: a KMS key ID or ARN, or a raw key's id; may be empty
	Err    error
}

func (e *ObjectError) Error() string {
	var b strings.Builder
	b.WriteString("s3crypto: ")
	b.WriteString(e.Op)
	b.WriteString(" s3://")
	b.WriteString(e.Bucket)
	b.WriteByte('/')
	b.WriteString(e.Key)
	if e.KeyRef != "" {
		b.WriteString(" (key ")
		b.WriteString(e.KeyRef)
		b.WriteByte(')')
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

// Unwrap returns the underlying error.
func (e *ObjectError) Unwrap() error { return e.Err }

// IsIntegrityError reports whether err means the object cannot be
// trusted, as opposed to a policy, configuration or transport problem:
// failed authentication, key commitment mismatch, bad legacy padding, a
// malformed envelope, or a data key that a keyring which took the object
// for its own could not open (keyring.ErrIncorrectKey: the object was
// altered, or was written under another key of the same kind that it
// does not name).
//
// It is false when no configured keyring handles the object's kind of
// key (keyring.ErrUnsupportedWrap, keyring.ErrEncryptOnly: a
// *keyring.NoKeyError says what the object needs), when the caller's
// encryption context differs from the object's
// (*keyring.ContextMismatchError), when the object names a key that was
// not given (keyring.ErrOtherKey, keyring.ErrKeyNotAllowed), and when
// KMS returns a malformed data key (keyring.ErrKMSResponse): the object
// may be perfectly sound.
func IsIntegrityError(err error) bool {
	var fe *metadata.FormatError
	return errors.Is(err, ErrAuthentication) ||
		errors.Is(err, ErrCommitmentMismatch) ||
		errors.Is(err, ErrBadPadding) ||
		claimedKeyFailed(err) ||
		errors.As(err, &fe)
}

// claimedKeyFailed reports whether, somewhere in err's tree, a keyring
// failed with keyring.ErrIncorrectKey for a reason other than the
// object naming another key: one failure of that kind among several
// keyrings' is enough.
func claimedKeyFailed(err error) bool {
	for err != nil {
		switch err {
		case keyring.ErrOtherKey, keyring.ErrKeyNotAllowed:
			return false
		case keyring.ErrIncorrectKey:
			return true
		}
		if m, ok := err.(interface{ Unwrap() []error }); ok {
			return slices.ContainsFunc(m.Unwrap(), claimedKeyFailed)
		}
		err = errors.Unwrap(err)
	}
	return false
}

// IncompleteUploadError means a multipart upload that did not complete
// could not be aborted either: its parts stay stored (and billed) until
// it is aborted, with AbortMultipartUpload or "s3c uploads --abort", or a
// bucket lifecycle rule (AbortIncompleteMultipartUpload) expires it. It
// comes with the failure that stopped the upload, inside an ObjectError.
type IncompleteUploadError struct {
	Bucket, Key, UploadID string
	Err                   error // why the abort failed
}

func (e *IncompleteUploadError) Error() string {
	return fmt.Sprintf("multipart upload %s of s3://%s/%s could not be aborted (%v); its parts remain until it is aborted (s3c uploads --abort s3://%s/%s) or a lifecycle rule expires it",
		e.UploadID, e.Bucket, e.Key, e.Err, e.Bucket, e.Key)
}

// Unwrap returns why the abort failed.
func (e *IncompleteUploadError) Unwrap() error { return e.Err }

// NotInstructionFileError means an instruction file could not be written
// because an object of its name exists that is not an instruction file
// (it lacks the marker, see IsInstructionFile): the caller's own object,
// which s3c does not overwrite.
type NotInstructionFileError struct {
	Key string // the instruction file's key
}

func (e *NotInstructionFileError) Error() string {
	return fmt.Sprintf("%s exists and is not an instruction file; not overwritten", e.Key)
}
