package keyring

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"testing"

	"github.com/s3c/s3c/metadata"
)

// An encrypt-only keyring is not the end of the search: Multi goes on to
// the next, even for an object whose description names no key (as Java
// writes them), which no keyring claims.
func TestMultiPassesEncryptOnly(t *testing.T) {
	old, err := NewRSA(testRSAKey(t))
	if err != nil {
		t.Fatal(err)
	}
	newPriv, _ := newAES(t) // any other keyring that cannot open it
	pub, err := NewRSAPublic(&testRSAKey(t).PublicKey, func(o *RawOptions) { o.Description = map[string]string{"gen": "new"} })
	if err != nil {
		t.Fatal(err)
	}
	dk, err := old.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	if err != nil {
		t.Fatal(err)
	}
	req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: map[string]string{}}
	got, err := Multi(pub, newPriv, old).DecryptDataKey(ctx, req)
	if err != nil || got.KeyRef != old.KeyRef() {
		t.Fatalf("Multi(public, AES, private) on an empty description: %v", err)
	}
	// Only encrypt-only keyrings: the error says so and what is needed.
	_, err = Multi(pub).DecryptDataKey(ctx, req)
	var nk *NoKeyError
	if !errors.As(err, &nk) || !errors.Is(err, ErrEncryptOnly) || !strings.Contains(err.Error(), "needs a local RSA key") {
		t.Fatalf("encrypt-only: %v", err)
	}
}

// NoKeyError names the kind of key the object needs and the key its
// description records.
func TestNoKeyErrorNamesWhatIsNeeded(t *testing.T) {
	aesK, _ := newAES(t)
	rsaK, _ := NewRSA(testRSAKey(t))
	for _, tc := range []struct {
		wrap string
		desc map[string]string
		kr   Keyring
		want string
	}{
		{metadata.WrapAESGCM, map[string]string{DescriptionKeyID: "aes:0123456789abcdef"}, rsaK,
			`the object needs a local AES key ("aes:0123456789abcdef") to decrypt its data key (wrapping algorithm AES/GCM), and no keyring of that kind is configured`},
		{metadata.WrapRSAOAEP, map[string]string{}, aesK,
			`the object needs a local RSA key to decrypt its data key (wrapping algorithm RSA-OAEP-SHA1), and no keyring of that kind is configured`},
		{metadata.WrapKMSContext, map[string]string{metadata.ContextKMSKeyID: "alias/app", DescriptionKeyID: "x"}, aesK,
			`the object needs an AWS KMS key ("alias/app") to decrypt its data key (wrapping algorithm kms+context), and no keyring of that kind is configured`},
		{"example.com/vault-v1", map[string]string{"example.com/key": "k1"}, Multi(aesK, rsaK),
			`the object needs a keyring for wrapping algorithm "example.com/vault-v1" to decrypt its data key, and none is configured`},
		{metadata.WrapAESGCM, map[string]string{DescriptionKeyID: "aes:0123456789abcdef"}, aesK,
			`no keyring could decrypt the data key, which needs a local AES key ("aes:0123456789abcdef"): ` + aesK.KeyRef() + `: the object names another master key: its material description names another key (s3c:key-id)`},
	} {
		_, err := Multi(tc.kr).DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: tc.wrap, ContentAlg: algs[0], EncryptedKey: make([]byte, 60), Description: tc.desc})
		var nk *NoKeyError
		if !errors.As(err, &nk) || err.Error() != tc.want {
			t.Errorf("%s:\n got %v\nwant %s", tc.wrap, err, tc.want)
		}
	}
}

// A legacy PKCS #1 v1.5 wrapped key with bad padding is not told apart
// from one with good padding under another key: both unwrap, in constant
// time, to a key that then fails on the content.
func TestRSAPKCS1NoPaddingOracle(t *testing.T) {
	priv := testRSAKey(t)
	k, _ := NewRSA(priv)
	other := make([]byte, DataKeySize)
	rand.Read(other)
	goodPadding, _ := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, other)
	short, _ := rsa.EncryptPKCS1v15(rand.Reader, &priv.PublicKey, other[:16])
	// Raw RSA of a message whose first byte is not 0x00 0x02: bad padding.
	m := new(big.Int).SetBytes(append([]byte{0x00, 0x01}, bytes.Repeat([]byte{0xab}, priv.Size()-2)...))
	badPadding := new(big.Int).Exp(m, big.NewInt(int64(priv.E)), priv.N).FillBytes(make([]byte, priv.Size()))
	if _, err := priv.Decrypt(nil, badPadding, &rsa.PKCS1v15DecryptOptions{}); err == nil {
		t.Fatal("the bad-padding vector has good padding")
	}
	keys := map[string][]byte{}
	for name, edk := range map[string][]byte{"bad padding": badPadding, "good padding, another key": goodPadding, "16-byte key": short} {
		got, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapRSAPKCS1, ContentAlg: metadata.ContentAESCBC, EncryptedKey: edk, Description: map[string]string{}})
		if err != nil || len(got.Plaintext) != DataKeySize {
			t.Fatalf("%s: %v", name, err)
		}
		keys[name] = got.Plaintext
	}
	if !bytes.Equal(keys["good padding, another key"], other) || bytes.Equal(keys["bad padding"], other) || bytes.Equal(keys["16-byte key"][:16], other[:16]) {
		t.Fatal("unexpected unwrapped keys")
	}
	// Only a wrapped key of the wrong size fails at once (it is public).
	if _, err := k.DecryptDataKey(ctx, &DecryptionRequest{WrapAlg: metadata.WrapRSAPKCS1, EncryptedKey: badPadding[1:], Description: map[string]string{}}); !errors.Is(err, ErrIncorrectKey) {
		t.Fatalf("short wrapped key: %v", err)
	}
}

