package kmstest

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"
	"github.com/aws/smithy-go"
)

func start(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// wantErr asserts that err unwraps (errors.As) to the typed SDK error T.
func wantErr[T error](t *testing.T, err error) T {
	t.Helper()
	var target T
	if err == nil {
		t.Fatalf("want %T, got nil error", target)
	}
	if !errors.As(err, &target) {
		t.Fatalf("want %T, got %T: %v", target, err, err)
	}
	return target
}

// wantCode asserts that err is an API error with the given code (used for
// errors the KMS model does not define, which the SDK surfaces as
// *smithy.GenericAPIError).
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		t.Fatalf("want API error %s, got %T: %v", code, err, err)
	}
	if apiErr.ErrorCode() != code {
		t.Fatalf("want API error %s, got %s: %v", code, apiErr.ErrorCode(), err)
	}
}

func TestGenerateDataKeyDecryptRoundTrip(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, keyARN := s.CreateKey("alias/round-trip")
	if want := "arn:aws:kms:us-east-1:111122223333:key/" + keyID; keyARN != want {
		t.Fatalf("ARN = %q, want %q", keyARN, want)
	}
	ec := map[string]string{"bucket": "b", "key": "path/to/obj", "": "empty-key-ok"}

	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             aws.String("alias/round-trip"),
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: ec,
	})
	if err != nil {
		t.Fatalf("GenerateDataKey: %v", err)
	}
	if len(gen.Plaintext) != 32 || len(gen.CiphertextBlob) == 0 {
		t.Fatalf("plaintext %d bytes, blob %d bytes", len(gen.Plaintext), len(gen.CiphertextBlob))
	}
	if aws.ToString(gen.KeyId) != keyARN {
		t.Fatalf("GenerateDataKey KeyId = %q, want ARN %q", aws.ToString(gen.KeyId), keyARN)
	}

	// KeyId absent, and KeyId in every accepted form.
	for _, id := range []string{"", keyID, keyARN, "alias/round-trip", "arn:aws:kms:us-east-1:111122223333:alias/round-trip"} {
		in := &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec}
		if id != "" {
			in.KeyId = aws.String(id)
		}
		dec, err := c.Decrypt(ctx, in)
		if err != nil {
			t.Fatalf("Decrypt(KeyId=%q): %v", id, err)
		}
		if !bytes.Equal(dec.Plaintext, gen.Plaintext) {
			t.Fatalf("Decrypt(KeyId=%q): plaintext mismatch", id)
		}
		if aws.ToString(dec.KeyId) != keyARN || dec.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
			t.Fatalf("Decrypt(KeyId=%q): KeyId %q alg %q", id, aws.ToString(dec.KeyId), dec.EncryptionAlgorithm)
		}
	}

	// Other sizes.
	for _, tc := range []struct {
		spec types.DataKeySpec
		n    *int32
		want int
	}{{types.DataKeySpecAes128, nil, 16}, {"", aws.Int32(1), 1}, {"", aws.Int32(64), 64}, {"", aws.Int32(1024), 1024}} {
		out, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: tc.spec, NumberOfBytes: tc.n})
		if err != nil {
			t.Fatalf("GenerateDataKey(%v,%v): %v", tc.spec, tc.n, err)
		}
		if len(out.Plaintext) != tc.want {
			t.Fatalf("GenerateDataKey(%v,%v): %d bytes, want %d", tc.spec, tc.n, len(out.Plaintext), tc.want)
		}
	}

	// GenerateDataKeyWithoutPlaintext.
	np, err := c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{
		KeyId: aws.String(keyARN), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec,
	})
	if err != nil {
		t.Fatalf("GenerateDataKeyWithoutPlaintext: %v", err)
	}
	if aws.ToString(np.KeyId) != keyARN {
		t.Fatalf("GenerateDataKeyWithoutPlaintext KeyId = %q", aws.ToString(np.KeyId))
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: np.CiphertextBlob, EncryptionContext: ec})
	if err != nil || len(dec.Plaintext) != 32 {
		t.Fatalf("Decrypt of GenerateDataKeyWithoutPlaintext blob: %v", err)
	}

	// Validation failures.
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID)})
	wantCode(t, err, "ValidationException")
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, NumberOfBytes: aws.Int32(32)})
	wantCode(t, err, "ValidationException")
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), NumberOfBytes: aws.Int32(1025)})
	wantCode(t, err, "ValidationException")
}

