//go:build cgo

package pkcs11

import (
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	p11 "github.com/miekg/pkcs11"

	"github.com/s3c/s3c/internal/softhsmtest"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// Objects written with a token key read back with it: AES and RSA keys,
// formats V3 and V2, envelopes in metadata and in instruction files.
func TestRoundTrip(t *testing.T) {
	bucket := minio.NewBucket(t)
	for _, label := range []string{"aes-1", "rsa-1"} {
		kr := openKey(t, label)
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for _, instr := range []bool{false, true} {
				name := fmt.Sprintf("%s-v%d-instr=%v", label, format, instr)
				c := client(t, kr, func(o *s3crypto.Options) { o.Format = format; o.InstructionFile = instr })
				data := randomBytes(5000)
				put(t, c, bucket, name, data)
				mustGet(t, c, bucket, name, data)
				h, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &bucket, Key: &name})
				if err != nil {
					t.Fatal(err)
				}
				info, _ := s3crypto.GetObjectInfo(h.ResultMetadata)
				e := info.Envelope
				wantWrap := map[string]string{"aes-1": metadata.WrapAESGCM, "rsa-1": metadata.WrapRSAOAEP}[label]
				// An AES key is named by its reference, an RSA key by
				// its public key's fingerprint, as keyring.NewRSA names it.
				wantID := "pkcs11:token=s3c-test;object=" + label
				if kr.PublicKey() != nil {
					wantID, _ = keyring.RSAKeyID(kr.PublicKey())
				}
				if e.Format != format || e.WrapAlg != wantWrap || (e.Storage == metadata.InstructionFile) != instr ||
					e.Description[keyring.DescriptionKeyID] != wantID || !strings.HasPrefix(wantID, map[string]string{"aes-1": "pkcs11:", "rsa-1": "rsa:"}[label]) {
					t.Fatalf("%s: envelope %+v", name, e)
				}
			}
		}
	}
}

// importAES puts a known AES key into the token, for the layout proof
// only: keys made for use are never importable or extractable.
func importAES(t *testing.T, label string, key []byte) {
	t.Helper()
	createObjects(t, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
		p11.NewAttribute(p11.CKA_VALUE, key),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_LABEL, label),
	})
}

// createObjects creates objects in the test token from their templates,
// in a session of its own.
func createObjects(t *testing.T, templates ...[]*p11.Attribute) {
	t.Helper()
	mod, err := loadModule(token.Module)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.release()
	slot, err := findToken(mod, &uri{token: token.Label})
	if err != nil {
		t.Fatal(err)
	}
	sh, err := mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		t.Fatal(err)
	}
	defer mod.ctx.CloseSession(sh)
	if err := login(mod.ctx, sh, token.PIN); err != nil {
		t.Fatal(err)
	}
	for _, tmpl := range templates {
		if _, err := mod.ctx.CreateObject(sh, tmpl); err != nil {
			t.Fatal(err)
		}
	}
}

// The token writes AWS's raw AES layout: an object written with the
// token's key opens with keyring.NewAES given the same key material and
// description, and the other way round.
func TestRawAESLayout(t *testing.T) {
	key := randomBytes(32)
	importAES(t, "known-aes", key)
	hsm := openKey(t, "known-aes")
	raw, err := keyring.NewAES(key, func(o *keyring.RawOptions) { o.Description = hsm.Description() })
	if err != nil {
		t.Fatal(err)
	}
	bucket := minio.NewBucket(t)
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		opt := func(o *s3crypto.Options) { o.Format = format }
		hc, rc := client(t, hsm, opt), client(t, raw, opt)
		data := randomBytes(3000)
		put(t, hc, bucket, "by-hsm", data)
		mustGet(t, rc, bucket, "by-hsm", data)
		put(t, rc, bucket, "by-raw", data)
		mustGet(t, hc, bucket, "by-raw", data)
	}
	// A description naming another key: "not this key", not tampering.
	other := openKey(t, "aes-2")
	put(t, client(t, other), bucket, "other", []byte("x"))
	_, err = get(client(t, hsm), bucket, "other")
	if !is(err, keyring.ErrOtherKey) || s3crypto.IsIntegrityError(err) {
		t.Fatalf("another key's object: %v", err)
	}
}

