//go:build !cgo

package main

import "testing"

// A binary built without cgo says that --pkcs11-key needs cgo.
func TestPKCS11NeedsCgo(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.write("f", []byte("x"))
	uri := "pkcs11:token=t;object=k?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-value=1234"
	c.fails(1, "--pkcs11-key: PKCS#11 keys need a build with cgo (CGO_ENABLED=1)", "put", "--pkcs11-key", uri, "f", c.url("f"))
	c.fails(1, "PKCS#11 keys need a build with cgo (CGO_ENABLED=1)", "keygen", "pkcs11", uri)
}