func TestEncryptionContextMismatch(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, _ := s.CreateKey("")

	enc := func(ec map[string]string) []byte {
		t.Helper()
		out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("secret"), EncryptionContext: ec})
		if err != nil {
			t.Fatalf("Encrypt: %v", err)
		}
		return out.CiphertextBlob
	}
	dec := func(blob []byte, ec map[string]string) error {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
		return err
	}

	blob := enc(map[string]string{"a": "1", "b": "2"})
	if err := dec(blob, map[string]string{"b": "2", "a": "1"}); err != nil {
		t.Fatalf("same context, other order: %v", err)
	}
	for name, ec := range map[string]map[string]string{
		"none":          nil,
		"other value":   {"a": "1", "b": "3"},
		"missing pair":  {"a": "1"},
		"extra pair":    {"a": "1", "b": "2", "c": "3"},
		"renamed key":   {"a": "1", "B": "2"},
		"shifted bytes": {"a": "1b", "": "2"},
	} {
		var ice *types.InvalidCiphertextException
		if err := dec(blob, ec); !errors.As(err, &ice) {
			t.Fatalf("%s: want InvalidCiphertextException, got %v", name, err)
		}
	}

	// Length prefixes: {"a":"bc"} and {"ab":"c"} must not collide.
	blob = enc(map[string]string{"a": "bc"})
	wantErr[*types.InvalidCiphertextException](t, dec(blob, map[string]string{"ab": "c"}))

	// nil and empty contexts are the same context.
	blob = enc(nil)
	if err := dec(blob, map[string]string{}); err != nil {
		t.Fatalf("nil vs empty context: %v", err)
	}
	wantErr[*types.InvalidCiphertextException](t, dec(blob, map[string]string{"a": "1"}))
}

func TestInvalidCiphertext(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, _ := s.CreateKey("")
	out, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("hello")})
	if err != nil {
		t.Fatal(err)
	}
	blob := out.CiphertextBlob

	flipped := append([]byte(nil), blob...)
	flipped[len(flipped)-1] ^= 1
	badVersion := append([]byte(nil), blob...)
	badVersion[0] = 2
	realKMSLike, _ := base64.StdEncoding.DecodeString("AQICAHhzZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2ZXJ2")

	for name, b := range map[string][]byte{
		"truncated":     blob[:len(blob)-1],
		"header only":   blob[:2+36],
		"one byte":      blob[:1],
		"flipped tag":   flipped,
		"bad version":   badVersion,
		"garbage":       []byte("definitely not a ciphertext blob"),
		"real-KMS-like": realKMSLike,
	} {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: b})
		if err == nil {
			t.Fatalf("%s: Decrypt succeeded", name)
		}
		var ice *types.InvalidCiphertextException
		if !errors.As(err, &ice) {
			t.Fatalf("%s: want InvalidCiphertextException, got %v", name, err)
		}
	}
}

func TestIncorrectKey(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	k1, _ := s.CreateKey("alias/one")
	k2, k2ARN := s.CreateKey("alias/two")
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(k1), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{k2, k2ARN, "alias/two", "arn:aws:kms:us-east-1:111122223333:alias/two"} {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, KeyId: aws.String(id)})
		wantErr[*types.IncorrectKeyException](t, err)
	}
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: gen.CiphertextBlob, SourceKeyId: aws.String(k2), DestinationKeyId: aws.String(k1)})
	wantErr[*types.IncorrectKeyException](t, err)
}

func TestNotFound(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, _ := s.CreateKey("alias/exists")
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}
	unknown := []string{
		"00000000-0000-4000-8000-000000000000",
		"arn:aws:kms:us-east-1:111122223333:key/00000000-0000-4000-8000-000000000000",
		"alias/missing",
		"arn:aws:kms:us-east-1:111122223333:alias/missing",
		"arn:aws:kms:eu-west-1:111122223333:key/" + keyID, // wrong region
		"arn:aws:kms:us-east-1:999999999999:key/" + keyID, // wrong account
		"arn:aws:kms:us-east-1:999999999999:alias/exists", // wrong account
	}
	for _, id := range unknown {
		_, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(id), KeySpec: types.DataKeySpecAes256})
		e := wantErr[*types.NotFoundException](t, err)
		if e.ErrorMessage() == "" {
			t.Errorf("NotFoundException for %q has no message", id)
		}
		_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("x")})
		wantErr[*types.NotFoundException](t, err)
		_, err = c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		wantErr[*types.NotFoundException](t, err)
		_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, KeyId: aws.String(id)})
		wantErr[*types.NotFoundException](t, err)
	}

	// A blob in our format naming a key this server does not have.
	other := start(t, Options{})
	otherKey, _ := other.CreateKey("")
	foreign, err := other.Client(ctx).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(otherKey), Plaintext: []byte("x")})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: foreign.CiphertextBlob})
	wantErr[*types.NotFoundException](t, err)
}

