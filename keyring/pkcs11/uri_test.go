package pkcs11

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseURI(t *testing.T) {
	u, err := parseURI("pkcs11:token=my%20token;object=s3c%3Bmaster;id=%01%ff?module-path=/opt/lib/p%2611.so&pin-value=12%2634")
	if err != nil {
		t.Fatal(err)
	}
	if u.token != "my token" || u.object != "s3c;master" || !u.hasID || !bytes.Equal(u.id, []byte{1, 0xff}) ||
		u.modulePath != "/opt/lib/p&11.so" || u.pinValue != "12&34" {
		t.Fatalf("parsed %+v", u)
	}
	if got, want := u.ref(), "pkcs11:token=my%20token;object=s3c%3Bmaster;id=%01%FF"; got != want {
		t.Fatalf("ref %q, want %q", got, want)
	}
	if pin, _ := u.pin(); pin != "12&34" {
		t.Fatal("pin-value not returned")
	}

	dir := t.TempDir()
	pinFile := filepath.Join(dir, "pin")
	os.WriteFile(pinFile, []byte("9876\nrest"), 0o600)
	for _, src := range []string{"file:" + pinFile, pinFile} {
		u, err = parseURI("pkcs11:token=t;object=k?module-path=/m.so&pin-source=" + src)
		if err != nil {
			t.Fatal(err)
		}
		if pin, err := u.pin(); err != nil || pin != "9876" {
			t.Fatalf("pin from %s: %q, %v", src, pin, err)
		}
		if u.ref() != "pkcs11:token=t;object=k" {
			t.Fatalf("ref %q", u.ref())
		}
	}
	u, _ = parseURI("pkcs11:token=t;object=k?module-path=/m.so&pin-source=file:" + filepath.Join(dir, "none"))
	if _, err := u.pin(); err == nil || !strings.Contains(err.Error(), "none") {
		t.Fatalf("missing PIN file: %v", err)
	}
	// Vendor attributes and type are accepted.
	if _, err := parseURI("pkcs11:type=secret-key;token=t;object=k;x-vendor=1?module-path=/m.so"); err != nil {
		t.Fatal(err)
	}
}

// A malformed URI's error names the fault, never a value: the PIN must
// not be printed, even when it sits where a name should be.
func TestParseURIErrorsHideThePIN(t *testing.T) {
	const pin = "s3cr3tPIN"
	for _, s := range []string{
		"pkcs:token=t;object=k?module-path=/m.so&pin-value=" + pin,
		"pkcs11:token=t;object=k?module-path=/m.so&pin-value=%zz" + pin,
		"pkcs11:token=t;object=k?module-path=/m.so&" + pin,
		"pkcs11:token=t;object=k?module-path=/m.so&pin-value=" + pin + "&pin-value=" + pin,
		"pkcs11:token=t;object=k?module-path=/m.so&pin-value=" + pin + "&pin-source=file:/x",
		"pkcs11:token=t;object=k;" + pin + "?module-path=/m.so",
		"pkcs11:object=k?module-path=/m.so&pin-value=" + pin,
		"pkcs11:token=t?module-path=/m.so&pin-value=" + pin,
		"pkcs11:token=t;object=k?pin-value=" + pin,
		"pkcs11:token=t;object=k?module-path=/m.so&pin-source=https://x/" + pin,
		"pkcs11:token=t;object=k?module-name=softhsm2&pin-value=" + pin,
	} {
		_, err := parseURI(s)
		if err == nil {
			t.Fatalf("%s: accepted", s)
		}
		if strings.Contains(err.Error(), pin) || strings.Contains(err.Error(), "\n") {
			t.Fatalf("error shows the PIN or spans lines: %v", err)
		}
	}
}
