//go:build !cgo

package pkcs11

import "testing"

// Without cgo the keyring says what build it needs.
func TestNoCgo(t *testing.T) {
	_, err := Open("pkcs11:token=t;object=k?module-path=/m.so")
	if err == nil || err.Error() != "PKCS#11 keys need a build with cgo (CGO_ENABLED=1)" {
		t.Fatalf("Open: %v", err)
	}
	if err := GenerateKey("pkcs11:token=t;object=k?module-path=/m.so", "aes"); err != ErrNoCgo {
		t.Fatalf("GenerateKey: %v", err)
	}
}
