//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"fmt"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3c/s3c/keyring"
)

// GenerateKey creates a master key in the token keyURI names, with its
// object label and/or id: kind "aes" makes an AES-256 secret key for
// CKM_AES_GCM, "rsa" an RSA-3072 key pair (the private key decrypts, the
// public key encrypts). The keys are token objects, private, sensitive and
// not extractable: they never leave the token. GenerateKey refuses to
// make a key whose label or id is already taken in the token.
func GenerateKey(keyURI string, kind string, optFns ...func(*Options)) error {
	if kind != "aes" && kind != "rsa" {
		return fmt.Errorf("PKCS#11 key type %q: want aes or rsa", kind)
	}
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	u, err := parseURI(keyURI)
	if err != nil {
		return err
	}
	ref := u.ref()
	pin, err := u.pin()
	if err != nil {
		return &keyring.KeyError{KeyRef: ref, Err: err}
	}
	// Bounded as a keyring's calls are (Options.Timeout): a token that
	// does not answer may or may not make the key after all.
	_, err, gaveUp := bounded(context.Background(), callTimeout(o, u), "generating the key", func() {}, func() {},
		func() (struct{}, error) { return struct{}{}, generateKey(u, kind, pin) }, func(struct{}, error) {})
	if gaveUp {
		err = fmt.Errorf("%w; whether the key was made, the token will show", err)
	}
	if err != nil {
		return &keyring.KeyError{KeyRef: ref, Err: err}
	}
	return nil
}

func generateKey(u *uri, kind, pin string) error {
	fail := func(err error) error { return err }
	mod, err := loadModule(u.modulePath)
	if err != nil {
		return fail(err)
	}
	defer mod.release()
	slot, err := findToken(mod, u)
	if err != nil {
		return fail(err)
	}
	sh, err := mod.ctx.OpenSession(slot, p11.CKF_SERIAL_SESSION|p11.CKF_RW_SESSION)
	if err != nil {
		return fail(tokenError("opening a session", err))
	}
	defer mod.ctx.CloseSession(sh)
	if err := login(mod.ctx, sh, pin); err != nil {
		return fail(err)
	}
	// Refuse a label or id already in use, whatever the object's class.
	for _, probe := range []*uri{{object: u.object}, {id: u.id, hasID: u.hasID}} {
		if probe.object == "" && !probe.hasID {
			continue
		}
		for _, class := range []uint{p11.CKO_SECRET_KEY, p11.CKO_PRIVATE_KEY, p11.CKO_PUBLIC_KEY} {
			objs, err := findObjects(mod.ctx, sh, probe, class)
			if err != nil {
				return fail(err)
			}
			if len(objs) > 0 {
				return fail(errors.New("the token already holds a key with this label or id; not creating another"))
			}
		}
	}
	named := func(attrs ...*p11.Attribute) []*p11.Attribute {
		if u.object != "" {
			attrs = append(attrs, p11.NewAttribute(p11.CKA_LABEL, u.object))
		}
		if u.hasID {
			attrs = append(attrs, p11.NewAttribute(p11.CKA_ID, u.id))
		}
		return attrs
	}
	if kind == "aes" {
		_, err = mod.ctx.GenerateKey(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_KEY_GEN, nil)}, named(
			p11.NewAttribute(p11.CKA_CLASS, p11.CKO_SECRET_KEY),
			p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_AES),
			p11.NewAttribute(p11.CKA_VALUE_LEN, 32),
			p11.NewAttribute(p11.CKA_TOKEN, true),
			p11.NewAttribute(p11.CKA_PRIVATE, true),
			p11.NewAttribute(p11.CKA_SENSITIVE, true),
			p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
			p11.NewAttribute(p11.CKA_ENCRYPT, true),
			p11.NewAttribute(p11.CKA_DECRYPT, true),
			p11.NewAttribute(p11.CKA_WRAP, false),
			p11.NewAttribute(p11.CKA_UNWRAP, false),
			p11.NewAttribute(p11.CKA_SIGN, false),
			p11.NewAttribute(p11.CKA_VERIFY, false),
		))
	} else {
		_, _, err = mod.ctx.GenerateKeyPair(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_RSA_PKCS_KEY_PAIR_GEN, nil)},
			named(
				p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PUBLIC_KEY),
				p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
				p11.NewAttribute(p11.CKA_TOKEN, true),
				p11.NewAttribute(p11.CKA_ENCRYPT, true),
				p11.NewAttribute(p11.CKA_VERIFY, false),
				p11.NewAttribute(p11.CKA_WRAP, false),
				p11.NewAttribute(p11.CKA_MODULUS_BITS, RSAKeyBits),
				p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, []byte{1, 0, 1}),
			),
			named(
				p11.NewAttribute(p11.CKA_CLASS, p11.CKO_PRIVATE_KEY),
				p11.NewAttribute(p11.CKA_KEY_TYPE, p11.CKK_RSA),
				p11.NewAttribute(p11.CKA_TOKEN, true),
				p11.NewAttribute(p11.CKA_PRIVATE, true),
				p11.NewAttribute(p11.CKA_SENSITIVE, true),
				p11.NewAttribute(p11.CKA_EXTRACTABLE, false),
				p11.NewAttribute(p11.CKA_DECRYPT, true),
				p11.NewAttribute(p11.CKA_SIGN, false),
				p11.NewAttribute(p11.CKA_UNWRAP, false),
			))
	}
	if err != nil {
		return fail(tokenError("generating the key", err))
	}
	return nil
}
