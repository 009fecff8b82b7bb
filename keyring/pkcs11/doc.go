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
// Keys are named by RFC 7512 PKCS#11 URIs:
//
//	pkcs11:token=prod;object=s3c-master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin
//
// The PIN comes from pin-source (a file, first line) or pin-value; it is
// never printed and never part of an error. PKCS#11 needs cgo: in a build
// without it, Open and GenerateKey return an error saying so.
package pkcs11

import "errors"

// Options configures a Keyring.
type Options struct {
	// Description is the material description recorded with every data
	// key the keyring wraps and matched on read, as
	// keyring.RawOptions.Description. If empty it is
	// {"s3c:key-id": <the key reference>}, the reference being
	// "pkcs11:token=<label>;object=<label>" (or ";id=…"), never a PIN.
	Description map[string]string
	// Sessions is the number of logged-in sessions the keyring keeps
	// open and shares among concurrent callers; default 8.
	Sessions int
}

// ErrNoCgo is returned by Open and GenerateKey in a binary built without
// cgo, which cannot load a PKCS#11 module.
var ErrNoCgo = errors.New("PKCS#11 keys need a build with cgo (CGO_ENABLED=1)")

// RSAKeyBits is the modulus size of RSA key pairs GenerateKey makes.
const RSAKeyBits = 3072
