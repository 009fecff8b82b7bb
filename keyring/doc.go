// Package keyring holds the Keyring contract and the keyrings that need no
// AWS SDK. Keyrings protect data keys: each object is encrypted under its
// own fresh 256-bit data key, and a keyring wraps that key under a master
// key that never leaves the keyring.
//
// A Keyring does two things: GenerateDataKey returns a new data key with
// its encrypted form, and DecryptDataKey recovers a data key from the
// envelope of an object. Three kinds match AWS's S3 Encryption Clients byte
// for byte:
//
//   - KMSKeyring (in package materials, the one that imports the AWS SDK):
//     AWS KMS, wrap "kms+context". The encryption context,
//     including aws:x-amz-cek-alg, is bound to the key by KMS. A discovery
//     keyring decrypts with whatever KMS key the object names, optionally
//     only from an allow-list.
//   - AESKeyring: a raw AES key, wrap "AES/GCM".
//   - RSAKeyring: a raw RSA key pair, wrap "RSA-OAEP-SHA1".
//
// A keyring for another key manager (Vault, an HSM, a key service of
// one's own) is written outside this package against the contract on
// Keyring, which says exactly which errors mean "not mine, try the next".
// It may record a wrapping-algorithm name of its own, such as
// "example.com/vault-transit-v1" (see metadata.IsCustomWrap), which the
// envelope stores and hands back on read; AWS's names keep their meaning.
//
// Multi combines keyrings: the first wraps new keys, any of them may
// unwrap. That is how master keys are rotated: keep reading with the old
// key while writing with the new one. Raw keyrings record a material
// description that names their key (by default {"s3c:key-id": "aes:…"}),
// so on read the keyring that holds the named key is tried first (see
// Claimer, which any keyring may implement).
//
// Legacy wraps ("kms", "AESWrap", RSA OAEP-SHA-256 and the V1 raw wraps)
// are decrypt-only; the s3crypto client refuses them unless asked to
// accept legacy objects.
//
// Keyrings never put key material in errors. A keyring that cannot decrypt
// a data key because it holds a different key returns an error wrapping
// ErrIncorrectKey; one that does not handle the wrapping algorithm at all
// returns an error wrapping ErrUnsupportedWrap, and one that cannot
// decrypt at all ErrEncryptOnly. Multi moves on to the next keyring on
// any of them; when none is left, a NoKeyError names the kind of key the
// object needs. A KMS answer that is not a data key is ErrKMSResponse.
//
// The caller's encryption context is compared with the stored one by the
// s3crypto client, for every keyring, before the keyring is called; a
// keyring that records pairs of its own in the material description
// declares them by implementing DescriptionOwner.
package keyring
