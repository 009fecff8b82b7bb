// Package softhsmtest gives tests a real PKCS#11 token: SoftHSM2 (Debian
// package softhsm2, which `make test` installs when it is missing) with a
// fresh token in a temporary directory.
//
// SoftHSM reads SOFTHSM2_CONF when its module is initialised, once per
// process: Start sets it in the process environment (child processes
// inherit it), so call Start before any keyring loads the module, and
// only once per test process.
package softhsmtest

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// The token Start initialises.
const (
	Label = "s3c-test"
	PIN   = "1234"
	SOPIN = "5678"
)

// ModulePaths are where SoftHSM2's PKCS#11 module is looked for, in
// order: Debian's package installs the first (a link to the second).
var ModulePaths = []string{
	"/usr/lib/softhsm/libsofthsm2.so",
	"/usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/lib/aarch64-linux-gnu/softhsm/libsofthsm2.so",
	"/usr/local/lib/softhsm/libsofthsm2.so",
}

// Token is an initialised SoftHSM2 token.
type Token struct {
	Dir     string // the token directory and configuration
	Module  string // path of libsofthsm2.so
	Label   string
	PIN     string
	PINFile string // a file holding PIN, for pin-source

	util, conf string
}

const missing = "SoftHSM2 is not installed (no softhsm2-util or libsofthsm2.so): run `make test`, which installs the Debian package softhsm2, or apt-get install softhsm2"

// Module returns the path of SoftHSM2's module, or an error saying how
// to install it.
func Module() (string, error) {
	if p := os.Getenv("SOFTHSM2_MODULE"); p != "" {
		return p, nil
	}
	for _, p := range ModulePaths {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New(missing)
}

// Start creates a token labelled Label with PIN in a new temporary
// directory and points SOFTHSM2_CONF at it. Close removes it.
func Start() (*Token, error) {
	mod, err := Module()
	if err != nil {
		return nil, err
	}
	util, err := exec.LookPath("softhsm2-util")
	if err != nil {
		return nil, errors.New(missing)
	}
	dir, err := os.MkdirTemp("", "s3c-softhsm-")
	if err != nil {
		return nil, err
	}
	tokens := filepath.Join(dir, "tokens")
	conf := filepath.Join(dir, "softhsm2.conf")
	pinFile := filepath.Join(dir, "pin")
	if err := os.Mkdir(tokens, 0o700); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	cfg := "directories.tokendir = " + tokens + "\nobjectstore.backend = file\nlog.level = ERROR\n"
	if err := os.WriteFile(conf, []byte(cfg), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(pinFile, []byte(PIN+"\n"), 0o600); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	os.Setenv("SOFTHSM2_CONF", conf)
	t := &Token{Dir: dir, Module: mod, Label: Label, PIN: PIN, PINFile: pinFile, util: util, conf: conf}
	if err := t.InitToken(Label); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return t, nil
}

// InitToken initialises another token, labelled label, with PIN and
// SOPIN, beside the first. Call it before the module is loaded, or
// SoftHSM will not see the new token.
func (t *Token) InitToken(label string) error {
	cmd := exec.Command(t.util, "--init-token", "--free", "--label", label, "--pin", PIN, "--so-pin", SOPIN)
	cmd.Env = append(os.Environ(), "SOFTHSM2_CONF="+t.conf)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("softhsm2-util --init-token: %v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// URI returns the PKCS#11 URI of the key labelled object in the token,
// with the PIN from PINFile.
func (t *Token) URI(object string) string {
	return "pkcs11:token=" + t.Label + ";object=" + object + "?module-path=" + t.Module + "&pin-source=file:" + t.PINFile
}

// Env returns the environment variable that points SoftHSM at the
// token, for child processes with an environment of their own.
func (t *Token) Env() string { return "SOFTHSM2_CONF=" + t.conf }

// Close removes the token's directory.
func (t *Token) Close() { os.RemoveAll(t.Dir) }
