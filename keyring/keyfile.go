package keyring

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
)

// ParseAESKey reads an AES master key file: 16, 24 or 32 raw bytes, or
// the same as base64 or hex text (surrounding whitespace ignored).
// NewAESKeyFile writes the base64 form.
func ParseAESKey(data []byte) ([]byte, error) {
	switch len(data) {
	case 16, 24, 32:
		if !isText(data) {
			return bytes.Clone(data), nil
		}
	}
	text := bytes.TrimSpace(data)
	if k, err := hex.DecodeString(string(text)); err == nil && validAESSize(len(k)) {
		return k, nil
	}
	if k, err := base64.StdEncoding.DecodeString(string(text)); err == nil && validAESSize(len(k)) {
		return k, nil
	}
	return nil, errors.New("not an AES key: want 16, 24 or 32 bytes, raw or as base64 or hex text")
}

func validAESSize(n int) bool { return n == 16 || n == 24 || n == 32 }

func isText(b []byte) bool {
	for _, c := range b {
		if c < 0x20 || c > 0x7e {
			if c != '\n' && c != '\r' && c != '\t' {
				return false
			}
		}
	}
	return true
}

// NewAESKeyFile returns a fresh 256-bit key from crypto/rand and its key
// file content: base64 and a newline.
func NewAESKeyFile() (key, file []byte) {
	key = make([]byte, 32)
	rand.Read(key)
	file = []byte(base64.StdEncoding.EncodeToString(key) + "\n")
	return key, file
}

// ParseRSAKey reads a PEM RSA key: a private key (PKCS #8 "PRIVATE KEY" or
// PKCS #1 "RSA PRIVATE KEY"), or only a public key (PKIX "PUBLIC KEY" or
// PKCS #1 "RSA PUBLIC KEY"), in which case priv is nil.
func ParseRSAKey(data []byte) (priv *rsa.PrivateKey, pub *rsa.PublicKey, err error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, nil, errors.New("not a PEM file")
	}
	switch block.Type {
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("PKCS #8 private key: %w", err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, nil, fmt.Errorf("PKCS #8 private key is %T, not RSA", k)
		}
		return rk, &rk.PublicKey, nil
	case "RSA PRIVATE KEY":
		rk, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("PKCS #1 private key: %w", err)
		}
		return rk, &rk.PublicKey, nil
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("public key: %w", err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, nil, fmt.Errorf("public key is %T, not RSA", k)
		}
		return nil, rk, nil
	case "RSA PUBLIC KEY":
		rk, err := x509.ParsePKCS1PublicKey(block.Bytes)
		if err != nil {
			return nil, nil, fmt.Errorf("PKCS #1 public key: %w", err)
		}
		return nil, rk, nil
	}
	return nil, nil, fmt.Errorf("PEM block %q is not an RSA key", block.Type)
}

// NewRSAKeyFiles generates an RSA key pair of bits bits and returns the
// PEM files: the private key as PKCS #8, the public key as PKIX.
func NewRSAKeyFiles(bits int) (priv *rsa.PrivateKey, privPEM, pubPEM []byte, err error) {
	if bits < MinRSABits {
		return nil, nil, nil, fmt.Errorf("RSA keys need at least %d bits", MinRSABits)
	}
	priv, err = rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, nil, nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, nil, nil, err
	}
	pubDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, nil, nil, err
	}
	privPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
	pubPEM = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
	return priv, privPEM, pubPEM, nil
}
