package core

import (
	"bytes"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"testing"

	"github.com/s3c/s3c/metadata"
)

// deriveV3 is HKDF-SHA512 as the S3EC V3 format specifies it (salt: the
// message ID; info: the commitment and key labels), and refuses a wrong
// commitment before it derives the content key.
func TestDeriveV3MatchesHKDF(t *testing.T) {
	for range 20 {
		dk, id := make([]byte, 32), make([]byte, metadata.MessageIDSize)
		rand.Read(dk)
		rand.Read(id)
		prk, _ := hkdf.Extract(sha512.New, dk, id)
		wantC, _ := hkdf.Expand(sha512.New, prk, v3CommitInfo, metadata.CommitmentSize)
		wantK, _ := hkdf.Expand(sha512.New, prk, v3KeyInfo, 32)
		c, k, err := deriveV3(dk, id, nil)
		if err != nil || !bytes.Equal(c, wantC) || !bytes.Equal(k, wantK) {
			t.Fatalf("deriveV3 = %x, %x, %v; want %x, %x", c, k, err, wantC, wantK)
		}
		if _, k, err := deriveV3(dk, id, wantC); err != nil || !bytes.Equal(k, wantK) {
			t.Fatalf("with the right commitment: %v", err)
		}
		bad := bytes.Clone(wantC)
		bad[0] ^= 1
		if c, k, err := deriveV3(dk, id, bad); !errors.Is(err, ErrCommitmentMismatch) || c != nil || k != nil {
			t.Fatalf("with a wrong commitment: %x %x %v", c, k, err)
		}
	}
}
