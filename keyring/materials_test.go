package keyring

import (
	"bytes"
	"context"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/hex"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/s3c/s3c/metadata"
)

var ctx = context.Background()

var (
	rsaOnce sync.Once
	rsaKey  *rsa.PrivateKey
)

func testRSAKey(t testing.TB) *rsa.PrivateKey {
	rsaOnce.Do(func() {
		var err error
		if rsaKey, err = rsa.GenerateKey(rand.Reader, 2048); err != nil {
			panic(err)
		}
	})
	return rsaKey
}

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

var algs = []string{metadata.ContentCommittingGCM, metadata.ContentAESGCM}

func TestAESRoundTrip(t *testing.T) {
	k, key := newAES(t)
	for _, alg := range algs {
		dk, got, err := roundTrip(t, k, k, alg, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if dk.WrapAlg != metadata.WrapAESGCM || len(dk.Encrypted) != 60 {
			t.Fatalf("wrap %s, %d bytes", dk.WrapAlg, len(dk.Encrypted))
		}
		if dk.Description[DescriptionKeyID] != AESKeyID(key) || got.KeyRef != AESKeyID(key) {
			t.Fatalf("description %v, key ref %s, want the key id %s", dk.Description, got.KeyRef, AESKeyID(key))
		}
		if !strings.HasPrefix(dk.KeyRef, "aes:") || len(dk.KeyRef) != 20 {
			t.Fatalf("key ref %q", dk.KeyRef)
		}
	}
	// Two wraps of the same request differ: fresh key, fresh IV.
	a, _ := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	b, _ := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	if bytes.Equal(a.Plaintext, b.Plaintext) || bytes.Equal(a.Encrypted[:12], b.Encrypted[:12]) {
		t.Fatal("data keys or wrap IVs repeat")
	}
}

// The layout AWS's Java AesKeyring reads: IV ‖ GCM(KEK, IV, PDK, AAD=alg).
func TestAESWireLayout(t *testing.T) {
	k, key := newAES(t)
	for _, alg := range algs {
		dk, _ := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: alg})
		b, _ := aes.NewCipher(key)
		g, _ := cipher.NewGCM(b)
		pdk, err := g.Open(nil, dk.Encrypted[:12], dk.Encrypted[12:], []byte(alg))
		if err != nil || !bytes.Equal(pdk, dk.Plaintext) {
			t.Fatalf("%s: independent AES-GCM open with AAD %q failed: %v", alg, alg, err)
		}
	}
}

func TestAESRejects(t *testing.T) {
	k, _ := newAES(t)
	other, _ := newAES(t)
	if _, _, err := roundTrip(t, k, other, algs[0], nil, nil); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("other key: %v, want ErrIncorrectKey", err)
	}
	dk, _ := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
	req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentAESGCM, EncryptedKey: dk.Encrypted, Description: dk.Description}
	if _, err := k.DecryptDataKey(ctx, req); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("V3 key presented as V2: %v, want ErrIncorrectKey", err)
	}
	for i := range dk.Encrypted {
		bad := bytes.Clone(dk.Encrypted)
		bad[i] ^= 0x80
		req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: bad, Description: dk.Description}
		if _, err := k.DecryptDataKey(ctx, req); !errors.Is(err, ErrIncorrectKey) {
			t.Fatalf("flipped byte %d of the wrapped key: %v", i, err)
		}
	}
	req = &DecryptionRequest{WrapAlg: metadata.WrapAESGCM, ContentAlg: algs[0], EncryptedKey: dk.Encrypted[:59], Description: dk.Description}
	if _, err := k.DecryptDataKey(ctx, req); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("short wrapped key: %v", err)
	}
	req.WrapAlg = metadata.WrapKMSContext
	if _, err := k.DecryptDataKey(ctx, req); !errors.Is(err, ErrUnsupportedWrap) {
		t.Fatalf("kms+context wrap: %v", err)
	}
	if _, err := NewAES(make([]byte, 31)); err == nil {
		t.Fatal("31-byte AES key accepted")
	}
	if _, err := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: metadata.ContentAESCBC}); err == nil {
		t.Fatal("data key for CBC generated")
	}
}

