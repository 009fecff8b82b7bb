package keyring

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"maps"

	"github.com/s3c/s3c/metadata"
)

// AESKeyring wraps data keys with a raw AES master key ("AES/GCM": a
// random 12-byte IV, then the data key sealed with AES-GCM, the content
// algorithm's name as additional data).
type AESKeyring struct {
	block cipher.Block
	gcm   cipher.AEAD
	rawDescription
}

// NewAES returns a keyring for a 16-, 24- or 32-byte AES master key. The
// key is copied.
func NewAES(key []byte, optFns ...func(*RawOptions)) (*AESKeyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("materials: AES master key: %w", err)
	}
	gcm, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &AESKeyring{block: block, gcm: gcm, rawDescription: newRawDescription(AESKeyID(key), optFns)}, nil
}

// AESKeyID returns the fingerprint that names an AES master key:
// "aes:" and 16 hex digits of HMAC-SHA256(key, "s3c key id"). It reveals
// nothing about the key.
func AESKeyID(key []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("s3c key id"))
	return "aes:" + hex.EncodeToString(m.Sum(nil)[:8])
}

// KeyRef returns the key's fingerprint.
func (k *AESKeyring) KeyRef() string { return k.id }

// Description returns the material description the keyring records.
func (k *AESKeyring) Description() map[string]string { return maps.Clone(k.desc) }

const aesGCMWrappedSize = 12 + DataKeySize + 16

// GenerateDataKey makes a random data key and seals it.
func (k *AESKeyring) GenerateDataKey(_ context.Context, req *EncryptionRequest) (*DataKey, error) {
	if err := checkContentAlg(req.ContentAlg); err != nil {
		return nil, err
	}
	desc, err := k.forWrite(req.Context)
	if err != nil {
		return nil, err
	}
	pdk := newDataKey()
	return &DataKey{Plaintext: pdk, Encrypted: k.seal(pdk, req.ContentAlg), WrapAlg: metadata.WrapAESGCM, Description: desc, KeyRef: k.id}, nil
}

// WrapDataKey seals an existing data key as GenerateDataKey seals a new
// one (see KeyWrapper).
func (k *AESKeyring) WrapDataKey(_ context.Context, req *EncryptionRequest, dataKey []byte) (*DataKey, error) {
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
	return &DataKey{Encrypted: k.seal(dataKey, req.ContentAlg), WrapAlg: metadata.WrapAESGCM, Description: desc, KeyRef: k.id}, nil
}

// seal wraps pdk for contentAlg: a random IV, then AES-GCM with the
// content algorithm's name as additional data.
func (k *AESKeyring) seal(pdk []byte, contentAlg string) []byte {
	edk := make([]byte, 12, aesGCMWrappedSize)
	rand.Read(edk)
	return k.gcm.Seal(edk, edk[:12], pdk, []byte(contentAlg))
}

// DecryptDataKey opens an "AES/GCM" wrapped key, or a legacy "AESWrap"
// (RFC 3394) or V1 "AES" (AES/ECB/PKCS5Padding) one.
func (k *AESKeyring) DecryptDataKey(_ context.Context, req *DecryptionRequest) (*DataKey, error) {
	var (
		pdk []byte
		err error
	)
	switch req.WrapAlg {
	case metadata.WrapAESGCM, metadata.WrapAESWrap, metadata.WrapAESECB:
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedWrap, req.WrapAlg)
	}
	if err := k.check(req); err != nil {
		return nil, err
	}
	switch req.WrapAlg {
	case metadata.WrapAESGCM:
		pdk, err = k.openGCM(req)
	case metadata.WrapAESWrap:
		pdk, err = unwrapRFC3394(k.block, req.EncryptedKey)
	case metadata.WrapAESECB:
		pdk, err = decryptECBPKCS5(k.block, req.EncryptedKey)
	}
	if err != nil {
		return nil, &KeyError{KeyRef: k.id, Err: err}
	}
	return &DataKey{Plaintext: pdk, Encrypted: req.EncryptedKey, WrapAlg: req.WrapAlg, Description: req.Description, KeyRef: k.id}, nil
}

