// Package core is what s3crypto (aws-sdk-go-v2) and miniocrypto (minio-go)
// share: envelope placement and instruction files, content encryption and
// decryption, commitment policies, sizes, ObjectInfo and the errors. It
// imports neither SDK, so a minio-go program does not pull in
// aws-sdk-go-v2. Its exported names are for the front ends (and the bench
// tool), not public API: each front end re-exports what its users meet.
package core
