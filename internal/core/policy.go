package core

import "github.com/s3c/s3c/metadata"

// CommitmentPolicy says whether objects are written and read with the
// key-committing suite (format V3). The names and meanings are AWS's.
type CommitmentPolicy int

const (
	// DefaultPolicy is RequireEncryptRequireDecrypt, or
	// ForbidEncryptAllowDecrypt when Options.Format is metadata.V2.
	DefaultPolicy CommitmentPolicy = iota
	// RequireEncryptRequireDecrypt writes V3 and reads only V3: no object
	// without key commitment is decrypted. AWS's default.
	RequireEncryptRequireDecrypt
	// RequireEncryptAllowDecrypt writes V3 and also reads V1 and V2:
	// for migrating a bucket from older clients.
	RequireEncryptAllowDecrypt
	// ForbidEncryptAllowDecrypt writes V2 (AES-GCM without commitment),
	// for readers that predate V3, and reads every format.
	ForbidEncryptAllowDecrypt
)

func (p CommitmentPolicy) String() string {
	switch p {
	case RequireEncryptRequireDecrypt:
		return "REQUIRE_ENCRYPT_REQUIRE_DECRYPT"
	case RequireEncryptAllowDecrypt:
		return "REQUIRE_ENCRYPT_ALLOW_DECRYPT"
	case ForbidEncryptAllowDecrypt:
		return "FORBID_ENCRYPT_ALLOW_DECRYPT"
	case DefaultPolicy:
		return "DEFAULT"
	}
	return "CommitmentPolicy(?)"
}

func (p CommitmentPolicy) writesV3() bool { return p != ForbidEncryptAllowDecrypt }

// allowsRead reports whether an object of format f may be decrypted.
func (p CommitmentPolicy) allowsRead(f metadata.Format) bool {
	return f == metadata.V3 || p != RequireEncryptRequireDecrypt
}
