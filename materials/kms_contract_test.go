package materials

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/s3c/s3c/metadata"
)

// badKMS answers with a data key of the wrong size.
type badKMS struct{}

func (badKMS) GenerateDataKey(context.Context, *kms.GenerateDataKeyInput, ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error) {
	return &kms.GenerateDataKeyOutput{Plaintext: make([]byte, 16), CiphertextBlob: []byte{1}, KeyId: aws.String("k")}, nil
}

func (badKMS) Decrypt(context.Context, *kms.DecryptInput, ...func(*kms.Options)) (*kms.DecryptOutput, error) {
	return &kms.DecryptOutput{Plaintext: make([]byte, 16), KeyId: aws.String("k")}, nil
}

// A malformed answer from KMS is ErrKMSResponse, not ErrIncorrectKey: it
// says nothing about the object, and Multi does not go on past it.
func TestKMSMalformedResponse(t *testing.T) {
	k := NewKMS(badKMS{}, "k")
	if _, err := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}); !errors.Is(err, ErrKMSResponse) {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	aesK, _ := newAES(t)
	req := &DecryptionRequest{WrapAlg: metadata.WrapKMSContext, ContentAlg: algs[0], EncryptedKey: []byte{1},
		Description: map[string]string{metadata.ContextContentAlg: algs[0], metadata.ContextKMSKeyID: "k"}}
	_, err := Multi(k, aesK).DecryptDataKey(ctx, req)
	var nk *NoKeyError
	if !errors.Is(err, ErrKMSResponse) || errors.Is(err, ErrIncorrectKey) || errors.As(err, &nk) {
		t.Fatalf("Decrypt: %v", err)
	}
}

// The first keyring given to Multi wraps new keys: a decrypt-only one
// there is a configuration error that the message names.
func TestMultiPrimaryDecryptOnly(t *testing.T) {
	aesK, _ := newAES(t)
	discovery := NewKMSDiscovery(badKMS{})
	_, err := Multi(discovery, aesK).GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	if !errors.Is(err, ErrDecryptOnly) || !strings.Contains(err.Error(), "the first keyring given to Multi wraps new keys; it is decrypt-only") {
		t.Fatalf("Multi(discovery, aes): %v", err)
	}
	if dk, err := Multi(aesK, discovery).GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}); err != nil || dk.KeyRef != aesK.KeyRef() {
		t.Fatalf("Multi(aes, discovery): %v", err)
	}
}
