//go:build cgo

package main

import (
	"context"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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
	// An RSA key is named by its public key's fingerprint, as a local one.
	var gen struct {
		KeyRef    string `json:"key_ref"`
		PKCS11Ref string `json:"pkcs11_ref"`
		PublicKey string `json:"public_key"`
	}
	r := c.ok("keygen", "pkcs11", rsaURI, "--type", "rsa", "--json")
	if err := json.Unmarshal([]byte(r.stdout), &gen); err != nil || !strings.HasPrefix(gen.KeyRef, "rsa:") ||
		gen.PKCS11Ref != "pkcs11:token=s3c-test;object=cli-rsa" || gen.PublicKey != "" {
		t.Fatalf("keygen pkcs11 --json printed %q", r.stdout)
	}
	rsaID := gen.KeyRef
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
	// verify and encrypt take HSM keys too.
	c.ok("verify", "--pkcs11-key", rsaURI, c.url("r"))
	if _, err := minio.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("enc/plain"), Body: strings.NewReader("plain")}); err != nil {
		t.Fatal(err)
	}
	c.ok("encrypt", "--pkcs11-key", aesURI, "-r", c.url("enc/"))
	if r := c.ok("get", "--pkcs11-key", aesURI, c.url("enc/plain"), "-"); r.stdout != "plain" {
		t.Fatalf("get after encrypt --pkcs11-key: %q", r.stdout)
	}

	// S3C_PKCS11_KEY when no key flag is given: several URIs, comma-separated.
	c.setenv("S3C_PKCS11_KEY=" + rsaURI + "," + aesURI)
	c.ok("put", "f", c.url("env"))
	if r := c.ok("head", "--json", c.url("env")); !strings.Contains(r.stdout, rsaID) {
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

// An RSA key in an HSM encrypts with its public key alone: keygen pkcs11
// --public-key writes it, put --rsa-key uses it with no token (SoftHSM's
// configuration gone, so loading the module would fail), get reads with
// the token's key, and the objects name the key as the token's put does.
func TestPKCS11PublicKeyOnlyPut(t *testing.T) {
	t.Parallel()
	tok, err := softhsmtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(tok.Close)
	c := newCLI(t)
	c.setenv(tok.Env())
	uri := tok.URI("pub-rsa")

	c.fails(2, "--public-key applies to pkcs11 keys of --type rsa (a local RSA key's public key goes to FILE.pub)", "keygen", "pkcs11", tok.URI("x"), "--public-key", "x.pub")
	c.write("taken.pub", []byte("x"))
	c.fails(1, "taken.pub already exists; not overwriting", "keygen", "pkcs11", uri, "--type", "rsa", "--public-key", "taken.pub")
	r := c.ok("keygen", "pkcs11", uri, "--type", "rsa", "--public-key", "hsm.pub")
	id := strings.TrimSpace(r.stdout)
	if !strings.HasPrefix(id, "rsa:") || r.stdout != id+"\n" {
		t.Fatalf("keygen pkcs11 --type rsa printed %q", r.stdout)
	}
	if fi, err := os.Stat(c.dir + "/hsm.pub"); err != nil || fi.Mode().Perm() != 0o644 {
		t.Fatalf("public key file: %v %v", fi, err)
	}

	c.write("f", []byte("for the HSM's eyes"))
	c.setenv("SOFTHSM2_CONF=/nonexistent/softhsm2.conf")
	c.ok("put", "--rsa-key", "hsm.pub", "f", c.url("by-pub"))
	c.fails(1, "--pkcs11-key: pkcs11:token=s3c-test;object=pub-rsa: ", "get", "--pkcs11-key", uri, c.url("by-pub"), "-")
	c.setenv(tok.Env())
	c.ok("put", "--pkcs11-key", uri, "f", c.url("by-hsm"))
	for _, key := range []string{"by-pub", "by-hsm"} {
		if r := c.ok("get", "--pkcs11-key", uri, c.url(key), "-"); r.stdout != "for the HSM's eyes" {
			t.Fatalf("get %s: %q", key, r.stdout)
		}
		if r := c.ok("head", "--json", c.url(key)); !strings.Contains(r.stdout, `"`+id+`"`) {
			t.Fatalf("head %s: %s", key, r.stdout)
		}
	}
}
