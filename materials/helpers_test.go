package materials

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

var ctx = context.Background()

var algs = []string{metadata.ContentCommittingGCM, metadata.ContentAESGCM}

func newAES(t testing.TB, opts ...func(*RawOptions)) (*AESKeyring, []byte) {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	k, err := NewAES(key, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return k, key
}

// roundTrip wraps a key for alg and unwraps it with dec.
func roundTrip(t *testing.T, enc, dec Keyring, alg string, encCtx, decCtx map[string]string) (*DataKey, *DataKey, error) {
	t.Helper()
	dk, err := enc.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: alg, Context: encCtx})
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	if len(dk.Plaintext) != DataKeySize {
		t.Fatalf("data key is %d bytes", len(dk.Plaintext))
	}
	got, err := dec.DecryptDataKey(ctx, &DecryptionRequest{
		WrapAlg: dk.WrapAlg, ContentAlg: alg, EncryptedKey: dk.Encrypted,
		Description: dk.Description, Context: decCtx,
	})
	if err == nil && !bytes.Equal(got.Plaintext, dk.Plaintext) {
		t.Fatalf("unwrapped key differs")
	}
	return dk, got, err
}

// Every re-exported keyring error is keyring's own value, so errors.Is
// matches across the two packages.
func TestErrorsAreKeyrings(t *testing.T) {
	for _, p := range [][2]error{
		{ErrUnsupportedWrap, keyring.ErrUnsupportedWrap},
		{ErrIncorrectKey, keyring.ErrIncorrectKey},
		{ErrEncryptOnly, keyring.ErrEncryptOnly},
		{ErrDecryptOnly, keyring.ErrDecryptOnly},
		{ErrKMSResponse, keyring.ErrKMSResponse},
		{ErrOtherKey, keyring.ErrOtherKey},
		{ErrKeyNotAllowed, keyring.ErrKeyNotAllowed},
	} {
		if p[0] != p[1] || !errors.Is(p[0], p[1]) {
			t.Errorf("%v: materials' and keyring's differ", p[0])
		}
	}
	k, _ := newAES(t)
	var _ *keyring.AESKeyring = k
	if !errors.Is(ErrOtherKey, keyring.ErrIncorrectKey) {
		t.Error("ErrOtherKey no longer wraps ErrIncorrectKey")
	}
}
