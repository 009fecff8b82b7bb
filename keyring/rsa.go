package keyring

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"maps"

	"github.com/s3c/s3c/metadata"
)

// RSAKeyring wraps data keys with a raw RSA key pair ("RSA-OAEP-SHA1":
// RSAES-OAEP with SHA-1 and MGF1-SHA-1 over a length byte, the data key
// and the content algorithm's name).
type RSAKeyring struct {
	pub  *rsa.PublicKey
	priv *rsa.PrivateKey // nil for an encrypt-only keyring
	rawDescription
}

// MinRSABits is the smallest RSA modulus NewRSA accepts.
const MinRSABits = 2048

// NewRSA returns a keyring that encrypts and decrypts with an RSA key pair.
func NewRSA(priv *rsa.PrivateKey, optFns ...func(*RawOptions)) (*RSAKeyring, error) {
	if err := priv.Validate(); err != nil {
		return nil, fmt.Errorf("materials: RSA private key: %w", err)
	}
	k, err := NewRSAPublic(&priv.PublicKey, optFns...)
	if err != nil {
		return nil, err
	}
	k.priv = priv
	return k, nil
}

// NewRSAPublic returns an encrypt-only keyring for an RSA public key:
// enough to write objects that only the private key's holder can read.
func NewRSAPublic(pub *rsa.PublicKey, optFns ...func(*RawOptions)) (*RSAKeyring, error) {
	if pub.N.BitLen() < MinRSABits {
		return nil, fmt.Errorf("materials: RSA key has %d bits, at least %d are needed", pub.N.BitLen(), MinRSABits)
	}
	id, err := RSAKeyID(pub)
	if err != nil {
		return nil, err
	}
	return &RSAKeyring{pub: pub, rawDescription: newRawDescription(id, optFns)}, nil
}

// RSAKeyID returns the fingerprint that names an RSA key pair: "rsa:" and
// the first 16 hex digits of the SHA-256 of its public key (PKIX DER).
func RSAKeyID(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("materials: RSA public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return "rsa:" + hex.EncodeToString(sum[:8]), nil
}

// KeyRef returns the key's fingerprint.
func (k *RSAKeyring) KeyRef() string { return k.id }

// Description returns the material description the keyring records.
func (k *RSAKeyring) Description() map[string]string { return maps.Clone(k.desc) }

// GenerateDataKey makes a random data key and encrypts it to the public key.
func (k *RSAKeyring) GenerateDataKey(_ context.Context, req *EncryptionRequest) (*DataKey, error) {
	if err := checkContentAlg(req.ContentAlg); err != nil {
		return nil, err
	}
	desc, err := k.forWrite(req.Context)
	if err != nil {
		return nil, err
	}
	pdk := newDataKey()
	edk, err := k.encrypt(pdk, req.ContentAlg)
	if err != nil {
		clear(pdk)
		return nil, err
	}
	return &DataKey{Plaintext: pdk, Encrypted: edk, WrapAlg: metadata.WrapRSAOAEP, Description: desc, KeyRef: k.id}, nil
}

// WrapDataKey encrypts an existing data key to the public key as
// GenerateDataKey does a new one (see KeyWrapper): a public-key-only
// keyring can do it.
func (k *RSAKeyring) WrapDataKey(_ context.Context, req *EncryptionRequest, dataKey []byte) (*DataKey, error) {
	if err := checkContentAlg(req.ContentAlg); err != nil {
		return nil, err
	}
	if err := checkDataKey(dataKey); err != nil {
		return nil, &KeyError{KeyRef: k.id, Err: err}
	}
	desc, err := k.forWrite(req.Context)
	if err != nil {
		return nil, err
	}
	edk, err := k.encrypt(dataKey, req.ContentAlg)
	if err != nil {
		return nil, err
	}
	return &DataKey{Encrypted: edk, WrapAlg: metadata.WrapRSAOAEP, Description: desc, KeyRef: k.id}, nil
}

// encrypt wraps pdk with RSA-OAEP-SHA1 over a length byte, the key and
// the content algorithm's name.
func (k *RSAKeyring) encrypt(pdk []byte, contentAlg string) ([]byte, error) {
	pseudo := make([]byte, 0, 1+DataKeySize+len(contentAlg))
	pseudo = append(pseudo, DataKeySize)
	pseudo = append(pseudo, pdk...)
	pseudo = append(pseudo, contentAlg...)
	edk, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, k.pub, pseudo, nil)
	clear(pseudo)
	if err != nil {
		return nil, &KeyError{KeyRef: k.id, Err: fmt.Errorf("RSA-OAEP: %w", err)}
	}
	return edk, nil
}

