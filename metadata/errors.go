package metadata

import "errors"

var (
	// ErrNoEnvelope means the object metadata holds no complete envelope.
	// The envelope may be in the object's instruction file.
	ErrNoEnvelope = errors.New("no encryption envelope in object metadata")

	// ErrConflictingMarkers means more than one format's marker key is
	// present (x-amz-key, x-amz-key-v2, x-amz-3), or an instruction file
	// holds keys that may only live in object metadata.
	ErrConflictingMarkers = errors.New("conflicting envelope keys")

	// ErrUnsupportedAlgorithm means a content or wrapping algorithm name
	// that no S3 Encryption Client defines.
	ErrUnsupportedAlgorithm = errors.New("unsupported algorithm")
)

// FormatError reports an envelope that cannot be decoded or encoded. It
// names the metadata key at fault; it never quotes binary values.
type FormatError struct {
	Key    string // the metadata key at fault, or "" for the envelope as a whole
	Reason string // what is wrong, in a few words
	Err    error  // one of the sentinels above, or the underlying cause; may be nil
}

func (e *FormatError) Error() string {
	s := "malformed encryption envelope"
	if e.Key != "" {
		s += ": " + e.Key
	}
	s += ": " + e.Reason
	if e.Err != nil {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the sentinel or cause.
func (e *FormatError) Unwrap() error { return e.Err }

func formatErr(key, reason string, err error) error {
	return &FormatError{Key: key, Reason: reason, Err: err}
}
