package s3crypto

import "github.com/s3c/s3c/internal/core"

// The envelope, the content cipher, the policies and the errors are shared
// with package miniocrypto through an SDK-free core; these are its names
// that users of this package meet.

type (
	// Options configures a Client: the keyring, the commitment policy, the
	// format, where envelopes go, and the limits. The same type configures
	// miniocrypto.New.
	//
	// Its fields:
	//
	//	type Options struct {
	//		// Keyring wraps new data keys and unwraps stored ones. Required.
	//		Keyring keyring.Keyring
	//
	//		// CommitmentPolicy decides which formats are written and read; see
	//		// CommitmentPolicy. The default refuses objects without key commitment.
	//		CommitmentPolicy CommitmentPolicy
	//
	//		// Format of new objects: metadata.V3 (suite 115) unless the policy is
	//		// ForbidEncryptAllowDecrypt, which writes metadata.V2 (AES-GCM) for
	//		// readers that predate key commitment. Setting V2 alone selects that
	//		// policy; a format the policy forbids is an error.
	//		Format metadata.Format
	//
	//		// InstructionFile stores each new envelope in <key>.instruction instead
	//		// of the object's metadata. Envelopes that would not fit S3's 2 KB
	//		// user-metadata limit go there anyway.
	//		InstructionFile bool
	//		// InstructionFileSuffix names instruction files; default ".instruction".
	//		InstructionFileSuffix string
	//
	//		// AllowLegacyContent lets GetObject decrypt AES-CBC objects (format V1,
	//		// and V2 with AES/CBC/PKCS5Padding), which have no integrity
	//		// protection. AllowLegacyWrapping lets it unwrap data keys wrapped with
	//		// "kms" (no encryption context binding), "AESWrap", RSA OAEP-SHA-256
	//		// and the V1 raw wraps. Both are off by default, as in AWS's clients;
	//		// new objects never use them.
	//		AllowLegacyContent  bool
	//		AllowLegacyWrapping bool
	//
	//		// MemoryBufferSize is the largest object GetObject authenticates in
	//		// memory before returning it; larger ones are spooled, as ciphertext,
	//		// to a temporary file in TempDir, which is removed when the body is
	//		// closed. Plaintext never touches the disk. Default 8 MiB.
	//		MemoryBufferSize int64
	//		// TempDir is where spooled ciphertext goes; default os.TempDir().
	//		TempDir string
	//
	//		// MaxMetadataSize is the user-metadata budget, in bytes of keys
	//		// (with their x-amz-meta- prefix) and values, above which the envelope
	//		// goes to an instruction file. Default 2048, S3's limit.
	//		MaxMetadataSize int
	//
	//		// IndexThreshold is the stored size above which PutObject and the
	//		// Uploader also write a chunk index, <key>.s3c-index, that lets
	//		// GetObject stream authenticated plaintext instead of spooling
	//		// (s3crypto front end only). 0 means the default, 8 MiB; negative,
	//		// never.
	//		IndexThreshold int64
	//	}
	Options = core.Options
	// CommitmentPolicy says whether objects are written and read with the
	// key-committing suite (format V3). The names and meanings are AWS's.
	CommitmentPolicy = core.CommitmentPolicy
	// ObjectInfo describes how an object is encrypted; see GetObjectInfo.
	//
	// Its fields:
	//
	//	type ObjectInfo struct {
	//		// Envelope is the object's envelope as stored. It holds no secrets:
	//		// the data key in it is encrypted.
	//		Envelope *metadata.Envelope
	//		// KeyRef names the master key: on GetObject the one that unwrapped the
	//		// data key (for KMS, its ARN), on HeadObject the one the envelope
	//		// records, if any.
	//		KeyRef string
	//		// PlaintextSize is the object's plaintext size, or -1 if unknown.
	//		PlaintextSize int64
	//		// StoredSize is the size of what S3 stores: ciphertext and tag.
	//		StoredSize int64
	//		// ReadPath says how GetObject authenticated what it returns:
	//		// "memory" (whole object in memory), "spool" (whole object in a
	//		// temporary file), "index-stream" or "index-range" (chunk by chunk,
	//		// with the object's chunk index), "unauthenticated" (a stream or range
	//		// asked for without authentication); empty for HeadObject. For the
	//		// Downloader: "index-stream" when each chunk was verified against the
	//		// object's index before it was written, else empty.
	//		ReadPath string
	//	}
	ObjectInfo = core.ObjectInfo
	// ObjectError is what every call on an object returns on failure: it
	// names the object and the master key, never key material.
	//
	// Its fields:
	//
	//	type ObjectError struct {
	//		Op     string // "PutObject", "GetObject", …
	//		Bucket string
	//		Key    string
	//		KeyRef string // the master key: a KMS key ID or ARN, or a raw key's id; may be empty
	//		Err    error
	//	}
	ObjectError = core.ObjectError
	// PolicyError means the commitment policy or the legacy settings
	// refuse an object's format or algorithms.
	//
	// Its fields:
	//
	//	type PolicyError struct {
	//		Format  metadata.Format
	//		Content string // content algorithm
	//		Wrap    string // wrapping algorithm
	//		Reason  string
	//	}
	PolicyError = core.PolicyError
	// ChecksumError means a checksum the caller supplied for an upload does
	// not match the plaintext read.
	//
	// Its fields:
	//
	//	type ChecksumError struct {
	//		Algorithm string
	//	}
	ChecksumError = core.ChecksumError
	// IncompleteUploadError means an upload failed and its multipart upload
	// could not be aborted: it names the upload to abort.
	//
	// Its fields:
	//
	//	type IncompleteUploadError struct {
	//		Bucket, Key, UploadID string
	//		Err                   error // why the abort failed
	//	}
	IncompleteUploadError = core.IncompleteUploadError
	// NotInstructionFileError means an instruction file could not be
	// written or removed because an object of its name exists that is not
	// an instruction file (it lacks the marker, see IsInstructionFile).
	//
	// Its fields:
	//
	//	type NotInstructionFileError struct {
	//		Key string // the instruction file's key
	//	}
	NotInstructionFileError = core.NotInstructionFileError
)

