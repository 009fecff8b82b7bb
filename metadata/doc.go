// Package metadata encodes and decodes the envelope of an object written by
// an Amazon S3 Encryption Client: the encrypted data key, the IV or message
// ID, the key commitment, the algorithms and the encryption context or
// material description, stored as S3 user metadata or in an instruction
// file.
//
// It knows the three format versions byte for byte (the README's "Wire
// format" section lists the keys; testdata/s3ec-vectors holds objects
// written by AWS's clients):
//
//   - V1 (x-amz-key): AES-CBC with a raw-key wrap; read only.
//   - V2 (x-amz-key-v2): AES-GCM (suite 0x0072) or legacy AES-CBC.
//   - V3 (x-amz-3): key-committing AES-GCM (suite 115, 0x0073).
//
// Decode validates everything it can before any cryptography runs: which
// format, that exactly one format's marker is present, base64 and lengths
// of every binary field, algorithm names (AWS's, or a keyring's own custom
// wrapping algorithm, see IsCustomWrap), and JSON shape. It treats an
// empty value as an absent key, accepts keys in any case and with or without
// the x-amz-meta- prefix, and undoes the double encoding S3 applies to
// non-ASCII metadata. Encode writes padded base64, lower-case keys, and JSON
// with non-ASCII escaped so headers stay ASCII.
//
// The package does no I/O and no cryptography; errors are *FormatError,
// usable with errors.As, or wrap the sentinels below.
package metadata
