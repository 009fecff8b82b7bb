// Package pkcs11 is a keyring whose master key never leaves a PKCS#11
// token: an HSM such as AWS CloudHSM, a Thales Luna or a YubiHSM, or
// SoftHSM. It speaks the S3 Encryption Client's raw wraps, so objects are
// what AWS's clients write with a raw key of the same kind:
//
//   - an AES key in the token wraps data keys with CKM_AES_GCM in the
//     "AES/GCM" layout of keyring.NewAES (12-byte IV ‖ ciphertext ‖
//     16-byte tag, the content algorithm's name as additional data);
//   - an RSA key pair wraps with "RSA-OAEP-SHA1" as keyring.NewRSA does:
//     encrypting uses the public key in the process, decrypting the
//     token's private key (CKM_RSA_PKCS_OAEP, SHA-1, MGF1-SHA-1).
//
// How objects name the key: an AES key cannot be read out of the token,
// so objects record its reference, "pkcs11:token=<label>;object=<label>"
// (or ";id=…"), under s3c:key-id. An RSA key is named by its public key,
// as keyring.NewRSA names one: "rsa:" and the start of the SHA-256 of its
// PKIX encoding (keyring.RSAKeyID). So the public key alone, exported once
// (Keyring.PublicKey; the CLI's keygen pkcs11 --public-key), encrypts with
// keyring.NewRSAPublic on a host with no HSM, no PKCS#11 module, no PIN
// and no cgo, and the objects it writes are the token keyring's as if it
// had written them: the same wrap, the same s3c:key-id. The same holds for
// a raw RSA private key imported into the token. Objects written before
// this naming, which record the RSA key's pkcs11: reference, still read.
//
// Every token call is bounded by Options.Timeout (30 seconds by default)
// and by the caller's context: a networked HSM that stops answering fails
// the request with an error wrapping ErrTimeout, naming the key, instead
// of blocking it for ever.
//
// Keys are named by RFC 7512 PKCS#11 URIs:
//
//	pkcs11:token=prod;object=s3c-master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin
//
// The PIN comes from pin-source (a file, first line) or pin-value; it is
// never printed and never part of an error. PKCS#11 needs cgo: in a build
// without it, Open and GenerateKey return an error saying so.
package pkcs11

import (
	"errors"
	"time"
)

// Options configures a Keyring.
type Options struct {
	// Description is the material description recorded with every data
	// key the keyring wraps and matched on read, as
	// keyring.RawOptions.Description. If empty it is
	// {"s3c:key-id": <the key's name>}: for an AES key its reference,
	// "pkcs11:token=<label>;object=<label>" (or ";id=…"), never a PIN;
	// for an RSA key its fingerprint, keyring.RSAKeyID of its public key.
	Description map[string]string
	// Sessions is the number of logged-in sessions the keyring keeps
	// open and shares among concurrent callers; default 8.
	Sessions int
	// Timeout bounds each call into the token (opening it, logging in,
	// each wrap or unwrap, waiting for a free session). If zero, it is
	// the URI's x-s3c-timeout (a Go duration such as "10s"), else
	// DefaultTimeout; a negative Timeout leaves only the caller's context
	// to bound the calls. A call that does not return in time fails with
	// an error wrapping ErrTimeout, and its session is given up: the C
	// call cannot be interrupted, so the session is closed, and its pool
	// slot freed, only when the call returns at last.
	Timeout time.Duration
}

// DefaultTimeout bounds each token call when neither Options.Timeout nor
// the URI's x-s3c-timeout says otherwise.
const DefaultTimeout = 30 * time.Second

// ErrTimeout is wrapped by the error of a token call that did not return
// within the keyring's timeout: the HSM is unreachable or hung.
var ErrTimeout = errors.New("the PKCS#11 token did not answer in time")

// ErrNoCgo is returned by Open and GenerateKey in a binary built without
// cgo, which cannot load a PKCS#11 module.
var ErrNoCgo = errors.New("PKCS#11 keys need a build with cgo (CGO_ENABLED=1)")

// RSAKeyBits is the modulus size of RSA key pairs GenerateKey makes.
const RSAKeyBits = 3072
