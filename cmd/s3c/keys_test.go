package main

import (
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"
)

// On get, only the keys given are trusted: an object planted under
// another KMS key is refused when key flags are given, and read with no
// key flag (discovery) or when --allow-kms-key names its key.
func TestDiscoveryOnlyWhenAsked(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	_, arn2 := kmsSrv.CreateKey("")
	c.write("f", []byte("planted"))
	c.ok("put", "--kms-key-id", arn2, "f", c.url("planted"))
	want := c.url("planted") + " is wrapped by KMS key " + arn2 + ", which is not among the keys given: only they are trusted; give --kms-key-id " + arn2 + " or --allow-kms-key " + arn2 + " to trust it"
	c.fails(1, want, "get", "--aes-key", "a.key", c.url("planted"), "-")
	c.fails(1, want, "get", "--aes-key", "a.key", c.url("planted"), "out")
	c.fails(1, want, "cp", "--aes-key", "a.key", c.url("planted"), "out")
	c.fails(1, c.url("planted")+" is wrapped by KMS key "+arn2+", which is not among the keys given", "get", "--kms-key-id", "alias/cli", c.url("planted"), "-")
	if r := c.ok("get", c.url("planted"), "-"); r.stdout != "planted" {
		t.Fatal("discovery with no key flag")
	}
	if r := c.ok("get", "--aes-key", "a.key", "--allow-kms-key", arn2, c.url("planted"), "-"); r.stdout != "planted" {
		t.Fatal("--allow-kms-key beside --aes-key")
	}
	if !strings.Contains(c.ok("get", "--help").stdout, "Only the keys given are trusted") {
		t.Fatal("get --help does not say when discovery applies")
	}
}

// A key flag's value is never printed: a key given instead of its file
// is refused as such, a file that cannot be read or holds no key is named
// by its flag.
func TestKeyFlagValuesNotEchoed(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.ok("keygen", "rsa", "r.pem", "--bits", "2048")
	aesText := strings.TrimSpace(string(c.read("a.key")))
	raw, _ := base64.StdEncoding.DecodeString(aesText)
	pem := string(c.read("r.pem"))
	usage := "\nRun 's3c get --help' for usage.\n"
	for _, tc := range []struct {
		flag, value, secret, want string
	}{
		{"--aes-key", aesText, aesText, "s3c: --aes-key takes the path of a key file, not the key itself"},
		{"--aes-key", hex.EncodeToString(raw), hex.EncodeToString(raw), "s3c: --aes-key takes the path of a key file, not the key itself"},
		{"--aes-key", base64.RawURLEncoding.EncodeToString(raw[:16]), base64.RawURLEncoding.EncodeToString(raw[:16]), "s3c: --aes-key takes the path of a key file, not the key itself"},
		{"--rsa-key", pem, "PRIVATE KEY", "s3c: --rsa-key takes the path of a key file, not the key itself"},
		{"--aes-key", "no-such.key", "no-such.key", "s3c: --aes-key: cannot read the key file (no such file or directory)"},
		{"--aes-key", "r.pem.pub", "r.pem.pub", "s3c: --aes-key: not an AES key: want 16, 24 or 32 bytes, raw or as base64 or hex text"},
		{"--rsa-key", "a.key", "a.key", "s3c: --rsa-key: not an RSA key file (not a PEM file)"},
	} {
		for _, args := range [][]string{
			{"get", tc.flag, tc.value, c.url("x"), "-"},
			{"get", "--format=v2", tc.flag + "=" + tc.value, c.url("x"), "out"},
		} {
			r := c.run(args...)
			if r.code != 2 || r.stderr != tc.want+usage || strings.Contains(r.stderr, tc.secret) {
				t.Fatalf("%s <%s>: exit %d, stderr:\n%s\nwant:\n%s", tc.flag, tc.secret, r.code, r.stderr, tc.want+usage)
			}
		}
	}
	// Several of a kind: which one, by its place.
	c.fails(2, "--aes-key #2: cannot read the key file (no such file or directory)", "get", "--aes-key", "a.key", "--aes-key", "gone.key", c.url("x"), "-")
}
