package materials

import (
	"bytes"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"

	"github.com/s3c/s3c/metadata"
)

// The KMS keyring wraps a given key with Encrypt (its DecryptDataKey
// opens it), moves one with ReEncrypt only from the key the context
// names (a planted object under another key that names a trusted one is
// refused by KMS), and claims objects naming its key by the configured
// identifier or by the ARN KMS reported.
func TestKMSWrapAndRewrap(t *testing.T) {
	srv := startKMS(t)
	_, oldARN := srv.CreateKey("alias/old")
	_, newARN := srv.CreateKey("alias/new")
	srv.CreateKey("alias/stranger")
	client := srv.Client(ctx)
	oldKR, newKR := NewKMS(client, "alias/old"), NewKMS(client, "alias/new")
	alg := metadata.ContentCommittingGCM
	pdk := bytes.Repeat([]byte{7}, DataKeySize)

	dk, err := oldKR.WrapDataKey(ctx, &EncryptionRequest{ContentAlg: alg, Context: map[string]string{"dept": "x"}}, pdk)
	if err != nil {
		t.Fatal(err)
	}
	if dk.Plaintext != nil || dk.KeyRef != oldARN || dk.Description["kms_cmk_id"] != "alias/old" || dk.Description["dept"] != "x" {
		t.Fatalf("WrapDataKey: %+v", dk)
	}
	req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: alg, EncryptedKey: dk.Encrypted, Description: dk.Description}
	got, err := oldKR.DecryptDataKey(ctx, req)
	if err != nil || !bytes.Equal(got.Plaintext, pdk) {
		t.Fatalf("DecryptDataKey: %v", err)
	}
	if !oldKR.Claims(req) || newKR.Claims(req) {
		t.Fatal("Claims: the old keyring must claim the object, the new one not")
	}

	moved, err := newKR.RewrapDataKey(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if moved.KeyRef != newARN || moved.Description["kms_cmk_id"] != "alias/new" || moved.Description["dept"] != "x" || moved.Plaintext != nil {
		t.Fatalf("RewrapDataKey: %+v", moved)
	}
	req2 := &DecryptionRequest{WrapAlg: moved.WrapAlg, ContentAlg: alg, EncryptedKey: moved.Encrypted, Description: moved.Description}
	if got, err := newKR.DecryptDataKey(ctx, req2); err != nil || !bytes.Equal(got.Plaintext, pdk) {
		t.Fatalf("the rewrapped key: %v", err)
	}
	if !newKR.Claims(req2) {
		t.Fatal("the new keyring does not claim the rewrapped object")
	}
	// Named by its ARN: claimed once KMS has reported the ARN.
	byARN := &DecryptionRequest{WrapAlg: metadata.WrapKMSContext, Description: map[string]string{"kms_cmk_id": newARN}}
	if !newKR.Claims(byARN) {
		t.Fatal("an object naming the key's ARN is not claimed")
	}

	// A data key under a stranger's key whose context names alias/old.
	ec := map[string]string{"aws:x-amz-cek-alg": alg, "kms_cmk_id": "alias/old"}
	planted, err := client.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/stranger"), Plaintext: pdk, EncryptionContext: ec})
	if err != nil {
		t.Fatal(err)
	}
	srvReq := &DecryptionRequest{WrapAlg: metadata.WrapKMSContext, ContentAlg: alg, EncryptedKey: planted.CiphertextBlob, Description: ec}
	if _, err := newKR.RewrapDataKey(ctx, srvReq); err == nil || !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("a planted key was rewrapped: %v", err)
	}
	if _, err := newKR.RewrapDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapAESGCM}); !errors.Is(err, ErrUnsupportedWrap) {
		t.Fatalf("an AES wrap: %v", err)
	}
}