func TestDisabledKey(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, keyARN := s.CreateKey("alias/dis")
	other, _ := s.CreateKey("")
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	if err != nil {
		t.Fatal(err)
	}

	s.SetKeyEnabled("alias/dis", false)
	desc, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(keyARN)})
	if err != nil {
		t.Fatalf("DescribeKey of disabled key: %v", err)
	}
	if desc.KeyMetadata.Enabled || desc.KeyMetadata.KeyState != types.KeyStateDisabled {
		t.Fatalf("DescribeKey: Enabled=%v KeyState=%v", desc.KeyMetadata.Enabled, desc.KeyMetadata.KeyState)
	}
	_, err = c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	wantErr[*types.DisabledException](t, err)
	_, err = c.GenerateDataKeyWithoutPlaintext(ctx, &kms.GenerateDataKeyWithoutPlaintextInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256})
	wantErr[*types.DisabledException](t, err)
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
	wantErr[*types.DisabledException](t, err)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob})
	wantErr[*types.DisabledException](t, err)
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: gen.CiphertextBlob, DestinationKeyId: aws.String(other)})
	wantErr[*types.DisabledException](t, err)

	// Disabled destination.
	s.SetKeyEnabled(keyID, true)
	s.SetKeyEnabled(other, false)
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: gen.CiphertextBlob, DestinationKeyId: aws.String(other)})
	wantErr[*types.DisabledException](t, err)

	// Re-enabled key works again.
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, gen.Plaintext) {
		t.Fatalf("Decrypt after re-enable: %v", err)
	}
}

func TestEncryptDecryptReEncrypt(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	k1, k1ARN := s.CreateKey("alias/src")
	_, k2ARN := s.CreateKey("alias/dst")
	ec1 := map[string]string{"purpose": "one"}
	ec2 := map[string]string{"purpose": "two"}
	msg := []byte("attack at dawn")

	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String("alias/src"), Plaintext: msg, EncryptionContext: ec1})
	if err != nil {
		t.Fatalf("Encrypt: %v", err)
	}
	if aws.ToString(enc.KeyId) != k1ARN || enc.EncryptionAlgorithm != types.EncryptionAlgorithmSpecSymmetricDefault {
		t.Fatalf("Encrypt: KeyId %q alg %q", aws.ToString(enc.KeyId), enc.EncryptionAlgorithm)
	}
	if bytes.Contains(enc.CiphertextBlob, msg) {
		t.Fatal("ciphertext contains the plaintext")
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: enc.CiphertextBlob, EncryptionContext: ec1, KeyId: aws.String(k1)})
	if err != nil || !bytes.Equal(dec.Plaintext, msg) {
		t.Fatalf("Decrypt: %v", err)
	}

	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{
		CiphertextBlob:               enc.CiphertextBlob,
		SourceEncryptionContext:      ec1,
		DestinationKeyId:             aws.String("alias/dst"),
		DestinationEncryptionContext: ec2,
	})
	if err != nil {
		t.Fatalf("ReEncrypt: %v", err)
	}
	if aws.ToString(re.KeyId) != k2ARN || aws.ToString(re.SourceKeyId) != k1ARN {
		t.Fatalf("ReEncrypt: KeyId %q SourceKeyId %q", aws.ToString(re.KeyId), aws.ToString(re.SourceKeyId))
	}
	dec, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: ec2})
	if err != nil || !bytes.Equal(dec.Plaintext, msg) || aws.ToString(dec.KeyId) != k2ARN {
		t.Fatalf("Decrypt of re-encrypted blob: %v", err)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob, EncryptionContext: ec1})
	wantErr[*types.InvalidCiphertextException](t, err)
	_, err = c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: enc.CiphertextBlob, DestinationKeyId: aws.String("alias/dst")})
	wantErr[*types.InvalidCiphertextException](t, err)

	// Encrypt input checks.
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: []byte("x"), EncryptionAlgorithm: types.EncryptionAlgorithmSpecRsaesOaepSha256})
	wantErr[*types.InvalidKeyUsageException](t, err)
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: make([]byte, 4097)})
	wantCode(t, err, "ValidationException")
	_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(k1), Plaintext: []byte("x"), DryRun: aws.Bool(true)})
	wantErr[*types.DryRunOperationException](t, err)
}

