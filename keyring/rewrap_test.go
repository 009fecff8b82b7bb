package keyring

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/s3c/s3c/metadata"
)

// WrapDataKey wraps a given key exactly as GenerateDataKey wraps a new
// one: the keyring's DecryptDataKey opens it, for its content algorithm
// only, with the caller's pairs and the keyring's own in the description;
// a public RSA key can wrap; reserved pairs are refused.
func TestWrapDataKey(t *testing.T) {
	aes, _ := newAES(t)
	priv, err := NewRSA(testRSAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewRSAPublic(&testRSAKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		wrap, open Keyring
	}{{"aes", aes, aes}, {"rsa-public", pub, priv}, {"multi", Multi(aes, priv), aes}} {
		for _, alg := range algs {
			pdk := newDataKey()
			dk, err := tc.wrap.(KeyWrapper).WrapDataKey(ctx, &EncryptionRequest{ContentAlg: alg, Context: map[string]string{"dept": "x"}}, pdk)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			if dk.Plaintext != nil || dk.Description["dept"] != "x" || dk.Description[DescriptionKeyID] == "" {
				t.Fatalf("%s: %+v", tc.name, dk)
			}
			got, err := tc.open.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: alg, EncryptedKey: dk.Encrypted, Description: dk.Description})
			if err != nil || !bytes.Equal(got.Plaintext, pdk) {
				t.Fatalf("%s: unwrap: %v", tc.name, err)
			}
			other := metadata.ContentAESGCM
			if alg == other {
				other = metadata.ContentCommittingGCM
			}
			if tc.name != "rsa-public" || alg == metadata.ContentCommittingGCM {
				if _, err := tc.open.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: other, EncryptedKey: dk.Encrypted, Description: dk.Description}); err == nil {
					t.Fatalf("%s: a key wrapped for %s opened for %s", tc.name, alg, other)
				}
			}
		}
		if _, err := tc.wrap.(KeyWrapper).WrapDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0], Context: map[string]string{DescriptionKeyID: "mine"}}, newDataKey()); err == nil {
			t.Fatalf("%s: a reserved pair was accepted", tc.name)
		}
		if _, err := tc.wrap.(KeyWrapper).WrapDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}, make([]byte, 16)); err == nil {
			t.Fatalf("%s: a 16-byte data key was wrapped", tc.name)
		}
	}
	// A Multi whose primary cannot wrap says so, as ErrUnsupportedWrap,
	// and cannot rewrap either.
	if _, err := Multi(opaque{}).WrapDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}, newDataKey()); !errors.Is(err, ErrUnsupportedWrap) {
		t.Fatalf("Multi(opaque).WrapDataKey: %v", err)
	}
	if _, err := Multi(aes).RewrapDataKey(ctx, &DecryptionRequest{}); !errors.Is(err, ErrUnsupportedWrap) {
		t.Fatalf("Multi(aes).RewrapDataKey: %v", err)
	}
}

// opaque is a keyring with no optional interface.
type opaque struct{}

func (opaque) GenerateDataKey(_ context.Context, _ *EncryptionRequest) (*DataKey, error) {
	return nil, errors.New("opaque")
}

func (opaque) DecryptDataKey(_ context.Context, _ *DecryptionRequest) (*DataKey, error) {
	return nil, errors.New("opaque")
}