// The token's RSA private key opens what keyring.NewRSAPublic writes to
// its public key: the raw RSA-OAEP-SHA1 layout.
func TestRawRSALayout(t *testing.T) {
	hsm := openKey(t, "rsa-1")
	pub, err := keyring.NewRSAPublic(hsm.pub, func(o *keyring.RawOptions) { o.Description = hsm.Description() })
	if err != nil {
		t.Fatal(err)
	}
	bucket := minio.NewBucket(t)
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		opt := func(o *s3crypto.Options) { o.Format = format }
		data := randomBytes(3000)
		put(t, client(t, pub, opt), bucket, "by-raw", data)
		mustGet(t, client(t, hsm, opt), bucket, "by-raw", data)
	}
}

// A token key that is not the object's: "not this key" when the
// description names another key; an integrity error when it names this
// key but the wrapped key does not open (tampering, or a wrong key under
// the same name); Multi picks the right one of several.
func TestWrongKey(t *testing.T) {
	bucket := minio.NewBucket(t)
	k1, k2, r1 := openKey(t, "aes-1"), openKey(t, "aes-2"), openKey(t, "rsa-1")
	put(t, client(t, k1), bucket, "a", []byte("hello"))
	put(t, client(t, r1), bucket, "r", []byte("hello"))

	_, err := get(client(t, k2), bucket, "a")
	if !is(err, keyring.ErrOtherKey) || s3crypto.IsIntegrityError(err) {
		t.Fatalf("AES object under aes-2: %v", err)
	}
	_, err = get(client(t, k1), bucket, "r")
	if !is(err, keyring.ErrUnsupportedWrap) || s3crypto.IsIntegrityError(err) {
		t.Fatalf("RSA object under aes-1: %v", err)
	}
	multi := keyring.Multi(k2, r1, k1)
	mustGet(t, client(t, multi), bucket, "a", []byte("hello"))
	mustGet(t, client(t, multi), bucket, "r", []byte("hello"))

	// aes-2 claiming aes-1's name: the token's tag check fails.
	liar := openKey(t, "aes-2", func(o *Options) { o.Description = k1.Description() })
	_, err = get(client(t, liar), bucket, "a")
	if !is(err, keyring.ErrIncorrectKey) || is(err, keyring.ErrOtherKey) || !s3crypto.IsIntegrityError(err) {
		t.Fatalf("aes-2 under aes-1's name: %v", err)
	}
	// The same at the keyring level, for RSA: a wrapped key that does not
	// decrypt under the token's private key.
	dk, err := r1.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
	if err != nil {
		t.Fatal(err)
	}
	edk := append([]byte(nil), dk.Encrypted...)
	edk[10] ^= 1
	_, err = r1.DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: edk, Description: dk.Description})
	if !is(err, keyring.ErrIncorrectKey) || is(err, keyring.ErrOtherKey) {
		t.Fatalf("altered RSA wrapped key: %v", err)
	}
	// And bound to the content algorithm.
	_, err = r1.DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentAESGCM, EncryptedKey: dk.Encrypted, Description: dk.Description})
	if !is(err, keyring.ErrIncorrectKey) {
		t.Fatalf("RSA key for another content algorithm: %v", err)
	}
	dk, err = k1.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
	if err != nil {
		t.Fatal(err)
	}
	_, err = k1.DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentAESGCM, EncryptedKey: dk.Encrypted, Description: dk.Description})
	if !is(err, keyring.ErrIncorrectKey) {
		t.Fatalf("AES key for another content algorithm: %v", err)
	}
}