func TestKeyManagement(t *testing.T) {
	t.Parallel()
	s := start(t, Options{Region: "eu-central-1", Account: "123456789012"})
	ctx := context.Background()
	c := s.Client(ctx)

	ck, err := c.CreateKey(ctx, &kms.CreateKeyInput{Description: aws.String("made via API")})
	if err != nil {
		t.Fatalf("CreateKey: %v", err)
	}
	md := ck.KeyMetadata
	id := aws.ToString(md.KeyId)
	wantARN := "arn:aws:kms:eu-central-1:123456789012:key/" + id
	if aws.ToString(md.Arn) != wantARN || aws.ToString(md.AWSAccountId) != "123456789012" ||
		!md.Enabled || md.KeyState != types.KeyStateEnabled || md.KeyUsage != types.KeyUsageTypeEncryptDecrypt ||
		md.KeySpec != types.KeySpecSymmetricDefault || aws.ToString(md.Description) != "made via API" ||
		md.CreationDate == nil || time.Since(*md.CreationDate) > time.Minute {
		t.Fatalf("CreateKey metadata: %+v", md)
	}
	_, err = c.CreateKey(ctx, &kms.CreateKeyInput{KeySpec: types.KeySpecRsa2048, KeyUsage: types.KeyUsageTypeSignVerify})
	wantErr[*types.UnsupportedOperationException](t, err)

	if _, err := c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/api"), TargetKeyId: aws.String(wantARN)}); err != nil {
		t.Fatalf("CreateAlias: %v", err)
	}
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/api"), TargetKeyId: aws.String(id)})
	wantErr[*types.AlreadyExistsException](t, err)
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/aws/s3"), TargetKeyId: aws.String(id)})
	wantErr[*types.InvalidAliasNameException](t, err)
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("no-prefix"), TargetKeyId: aws.String(id)})
	wantErr[*types.InvalidAliasNameException](t, err)
	_, err = c.CreateAlias(ctx, &kms.CreateAliasInput{AliasName: aws.String("alias/x"), TargetKeyId: aws.String("00000000-0000-4000-8000-000000000000")})
	wantErr[*types.NotFoundException](t, err)

	for _, ident := range []string{id, wantARN, "alias/api", "arn:aws:kms:eu-central-1:123456789012:alias/api"} {
		d, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(ident)})
		if err != nil {
			t.Fatalf("DescribeKey(%q): %v", ident, err)
		}
		if aws.ToString(d.KeyMetadata.KeyId) != id {
			t.Fatalf("DescribeKey(%q) = %q", ident, aws.ToString(d.KeyMetadata.KeyId))
		}
	}

	otherID, _ := s.CreateKey("other") // "alias/" prefix is added
	la, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil {
		t.Fatalf("ListAliases: %v", err)
	}
	if len(la.Aliases) != 2 || aws.ToString(la.Aliases[0].AliasName) != "alias/api" ||
		aws.ToString(la.Aliases[0].TargetKeyId) != id ||
		aws.ToString(la.Aliases[0].AliasArn) != "arn:aws:kms:eu-central-1:123456789012:alias/api" ||
		aws.ToString(la.Aliases[1].AliasName) != "alias/other" || aws.ToString(la.Aliases[1].TargetKeyId) != otherID {
		t.Fatalf("ListAliases: %+v", la.Aliases)
	}
	la, err = c.ListAliases(ctx, &kms.ListAliasesInput{KeyId: aws.String(otherID)})
	if err != nil || len(la.Aliases) != 1 || aws.ToString(la.Aliases[0].AliasName) != "alias/other" {
		t.Fatalf("ListAliases(KeyId): %v %+v", err, la)
	}
}

