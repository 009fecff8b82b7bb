package s3crypto

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/core"
)

// Checksums a caller gives for the plaintext are checked while it is
// encrypted; S3 gets checksums of the ciphertext instead.

// crc64NVME is the table of CRC-64/NVME (reflected polynomial
// 0x9a6c9329ac4bc9b5), S3's x-amz-checksum-crc64nvme.
var crc64NVME = sync.OnceValue(func() *crc64.Table { return crc64.MakeTable(0x9a6c9329ac4bc9b5) })

// hasPlaintextChecksums reports whether in carries checksums of its body.
func hasPlaintextChecksums(in *s3.PutObjectInput) bool {
	return in.ContentMD5 != nil || in.ChecksumCRC32 != nil || in.ChecksumCRC32C != nil ||
		in.ChecksumCRC64NVME != nil || in.ChecksumSHA1 != nil || in.ChecksumSHA256 != nil
}

// moveChecksums turns checksums of the plaintext into checks the reader
// makes, and asks the SDK for a checksum of the ciphertext instead.
func moveChecksums(in *s3.PutObjectInput, r *core.EncryptReader) error {
	vs, alg, err := takeChecksums(in)
	r.Verify = vs
	if alg != "" && in.ChecksumAlgorithm == "" {
		in.ChecksumAlgorithm = alg
	}
	return err
}

// takeChecksums removes the checksums of the plaintext that in carries
// (ContentMD5, Checksum*) and returns them as verifiers, with the
// algorithm the ciphertext should be checksummed with instead.
func takeChecksums(in *s3.PutObjectInput) ([]core.Verifier, types.ChecksumAlgorithm, error) {
	var vs []core.Verifier
	var alg types.ChecksumAlgorithm
	add := func(name string, value *string, h hash.Hash, a types.ChecksumAlgorithm) error {
		if value == nil {
			return nil
		}
		want, err := base64.StdEncoding.DecodeString(*value)
		if err != nil || len(want) != h.Size() {
			return fmt.Errorf("%s is not a base64 %d-byte checksum", name, h.Size())
		}
		vs = append(vs, core.Verifier{Name: name, H: h, Want: want})
		if alg == "" {
			alg = a
		}
		return nil
	}
	errs := []error{
		add("Content-MD5", in.ContentMD5, md5.New(), ""),
		add("x-amz-checksum-crc32", in.ChecksumCRC32, crc32.NewIEEE(), types.ChecksumAlgorithmCrc32),
		add("x-amz-checksum-crc32c", in.ChecksumCRC32C, crc32.New(crc32.MakeTable(crc32.Castagnoli)), types.ChecksumAlgorithmCrc32c),
		add("x-amz-checksum-crc64nvme", in.ChecksumCRC64NVME, crc64.New(crc64NVME()), types.ChecksumAlgorithmCrc64nvme),
		add("x-amz-checksum-sha1", in.ChecksumSHA1, sha1.New(), types.ChecksumAlgorithmSha1),
		add("x-amz-checksum-sha256", in.ChecksumSHA256, sha256.New(), types.ChecksumAlgorithmSha256),
	}
	in.ContentMD5, in.ChecksumCRC32, in.ChecksumCRC32C, in.ChecksumCRC64NVME, in.ChecksumSHA1, in.ChecksumSHA256 = nil, nil, nil, nil, nil, nil
	return vs, alg, errors.Join(errs...)
}
