package kmstest

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"sort"
)

// Ciphertext blob format produced by this server (not the real KMS format;
// real KMS blobs are opaque to clients, and so are these):
//
//	offset  size  field
//	0       1     version, 0x01
//	1       1     n = length of the key id in bytes (36 for a UUID)
//	2       n     key id, ASCII (the bare id, not the ARN)
//	2+n     12    random GCM nonce
//	14+n    ...   AES-256-GCM ciphertext of the plaintext, followed by the
//	              16-byte GCM tag
//
// The GCM key is the KMS key's 32-byte material. The GCM additional
// authenticated data is the canonical encoding of the encryption context:
//
//	uint32be(number of pairs)
//	for each pair, sorted by key (bytewise):
//	    uint32be(len(key))   key bytes
//	    uint32be(len(value)) value bytes
//
// The length prefixes make the encoding injective, so two different
// contexts (e.g. {"a":"bc"} and {"ab":"c"}) never share an AAD. A nil and an
// empty context both encode as four zero bytes, matching KMS, which treats
// them as the same context.
const (
	blobVersion     = 0x01
	keyMaterialSize = 32
	nonceSize       = 12
	tagSize         = 16
	maxKeyIDLen     = 255
)

// canonicalEC returns the AAD encoding of an encryption context described
// above.
func canonicalEC(ec map[string]string) []byte {
	keys := make([]string, 0, len(ec))
	n := 4
	for k, v := range ec {
		keys = append(keys, k)
		n += 8 + len(k) + len(v)
	}
	sort.Strings(keys)
	out := make([]byte, 0, n)
	out = binary.BigEndian.AppendUint32(out, uint32(len(keys)))
	for _, k := range keys {
		v := ec[k]
		out = binary.BigEndian.AppendUint32(out, uint32(len(k)))
		out = append(out, k...)
		out = binary.BigEndian.AppendUint32(out, uint32(len(v)))
		out = append(out, v...)
	}
	return out
}

func newGCM(material []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(material)
	if err != nil {
		// Never include the material itself.
		return nil, fmt.Errorf("invalid key material length %d", len(material))
	}
	return cipher.NewGCM(block)
}

// sealBlob encrypts plaintext under the key and binds ec.
func sealBlob(ks keySnapshot, ec map[string]string, plaintext []byte) ([]byte, error) {
	aead, err := newGCM(ks.material)
	if err != nil {
		return nil, err
	}
	if len(ks.id) > maxKeyIDLen {
		return nil, fmt.Errorf("key id too long")
	}
	out := make([]byte, 0, 2+len(ks.id)+nonceSize+len(plaintext)+tagSize)
	out = append(out, blobVersion, byte(len(ks.id)))
	out = append(out, ks.id...)
	nonce := make([]byte, nonceSize)
	randRead(nonce)
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plaintext, canonicalEC(ec)), nil
}

// parsedBlob is the unauthenticated header of a blob.
type parsedBlob struct {
	keyID string
	nonce []byte
	ct    []byte // ciphertext || tag
}

// parseBlob splits a blob into its parts; ok is false if it is not in our
// format (wrong version, truncated).
func parseBlob(blob []byte) (p parsedBlob, ok bool) {
	if len(blob) < 2 || blob[0] != blobVersion {
		return p, false
	}
	n := int(blob[1])
	if n == 0 || len(blob) < 2+n+nonceSize+tagSize {
		return p, false
	}
	p.keyID = string(blob[2 : 2+n])
	p.nonce = blob[2+n : 2+n+nonceSize]
	p.ct = blob[2+n+nonceSize:]
	return p, true
}

// openBlob authenticates and decrypts p under the key with AAD ec.
func openBlob(ks keySnapshot, p parsedBlob, ec map[string]string) ([]byte, bool) {
	aead, err := newGCM(ks.material)
	if err != nil {
		return nil, false
	}
	pt, err := aead.Open(nil, p.nonce, p.ct, canonicalEC(ec))
	if err != nil {
		return nil, false
	}
	if pt == nil {
		pt = []byte{}
	}
	return pt, true
}

// randRead fills b from crypto/rand. Since Go 1.24 crypto/rand.Read never
// returns an error (the program crashes irrecoverably instead).
func randRead(b []byte) {
	if _, err := rand.Read(b); err != nil {
		panic("kmstest: crypto/rand failed: " + err.Error())
	}
}

// newUUID returns a random RFC 4122 version 4 UUID string.
func newUUID() string {
	var b [16]byte
	randRead(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