// TestImportKeyFormat checks ImportKey and that the documented blob format is
// exactly what the server reads, using a blob built independently here.
func TestImportKeyFormat(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	const id = "1234abcd-12ab-34cd-56ef-1234567890ab"
	material := bytes.Repeat([]byte{0x42}, 32)
	arn := s.ImportKey("arn:aws:kms:us-east-1:111122223333:key/"+id, material, "alias/imported")
	if arn != "arn:aws:kms:us-east-1:111122223333:key/"+id {
		t.Fatalf("ImportKey ARN = %q", arn)
	}

	// Build a blob by hand from the format comment in blob.go.
	nonce := []byte("fixed-nonce!") // 12 bytes
	aad := []byte{0, 0, 0, 1, 0, 0, 0, 1, 'k', 0, 0, 0, 1, 'v'}
	block, _ := aes.NewCipher(material)
	gcm, _ := cipher.NewGCM(block)
	blob := append([]byte{0x01, byte(len(id))}, id...)
	blob = append(blob, nonce...)
	blob = gcm.Seal(blob, nonce, []byte("vector plaintext"), aad)

	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"k": "v"}, KeyId: aws.String("alias/imported")})
	if err != nil {
		t.Fatalf("Decrypt of hand-built blob: %v", err)
	}
	if string(dec.Plaintext) != "vector plaintext" || aws.ToString(dec.KeyId) != arn {
		t.Fatalf("Decrypt: %q %q", dec.Plaintext, aws.ToString(dec.KeyId))
	}

	// And the server's own blobs under the imported key follow the format.
	enc, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(id), Plaintext: []byte("p"), EncryptionContext: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	b := enc.CiphertextBlob
	if b[0] != 1 || int(b[1]) != len(id) || string(b[2:2+len(id)]) != id {
		t.Fatalf("blob header %x", b[:2+len(id)])
	}
	pt, err := gcm.Open(nil, b[2+len(id):2+len(id)+12], b[2+len(id)+12:], aad)
	if err != nil || string(pt) != "p" {
		t.Fatalf("opening server blob by hand: %v", err)
	}
}

func TestRegisterCiphertext(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	const id = "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f9"
	arn := s.ImportKey(id, make([]byte, 32), "alias/captured")
	otherID, _ := s.CreateKey("")

	// Something that looks like a real KMS blob: opaque bytes.
	blob, _ := hex.DecodeString("0102020078a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6071829")
	ec := map[string]string{"aws:x-amz-cek-alg": "AES/GCM/NoPadding"}
	plaintext := bytes.Repeat([]byte{7}, 32)
	s.RegisterCiphertext(blob, arn, ec, plaintext)
	plaintext[0] = 0 // RegisterCiphertext must have copied it
	ec["extra"] = "x"
	delete(ec, "extra")

	for _, keyID := range []string{"", id, arn, "alias/captured"} {
		in := &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: map[string]string{"aws:x-amz-cek-alg": "AES/GCM/NoPadding"}}
		if keyID != "" {
			in.KeyId = aws.String(keyID)
		}
		dec, err := c.Decrypt(ctx, in)
		if err != nil {
			t.Fatalf("Decrypt(KeyId=%q): %v", keyID, err)
		}
		if !bytes.Equal(dec.Plaintext, bytes.Repeat([]byte{7}, 32)) || aws.ToString(dec.KeyId) != arn {
			t.Fatalf("Decrypt(KeyId=%q): wrong result", keyID)
		}
	}
	for _, wrong := range []map[string]string{nil, {}, {"aws:x-amz-cek-alg": "AES/CBC"}, {"aws:x-amz-cek-alg": "AES/GCM/NoPadding", "x": "y"}} {
		_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: wrong})
		wantErr[*types.InvalidCiphertextException](t, err)
	}
	_, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec, KeyId: aws.String(otherID)})
	wantErr[*types.IncorrectKeyException](t, err)

	// ReEncrypt moves it into a normal blob.
	re, err := c.ReEncrypt(ctx, &kms.ReEncryptInput{CiphertextBlob: blob, SourceEncryptionContext: ec, DestinationKeyId: aws.String(otherID)})
	if err != nil {
		t.Fatalf("ReEncrypt of registered blob: %v", err)
	}
	if aws.ToString(re.SourceKeyId) != arn {
		t.Fatalf("ReEncrypt SourceKeyId = %q", aws.ToString(re.SourceKeyId))
	}
	dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: re.CiphertextBlob})
	if err != nil || !bytes.Equal(dec.Plaintext, bytes.Repeat([]byte{7}, 32)) {
		t.Fatalf("Decrypt of re-encrypted registered blob: %v", err)
	}

	// Disabled key and unregistered-key cases.
	s.SetKeyEnabled(id, false)
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: blob, EncryptionContext: ec})
	wantErr[*types.DisabledException](t, err)
	s.RegisterCiphertext([]byte("another captured blob"), "alias/nobody", nil, []byte("x"))
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("another captured blob")})
	wantErr[*types.NotFoundException](t, err)
}

