//go:build cgo

package pkcs11

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	p11 "github.com/miekg/pkcs11"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// keyID returns the s3c:key-id an object under s3crypto client c's key
// records.
func keyID(t *testing.T, c *s3crypto.Client, bucket, key string) string {
	t.Helper()
	h, err := c.HeadObject(bg, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	info, ok := s3crypto.GetObjectInfo(h.ResultMetadata)
	if !ok {
		t.Fatalf("%s: no object info", key)
	}
	return info.Envelope.Description[keyring.DescriptionKeyID]
}

// publicOnly is what a writer with no access to the token holds: the
// token key's public half, exported as PEM and parsed again, in a raw
// RSA keyring with its default options.
func publicOnly(t *testing.T, hsm *Keyring) *keyring.RSAKeyring {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(hsm.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	_, pub, err := keyring.ParseRSAKey(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	kr, err := keyring.NewRSAPublic(pub)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// Encrypting with the public key alone (no module, no PIN, no token)
// writes objects the token's key reads, naming the key as the token
// keyring does; objects written before RSA keys were named by their
// fingerprint, which record the pkcs11: reference, still read.
func TestPublicKeyOnlyWriter(t *testing.T) {
	bucket := minio.NewBucket(t)
	hsm := openKey(t, "rsa-1")
	pub := publicOnly(t, hsm)
	want, _ := keyring.RSAKeyID(hsm.PublicKey())
	if hsm.Description()[keyring.DescriptionKeyID] != want || pub.KeyRef() != want || hsm.KeyRef() != "pkcs11:token=s3c-test;object=rsa-1" {
		t.Fatalf("token keyring names %v (ref %s), the public key %s, want %s", hsm.Description(), hsm.KeyRef(), pub.KeyRef(), want)
	}
	if hsm.PublicKey() == hsm.pub || openKey(t, "aes-1").PublicKey() != nil {
		t.Fatal("PublicKey: not a copy, or an AES key has one")
	}
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		for _, instr := range []bool{false, true} {
			opt := func(o *s3crypto.Options) { o.Format = format; o.InstructionFile = instr }
			data := randomBytes(4096)
			put(t, client(t, pub, opt), bucket, "by-pub", data)
			put(t, client(t, hsm, opt), bucket, "by-hsm", data)
			mustGet(t, client(t, hsm, opt), bucket, "by-pub", data)
			if a, b := keyID(t, client(t, hsm), bucket, "by-pub"), keyID(t, client(t, hsm), bucket, "by-hsm"); a != want || b != want {
				t.Fatalf("key ids: public-key writer %q, token writer %q, want %q", a, b, want)
			}
		}
	}
	// The token keyring claims the public key's objects: Multi tries it
	// first among several RSA keys.
	dk, err := pub.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
	if err != nil {
		t.Fatal(err)
	}
	req := &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: dk.Encrypted, Description: dk.Description}
	if !hsm.Claims(req) {
		t.Fatal("the token keyring does not claim its public key's object")
	}
	got, err := hsm.DecryptDataKey(bg, req)
	if err != nil || string(got.Plaintext) != string(dk.Plaintext) {
		t.Fatalf("unwrap of the public key's data key: %v", err)
	}

	// Before: the description recorded the token's reference.
	legacy, err := keyring.NewRSAPublic(hsm.PublicKey(), func(o *keyring.RawOptions) {
		o.Description = map[string]string{keyring.DescriptionKeyID: hsm.KeyRef()}
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, client(t, legacy), bucket, "legacy", []byte("old"))
	mustGet(t, client(t, hsm), bucket, "legacy", []byte("old"))
	mustGet(t, client(t, keyring.Multi(openKey(t, "aes-1"), hsm)), bucket, "legacy", []byte("old"))
	// A description naming another key is still "not this key".
	other, err := keyring.NewRSAPublic(hsm.PublicKey(), func(o *keyring.RawOptions) {
		o.Description = map[string]string{keyring.DescriptionKeyID: "pkcs11:token=s3c-test;object=rsa-2"}
	})
	if err != nil {
		t.Fatal(err)
	}
	put(t, client(t, other), bucket, "other", []byte("x"))
	if _, err := get(client(t, hsm), bucket, "other"); !is(err, keyring.ErrOtherKey) {
		t.Fatalf("object naming another key: %v", err)
	}
}

// importRSA puts a known RSA key pair into the token, for the layout
// proof only: keys made for use are never importable or extractable.
func importRSA(t *testing.T, label string, priv *rsa.PrivateKey) {
	t.Helper()
	priv.Precompute()
	e := []byte{byte(priv.E >> 16), byte(priv.E >> 8), byte(priv.E)}
	createObjects(t, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_PRIVATE, true),
		p11.NewAttribute(p11.CKA_DECRYPT, true),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_MODULUS, priv.N.Bytes()),
		p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, e),
		p11.NewAttribute(p11.CKA_PRIVATE_EXPONENT, priv.D.Bytes()),
		p11.NewAttribute(p11.CKA_PRIME_1, priv.Primes[0].Bytes()),
		p11.NewAttribute(p11.CKA_PRIME_2, priv.Primes[1].Bytes()),
		p11.NewAttribute(p11.CKA_EXPONENT_1, priv.Precomputed.Dp.Bytes()),
		p11.NewAttribute(p11.CKA_EXPONENT_2, priv.Precomputed.Dq.Bytes()),
		p11.NewAttribute(p11.CKA_COEFFICIENT, priv.Precomputed.Qinv.Bytes()),
	}, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
		p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
		p11.NewAttribute(p11.CKA_TOKEN, true),
		p11.NewAttribute(p11.CKA_ENCRYPT, true),
		p11.NewAttribute(p11.CKA_LABEL, label),
		p11.NewAttribute(p11.CKA_MODULUS, priv.N.Bytes()),
		p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, e),
	})
}