// 32 workers share one keyring (8 sessions) for puts and gets; and for
// gets of what the RSA key's public half alone puts.
func TestConcurrentWorkers(t *testing.T) {
	bucket := minio.NewBucket(t)
	for _, label := range []string{"aes-1", "rsa-1", "rsa-1-pub"} {
		kr := openKey(t, strings.TrimSuffix(label, "-pub"))
		c, wc := client(t, kr), client(t, kr)
		if strings.HasSuffix(label, "-pub") {
			wc = client(t, publicOnly(t, kr))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 32)
		for w := range 32 {
			wg.Go(func() {
				for i := range 4 {
					key := fmt.Sprintf("%s/%d/%d", label, w, i)
					data := randomBytes(4096)
					if _, err := wc.PutObject(bg, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: strings.NewReader(string(data))}); err != nil {
						errs <- err
						return
					}
					got, err := get(c, bucket, key)
					if err != nil || string(got) != string(data) {
						errs <- fmt.Errorf("%s: %v", key, err)
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
}

// Configuration faults give one clear line each, and never the PIN.
func TestConfigurationErrors(t *testing.T) {
	const pin = "9s3cr3t7"
	mod := "?module-path=" + token.Module + "&pin-value="
	for _, c := range []struct{ name, uri, want string }{
		{"missing module", "pkcs11:token=s3c-test;object=aes-1?module-path=/nonexistent/libvendor.so&pin-value=" + pin,
			"pkcs11:token=s3c-test;object=aes-1: PKCS#11 module /nonexistent/libvendor.so: no such file or directory (install the HSM vendor's PKCS#11 library, or fix module-path)"},
		{"wrong PIN", "pkcs11:token=" + pinToken + ";object=aes-1" + mod + pin,
			"pkcs11:token=s3c-pin;object=aes-1: the token refused the PIN (CKR_PIN_INCORRECT): check pin-source or pin-value"},
		{"absent token", "pkcs11:token=nope;object=aes-1" + mod + pin,
			"pkcs11:token=nope;object=aes-1: no token with this label in " + token.Module + " (tokens present: \"s3c-pin\", \"s3c-test\"): is the HSM connected and the token initialised?"},
		{"absent key", "pkcs11:token=s3c-test;object=nope" + mod + softhsmtest.PIN,
			"pkcs11:token=s3c-test;object=nope: the token holds no such key (no secret or private key with this label/id)"},
	} {
		_, err := Open(c.uri)
		if err == nil {
			t.Fatalf("%s: opened", c.name)
		}
		if err.Error() != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, err, c.want)
		}
		if strings.Contains(err.Error(), pin) || is(err, keyring.ErrIncorrectKey) {
			t.Errorf("%s: %v", c.name, err)
		}
	}
	var ke *keyring.KeyError
	if _, err := Open("pkcs11:token=nope;object=aes-1" + mod + pin); !errors.As(err, &ke) {
		t.Fatalf("not a KeyError: %v", err)
	}
}

// GenerateKey refuses a label that is taken.
func TestGenerateKeyRefusesExisting(t *testing.T) {
	err := GenerateKey(token.URI("aes-1"), "aes")
	if err == nil || !strings.Contains(err.Error(), "already holds a key") {
		t.Fatalf("GenerateKey over aes-1: %v", err)
	}
	if err := GenerateKey(token.URI("x"), "dsa"); err == nil {
		t.Fatal("kind dsa accepted")
	}
}

// Sessions lost to a token reset (all closed, the login gone) are
// replaced: the next operations log in again and succeed.
func TestSessionsRecover(t *testing.T) {
	bucket := minio.NewBucket(t)
	for _, label := range []string{"aes-1", "rsa-1"} {
		k := openKey(t, label)
		c := client(t, k)
		put(t, c, bucket, label, []byte("before"))
		if err := k.mod.ctx.CloseAllSessions(k.slot); err != nil {
			t.Fatal(err)
		}
		mustGet(t, c, bucket, label, []byte("before"))
		put(t, c, bucket, label+"-after", []byte("after"))
		mustGet(t, c, bucket, label+"-after", []byte("after"))
	}
}

// Rotation: an object under a raw AES key moves to the token's keys
// (KeyWrapper) and then reads with the token alone.
func TestRewrapToToken(t *testing.T) {
	bucket := minio.NewBucket(t)
	raw, err := keyring.NewAES(randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	data := randomBytes(2000)
	put(t, client(t, raw), bucket, "obj", data)
	for _, label := range []string{"aes-1", "rsa-1"} {
		hsm := openKey(t, label)
		from := client(t, keyring.Multi(raw, openKey(t, "aes-1"), openKey(t, "rsa-1")))
		key := "obj"
		if _, err := from.RewrapObject(bg, &s3crypto.RewrapObjectInput{Bucket: &bucket, Key: &key, NewKeyring: hsm}); err != nil {
			t.Fatalf("rewrap to %s: %v", label, err)
		}
		mustGet(t, client(t, hsm), bucket, key, data)
	}
}