func TestGrantTokensAndCalls(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, _ := s.CreateKey("")
	if got := s.LastGrantTokens("GenerateDataKey"); got != nil {
		t.Fatalf("LastGrantTokens before any call = %v", got)
	}
	gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, GrantTokens: []string{"tok-1", "tok-2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if got := s.LastGrantTokens("GenerateDataKey"); len(got) != 2 || got[0] != "tok-1" || got[1] != "tok-2" {
		t.Fatalf("LastGrantTokens(GenerateDataKey) = %v", got)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, GrantTokens: []string{"tok-d"}}); err != nil {
		t.Fatal(err)
	}
	if got := s.LastGrantTokens("Decrypt"); len(got) != 1 || got[0] != "tok-d" {
		t.Fatalf("LastGrantTokens(Decrypt) = %v", got)
	}
	// A failing call still records its tokens; a call without tokens clears them.
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: []byte("bad"), GrantTokens: []string{"tok-fail"}})
	wantErr[*types.InvalidCiphertextException](t, err)
	if got := s.LastGrantTokens("Decrypt"); len(got) != 1 || got[0] != "tok-fail" {
		t.Fatalf("LastGrantTokens(Decrypt) after failure = %v", got)
	}
	if _, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob}); err != nil {
		t.Fatal(err)
	}
	if got := s.LastGrantTokens("Decrypt"); got != nil {
		t.Fatalf("LastGrantTokens(Decrypt) after call without tokens = %v", got)
	}
	_, err = c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, GrantTokens: make([]string, 11)})
	wantCode(t, err, "ValidationException")

	if got := s.Calls("GenerateDataKey"); got != 1 {
		t.Fatalf("Calls(GenerateDataKey) = %d", got)
	}
	if got := s.Calls("Decrypt"); got != 4 {
		t.Fatalf("Calls(Decrypt) = %d, want 4 (including failures)", got)
	}
	if got := s.Calls("Encrypt"); got != 0 {
		t.Fatalf("Calls(Encrypt) = %d", got)
	}
}

