package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/s3c/s3c/keyring/pkcs11"
	"github.com/s3c/s3c/materials"
)

func (a *app) keygenCommand() *cobra.Command {
	var (
		bits      int
		p11Type   string
		p11PubOut string
	)
	c := &cobra.Command{
		Use:   "keygen aes FILE | keygen rsa FILE [--bits 3072] | keygen pkcs11 URI [--type aes|rsa [--public-key FILE]]",
		Short: "Create a master key: local, or in an HSM",
		Long: `Create a master key in FILE, readable only by you (mode 0600), and print
the key reference that objects encrypted with it will carry. An AES key is 32
random bytes, written as base64. An RSA key pair is written as a PEM private
key in FILE and its public key in FILE.pub: the public key alone is enough
to encrypt. Existing files are never overwritten.

keygen pkcs11 creates the key inside the PKCS#11 token the URI names (an HSM),
with the URI's object label or id: an AES-256 key (--type aes, the default) or
an RSA-3072 key pair (--type rsa). The key is sensitive and not extractable: it
never leaves the token. A label or id already in use is refused. Objects name an
HSM AES key by its reference (pkcs11:token=…;object=…), an HSM RSA key by its
public key's fingerprint (rsa:…), as for a local RSA key: --public-key FILE
writes the public key as PEM, and put --rsa-key FILE then encrypts with it
alone, with no HSM, module or PIN, for the token's key to decrypt.`,
		Example: `  s3c keygen aes master.key
  s3c keygen rsa backup.pem --bits 4096
  s3c keygen pkcs11 'pkcs11:token=prod;object=s3c-master?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin'
  s3c keygen pkcs11 --type rsa --public-key s3c-rsa.pub 'pkcs11:token=prod;object=s3c-rsa?module-path=/usr/lib/softhsm/libsofthsm2.so&pin-source=file:/run/secrets/pin'`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			kind, file := args[0], args[1]
			if cmd.Flags().Changed("type") && kind != "pkcs11" {
				return usagef("--type applies to pkcs11 keys")
			}
			if cmd.Flags().Changed("public-key") && (kind != "pkcs11" || p11Type != "rsa") {
				return usagef("--public-key applies to pkcs11 keys of --type rsa (a local RSA key's public key goes to FILE.pub)")
			}
			if file == "-" && kind != "pkcs11" {
				return usagef("keygen writes a key file; give a path, not -")
			}
			var ref string
			switch kind {
			case "aes":
				if cmd.Flags().Changed("bits") {
					return usagef("--bits applies to RSA keys")
				}
				key, data := materials.NewAESKeyFile()
				ref = materials.AESKeyID(key)
				clear(key)
				if err := writeNew(file, data, 0o600); err != nil {
					return err
				}
			case "rsa":
				if bits < materials.MinRSABits || bits > 16384 {
					return usagef("--bits %d: want %d to 16384", bits, materials.MinRSABits)
				}
				if _, err := os.Lstat(file + ".pub"); err == nil {
					return fmt.Errorf("%s.pub already exists; not overwriting", file)
				}
				priv, privPEM, pubPEM, err := newRSAKeyFiles(cmd.Context(), bits)
				if err != nil {
					return err
				}
				if ref, err = materials.RSAKeyID(&priv.PublicKey); err != nil {
					return err
				}
				if err := writeNew(file, privPEM, 0o600); err != nil {
					return err
				}
				if err := writeNew(file+".pub", pubPEM, 0o644); err != nil {
					os.Remove(file)
					return err
				}
			case "pkcs11":
				if cmd.Flags().Changed("bits") {
					return usagef("--bits applies to local RSA keys (a PKCS#11 RSA key has %d bits)", pkcs11.RSAKeyBits)
				}
				if p11Type != "aes" && p11Type != "rsa" {
					return usagef("--type %q: want aes or rsa", p11Type)
				}
				if p11PubOut != "" {
					if _, err := os.Lstat(p11PubOut); err == nil {
						return fmt.Errorf("%s already exists; not overwriting", p11PubOut)
					}
				}
				// Errors name the key reference, never the URI's PIN.
				if err := pkcs11.GenerateKey(file, p11Type); err != nil {
					return err
				}
				kr, err := pkcs11.Open(file)
				if err != nil {
					return err
				}
				// The reference objects record: the token's for an AES
				// key, the public key's fingerprint for an RSA key.
				p11Ref := kr.KeyRef()
				ref = kr.Description()[materials.DescriptionKeyID]
				pub := kr.PublicKey()
				kr.Close()
				out := map[string]string{"key_ref": ref, "pkcs11_ref": p11Ref}
				if p11PubOut != "" {
					der, err := x509.MarshalPKIXPublicKey(pub)
					if err != nil {
						return err
					}
					pubPEM := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
					if err := writeNew(p11PubOut, pubPEM, 0o644); err != nil {
						return fmt.Errorf("%v (the key %s is made; its public key is not written)", err, p11Ref)
					}
					out["public_key"] = p11PubOut
				}
				if a.json {
					return a.printJSON(out)
				}
			default:
				return usagef("key kind %q: want aes or rsa (or pkcs11, for a key in an HSM)", kind)
			}
			if a.json {
				return a.printJSON(map[string]string{"key_ref": ref, "file": file})
			}
			fmt.Fprintln(a.stdout, ref)
			return nil
		},
	}
	c.Flags().IntVar(&bits, "bits", 3072, "RSA modulus size")
	c.Flags().StringVar(&p11Type, "type", "aes", "kind of PKCS#11 key: aes or rsa")
	c.Flags().StringVar(&p11PubOut, "public-key", "", "with --type rsa: also write the public key to this PEM file, for put --rsa-key without the HSM")
	a.jsonFlag(c.Flags())
	return c
}

// newRSAKeyFiles generates a key pair, which can take a while: a signal
// stops the wait.
func newRSAKeyFiles(ctx context.Context, bits int) (*rsa.PrivateKey, []byte, []byte, error) {
	type keys struct {
		priv            *rsa.PrivateKey
		privPEM, pubPEM []byte
		err             error
	}
	ch := make(chan keys, 1)
	go func() {
		var k keys
		k.priv, k.privPEM, k.pubPEM, k.err = materials.NewRSAKeyFiles(bits)
		ch <- k
	}()
	select {
	case k := <-ch:
		return k.priv, k.privPEM, k.pubPEM, k.err
	case <-ctx.Done():
		return nil, nil, nil, context.Cause(ctx)
	}
}

// writeNew creates path with mode and data, refusing to replace anything.
func writeNew(path string, data []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s already exists; not overwriting", path)
	}
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		os.Remove(path)
		return err
	}
	if err := f.Close(); err != nil {
		os.Remove(path)
		return err
	}
	return os.Chmod(path, mode) // whatever the umask
}
