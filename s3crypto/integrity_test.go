package s3crypto

import (
	"errors"
	"fmt"
	"testing"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// IsIntegrityError blames the object only for what the object did: a
// key that took the object for its own and failed, not a key the object
// does not name.
func TestIsIntegrityErrorPerCause(t *testing.T) {
	other := &materials.KeyError{KeyRef: "aes:1", Err: fmt.Errorf("%w: its material description names another key (s3c:key-id)", materials.ErrOtherKey)}
	failed := &materials.KeyError{KeyRef: "aes:2", Err: materials.ErrIncorrectKey}
	notAllowed := &materials.KeyError{KeyRef: "arn:aws:kms:r:1:key/x", Err: fmt.Errorf("%w: KMS Decrypt: %w", materials.ErrKeyNotAllowed, errors.New("IncorrectKeyException"))}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"authentication", &ObjectError{Op: "GetObject", Err: ErrAuthentication}, true},
		{"commitment", ErrCommitmentMismatch, true},
		{"padding", ErrBadPadding, true},
		{"format", &metadata.FormatError{Key: "x-amz-iv", Reason: "bad"}, true},
		{"claimed key failed", failed, true},
		{"names another key", other, false},
		{"not allowed", notAllowed, false},
		{"no keyring of the kind", &materials.NoKeyError{WrapAlg: "AES/GCM", Errs: []error{fmt.Errorf("%w: AES/GCM", materials.ErrUnsupportedWrap)}}, false},
		{"another key, then one that failed", &materials.NoKeyError{WrapAlg: "AES/GCM", Errs: []error{other, failed}}, true},
		{"only other keys", &materials.NoKeyError{WrapAlg: "AES/GCM", Errs: []error{other, notAllowed}}, false},
		{"context", &materials.ContextMismatchError{StoredKeys: []string{"a"}}, false},
		{"KMS answer", &materials.KeyError{KeyRef: "k", Err: materials.ErrKMSResponse}, false},
		{"transport", errors.New("connection reset"), false},
	} {
		if got := IsIntegrityError(tc.err); got != tc.want {
			t.Errorf("%s: IsIntegrityError(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
	if !errors.Is(other, materials.ErrIncorrectKey) || !errors.Is(notAllowed, materials.ErrIncorrectKey) {
		t.Error("ErrOtherKey and ErrKeyNotAllowed must match ErrIncorrectKey, so Multi goes on")
	}
}
