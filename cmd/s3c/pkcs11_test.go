//go:build cgo

package main

import (
	"strings"
	"testing"

	"github.com/s3c/s3c/internal/softhsmtest"
)

// Keys in an HSM (SoftHSM2): keygen pkcs11 makes them, --pkcs11-key uses
// them beside other key flags, and a wrong PIN is one line without it.
func TestPKCS11Keys(t *testing.T) {
	t.Parallel()
	tok, err := softhsmtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tok.Close)
	c := newCLI(t)
	c.setenv(tok.Env())
	aesURI, rsaURI := tok.URI("cli-aes"), tok.URI("cli-rsa")

	if r := c.ok("keygen", "pkcs11", aesURI); r.stdout != "pkcs11:token=s3c-test;object=cli-aes\n" {
		t.Fatalf("keygen pkcs11 printed %q", r.stdout)
	}
	if r := c.ok("keygen", "pkcs11", rsaURI, "--type", "rsa", "--json"); !strings.Contains(r.stdout, `"key_ref":"pkcs11:token=s3c-test;object=cli-rsa"`) &&
		!strings.Contains(r.stdout, `"key_ref": "pkcs11:token=s3c-test;object=cli-rsa"`) {
		t.Fatalf("keygen pkcs11 --json printed %q", r.stdout)
	}
	c.fails(1, "pkcs11:token=s3c-test;object=cli-aes: the token already holds a key with this label or id; not creating another", "keygen", "pkcs11", aesURI)
	c.fails(2, "--type applies to pkcs11 keys", "keygen", "aes", "x.key", "--type", "rsa")

	c.write("f", []byte("secret in an HSM"))
	c.ok("put", "--pkcs11-key", aesURI, "f", c.url("a"))
	if r := c.ok("get", "--pkcs11-key", aesURI, c.url("a"), "-"); r.stdout != "secret in an HSM" {
		t.Fatalf("get: %q", r.stdout)
	}
	// Mixed with a file key: the first wraps, any unwraps.
	c.ok("keygen", "aes", "a.key")
	c.ok("put", "--pkcs11-key", rsaURI, "--aes-key", "a.key", "f", c.url("r"))
	if r := c.ok("get", "--aes-key", "a.key", "--pkcs11-key", aesURI, "--pkcs11-key", rsaURI, c.url("r"), "-"); r.stdout != "secret in an HSM" {
		t.Fatalf("get with several keys: %q", r.stdout)
	}
	if r := c.run("get", "--aes-key", "a.key", c.url("r"), "-"); r.code != 1 {
		t.Fatalf("RSA-HSM object read with an AES file key: exit %d", r.code)
	}

	// S3C_PKCS11_KEY when no key flag is given: several URIs, comma-separated.
	c.setenv("S3C_PKCS11_KEY=" + rsaURI + "," + aesURI)
	c.ok("put", "f", c.url("env"))
	if r := c.ok("head", "--json", c.url("env")); !strings.Contains(r.stdout, "pkcs11:token=s3c-test;object=cli-rsa") {
		t.Fatalf("S3C_PKCS11_KEY: the first URI did not wrap: %s", r.stdout)
	}
	if r := c.ok("get", c.url("a"), "-"); r.stdout != "secret in an HSM" {
		t.Fatalf("get with S3C_PKCS11_KEY: %q", r.stdout)
	}
	// A key flag overrides the environment.
	if r := c.run("get", "--aes-key", "a.key", c.url("a"), "-"); r.code != 1 {
		t.Fatalf("--aes-key with S3C_PKCS11_KEY set: exit %d, want 1 (the flag alone is trusted)", r.code)
	}
	c.setenv("S3C_PKCS11_KEY")

	const pin = "87654321"
	bad := "pkcs11:token=s3c-test;object=cli-aes?module-path=" + tok.Module + "&pin-value=" + pin
	for _, args := range [][]string{
		{"get", "--pkcs11-key", bad, c.url("a"), "-"},
		{"put", "--aes-key", "a.key", "--pkcs11-key", bad, "f", c.url("b")},
	} {
		r := c.fails(1, "--pkcs11-key: pkcs11:token=s3c-test;object=cli-aes: the token refused the PIN (CKR_PIN_INCORRECT)", args...)
		if strings.Contains(r.stderr+r.stdout, pin) {
			t.Fatalf("the PIN is printed: %s", r.stderr)
		}
	}
}
