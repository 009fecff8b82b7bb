package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"github.com/s3c/s3c/internal/core"
	"maps"
	"testing"

	"github.com/s3c/s3c/internal/vectors"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

func loadVectors(t testing.TB) []*vectors.Vector {
	t.Helper()
	vs, err := vectors.Load()
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

// storeVector puts a captured object on the server exactly as AWS's
// writer left it.
func (e *env) storeVector(v *vectors.Vector) {
	e.rawPut(v.Name, v.Body, v.Metadata)
	if v.Instruction != nil {
		// AWS SDK for Go v1's S3SaveStrategy, the only writer of these,
		// sets no instruction-file marker.
		e.rawPut(v.Name+".instruction", v.Instruction, nil)
	}
}

// vectorKMS loads the vectors' KMS keys and encrypted data keys into the
// test KMS and returns a keyring for both of their aliases.
func (e *env) vectorKMS(vs []*vectors.Vector) materials.Keyring {
	seen := map[string]bool{}
	var krs []materials.Keyring
	for _, v := range vs {
		if !seen[v.KMSKeyID] {
			seen[v.KMSKeyID] = true
			e.kms.ImportKey(v.KMSKeyID, v.KeyMaterial(), v.KMSKeyAlias)
			krs = append(krs, materials.NewKMS(e.kms.Client(bg), v.KMSKeyAlias))
		}
		e.kms.RegisterCiphertext(v.EncryptedKey(), v.KMSKeyID, v.KMSContext, v.DataKey())
	}
	return materials.Multi(krs[0], krs[1:]...)
}

// Objects written by AWS's S3EC Go v4 and aws-sdk-go v1 s3crypto, read
// back from the server through the real KMS client.
func TestCapturedVectors(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vs := loadVectors(t)
	kr := e.vectorKMS(vs)
	strict := e.client(kr)
	lenient := e.client(kr, func(o *Options) {
		o.CommitmentPolicy = RequireEncryptAllowDecrypt
		o.AllowLegacyContent, o.AllowLegacyWrapping = true, true
	})
	for _, v := range vs {
		e.storeVector(v)
	}
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			call := WithEncryptionContext(v.CallerContext)
			got, out, err := e.get(lenient, v.Name, call)
			if !v.OK() {
				mustFail(t, v.Why, got, err, IsIntegrityError)
				return
			}
			if err != nil {
				t.Fatalf("GetObject: %v", err)
			}
			if err := v.CheckPlaintext(got); err != nil {
				t.Fatal(err)
			}
			info, _ := GetObjectInfo(out.ResultMetadata)
			if info.KeyRef != v.KMSKeyARN || !maps.Equal(info.Envelope.Description, v.KMSContext) {
				t.Fatalf("info: key %s, context %v", info.KeyRef, info.Envelope.Description)
			}
			// What the default policy makes of it.
			got, _, err = e.get(strict, v.Name, call)
			var pe *PolicyError
			switch {
			case v.Format == "V3":
				if err != nil || v.CheckPlaintext(got) != nil {
					t.Fatalf("default policy refuses a V3 object: %v", err)
				}
			case !errors.As(err, &pe) || len(got) != 0:
				t.Fatalf("default policy on a %s object: %v, want a PolicyError", v.Format, err)
			}
		})
	}
}

// The legacy CBC vectors are refused unless legacy reading is on, and
// the refusal comes before any KMS call.
func TestLegacyNeedsOptIn(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	vs := loadVectors(t)
	kr := e.vectorKMS(vs)
	for _, v := range vs {
		if !v.Legacy() || !v.OK() {
			continue
		}
		e.storeVector(v)
		for _, o := range []func(*Options){
			func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt },
			func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt; o.AllowLegacyContent = true },
			func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt; o.AllowLegacyWrapping = true },
		} {
			before := e.kms.Calls("Decrypt")
			got, _, err := e.get(e.client(kr, o), v.Name)
			var pe *PolicyError
			mustFail(t, v.Name, got, err, func(err error) bool { return errors.As(err, &pe) })
			if e.kms.Calls("Decrypt") != before {
				t.Fatalf("%s: KMS called before the legacy check", v.Name)
			}
		}
	}
}

// vectorKeyring stands in for KMS: it returns a vector's data key only
// for exactly its encrypted key and encryption context.
type vectorKeyring struct{ vs []*vectors.Vector }

func (k vectorKeyring) GenerateDataKey(context.Context, *materials.EncryptionRequest) (*materials.DataKey, error) {
	return nil, materials.ErrDecryptOnly
}

func (k vectorKeyring) DecryptDataKey(_ context.Context, req *materials.DecryptionRequest) (*materials.DataKey, error) {
	for _, v := range k.vs {
		if bytes.Equal(req.EncryptedKey, v.EncryptedKey()) && maps.Equal(req.Description, v.KMSContext) {
			return &materials.DataKey{Plaintext: v.DataKey(), KeyRef: v.KMSKeyARN}, nil
		}
	}
	return nil, materials.ErrIncorrectKey
}

// decryptVector runs the whole read path on a vector without a server.
func decryptVector(vs []*vectors.Vector, meta map[string]string, inst, body []byte, ec map[string]string) ([]byte, error) {
	env, err := metadata.Decode(meta)
	if errors.Is(err, metadata.ErrNoEnvelope) && inst != nil {
		env, err = metadata.DecodeInstructionFile(meta, inst)
	}
	if err != nil {
		return nil, err
	}
	opts := &Options{Keyring: vectorKeyring{vs}, CommitmentPolicy: RequireEncryptAllowDecrypt, AllowLegacyContent: true, AllowLegacyWrapping: true, MemoryBufferSize: 1 << 10}
	dec, err := core.NewDecryption(bg, opts, env, ec, true)
	if err != nil {
		return nil, err
	}
	r, _, err := dec.OpenVerified(nopCloser{bytes.NewReader(body)}, int64(len(body)))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	var out bytes.Buffer
	_, err = out.ReadFrom(r)
	return out.Bytes(), err
}

type nopCloser struct{ *bytes.Reader }

func (nopCloser) Close() error { return nil }

// FuzzDecrypt feeds arbitrary bodies and envelopes to the read path. The
// invariant: whatever decrypts is exactly a vector's plaintext, from its
// unaltered body (every tamper is detected), and nothing panics.
func FuzzDecrypt(f *testing.F) {
	vs := loadVectors(f)
	for i, v := range vs {
		f.Add(uint8(i), v.Body, []byte(metadata.EncodeDescription(v.Metadata)))
	}
	f.Fuzz(func(t *testing.T, idx uint8, body, metaJSON []byte) {
		v := vs[int(idx)%len(vs)]
		meta, err := metadata.DecodeDescription(string(metaJSON))
		if err != nil {
			return
		}
		got, err := decryptVector(vs, meta, v.Instruction, body, v.CallerContext)
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("%d bytes released with error %v", len(got), err)
			}
			if v.OK() && bytes.Equal(body, v.Body) && maps.Equal(meta, v.Metadata) {
				t.Fatalf("untouched ok vector %s: %v", v.Name, err)
			}
			return
		}
		if v.Legacy() {
			return // CBC has no integrity protection: nothing to assert
		}
		if !bytes.Equal(body, v.Body) || v.CheckPlaintext(got) != nil {
			// Another vector's envelope may have been fed in whole.
			for _, w := range vs {
				if bytes.Equal(body, w.Body) && w.CheckPlaintext(got) == nil {
					return
				}
			}
			t.Fatalf("altered body of %d bytes decrypted to %d bytes", len(body), len(got))
		}
	})
}