func TestSignatureVerification(t *testing.T) {
	t.Parallel()
	const ak, sk = "AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
	s := start(t, Options{AccessKeyID: ak, SecretAccessKey: sk})
	ctx := context.Background()
	keyID, _ := s.CreateKey("")

	// The server's own client signs correctly.
	if _, err := s.Client(ctx).Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")}); err != nil {
		t.Fatalf("Encrypt with correct credentials: %v", err)
	}

	client := func(region, ak, sk, token string) *kms.Client {
		return kms.New(kms.Options{
			Region:           region,
			BaseEndpoint:     aws.String(s.URL()),
			Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, token),
			RetryMaxAttempts: 1,
		})
	}
	enc := func(c *kms.Client) error {
		_, err := c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(keyID), Plaintext: []byte("x")})
		return err
	}
	if err := enc(client("us-east-1", ak, sk, "session-token")); err != nil {
		t.Fatalf("signed session token: %v", err)
	}
	wantCode(t, enc(client("us-east-1", ak, "wrong-secret", "")), "InvalidSignatureException")
	wantCode(t, enc(client("us-east-1", "AKIDOTHER", sk, "")), "UnrecognizedClientException")
	wantCode(t, enc(client("us-west-2", ak, sk, "")), "InvalidSignatureException")

	// Raw requests: missing Authorization, and a body changed after signing.
	body := `{"KeyId":"` + keyID + `","Plaintext":"eA=="}`
	raw := func(sign bool, tamper bool) *http.Response {
		t.Helper()
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "TrentService.Encrypt")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if sign {
			sum := sha256.Sum256([]byte(body))
			err := v4.NewSigner().SignHTTP(ctx, aws.Credentials{AccessKeyID: ak, SecretAccessKey: sk}, req, hex.EncodeToString(sum[:]), "kms", "us-east-1", time.Now())
			if err != nil {
				t.Fatal(err)
			}
		}
		if tamper {
			tampered := strings.Replace(body, "eA==", "eQ==", 1)
			req.Body = io.NopCloser(strings.NewReader(tampered))
			req.ContentLength = int64(len(tampered))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	for _, tc := range []struct {
		sign, tamper bool
		status       int
		code         string
	}{
		{true, false, 200, ""},
		{false, false, 400, "MissingAuthenticationTokenException"},
		{true, true, 400, "InvalidSignatureException"},
	} {
		resp := raw(tc.sign, tc.tamper)
		if resp.StatusCode != tc.status || resp.Header.Get("X-Amzn-Errortype") != tc.code {
			b, _ := io.ReadAll(resp.Body)
			t.Fatalf("sign=%v tamper=%v: status %d type %q body %s", tc.sign, tc.tamper, resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"), b)
		}
	}
}

func TestAuthorizationRequiredWithoutCredentials(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	post := func(auth string) (int, string) {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(`{}`))
		req.Header.Set("X-Amz-Target", "TrentService.ListAliases")
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		return resp.StatusCode, resp.Header.Get("X-Amzn-Errortype")
	}
	good := "AWS4-HMAC-SHA256 Credential=ANYKEY/20240101/us-east-1/kms/aws4_request, SignedHeaders=host;x-amz-date, Signature=00"
	for _, tc := range []struct{ auth, code string }{
		{good, ""},
		{"", "MissingAuthenticationTokenException"},
		{"Bearer token", "IncompleteSignatureException"},
		{"AWS4-HMAC-SHA256 Credential=ANYKEY/20240101/us-east-1/kms/aws4_request", "IncompleteSignatureException"},
		{strings.Replace(good, "/kms/", "/s3/", 1), "InvalidSignatureException"},
	} {
		status, code := post(tc.auth)
		if code != tc.code || (code == "") != (status == 200) {
			t.Errorf("Authorization %q: status %d code %q, want code %q", tc.auth, status, code, tc.code)
		}
	}
}

// TestUnknownTargetRawHTTP talks to the server without the SDK.
func TestUnknownTargetRawHTTP(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	for _, target := range []string{"TrentService.Bogus", "", "OtherService.Decrypt"} {
		req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(`{}`))
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e struct {
			Type    string `json:"__type"`
			Message string `json:"message"`
		}
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatalf("target %q: body is not JSON: %q", target, b)
		}
		if resp.StatusCode != 400 || e.Type != "UnsupportedOperationException" ||
			resp.Header.Get("X-Amzn-Errortype") != "UnsupportedOperationException" ||
			resp.Header.Get("Content-Type") != "application/x-amz-json-1.1" || e.Message == "" {
			t.Fatalf("target %q: status %d headers %v body %s", target, resp.StatusCode, resp.Header, b)
		}
	}
	if got := s.Calls("Bogus"); got != 1 {
		t.Fatalf("Calls(Bogus) = %d", got)
	}

	// Malformed JSON for a known operation.
	req, _ := http.NewRequest(http.MethodPost, s.URL()+"/", strings.NewReader(`{"KeyId":`))
	req.Header.Set("X-Amz-Target", "TrentService.DescribeKey")
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKID/20240101/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=00")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("X-Amzn-Errortype") != "SerializationException" {
		t.Fatalf("malformed JSON: status %d type %q", resp.StatusCode, resp.Header.Get("X-Amzn-Errortype"))
	}

	// An operation the SDK knows but the server does not implement.
	_, err = s.Client(context.Background()).ListKeys(context.Background(), &kms.ListKeysInput{})
	wantErr[*types.UnsupportedOperationException](t, err)
}