func TestRawContext(t *testing.T) {
	k, _ := newAES(t)
	ec := map[string]string{"team": "blue"}
	dk, _, err := roundTrip(t, k, k, algs[0], ec, ec)
	if err != nil {
		t.Fatal(err)
	}
	if dk.Description["team"] != "blue" || dk.Description[DescriptionKeyID] == "" {
		t.Fatalf("description %v", dk.Description)
	}
	// The caller's context is compared by the s3crypto client, leaving
	// out the keys the keyring declares as its own, for its wraps only.
	if got := k.OwnedDescriptionKeys(metadata.WrapAESGCM); !slices.Equal(got, []string{DescriptionKeyID}) {
		t.Fatalf("owned keys %v", got)
	}
	if got := k.OwnedDescriptionKeys(metadata.WrapKMSContext); len(got) != 0 {
		t.Fatalf("owned keys for a KMS wrap: %v", got)
	}
	if _, err := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0], Context: map[string]string{DescriptionKeyID: "x"}}); err == nil {
		t.Fatal("caller overrode the key id")
	}
	custom, _ := newAES(t, func(o *RawOptions) { o.Description = map[string]string{"key": "2026"} })
	dk, _, err = roundTrip(t, custom, custom, algs[1], nil, nil)
	if err != nil || len(dk.Description) != 1 || dk.Description["key"] != "2026" {
		t.Fatalf("custom description: %v %v", dk.Description, err)
	}
	rsaK, _ := NewRSA(testRSAKey(t), func(o *RawOptions) { o.Description = map[string]string{"rsa": "2026"} })
	got := Multi(custom, rsaK, spyKeyring{} /* owns no description keys, as a KMS keyring */).OwnedDescriptionKeys(metadata.WrapRSAOAEP)
	if slices.Sort(got); !slices.Equal(got, []string{"rsa", DescriptionKeyID}) {
		t.Fatalf("Multi's owned keys for RSA: %v", got)
	}
}

func TestRSARoundTrip(t *testing.T) {
	k, err := NewRSA(testRSAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	pub, err := NewRSAPublic(&testRSAKey(t).PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	if pub.KeyRef() != k.KeyRef() || !strings.HasPrefix(k.KeyRef(), "rsa:") {
		t.Fatalf("key refs %s %s", pub.KeyRef(), k.KeyRef())
	}
	for _, alg := range algs {
		dk, _, err := roundTrip(t, pub, k, alg, nil, nil)
		if err != nil {
			t.Fatalf("%s: %v", alg, err)
		}
		if dk.WrapAlg != metadata.WrapRSAOAEP || len(dk.Encrypted) != 256 {
			t.Fatalf("wrap %s, %d bytes", dk.WrapAlg, len(dk.Encrypted))
		}
		// Java's layout: OAEP(SHA-1, MGF1-SHA-1) of len ‖ key ‖ alg.
		pseudo, err := testRSAKey(t).Decrypt(nil, dk.Encrypted, &rsa.OAEPOptions{Hash: crypto.SHA1})
		if err != nil || pseudo[0] != 32 || !bytes.Equal(pseudo[1:33], dk.Plaintext) || string(pseudo[33:]) != alg {
			t.Fatalf("%s: pseudo data key layout wrong: %v", alg, err)
		}
	}
	if _, _, err := roundTrip(t, pub, pub, algs[0], nil, nil); !errors.Is(err, ErrEncryptOnly) {
		t.Fatalf("public-only decrypt: %v", err)
	}
	// A V3-bound key must not open as V2.
	dk, _ := k.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
	if _, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentAESGCM, EncryptedKey: dk.Encrypted, Description: dk.Description}); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("V3 key presented as V2: %v", err)
	}
	small, _ := rsa.GenerateKey(rand.Reader, 1024)
	if _, err := NewRSA(small); err == nil {
		t.Fatal("1024-bit key accepted")
	}
}

func TestRSALegacy(t *testing.T) {
	priv := testRSAKey(t)
	k, _ := NewRSA(priv)
	pdk := make([]byte, 32)
	rand.Read(pdk)
	oaep256, _ := rsa.EncryptOAEPWithOptions(rand.Reader, &priv.PublicKey, pdk, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1})
	pkcs1, _ := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, pdk)
	for wrap, edk := range map[string][]byte{metadata.WrapRSAOAEPSHA256: oaep256, metadata.WrapRSAPKCS1: pkcs1} {
		got, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: wrap, ContentAlg: metadata.ContentAESCBC, EncryptedKey: edk, Description: map[string]string{}})
		if err != nil || !bytes.Equal(got.Plaintext, pdk) {
			t.Fatalf("%s: %v", wrap, err)
		}
	}
}