// The commitment policies; see CommitmentPolicy.
const (
	// DefaultPolicy is RequireEncryptRequireDecrypt, or
	// ForbidEncryptAllowDecrypt when Options.Format is metadata.V2.
	DefaultPolicy = core.DefaultPolicy
	// RequireEncryptRequireDecrypt writes V3 and reads only V3: no object
	// without key commitment is decrypted. AWS's default.
	RequireEncryptRequireDecrypt = core.RequireEncryptRequireDecrypt
	// RequireEncryptAllowDecrypt writes V3 and also reads V1 and V2:
	// for migrating a bucket from older clients.
	RequireEncryptAllowDecrypt = core.RequireEncryptAllowDecrypt
	// ForbidEncryptAllowDecrypt writes V2 (AES-GCM without commitment),
	// for readers that predate V3, and reads every format.
	ForbidEncryptAllowDecrypt = core.ForbidEncryptAllowDecrypt
)

// The errors a caller tests for with errors.Is; the same values as
// miniocrypto's.
var (
	// ErrAuthentication means the ciphertext failed authentication: the
	// object was altered or truncated.
	ErrAuthentication = core.ErrAuthentication
	// ErrCommitmentMismatch means the derived key commitment does not match
	// the one stored with the object.
	ErrCommitmentMismatch = core.ErrCommitmentMismatch
	// ErrNotEncrypted means the object has no envelope, in its metadata or
	// in an instruction file.
	ErrNotEncrypted = core.ErrNotEncrypted
	// ErrSourceChanged means a request body changed when re-read for a
	// retry; the upload stopped.
	ErrSourceChanged = core.ErrSourceChanged
	// ErrRangeNotAllowed means a ranged GET of an encrypted object was
	// asked for without WithUnauthenticatedRange.
	ErrRangeNotAllowed = core.ErrRangeNotAllowed
	// ErrTooLarge means an object is larger than AES-GCM allows.
	ErrTooLarge = core.ErrTooLarge
	// ErrBadPadding means a legacy AES-CBC object's padding is invalid.
	ErrBadPadding = core.ErrBadPadding
	// ErrObjectChanged means the object was replaced while it was being
	// read, and reading it afresh did not help. Read it again.
	ErrObjectChanged = core.ErrObjectChanged
	// ErrInstructionFileInUse means storing or deleting an object would
	// destroy an instruction file another object still needs.
	ErrInstructionFileInUse = core.ErrInstructionFileInUse
)

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
func IsIntegrityError(err error) bool { return core.IsIntegrityError(err) }

// IsInstructionFile reports whether an object's user metadata, as S3
// returns it (keys without the x-amz-meta- prefix, in any case), carries
// the marker AWS's S3 Encryption Clients and s3c put on instruction files:
// the key x-amz-crypto-instr-file, whose value is empty. An object without
// it is never taken for an instruction file, whatever its name, except
// for an unmarked file beside an object without an envelope of its own,
// written by an older client.
func IsInstructionFile(meta map[string]string) bool { return core.IsInstructionFile(meta) }