func (k *AESKeyring) openGCM(req *DecryptionRequest) ([]byte, error) {
	edk := req.EncryptedKey
	if len(edk) != aesGCMWrappedSize {
		return nil, fmt.Errorf("%w: AES/GCM wrapped key is %d bytes, want %d", ErrIncorrectKey, len(edk), aesGCMWrappedSize)
	}
	pdk, err := k.gcm.Open(nil, edk[:12], edk[12:], []byte(req.ContentAlg))
	if err != nil {
		return nil, ErrIncorrectKey
	}
	return pdk, nil
}

// OwnedDescriptionKeys returns the keys of the keyring's material
// description (and s3c:key-id) for the AES wrapping algorithms, which the
// keyring checks itself; see DescriptionOwner.
func (k *AESKeyring) OwnedDescriptionKeys(wrapAlg string) []string {
	switch wrapAlg {
	case metadata.WrapAESGCM, metadata.WrapAESWrap, metadata.WrapAESECB:
		return k.owned()
	}
	return nil
}

// Claims reports whether the object is wrapped with one of the
// keyring's algorithms and its stored description holds every pair of the
// keyring's own (by default its s3c:key-id); see Claimer.
func (k *AESKeyring) Claims(req *DecryptionRequest) bool {
	switch req.WrapAlg {
	case metadata.WrapAESGCM, metadata.WrapAESWrap, metadata.WrapAESECB:
		return k.claims(req.Description)
	}
	return false
}

// unwrapRFC3394 undoes the AES key wrap of RFC 3394 section 2.2.2 with
// the default IV. The standard library has no key wrap; this is decrypt
// only, for legacy objects.
func unwrapRFC3394(block cipher.Block, wrapped []byte) ([]byte, error) {
	if len(wrapped) != DataKeySize+8 {
		return nil, fmt.Errorf("%w: AESWrap wrapped key is %d bytes, want %d", ErrIncorrectKey, len(wrapped), DataKeySize+8)
	}
	n := len(wrapped)/8 - 1
	var a [8]byte
	copy(a[:], wrapped[:8])
	r := make([]byte, n*8)
	copy(r, wrapped[8:])
	var b [16]byte
	for j := 5; j >= 0; j-- {
		for i := n; i >= 1; i-- {
			t := uint64(n*j + i)
			for x := 0; x < 8; x++ {
				a[7-x] ^= byte(t >> (8 * x))
			}
			copy(b[:8], a[:])
			copy(b[8:], r[(i-1)*8:i*8])
			block.Decrypt(b[:], b[:])
			copy(a[:], b[:8])
			copy(r[(i-1)*8:i*8], b[8:])
		}
	}
	iv := []byte{0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6, 0xa6}
	if subtle.ConstantTimeCompare(a[:], iv) != 1 {
		clear(r)
		return nil, fmt.Errorf("%w: AESWrap integrity check failed", ErrIncorrectKey)
	}
	return r, nil
}

// decryptECBPKCS5 decrypts the V1 raw AES wrap: the 32-byte key plus a
// full block of padding, each block encrypted alone.
func decryptECBPKCS5(block cipher.Block, wrapped []byte) ([]byte, error) {
	if len(wrapped) != DataKeySize+aes.BlockSize {
		return nil, fmt.Errorf("%w: V1 AES wrapped key is %d bytes, want %d", ErrIncorrectKey, len(wrapped), DataKeySize+aes.BlockSize)
	}
	out := make([]byte, len(wrapped))
	for i := 0; i < len(wrapped); i += aes.BlockSize {
		block.Decrypt(out[i:i+aes.BlockSize], wrapped[i:i+aes.BlockSize])
	}
	pad := out[DataKeySize:]
	good := 1
	for _, p := range pad {
		good &= subtle.ConstantTimeByteEq(p, aes.BlockSize)
	}
	if good != 1 {
		clear(out)
		return nil, fmt.Errorf("%w: V1 AES wrapped key has bad padding", ErrIncorrectKey)
	}
	return out[:DataKeySize], nil
}