// RFC 3394 section 4.6: 256 bits of key data wrapped with a 256-bit KEK.
func TestAESWrapRFC3394(t *testing.T) {
	kek, _ := hex.DecodeString("000102030405060708090A0B0C0D0E0F101112131415161718191A1B1C1D1E1F")
	data, _ := hex.DecodeString("00112233445566778899AABBCCDDEEFF000102030405060708090A0B0C0D0E0F")
	wrapped, _ := hex.DecodeString("28C9F404C4B810F4CBCCB35CFB87F8263F5786E2D80ED326CBC7F0E71A99F43BFB988B9B7A02DD21")
	k, _ := NewAES(kek)
	got, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapAESWrap, ContentAlg: metadata.ContentAESGCM, EncryptedKey: wrapped, Description: map[string]string{}})
	if err != nil || !bytes.Equal(got.Plaintext, data) {
		t.Fatalf("RFC 3394 vector: %v", err)
	}
	wrapped[5] ^= 1
	if _, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapAESWrap, EncryptedKey: wrapped, Description: map[string]string{}}); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("tampered AESWrap: %v", err)
	}
}

func TestAESV1ECB(t *testing.T) {
	k, key := newAES(t)
	pdk := make([]byte, 32)
	rand.Read(pdk)
	b, _ := aes.NewCipher(key)
	edk := append(bytes.Clone(pdk), bytes.Repeat([]byte{16}, 16)...)
	for i := 0; i < len(edk); i += 16 {
		b.Encrypt(edk[i:i+16], edk[i:i+16])
	}
	got, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapAESECB, ContentAlg: metadata.ContentAESCBC, EncryptedKey: edk, Description: map[string]string{}})
	if err != nil || !bytes.Equal(got.Plaintext, pdk) {
		t.Fatalf("V1 AES/ECB: %v", err)
	}
	other, _ := newAES(t)
	if _, err := other.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapAESECB, EncryptedKey: edk, Description: map[string]string{}}); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("V1 AES/ECB with the wrong key: %v", err)
	}
}

func TestMultiRotation(t *testing.T) {
	old, _ := newAES(t)
	cur, _ := newAES(t)
	rsaK, _ := NewRSA(testRSAKey(t))
	m := Multi(cur, rsaK, old)
	for _, writer := range []Keyring{old, cur, rsaK} {
		dk, got, err := roundTrip(t, writer, m, algs[0], nil, nil)
		if err != nil {
			t.Fatalf("written by %T: %v", writer, err)
		}
		if got.KeyRef != dk.KeyRef {
			t.Fatalf("unwrapped by %s, wrapped by %s", got.KeyRef, dk.KeyRef)
		}
	}
	// An object whose description names no key (what Java writes by
	// default) is still found by trying every keyring.
	dk, _ := old.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	got, err := m.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: map[string]string{}})
	if err != nil || got.KeyRef != old.KeyRef() {
		t.Fatalf("description {}: %v", err)
	}
	// New keys come from the primary.
	dk, _ = m.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	if dk.KeyRef != cur.KeyRef() {
		t.Fatalf("generated under %s", dk.KeyRef)
	}
	// Nobody holds the key: the error names every key tried.
	stranger, _ := newAES(t)
	_, _, err = roundTrip(t, stranger, Multi(cur, old), algs[0], nil, nil)
	var nk *NoKeyError
	if !errors.As(err, &nk) || !errors.Is(err, ErrIncorrectKey) || !strings.Contains(err.Error(), cur.KeyRef()) || !strings.Contains(err.Error(), old.KeyRef()) {
		t.Fatalf("no key: %v", err)
	}
	_, err = Multi(cur).DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapKMSContext, ContentAlg: algs[0], EncryptedKey: []byte{1}})
	if err == nil || !strings.Contains(err.Error(), "needs an AWS KMS key to decrypt its data key (wrapping algorithm kms+context), and no keyring of that kind is configured") {
		t.Fatalf("unhandled wrap: %v", err)
	}
}