func TestConcurrency(t *testing.T) {
	t.Parallel()
	s := start(t, Options{AccessKeyID: "AKIDCONC", SecretAccessKey: "secret"})
	ctx := context.Background()
	c := s.Client(ctx)
	shared, _ := s.CreateKey("alias/shared")
	toggled, _ := s.CreateKey("")

	const workers, iters = 16, 20
	var wg sync.WaitGroup
	errc := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			own, _ := s.CreateKey(fmt.Sprintf("alias/worker-%d", w))
			for i := 0; i < iters; i++ {
				ec := map[string]string{"w": fmt.Sprint(w), "i": fmt.Sprint(i)}
				keyID := shared
				if i%2 == 0 {
					keyID = own
				}
				gen, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String(keyID), KeySpec: types.DataKeySpecAes256, EncryptionContext: ec, GrantTokens: []string{fmt.Sprint(w)}})
				if err != nil {
					errc <- fmt.Errorf("worker %d GenerateDataKey: %w", w, err)
					return
				}
				dec, err := c.Decrypt(ctx, &kms.DecryptInput{CiphertextBlob: gen.CiphertextBlob, EncryptionContext: ec})
				if err != nil || !bytes.Equal(dec.Plaintext, gen.Plaintext) {
					errc <- fmt.Errorf("worker %d Decrypt: %v", w, err)
					return
				}
				s.SetKeyEnabled(toggled, i%3 != 0)
				_, err = c.Encrypt(ctx, &kms.EncryptInput{KeyId: aws.String(toggled), Plaintext: []byte("x")})
				var de *types.DisabledException
				if err != nil && !errors.As(err, &de) {
					errc <- fmt.Errorf("worker %d Encrypt on toggled key: %w", w, err)
					return
				}
				s.RegisterCiphertext([]byte(fmt.Sprintf("blob-%d-%d", w, i)), own, nil, []byte("p"))
				_ = s.Calls("Decrypt")
				_ = s.LastGrantTokens("GenerateDataKey")
			}
		}(w)
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if got := s.Calls("GenerateDataKey"); got != workers*iters {
		t.Fatalf("Calls(GenerateDataKey) = %d, want %d", got, workers*iters)
	}
	la, err := c.ListAliases(ctx, &kms.ListAliasesInput{})
	if err != nil || len(la.Aliases) != workers+1 {
		t.Fatalf("ListAliases: %v, %d aliases", err, len(la.Aliases))
	}
}

func TestStartOptions(t *testing.T) {
	t.Parallel()
	if _, err := Start(Options{AccessKeyID: "only-half"}); err == nil {
		t.Fatal("Start with only AccessKeyID succeeded")
	}
	s := start(t, Options{})
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Fatalf("URL = %q", s.URL())
	}
	if s.Region() != DefaultRegion || s.Account() != DefaultAccount {
		t.Fatalf("defaults: %q %q", s.Region(), s.Account())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	_, err := s.Client(context.Background()).ListAliases(context.Background(), &kms.ListAliasesInput{})
	if err == nil {
		t.Fatal("request to closed server succeeded")
	}
}

func TestPanicsOnMisuse(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	s.CreateKey("alias/taken")
	mustPanic := func(name string, f func()) {
		t.Helper()
		defer func() {
			if recover() == nil {
				t.Errorf("%s did not panic", name)
			}
		}()
		f()
	}
	mustPanic("duplicate alias", func() { s.CreateKey("alias/taken") })
	mustPanic("short material", func() { s.ImportKey("abc", make([]byte, 16), "") })
	mustPanic("bad key id", func() { s.ImportKey("has space", make([]byte, 32), "") })
	mustPanic("unknown key", func() { s.SetKeyEnabled("alias/none", false) })
	id, _ := s.CreateKey("")
	mustPanic("duplicate key", func() { s.ImportKey(id, make([]byte, 32), "") })
}

// Deny makes an operation fail as KMS refuses a caller without the
// permission (AccessDeniedException); other operations are unaffected.
// DescribeKey resolves aliases to the key ARN.
func TestDenyAndDescribeAlias(t *testing.T) {
	t.Parallel()
	s := start(t, Options{})
	ctx := context.Background()
	c := s.Client(ctx)
	keyID, arn := s.CreateKey("alias/described")
	for _, id := range []string{keyID, arn, "alias/described", "arn:aws:kms:us-east-1:111122223333:alias/described"} {
		out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String(id)})
		if err != nil || aws.ToString(out.KeyMetadata.Arn) != arn {
			t.Fatalf("DescribeKey %s: %v, %+v", id, err, out)
		}
	}
	s.Deny("DescribeKey")
	_, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: aws.String("alias/described")})
	wantCode(t, err, "AccessDeniedException")
	if _, err := c.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{KeyId: aws.String("alias/described"), KeySpec: types.DataKeySpecAes256}); err != nil {
		t.Fatalf("GenerateDataKey after Deny(DescribeKey): %v", err)
	}
}
