package metadata

import "strings"

// Metadata keys, as user-metadata names without S3's x-amz-meta- prefix.
const (
	KeyV1EncryptedKey  = "x-amz-key"                        // V1 marker: base64 encrypted data key
	KeyV2EncryptedKey  = "x-amz-key-v2"                     // V2 marker: base64 encrypted data key
	KeyIV              = "x-amz-iv"                         // V1/V2: base64 content IV
	KeyMatDesc         = "x-amz-matdesc"                    // V1/V2: JSON encryption context or material description
	KeyContentAlg      = "x-amz-cek-alg"                    // V2: content cipher
	KeyWrapAlg         = "x-amz-wrap-alg"                   // V2: key wrapping algorithm
	KeyTagLen          = "x-amz-tag-len"                    // V2 GCM: tag length in bits, "128"
	KeyPlaintextLength = "x-amz-unencrypted-content-length" // V1/V2: decimal plaintext length
	KeyPlaintextMD5    = "x-amz-unencrypted-content-md5"    // V1 (Java SDK v1): plaintext Content-MD5

	KeyV3EncryptedKey = "x-amz-3" // V3 marker: base64 encrypted data key
	KeyV3ContentAlg   = "x-amz-c" // V3, object only: content cipher, "115"
	KeyV3Commitment   = "x-amz-d" // V3, object only: base64 28-byte key commitment
	KeyV3MessageID    = "x-amz-i" // V3, object only: base64 28-byte message ID
	KeyV3Context      = "x-amz-t" // V3: JSON KMS encryption context
	KeyV3MatDesc      = "x-amz-m" // V3: JSON material description (raw keyrings)
	KeyV3WrapAlg      = "x-amz-w" // V3: compressed wrapping algorithm

	// KeyInstructionFileMarker is set, with an empty value, on instruction
	// file objects themselves (Java's readers expect it).
	KeyInstructionFileMarker = "x-amz-crypto-instr-file"
)

// DefaultInstructionSuffix is appended to an object's key to name its
// instruction file.
const DefaultInstructionSuffix = ".instruction"

// Content encryption algorithms, as stored.
const (
	ContentAESCBC        = "AES/CBC/PKCS5Padding" // legacy, unauthenticated; read only
	ContentAESGCM        = "AES/GCM/NoPadding"    // suite 0x0072, format V2
	ContentCommittingGCM = "115"                  // suite 0x0073, format V3
)

// Key wrapping algorithms, by their V2 names. V3 stores the first three in
// compressed form (see Envelope). Besides these, an envelope may name a
// custom wrapping algorithm: see IsCustomWrap.
const (
	WrapKMSContext = "kms+context"   // KMS with encryption context
	WrapAESGCM     = "AES/GCM"       // raw AES key, AES-GCM
	WrapRSAOAEP    = "RSA-OAEP-SHA1" // raw RSA key, OAEP with SHA-1

	WrapKMS           = "kms"                                   // legacy: KMS, the material description is the context
	WrapAESWrap       = "AESWrap"                               // legacy: RFC 3394 key wrap
	WrapRSAOAEPSHA256 = "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" // legacy: OAEP, SHA-256 label hash, MGF1-SHA-1
	WrapAESECB        = "AES"                                   // V1 (inferred): AES/ECB/PKCS5Padding
	WrapRSAPKCS1      = "RSA"                                   // V1 (inferred): RSA PKCS #1 v1.5
)

// Reserved encryption-context keys.
const (
	// ContextContentAlg is added by the client to every kms+context
	// encryption context; it must equal the content algorithm.
	ContextContentAlg = "aws:x-amz-cek-alg"
	// ContextKMSKeyID names the KMS key: written by the legacy kms wrap,
	// and by s3c for kms+context so the key reference travels with the
	// object. Readers leave it out when comparing contexts.
	ContextKMSKeyID = "kms_cmk_id"
)

// compressed V3 wrap-algorithm values.
var wrapToV3 = map[string]string{
	WrapAESGCM:     "02",
	WrapKMSContext: "12",
	WrapRSAOAEP:    "22",
}

var wrapFromV3 = map[string]string{
	"02": WrapAESGCM,
	"12": WrapKMSContext,
	"22": WrapRSAOAEP,
}

var knownV2Wraps = map[string]bool{
	WrapKMSContext: true, WrapAESGCM: true, WrapRSAOAEP: true,
	WrapKMS: true, WrapAESWrap: true, WrapRSAOAEPSHA256: true,
}

// maxCustomWrapLen is the longest custom wrapping-algorithm name.
const maxCustomWrapLen = 64

// IsCustomWrap reports whether name is a valid custom wrapping-algorithm
// name: the name a keyring for a key manager AWS does not know (Vault, an
// HSM) records in the envelope and dispatches on when reading. A custom
// name
//
//   - is 1 to 64 characters from A-Z a-z 0-9 + / . _ : -,
//   - holds at least one character that is not a digit, so that it can
//     never be taken for one of V3's compressed codes ("02", "12", "22"),
//   - and is none of AWS's names, current or legacy (the Wrap* constants),
//     in any case.
//
// A namespaced form such as "example.com/vault-transit-v1" keeps names of
// different keyrings apart. V2 stores a custom name verbatim in
// x-amz-wrap-alg, V3 in x-amz-w, where AWS's names stay compressed codes;
// the material description goes where a raw key's does (x-amz-matdesc,
// x-amz-m). Custom names are defined for V2 with AES-GCM content and for
// V3; AWS's clients cannot read such objects.
func IsCustomWrap(name string) bool {
	if name == "" || len(name) > maxCustomWrapLen {
		return false
	}
	digitsOnly := true
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case '0' <= c && c <= '9':
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', strings.IndexByte("+/._:-", c) >= 0:
			digitsOnly = false
		default:
			return false
		}
	}
	if digitsOnly {
		return false
	}
	for _, aws := range awsWraps {
		if strings.EqualFold(name, aws) {
			return false
		}
	}
	return true
}

// awsWraps are all the wrapping algorithms AWS's clients define.
var awsWraps = []string{
	WrapKMSContext, WrapAESGCM, WrapRSAOAEP,
	WrapKMS, WrapAESWrap, WrapRSAOAEPSHA256, WrapAESECB, WrapRSAPKCS1,
}

// IsLegacyWrap reports whether wrap is one of the legacy algorithms that
// readers accept only when asked to.
func IsLegacyWrap(wrap string) bool {
	switch wrap {
	case WrapKMS, WrapAESWrap, WrapRSAOAEPSHA256, WrapAESECB, WrapRSAPKCS1:
		return true
	}
	return false
}

// IsReservedKey reports whether a user-metadata key belongs to the
// envelope, so that callers' own metadata must not use it.
func IsReservedKey(key string) bool {
	switch normalizeKey(key) {
	case KeyV1EncryptedKey, KeyV2EncryptedKey, KeyIV, KeyMatDesc, KeyContentAlg,
		KeyWrapAlg, KeyTagLen, KeyPlaintextLength, KeyPlaintextMD5,
		KeyV3EncryptedKey, KeyV3ContentAlg, KeyV3Commitment, KeyV3MessageID,
		KeyV3Context, KeyV3MatDesc, KeyV3WrapAlg, KeyInstructionFileMarker:
		return true
	}
	return false
}

// WithoutEnvelope returns a copy of user metadata without the envelope's
// keys: the caller's own metadata.
func WithoutEnvelope(meta map[string]string) map[string]string {
	out := make(map[string]string, len(meta))
	for k, v := range meta {
		if !IsReservedKey(k) {
			out[k] = v
		}
	}
	return out
}