// spyKeyring records the order in which Multi calls keyrings.
type spyKeyring struct {
	Keyring
	name  string
	calls *[]string
}

func (s spyKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error) {
	*s.calls = append(*s.calls, s.name)
	return s.Keyring.DecryptDataKey(ctx, req)
}

// claimingSpy is a spy that also claims, as a keyring written outside
// the package can through the exported Claimer.
type claimingSpy struct {
	spyKeyring
	claims bool
}

func (s claimingSpy) Claims(*DecryptionRequest) bool { return s.claims }

// Multi tries first the keyrings that claim an object, so that of five
// RSA keys only the one the object names does a private-key operation;
// the others are still tried when it fails, and a keyring that claims
// nothing is never skipped.
func TestMultiTriesClaimersFirst(t *testing.T) {
	var calls []string
	var rsaKeys []Keyring
	for i := range 5 {
		priv := testRSAKey(t)
		if i > 0 {
			priv, _ = rsa.GenerateKey(rand.Reader, 2048)
		}
		k, err := NewRSA(priv)
		if err != nil {
			t.Fatal(err)
		}
		rsaKeys = append(rsaKeys, k)
	}
	var spies []Keyring
	for i, k := range rsaKeys {
		spies = append(spies, struct {
			spyKeyring
			Claimer
		}{spyKeyring{k, fmt.Sprint("rsa", i), &calls}, k.(Claimer)})
	}
	dk, err := rsaKeys[4].GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	if err != nil {
		t.Fatal(err)
	}
	req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: dk.Description}
	if _, err := Multi(spies[0], spies[1:]...).DecryptDataKey(ctx, req); err != nil || !slices.Equal(calls, []string{"rsa4"}) {
		t.Fatalf("Multi(rsa0..rsa4) on an rsa4 object: %v, calls %v", err, calls)
	}
	// An object that names no key: every keyring in order.
	calls = nil
	noName := *req
	noName.Description = map[string]string{}
	if _, err := Multi(spies[0], spies[1:]...).DecryptDataKey(ctx, &noName); err != nil || !slices.Equal(calls, []string{"rsa0", "rsa1", "rsa2", "rsa3", "rsa4"}) {
		t.Fatalf("description {}: %v, calls %v", err, calls)
	}
	// Raw keyrings claim only their own wrapping algorithm.
	gen := func(o *RawOptions) { o.Description = map[string]string{"gen": "1"} }
	aesK, _ := newAES(t, gen)
	rsaK, _ := NewRSA(testRSAKey(t), gen)
	dk, _ = rsaK.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	req = &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: dk.Description}
	if aesK.Claims(req) || !rsaK.Claims(req) {
		t.Fatalf("AES claims %v, RSA claims %v an RSA object", aesK.Claims(req), rsaK.Claims(req))
	}
	// A keyring of another package's making claims through Claimer; one
	// that claims wrongly only costs a try.
	calls = nil
	plain := spyKeyring{rsaK, "plain", &calls}
	wrong := claimingSpy{spyKeyring{aesK, "wrong claim", &calls}, true}
	if _, err := Multi(plain, wrong).DecryptDataKey(ctx, req); err != nil || !slices.Equal(calls, []string{"wrong claim", "plain"}) {
		t.Fatalf("claimer first: %v, calls %v", err, calls)
	}
}

// fatalKeyring fails as a key manager that cannot be reached does.
type fatalKeyring struct{ Keyring }

var errUnreachable = errors.New("dial tcp 127.0.0.1:1: connection refused")

func (fatalKeyring) DecryptDataKey(context.Context, *DecryptionRequest) (*DataKey, error) {
	return nil, &KeyError{KeyRef: "vault:k1", Err: errUnreachable}
}

// An error outside the "not mine" set stops Multi: the keyrings after it
// are not tried and the error is not turned into a NoKeyError.
func TestMultiStopsAtFatalError(t *testing.T) {
	var calls []string
	aesK, _ := newAES(t)
	dk, _ := aesK.GenerateDataKey(ctx, &EncryptionRequest{ContentAlg: algs[0]})
	req := &DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: algs[0], EncryptedKey: dk.Encrypted, Description: map[string]string{}}
	_, err := Multi(fatalKeyring{}, spyKeyring{aesK, "aes", &calls}).DecryptDataKey(ctx, req)
	var nk *NoKeyError
	if !errors.Is(err, errUnreachable) || errors.Is(err, ErrIncorrectKey) || errors.As(err, &nk) || len(calls) != 0 {
		t.Fatalf("got %v, calls %v", err, calls)
	}
}