// An RSA key imported into the token and the same key in a raw RSA
// keyring, both with their default options, name the key alike and read
// each other's objects.
func TestImportedRSAKey(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	importRSA(t, "known-rsa", priv)
	hsm := openKey(t, "known-rsa")
	raw, err := keyring.NewRSA(priv)
	if err != nil {
		t.Fatal(err)
	}
	if hsm.Description()[keyring.DescriptionKeyID] != raw.KeyRef() {
		t.Fatalf("token keyring names %v, the raw keyring %s", hsm.Description(), raw.KeyRef())
	}
	bucket := minio.NewBucket(t)
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		opt := func(o *s3crypto.Options) { o.Format = format }
		data := randomBytes(3000)
		put(t, client(t, hsm, opt), bucket, "by-hsm", data)
		mustGet(t, client(t, raw, opt), bucket, "by-hsm", data)
		put(t, client(t, raw, opt), bucket, "by-raw", data)
		mustGet(t, client(t, hsm, opt), bucket, "by-raw", data)
	}
}

// Multi with a key file and the token's keys: objects under each, the
// public-key writer's among them, read with the right key; rotation from
// the key file to the token's RSA key needs only its public key, and the
// token reads the result.
func TestMultiWithFileKeyAndToken(t *testing.T) {
	bucket := minio.NewBucket(t)
	file, err := keyring.NewAES(randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	hsmRSA, hsmAES := openKey(t, "rsa-1"), openKey(t, "aes-1")
	pub := publicOnly(t, hsmRSA)
	objs := map[string]keyring.Keyring{"file": file, "pub": pub, "hsm-rsa": hsmRSA, "hsm-aes": hsmAES}
	data := map[string][]byte{}
	for name, kr := range objs {
		data[name] = randomBytes(1000)
		put(t, client(t, kr), bucket, name, data[name])
	}
	for _, readers := range [][]keyring.Keyring{{file, hsmAES, hsmRSA}, {hsmRSA, hsmAES, file}, {pub, file, hsmAES, hsmRSA}} {
		c := client(t, keyring.Multi(readers[0], readers[1:]...))
		for name := range objs {
			mustGet(t, c, bucket, name, data[name])
		}
	}
	// Multi writing with its first keyring: the token's RSA key, or its
	// public key alone, name the same key.
	put(t, client(t, keyring.Multi(pub, file)), bucket, "multi-pub", []byte("m"))
	put(t, client(t, keyring.Multi(hsmRSA, file)), bucket, "multi-hsm", []byte("m"))
	if a, b := keyID(t, client(t, file), bucket, "multi-pub"), keyID(t, client(t, file), bucket, "multi-hsm"); a != b || a != pub.KeyRef() {
		t.Fatalf("Multi writers name %q and %q", a, b)
	}
	// Rotation from the key file to the token's key, with no token.
	key := "file"
	if _, err := client(t, file).RewrapObject(bg, &s3crypto.RewrapObjectInput{Bucket: &bucket, Key: &key, NewKeyring: pub}); err != nil {
		t.Fatal(err)
	}
	mustGet(t, client(t, hsmRSA), bucket, key, data[key])
	if _, err := get(client(t, file), bucket, key); err == nil {
		t.Fatal("the rewrapped object still reads with the old key")
	}
}
