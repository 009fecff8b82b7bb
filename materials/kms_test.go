package materials

import (
	"bytes"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/vectors"
	"github.com/s3c/s3c/metadata"
)

func startKMS(t *testing.T) *kmstest.Server {
	t.Helper()
	srv, err := kmstest.Start(kmstest.Options{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv
}

func TestKMSRoundTrip(t *testing.T) {
	srv := startKMS(t)
	_, arn := srv.CreateKey("alias/app")
	client := srv.Client(ctx)
	k := NewKMS(client, "alias/app", func(o *KMSOptions) { o.GrantTokens = []string{"gt1"} })
	for _, alg := range algs {
		ec := map[string]string{"purpose": "test"}
		dk, got, err := roundTrip(t, k, k, alg, ec, ec)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		want := map[string]string{"purpose": "test", "aws:x-amz-cek-alg": alg, "kms_cmk_id": "alias/app"}
		if !maps.Equal(dk.Description, want) {
			t.Fatalf("stored context %v, want %v", dk.Description, want)
		}
		if dk.WrapAlg != metadata.WrapKMSContext || dk.KeyRef != arn || got.KeyRef != arn {
			t.Fatalf("wrap %s, refs %s %s, want %s", dk.WrapAlg, dk.KeyRef, got.KeyRef, arn)
		}
	}
	if tok := srv.LastGrantTokens("Decrypt"); len(tok) != 1 || tok[0] != "gt1" {
		t.Fatalf("grant tokens %v", tok)
	}
	// Discovery reads it without knowing the key.
	if _, _, err := roundTrip(t, k, NewKMSDiscovery(client), algs[0], nil, nil); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	if _, err := NewKMSDiscovery(client).GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}); !errors.Is(err, ErrDecryptOnly) {
		t.Fatalf("discovery generate: %v", err)
	}
	if _, err := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0], Context: map[string]string{"aws:x-amz-cek-alg": "x"}}); err == nil {
		t.Fatal("reserved context key accepted")
	}
}

func TestKMSChecksBeforeCalling(t *testing.T) {
	srv := startKMS(t)
	srv.CreateKey("alias/app")
	k := NewKMS(srv.Client(ctx), "alias/app")
	dk, err := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0], Context: map[string]string{"a": "1"}})
	if err != nil {
		t.Fatal(err)
	}
	before := srv.Calls("Decrypt")
	// (The caller's context is compared by the s3crypto client.)
	req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: dk.Description}
	req.Context = map[string]string{"a": "1"}
	req.ContentAlg = metadata.ContentAESGCM
	if _, err := k.DecryptDataKey(ctx, req); !errors.Is(err, ErrIncorrectKey) || !strings.Contains(err.Error(), "aws:x-amz-cek-alg") {
		t.Fatalf("content algorithm mismatch: %v", err)
	}
	noAlg := maps.Clone(dk.Description)
	delete(noAlg, "aws:x-amz-cek-alg")
	req.ContentAlg, req.Description = algs[0], noAlg
	if _, err := k.DecryptDataKey(ctx, req); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("context without aws:x-amz-cek-alg: %v", err)
	}
	if n := srv.Calls("Decrypt"); n != before {
		t.Fatalf("KMS Decrypt called %d times for requests that fail local checks", n-before)
	}
}

