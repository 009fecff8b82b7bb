// Package vectors loads the captured S3EC interoperability vectors in
// testdata/s3ec-vectors: objects written by AWS's own S3 Encryption
// Clients, and edited copies a reader must refuse (see the README there).
package vectors

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
)

// Vector is one captured object and what a reader must make of it.
type Vector struct {
	Name            string            `json:"name"`
	Writer          string            `json:"writer"`
	Format          string            `json:"format"`
	ContentSuite    string            `json:"content_suite"`
	WrapAlg         string            `json:"wrap_alg"`
	EnvelopeStorage string            `json:"envelope_storage"`
	KMSKeyAlias     string            `json:"kms_key_alias"`
	KMSKeyID        string            `json:"kms_key_id"`
	KMSKeyARN       string            `json:"kms_key_arn"`
	KMSKeyMaterial  string            `json:"kms_key_material_hex"`
	CallerContext   map[string]string `json:"caller_encryption_context"`
	KMSContext      map[string]string `json:"kms_encryption_context"`
	EncryptedKeyB64 string            `json:"encrypted_data_key_b64"`
	PlaintextKeyB64 string            `json:"plaintext_data_key_b64"`
	PlaintextLength int64             `json:"plaintext_length"`
	PlaintextSeed   string            `json:"plaintext_seed"`
	PlaintextSHA256 string            `json:"plaintext_sha256"`
	Expected        string            `json:"expected"` // "ok" or "error"
	Why             string            `json:"why"`
	Metadata        map[string]string `json:"-"`
	Body            []byte            `json:"-"`
	Instruction     []byte            `json:"-"` // nil unless the envelope is in an instruction file
}

// OK reports whether a reader must decrypt the vector.
func (v *Vector) OK() bool { return v.Expected == "ok" }

// Legacy reports whether the vector is a legacy (AES-CBC) object, readable
// only with legacy reading switched on.
func (v *Vector) Legacy() bool { return v.ContentSuite == "AES/CBC/PKCS5Padding" }

// EncryptedKey returns the stored encrypted data key.
func (v *Vector) EncryptedKey() []byte { return mustB64(v.EncryptedKeyB64) }

// DataKey returns the plaintext data key.
func (v *Vector) DataKey() []byte { return mustB64(v.PlaintextKeyB64) }

// KeyMaterial returns the KMS key's 256-bit material.
func (v *Vector) KeyMaterial() []byte {
	b, err := hex.DecodeString(v.KMSKeyMaterial)
	if err != nil {
		panic(err)
	}
	return b
}

// Plaintext regenerates the expected plaintext: the first PlaintextLength
// bytes of SHA-256(seed‖0) ‖ SHA-256(seed‖1) ‖ …, counters big-endian uint64.
func (v *Vector) Plaintext() []byte {
	out := make([]byte, 0, v.PlaintextLength+sha256.Size)
	var ctr [8]byte
	for i := uint64(0); int64(len(out)) < v.PlaintextLength; i++ {
		binary.BigEndian.PutUint64(ctr[:], i)
		h := sha256.Sum256(append([]byte(v.PlaintextSeed), ctr[:]...))
		out = append(out, h[:]...)
	}
	return out[:v.PlaintextLength]
}

// CheckPlaintext reports whether pt is the vector's expected plaintext.
func (v *Vector) CheckPlaintext(pt []byte) error {
	sum := sha256.Sum256(pt)
	if int64(len(pt)) != v.PlaintextLength || hex.EncodeToString(sum[:]) != v.PlaintextSHA256 {
		return fmt.Errorf("vector %s: plaintext is %d bytes with sha256 %x, want %d bytes with sha256 %s",
			v.Name, len(pt), sum, v.PlaintextLength, v.PlaintextSHA256)
	}
	return nil
}

func mustB64(s string) []byte {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

// Dir is the vectors directory of this repository.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "testdata", "s3ec-vectors")
}

// Load reads every vector under Dir, sorted by name.
func Load() ([]*Vector, error) {
	entries, err := os.ReadDir(Dir())
	if err != nil {
		return nil, err
	}
	var out []*Vector
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		v, err := load(filepath.Join(Dir(), e.Name()))
		if err != nil {
			return nil, fmt.Errorf("vector %s: %w", e.Name(), err)
		}
		out = append(out, v)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

func load(dir string) (*Vector, error) {
	v := new(Vector)
	if err := readJSON(filepath.Join(dir, "vector.json"), v); err != nil {
		return nil, err
	}
	if err := readJSON(filepath.Join(dir, "metadata.json"), &v.Metadata); err != nil {
		return nil, err
	}
	var err error
	if v.Body, err = os.ReadFile(filepath.Join(dir, "body.bin")); err != nil {
		return nil, err
	}
	if b, err := os.ReadFile(filepath.Join(dir, "instruction.json")); err == nil {
		v.Instruction = b
	} else if !os.IsNotExist(err) {
		return nil, err
	}
	return v, nil
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}
