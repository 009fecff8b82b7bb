package core

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha512"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// Suite 0x0073 (format V3): key-committing AES-256-GCM. The data key and a
// random 28-byte message ID give, through HKDF-SHA512, a 28-byte key
// commitment stored with the object and the AES key that encrypts it
// under a fixed nonce, with the suite ID as additional data.
var (
	v3AAD   = []byte{0x00, 0x73}
	v3Nonce = []byte{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
)

const (
	v3CommitInfo = "\x00\x73COMMITKEY"
	v3KeyInfo    = "\x00\x73DERIVEKEY"
)

// deriveV3 returns the key commitment and the content key for a data key
// and message ID (SPEC key-derivation; HKDF-Extract with the message ID as
// salt, then two HKDF-Expand calls). If want is not nil, the derived
// commitment must equal it, compared in constant time before the content
// key is derived; otherwise the result is ErrCommitmentMismatch.
func deriveV3(dataKey, messageID, want []byte) (commitment, contentKey []byte, err error) {
	if len(dataKey) != 32 || len(messageID) != metadata.MessageIDSize {
		return nil, nil, errors.New("s3crypto: V3 key derivation needs a 32-byte data key and a 28-byte message ID")
	}
	// HKDF-Extract: PRK = HMAC-SHA512(salt = message ID, IKM = data key).
	// HKDF-Expand to at most one hash length is one HMAC under PRK,
	// T(1) = HMAC(PRK, info ‖ 0x01); both expansions share that keyed
	// HMAC (reset in between) rather than each keying its own: this runs
	// once per object read or written, and small objects feel it.
	ext := hmac.New(sha512.New, messageID)
	ext.Write(dataKey)
	var prk, t [sha512.Size]byte
	defer clear(prk[:])
	defer clear(t[:])
	ext.Sum(prk[:0])
	m := hmac.New(sha512.New, prk[:])
	expand := func(info string, n int) []byte {
		m.Reset()
		io.WriteString(m, info)
		m.Write([]byte{1})
		return bytes.Clone(m.Sum(t[:0])[:n])
	}
	commitment = expand(v3CommitInfo, metadata.CommitmentSize)
	if want != nil && subtle.ConstantTimeCompare(commitment, want) != 1 {
		return nil, nil, ErrCommitmentMismatch
	}
	return commitment, expand(v3KeyInfo, 32), nil
}

// newMessageID returns 28 random bytes, never all zero.
func newMessageID() []byte {
	id := make([]byte, metadata.MessageIDSize)
	for {
		rand.Read(id)
		if subtle.ConstantTimeCompare(id, make([]byte, len(id))) == 0 {
			return id
		}
	}
}

// ContentCipher is the AES-GCM state of one object's content.
type ContentCipher struct {
	GCM *aesgcm.Cipher
	AAD []byte
}

// newV3Cipher checks a V3 envelope's commitment against the data key, in
// constant time and before deriving the content key, and returns the
// content cipher.
func newV3Cipher(dataKey []byte, env *metadata.Envelope) (*ContentCipher, error) {
	if env.Commitment == nil {
		return nil, ErrCommitmentMismatch
	}
	_, key, err := deriveV3(dataKey, env.MessageID, env.Commitment)
	if err != nil {
		return nil, err
	}
	defer clear(key)
	gcm, err := aesgcm.New(key, v3Nonce)
	if err != nil {
		return nil, err
	}
	return &ContentCipher{GCM: gcm, AAD: v3AAD}, nil
}

// newV2Cipher returns the content cipher of a V2 AES-GCM envelope.
func newV2Cipher(dataKey []byte, env *metadata.Envelope) (*ContentCipher, error) {
	gcm, err := aesgcm.New(dataKey, env.IV)
	if err != nil {
		return nil, fmt.Errorf("s3crypto: %w", err)
	}
	return &ContentCipher{GCM: gcm}, nil
}

// PlaintextSizeOf returns the plaintext length of a GCM object stored in
// ciphertextSize bytes.
func PlaintextSizeOf(ciphertextSize int64) (int64, error) {
	if ciphertextSize < aesgcm.TagSize {
		return 0, fmt.Errorf("%w: %d bytes stored, an AES-GCM object has at least %d", ErrAuthentication, ciphertextSize, aesgcm.TagSize)
	}
	if err := CheckSize(ciphertextSize - aesgcm.TagSize); err != nil {
		return 0, err
	}
	return ciphertextSize - aesgcm.TagSize, nil
}
