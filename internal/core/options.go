package core

import (
	"errors"
	"fmt"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// Options configures a Client. The zero value of every field but Keyring
// is a sensible default.
type Options struct {
	// Keyring wraps new data keys and unwraps stored ones. Required.
	Keyring keyring.Keyring

	// CommitmentPolicy decides which formats are written and read; see
	// CommitmentPolicy. The default refuses objects without key commitment.
	CommitmentPolicy CommitmentPolicy

	// Format of new objects: metadata.V3 (suite 115) unless the policy is
	// ForbidEncryptAllowDecrypt, which writes metadata.V2 (AES-GCM) for
	// readers that predate key commitment. Setting V2 alone selects that
	// policy; a format the policy forbids is an error.
	Format metadata.Format

	// InstructionFile stores each new envelope in <key>.instruction instead
	// of the object's metadata. Envelopes that would not fit S3's 2 KB
	// user-metadata limit go there anyway.
	InstructionFile bool
	// InstructionFileSuffix names instruction files; default ".instruction".
	InstructionFileSuffix string

	// AllowLegacyContent lets GetObject decrypt AES-CBC objects (format V1,
	// and V2 with AES/CBC/PKCS5Padding), which have no integrity
	// protection. AllowLegacyWrapping lets it unwrap data keys wrapped with
	// "kms" (no encryption context binding), "AESWrap", RSA OAEP-SHA-256
	// and the V1 raw wraps. Both are off by default, as in AWS's clients;
	// new objects never use them.
	AllowLegacyContent  bool
	AllowLegacyWrapping bool

	// MemoryBufferSize is the largest object GetObject authenticates in
	// memory before returning it; larger ones are spooled, as ciphertext,
	// to a temporary file in TempDir, which is removed when the body is
	// closed. Plaintext never touches the disk. Default 8 MiB.
	MemoryBufferSize int64
	// TempDir is where spooled ciphertext goes; default os.TempDir().
	TempDir string

	// MaxMetadataSize is the user-metadata budget, in bytes of keys
	// (with their x-amz-meta- prefix) and values, above which the envelope
	// goes to an instruction file. Default 2048, S3's limit.
	MaxMetadataSize int

	// IndexThreshold is the stored size above which PutObject and the
	// Uploader also write a chunk index, <key>.s3c-index, that lets
	// GetObject stream authenticated plaintext instead of spooling
	// (s3crypto front end only). 0 means the default, 8 MiB; negative,
	// never.
	IndexThreshold int64
}

const (
	defaultMemoryBuffer = 8 << 20
	defaultMetadataSize = 2048
)

// Resolve fills defaults and checks consistency.
func Resolve(o *Options) error {
	if o.Keyring == nil {
		return errors.New("s3crypto: Options.Keyring is required")
	}
	if o.CommitmentPolicy == DefaultPolicy {
		o.CommitmentPolicy = RequireEncryptRequireDecrypt
		if o.Format == metadata.V2 {
			o.CommitmentPolicy = ForbidEncryptAllowDecrypt
		}
	}
	switch o.CommitmentPolicy {
	case RequireEncryptRequireDecrypt, RequireEncryptAllowDecrypt, ForbidEncryptAllowDecrypt:
	default:
		return fmt.Errorf("s3crypto: unknown commitment policy %d", int(o.CommitmentPolicy))
	}
	want := metadata.V2
	if o.CommitmentPolicy.writesV3() {
		want = metadata.V3
	}
	switch o.Format {
	case 0:
		o.Format = want
	case want:
	default:
		return fmt.Errorf("s3crypto: commitment policy %s writes format %s, not %s", o.CommitmentPolicy, want, o.Format)
	}
	if o.InstructionFileSuffix == "" {
		o.InstructionFileSuffix = metadata.DefaultInstructionSuffix
	}
	if o.MemoryBufferSize <= 0 {
		o.MemoryBufferSize = defaultMemoryBuffer
	}
	if o.MaxMetadataSize <= 0 {
		o.MaxMetadataSize = defaultMetadataSize
	}
	if o.IndexThreshold == 0 {
		o.IndexThreshold = DefaultIndexThreshold
	}
	return nil
}

func (o *Options) contentAlg() string {
	if o.Format == metadata.V2 {
		return metadata.ContentAESGCM
	}
	return metadata.ContentCommittingGCM
}

// NewOptions returns Options for kr, adjusted by optFns, with the
// defaults filled in and checked: what every front end's New uses.
func NewOptions(kr keyring.Keyring, optFns ...func(*Options)) (Options, error) {
	o := Options{Keyring: kr}
	for _, fn := range optFns {
		fn(&o)
	}
	err := Resolve(&o)
	return o, err
}