func TestKMSErrors(t *testing.T) {
	srv := startKMS(t)
	id1, _ := srv.CreateKey("alias/one")
	_, arn2 := srv.CreateKey("alias/two")
	client := srv.Client(ctx)
	one, two := NewKMS(client, "alias/one"), NewKMS(client, "alias/two")

	if _, _, err := roundTrip(t, one, two, algs[0], nil, nil); !errors.Is(err, ErrIncorrectKey) || !strings.Contains(err.Error(), "alias/two") {
		t.Fatalf("wrong key: %v", err)
	}
	// Tampering with the stored context makes KMS refuse the key.
	dk, _ := one.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	tampered := maps.Clone(dk.Description)
	tampered["kms_cmk_id"] = "alias/other"
	if _, err := one.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: tampered}); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("tampered context: %v", err)
	}
	// An allow-list that lacks the key refuses it.
	disc := NewKMSDiscovery(client, func(o *KMSOptions) { o.AllowedKeys = []string{arn2} })
	if _, _, err := roundTrip(t, one, disc, algs[0], nil, nil); !errors.Is(err, ErrIncorrectKey) || !strings.Contains(err.Error(), "allowed") {
		t.Fatalf("allow-list: %v", err)
	}
	if _, _, err := roundTrip(t, two, disc, algs[0], nil, nil); err != nil {
		t.Fatalf("allow-listed key: %v", err)
	}
	// With several allowed keys, an object that names another key by ARN
	// is refused before KMS is asked; one named by alias goes to KMS,
	// whose answer is checked.
	_, arn3 := srv.CreateKey("alias/three")
	disc2 := NewKMSDiscovery(client, func(o *KMSOptions) { o.AllowedKeys = []string{arn2, arn3} })
	_, arn1 := srv.CreateKey("alias/four")
	four := NewKMS(client, arn1)
	before := srv.Calls("Decrypt")
	if _, _, err := roundTrip(t, four, disc2, algs[0], nil, nil); !errors.Is(err, ErrIncorrectKey) || !strings.Contains(err.Error(), "allowed") {
		t.Fatalf("allow-list of two, key named by ARN: %v", err)
	}
	if srv.Calls("Decrypt") != before {
		t.Fatal("KMS asked to decrypt under a key the allow-list excludes by name")
	}
	if _, _, err := roundTrip(t, one, disc2, algs[0], nil, nil); !errors.Is(err, ErrIncorrectKey) || !strings.Contains(err.Error(), "allowed") {
		t.Fatalf("allow-list of two, key named by alias: %v", err)
	}
	if _, _, err := roundTrip(t, NewKMS(client, arn3), disc2, algs[0], nil, nil); err != nil {
		t.Fatalf("allow-list of two, allowed key: %v", err)
	}
	// A disabled key is not a wrong key: Multi stops and reports it.
	srv.SetKeyEnabled(id1, false)
	_, err := Multi(one, two).DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: dk.Description})
	var disabled *types.DisabledException
	if !errors.As(err, &disabled) || errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("disabled key: %v", err)
	}
	if _, err := NewKMS(client, "alias/missing").GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}); err == nil || !strings.Contains(err.Error(), "alias/missing") {
		t.Fatalf("missing key: %v", err)
	}
	// KMS unreachable.
	srv.Close()
	if _, err := two.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]}); err == nil || errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("KMS down: %v", err)
	}
}

// The captured vectors' data keys decrypt through the real KMS client.
func TestKMSVectors(t *testing.T) {
	srv := startKMS(t)
	vs, err := vectors.Load()
	if err != nil {
		t.Fatal(err)
	}
	imported := map[string]bool{}
	for _, v := range vs {
		if !imported[v.KMSKeyID] {
			srv.ImportKey(v.KMSKeyID, v.KeyMaterial(), v.KMSKeyAlias)
			imported[v.KMSKeyID] = true
		}
		srv.RegisterCiphertext(v.EncryptedKey(), v.KMSKeyID, v.KMSContext, v.DataKey())
	}
	client := srv.Client(ctx)
	for _, v := range vs {
		wrap := metadata.WrapKMSContext
		if v.WrapAlg == "kms" {
			wrap = metadata.WrapKMS
		}
		alg := v.ContentSuite
		for _, k := range []*KMSKeyring{NewKMS(client, v.KMSKeyAlias), NewKMSDiscovery(client)} {
			got, err := k.DecryptDataKey(ctx, &DecryptionRequest{
				WrapAlg: wrap, ContentAlg: alg, EncryptedKey: v.EncryptedKey(),
				Description: v.KMSContext, Context: v.CallerContext,
			})
			if err != nil {
				t.Fatalf("%s: %v", v.Name, err)
			}
			if !bytes.Equal(got.Plaintext, v.DataKey()) || got.KeyRef != v.KMSKeyARN {
				t.Fatalf("%s: wrong key or ref %s", v.Name, got.KeyRef)
			}
		}
	}
}

// KMSOptions.OtherNames: a keyring configured with the key ARN claims an
// object that names the key by one of its other names, and no other.
func TestKMSClaimsOtherNames(t *testing.T) {
	arn := "arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab"
	req := func(named string) *DecryptionRequest {
		return &DecryptionRequest{WrapAlg: metadata.WrapKMSContext, Description: map[string]string{metadata.ContextKMSKeyID: named}}
	}
	plain := NewKMS(nil, arn)
	named := NewKMS(nil, arn, func(o *KMSOptions) { o.OtherNames = []string{"alias/app"} })
	if !plain.Claims(req(arn)) || !named.Claims(req(arn)) {
		t.Fatal("an object naming the key ARN is not claimed")
	}
	if plain.Claims(req("alias/app")) {
		t.Fatal("without OtherNames an alias is claimed")
	}
	if !named.Claims(req("alias/app")) {
		t.Fatal("an object naming one of OtherNames is not claimed")
	}
	if named.Claims(req("alias/other")) {
		t.Fatal("an object naming another alias is claimed")
	}
}
