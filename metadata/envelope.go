package metadata

import "fmt"

// Format is the metadata layout version, which is not the client version.
type Format int

// The three S3EC format versions.
const (
	V1 Format = 1 // x-amz-key; AES-CBC; read only
	V2 Format = 2 // x-amz-key-v2; AES-GCM or legacy AES-CBC
	V3 Format = 3 // x-amz-3; key-committing AES-GCM
)

func (f Format) String() string {
	switch f {
	case V1, V2, V3:
		return fmt.Sprintf("V%d", int(f))
	}
	return fmt.Sprintf("Format(%d)", int(f))
}

// Storage says where an envelope lives.
type Storage int

const (
	// ObjectMetadata: every envelope key is user metadata of the object.
	ObjectMetadata Storage = iota
	// InstructionFile: the envelope (for V3, all but x-amz-c, x-amz-d and
	// x-amz-i) is the JSON body of the object <key>.instruction.
	InstructionFile
)

func (s Storage) String() string {
	if s == InstructionFile {
		return "instruction file"
	}
	return "object metadata"
}

// Sizes fixed by the formats.
const (
	GCMIVSize       = 12 // V2 AES-GCM IV
	CBCIVSize       = 16 // V1/V2 AES-CBC IV
	MessageIDSize   = 28 // V3 message ID
	CommitmentSize  = 28 // V3 key commitment
	GCMTagBits      = 128
	MaxEncryptedKey = 6144     // the largest KMS ciphertext blob
	MaxInstruction  = 64 << 10 // instruction files larger than this are refused
)

// Envelope is everything a reader needs, besides the master key, to
// decrypt an object.
type Envelope struct {
	Format     Format
	ContentAlg string // ContentAESGCM, ContentCommittingGCM or ContentAESCBC
	// WrapAlg is a Wrap* name (V3's compressed codes are expanded) or a
	// custom name (see IsCustomWrap).
	WrapAlg string

	EncryptedKey []byte
	IV           []byte // V1/V2 only: 12 bytes for GCM, 16 for CBC
	MessageID    []byte // V3 only: 28 bytes
	Commitment   []byte // V3 only: 28 bytes

	// Description is the KMS encryption context (kms+context, kms) or the
	// material description (raw-key wraps): x-amz-matdesc in V1/V2, x-amz-t
	// or x-amz-m in V3. Decode never leaves it nil.
	Description map[string]string

	// PlaintextLength is x-amz-unencrypted-content-length, or -1 when the
	// envelope does not record it (V3 never does).
	PlaintextLength int64

	Storage Storage
}

// Validate checks that the envelope's fields agree with its format.
func (e *Envelope) Validate() error {
	if len(e.EncryptedKey) == 0 {
		return formatErr(e.keyName(), "encrypted data key is empty", nil)
	}
	if len(e.EncryptedKey) > MaxEncryptedKey {
		return formatErr(e.keyName(), fmt.Sprintf("encrypted data key is %d bytes, more than %d", len(e.EncryptedKey), MaxEncryptedKey), nil)
	}
	switch e.Format {
	case V3:
		if e.ContentAlg != ContentCommittingGCM {
			return formatErr(KeyV3ContentAlg, fmt.Sprintf("content algorithm %q is not defined for V3", e.ContentAlg), ErrUnsupportedAlgorithm)
		}
		if _, ok := wrapToV3[e.WrapAlg]; !ok && !IsCustomWrap(e.WrapAlg) {
			return formatErr(KeyV3WrapAlg, unknownWrap(e.WrapAlg, V3), ErrUnsupportedAlgorithm)
		}
		if len(e.MessageID) != MessageIDSize {
			return formatErr(KeyV3MessageID, fmt.Sprintf("message ID is %d bytes, want %d", len(e.MessageID), MessageIDSize), nil)
		}
		if len(e.Commitment) != CommitmentSize {
			return formatErr(KeyV3Commitment, fmt.Sprintf("key commitment is %d bytes, want %d", len(e.Commitment), CommitmentSize), nil)
		}
		if e.IV != nil {
			return formatErr(KeyIV, "V3 has no IV", nil)
		}
	case V1, V2:
		var ivSize int
		switch e.ContentAlg {
		case ContentAESGCM:
			if e.Format == V1 {
				return formatErr(KeyContentAlg, "V1 is AES-CBC only", ErrUnsupportedAlgorithm)
			}
			ivSize = GCMIVSize
		case ContentAESCBC:
			ivSize = CBCIVSize
		default:
			return formatErr(KeyContentAlg, fmt.Sprintf("content algorithm %q is not defined for %s", e.ContentAlg, e.Format), ErrUnsupportedAlgorithm)
		}
		if len(e.IV) != ivSize {
			return formatErr(KeyIV, fmt.Sprintf("IV is %d bytes, %s needs %d", len(e.IV), e.ContentAlg, ivSize), nil)
		}
		if e.Format == V1 && e.WrapAlg != WrapAESECB && e.WrapAlg != WrapRSAPKCS1 {
			return formatErr(KeyWrapAlg, fmt.Sprintf("wrapping algorithm %q is not defined for V1", e.WrapAlg), ErrUnsupportedAlgorithm)
		}
		if e.Format == V2 && !knownV2Wraps[e.WrapAlg] {
			if !IsCustomWrap(e.WrapAlg) {
				return formatErr(KeyWrapAlg, unknownWrap(e.WrapAlg, V2), ErrUnsupportedAlgorithm)
			}
			if e.ContentAlg != ContentAESGCM {
				return formatErr(KeyWrapAlg, fmt.Sprintf("custom wrapping algorithm %q with %s content: custom wraps are defined for AES-GCM only", e.WrapAlg, e.ContentAlg), ErrUnsupportedAlgorithm)
			}
		}
		if e.MessageID != nil || e.Commitment != nil {
			return formatErr("", fmt.Sprintf("%s has no message ID or key commitment", e.Format), nil)
		}
	default:
		return formatErr("", fmt.Sprintf("unknown format %d", int(e.Format)), nil)
	}
	if e.PlaintextLength < -1 {
		return formatErr(KeyPlaintextLength, "negative plaintext length", nil)
	}
	return nil
}

func (e *Envelope) keyName() string {
	switch e.Format {
	case V1:
		return KeyV1EncryptedKey
	case V3:
		return KeyV3EncryptedKey
	}
	return KeyV2EncryptedKey
}

// descriptionKey is where the description lives for this envelope.
func (e *Envelope) descriptionKey() string {
	if e.Format != V3 {
		return KeyMatDesc
	}
	if e.WrapAlg == WrapKMSContext {
		return KeyV3Context
	}
	return KeyV3MatDesc
}

// unknownWrap says why a wrapping-algorithm name is refused. The name is
// quoted with %q, so that whatever it holds stays one printable line.
func unknownWrap(name string, f Format) string {
	return fmt.Sprintf("wrapping algorithm %q is neither one %s defines nor a valid custom name "+
		"(1 to %d characters from A-Z a-z 0-9 + / . _ : -, not only digits, not an AWS name)", name, f, maxCustomWrapLen)
}
