package keyring

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"testing"
)

func TestParseAESKey(t *testing.T) {
	key, file := NewAESKeyFile()
	for name, data := range map[string][]byte{
		"keygen file": file,
		"raw":         key,
		"hex":         []byte(hex.EncodeToString(key) + "\r\n"),
		"base64":      []byte("  " + base64.StdEncoding.EncodeToString(key)),
	} {
		got, err := ParseAESKey(data)
		if err != nil || !bytes.Equal(got, key) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	k16 := make([]byte, 16)
	rand.Read(k16)
	if got, err := ParseAESKey(k16); err != nil || !bytes.Equal(got, k16) {
		t.Fatalf("raw AES-128: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("hello"), make([]byte, 31), []byte(hex.EncodeToString(make([]byte, 20)))} {
		if _, err := ParseAESKey(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
}

func TestParseRSAKey(t *testing.T) {
	priv, privPEM, pubPEM, err := NewRSAKeyFiles(2048)
	if err != nil {
		t.Fatal(err)
	}
	p, pub, err := ParseRSAKey(privPEM)
	if err != nil || !p.Equal(priv) || !pub.Equal(&priv.PublicKey) {
		t.Fatalf("PKCS #8: %v", err)
	}
	p, pub, err = ParseRSAKey(pubPEM)
	if err != nil || p != nil || !pub.Equal(&priv.PublicKey) {
		t.Fatalf("PKIX public: %v", err)
	}
	pkcs1 := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(priv)})
	if p, _, err := ParseRSAKey(pkcs1); err != nil || !p.Equal(priv) {
		t.Fatalf("PKCS #1: %v", err)
	}
	pkcs1pub := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&priv.PublicKey)})
	if _, pub, err := ParseRSAKey(pkcs1pub); err != nil || !pub.Equal(&priv.PublicKey) {
		t.Fatalf("PKCS #1 public: %v", err)
	}
	for _, bad := range [][]byte{nil, []byte("not pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})} {
		if _, _, err := ParseRSAKey(bad); err == nil {
			t.Fatalf("accepted %q", bad)
		}
	}
	if _, _, _, err := NewRSAKeyFiles(1024); err == nil {
		t.Fatal("1024-bit key generated")
	}
}
