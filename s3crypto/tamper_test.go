package s3crypto

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/s3c/s3c/metadata"
)

// tamperings of a stored object: each returns the altered body and
// metadata (and instruction file, if any), or ok=false when it does not
// apply.
type tampering struct {
	name  string
	apply func(body []byte, meta map[string]string, inst map[string]string) bool
}

func flipBit(b []byte, i int) []byte {
	b = bytes.Clone(b)
	b[i] ^= 0x01
	return b
}

// flipValues returns variants of an envelope value with one bit changed:
// in the first, middle and last decoded byte of base64 fields; for text,
// at every position of short values (algorithm names) and, in JSON, in
// the first key and in the last value.
func flipValues(v string) []string {
	var out []string
	if b, err := base64.StdEncoding.DecodeString(v); err == nil && len(b) > 0 && len(v)%4 == 0 && len(v) >= 8 {
		for _, i := range []int{0, len(b) / 2, len(b) - 1} {
			out = append(out, base64.StdEncoding.EncodeToString(flipBit(b, i)))
		}
		return out
	}
	positions := []int{2, len(v) - 3} // JSON: inside the first key, inside the last value
	if v[0] != '{' {
		positions = nil
		for i := range v {
			positions = append(positions, i)
		}
	}
	for _, i := range positions {
		out = append(out, string(flipBit([]byte(v), i)))
	}
	return out
}

func bodyTamperings() []tampering {
	return []tampering{
		{"flip first byte", func(b []byte, _, _ map[string]string) bool { b[0] ^= 1; return len(b) > 16 }},
		{"flip middle byte", func(b []byte, _, _ map[string]string) bool { b[len(b)/2] ^= 0x80; return true }},
		{"flip last tag byte", func(b []byte, _, _ map[string]string) bool { b[len(b)-1] ^= 0x40; return true }},
	}
}

// Every flipped bit, in the body, the tag or any envelope field, wherever
// the envelope lives, is an error and releases nothing.
func TestTamperDetected(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, krName := range []string{"kms", "aes", "rsa"} {
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for _, storage := range []metadata.Storage{metadata.ObjectMetadata, metadata.InstructionFile} {
				name := fmt.Sprintf("%s/%s/%s", krName, format, storage)
				t.Run(name, func(t *testing.T) {
					ec := map[string]string{"team": "blue"}
					c := e.client(e.keyrings[krName], func(o *Options) {
						o.Format = format
						o.InstructionFile = storage == metadata.InstructionFile
					})
					key := name + "/orig"
					e.put(c, key, randomBytes(1000), WithEncryptionContext(ec))
					body, meta, _ := e.rawGet(key)
					instBytes, _, _ := e.rawGet(key + ".instruction")
					var inst map[string]string
					if instBytes != nil {
						json.Unmarshal(instBytes, &inst)
					}
					var cases []tampering
					cases = append(cases, bodyTamperings()...)
					cases = append(cases,
						tampering{"truncate", nil}, tampering{"append", nil})
					for _, k := range slices.Sorted(maps.Keys(meta)) {
						if metadata.IsReservedKey(k) {
							for _, v := range flipValues(meta[k]) {
								cases = append(cases, tampering{"metadata " + k + "=" + v, nil})
							}
						}
					}
					for _, k := range slices.Sorted(maps.Keys(inst)) {
						for _, v := range flipValues(inst[k]) {
							cases = append(cases, tampering{"instruction " + k + "=" + v, nil})
						}
					}
					for i, tc := range cases {
						b, m, in := bytes.Clone(body), maps.Clone(meta), maps.Clone(inst)
						switch {
						case tc.apply != nil:
							if !tc.apply(b, m, in) {
								continue
							}
						case tc.name == "truncate":
							b = b[:len(b)-1]
						case tc.name == "append":
							b = append(b, 0)
						case strings.HasPrefix(tc.name, "metadata "):
							k, v, _ := strings.Cut(strings.TrimPrefix(tc.name, "metadata "), "=")
							m[k] = v
						default:
							k, v, _ := strings.Cut(strings.TrimPrefix(tc.name, "instruction "), "=")
							in[k] = v
						}
						tk := fmt.Sprintf("%s/t%d", name, i)
						e.rawPut(tk, b, m)
						if in != nil {
							ib, _ := json.Marshal(in)
							e.rawPut(tk+".instruction", ib, nil)
						}
						got, _, err := e.get(c, tk, WithEncryptionContext(ec))
						mustFail(t, tc.name, got, err, integrityOrNotForUs)
						// Streaming mode releases unauthenticated bytes, but
						// must still end in an error.
						_, _, err = e.get(c, tk, WithEncryptionContext(ec), WithUnauthenticatedStream())
						if err == nil {
							t.Fatalf("%s: streaming read succeeded", tc.name)
						}
					}
					// Removing any envelope key is an error too, but for the
					// plaintext length, which is optional (MinIO drops it;
					// real S3 keeps it).
					for k := range meta {
						if !metadata.IsReservedKey(k) || k == metadata.KeyPlaintextLength {
							continue
						}
						m := maps.Clone(meta)
						delete(m, k)
						tk := name + "/del-" + k
						e.rawPut(tk, body, m)
						if inst != nil {
							ib, _ := json.Marshal(inst)
							e.rawPut(tk+".instruction", ib, nil)
						}
						got, _, err := e.get(c, tk, WithEncryptionContext(ec))
						mustFail(t, "without "+k, got, err, nil)
					}
				})
			}
		}
	}
}
