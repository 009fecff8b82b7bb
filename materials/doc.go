// Package materials is package keyring plus AWS KMS: KMSKeyring wraps data
// keys with AWS KMS ("kms+context"), as AWS's S3 Encryption Clients do, and
// every name of package keyring (the Keyring contract, Multi, the raw AES
// and RSA keyrings, key files, errors) is available here under the same
// name, as the same type or value.
//
// Programs that do not use KMS can import keyring alone and depend on no
// AWS SDK (as miniocrypto does).
package materials
