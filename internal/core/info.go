package core

import (
	"errors"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// ObjectInfo describes how an object is encrypted. The front ends hand it
// out: s3crypto's GetObject and HeadObject attach it to their output's
// ResultMetadata (s3crypto.GetObjectInfo).
type ObjectInfo struct {
	// Envelope is the object's envelope as stored. It holds no secrets:
	// the data key in it is encrypted.
	Envelope *metadata.Envelope
	// KeyRef names the master key: on GetObject the one that unwrapped the
	// data key (for KMS, its ARN), on HeadObject the one the envelope
	// records, if any.
	KeyRef string
	// PlaintextSize is the object's plaintext size, or -1 if unknown.
	PlaintextSize int64
	// StoredSize is the size of what S3 stores: ciphertext and tag.
	StoredSize int64
	// ReadPath says how GetObject authenticated what it returns:
	// "memory" (whole object in memory), "spool" (whole object in a
	// temporary file), "index-stream" or "index-range" (chunk by chunk,
	// with the object's chunk index), "unauthenticated" (a stream or range
	// asked for without authentication); empty for HeadObject. For the
	// Downloader: "index-stream" when each chunk was verified against the
	// object's index before it was written, else empty.
	ReadPath string
}

// The values of ObjectInfo.ReadPath.
const (
	ReadMemory          = "memory"
	ReadSpool           = "spool"
	ReadIndexStream     = "index-stream"
	ReadIndexRange      = "index-range"
	ReadUnauthenticated = "unauthenticated"
)

// RecordedKeyRef returns the master key an envelope names without
// unwrapping anything: kms_cmk_id for KMS, the s3c:key-id of a raw key's
// material description, or "".
func RecordedKeyRef(env *metadata.Envelope) string {
	switch env.WrapAlg {
	case metadata.WrapKMSContext, metadata.WrapKMS:
		return env.Description[metadata.ContextKMSKeyID]
	}
	if id := env.Description[keyring.DescriptionKeyID]; id != "" {
		return id
	}
	if len(env.Description) > 0 {
		return metadata.EncodeDescription(env.Description)
	}
	return ""
}

// errSizeNotRecorded: a legacy AES-CBC object's padding, and so its
// plaintext size, is known only by decrypting its last block.
var errSizeNotRecorded = errors.New("the plaintext size of this legacy AES-CBC object is not recorded; only decrypting it tells")

// StoredPlaintextSize returns the plaintext size of an object stored in
// stored bytes, from its envelope alone, unwrapping nothing. An AES-GCM
// object shorter than its tag, or longer than AES-GCM allows, is an error
// (wrapping ErrAuthentication or ErrTooLarge), as is a legacy AES-CBC
// object that records no plaintext length.
func StoredPlaintextSize(env *metadata.Envelope, stored int64) (int64, error) {
	if env.ContentAlg != metadata.ContentAESCBC {
		return PlaintextSizeOf(stored)
	}
	if env.PlaintextLength < 0 {
		return 0, errSizeNotRecorded
	}
	return env.PlaintextLength, nil
}