// DecryptDataKey decrypts an "RSA-OAEP-SHA1" wrapped key, or a legacy
// "RSA/ECB/OAEPWithSHA-256AndMGF1Padding" or V1 "RSA" (PKCS #1 v1.5) one.
func (k *RSAKeyring) DecryptDataKey(_ context.Context, req *DecryptionRequest) (*DataKey, error) {
	switch req.WrapAlg {
	case metadata.WrapRSAOAEP, metadata.WrapRSAOAEPSHA256, metadata.WrapRSAPKCS1:
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedWrap, req.WrapAlg)
	}
	if k.priv == nil {
		return nil, &KeyError{KeyRef: k.id, Err: ErrEncryptOnly}
	}
	if err := k.check(req); err != nil {
		return nil, err
	}
	if len(req.EncryptedKey) != k.pub.Size() {
		return nil, &KeyError{KeyRef: k.id, Err: fmt.Errorf("%w: RSA wrapped key is %d bytes, the key's modulus %d", ErrIncorrectKey, len(req.EncryptedKey), k.pub.Size())}
	}
	var (
		pdk []byte
		err error
	)
	switch req.WrapAlg {
	case metadata.WrapRSAOAEP:
		pdk, err = k.openOAEP(req)
	case metadata.WrapRSAOAEPSHA256:
		// SunJCE's default for this name: SHA-256 label hash, MGF1-SHA-1.
		pdk, err = k.priv.Decrypt(nil, req.EncryptedKey, &rsa.OAEPOptions{Hash: crypto.SHA256, MGFHash: crypto.SHA1})
	case metadata.WrapRSAPKCS1:
		// No Bleichenbacher oracle: bad padding, or a message that is
		// not a 32-byte key, leaves the random key in place, in constant
		// time, and the unwrap "succeeds". Such an object then fails
		// exactly as one whose wrapped key has valid padding under the
		// wrong key: when its content is decrypted (a V1 AES-CBC object
		// with bad padding or garbage, AES-GCM with an authentication
		// error). Only a ciphertext of the wrong size fails here.
		pdk = newDataKey()
		if err = rsa.DecryptPKCS1v15SessionKey(nil, k.priv, req.EncryptedKey, pdk); err != nil {
			clear(pdk)
			pdk = nil
		}
	}
	if err == nil && len(pdk) != DataKeySize {
		clear(pdk)
		err = fmt.Errorf("unwrapped a %d-byte key", len(pdk))
	}
	if err != nil {
		return nil, &KeyError{KeyRef: k.id, Err: fmt.Errorf("%w: %s: %v", ErrIncorrectKey, req.WrapAlg, err)}
	}
	return &DataKey{Plaintext: pdk, Encrypted: req.EncryptedKey, WrapAlg: req.WrapAlg, Description: req.Description, KeyRef: k.id}, nil
}

// openOAEP decrypts and checks the pseudo data key: a length byte, the
// key, then the content algorithm's name, compared in constant time.
func (k *RSAKeyring) openOAEP(req *DecryptionRequest) ([]byte, error) {
	pseudo, err := k.priv.Decrypt(nil, req.EncryptedKey, &rsa.OAEPOptions{Hash: crypto.SHA1})
	if err != nil {
		return nil, err
	}
	defer clear(pseudo)
	if len(pseudo) < 1+DataKeySize || pseudo[0] != DataKeySize {
		return nil, fmt.Errorf("malformed pseudo data key")
	}
	suffix := pseudo[1+DataKeySize:]
	for _, want := range contentAlgBindings(req.ContentAlg) {
		if subtle.ConstantTimeCompare(suffix, []byte(want)) == 1 {
			return append([]byte(nil), pseudo[1:1+DataKeySize]...), nil
		}
	}
	return nil, fmt.Errorf("the wrapped key is bound to another content algorithm than %s", req.ContentAlg)
}

// OwnedDescriptionKeys returns the keys of the keyring's material
// description (and s3c:key-id) for the RSA wrapping algorithms, which the
// keyring checks itself; see DescriptionOwner.
func (k *RSAKeyring) OwnedDescriptionKeys(wrapAlg string) []string {
	switch wrapAlg {
	case metadata.WrapRSAOAEP, metadata.WrapRSAOAEPSHA256, metadata.WrapRSAPKCS1:
		return k.owned()
	}
	return nil
}

// Claims reports whether the object is wrapped with one of the
// keyring's algorithms and its stored description holds every pair of the
// keyring's own (by default its s3c:key-id); see Claimer.
func (k *RSAKeyring) Claims(req *DecryptionRequest) bool {
	switch req.WrapAlg {
	case metadata.WrapRSAOAEP, metadata.WrapRSAOAEPSHA256, metadata.WrapRSAPKCS1:
		return k.claims(req.Description)
	}
	return false
}
