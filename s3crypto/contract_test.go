package s3crypto

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"maps"
	"math/big"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// SealPart writes nothing past len(plaintext): consecutive parts may be
// slices of one buffer, sealed in order, and the object holds exactly
// that buffer's bytes.
func TestSealPartSlicesOfOneBuffer(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	key := "one-buffer"
	data := randomBytes(3*testPart + 40)
	buf := bytes.Clone(data)
	mp, err := c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: &key}, testPart)
	if err != nil {
		t.Fatal(err)
	}
	for n := int32(1); n <= 4; n++ {
		plain := buf[int(n-1)*testPart : min(int(n)*testPart, len(buf))]
		ct, err := mp.SealPart(n, plain, n == 4)
		if err != nil {
			t.Fatalf("sealing part %d: %v", n, err)
		}
		out, err := c.Client.UploadPart(bg, &s3.UploadPartInput{Bucket: &e.bucket, Key: &key, UploadId: aws.String(mp.UploadID()),
			PartNumber: aws.Int32(n), Body: bytes.NewReader(ct), ContentLength: aws.Int64(int64(len(ct)))})
		if err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
		if err := mp.AddCompletedPart(types.CompletedPart{PartNumber: aws.Int32(n), ETag: out.ETag}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := mp.Complete(bg); err != nil {
		t.Fatal(err)
	}
	got, _, err := e.get(c, key)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back: %v (equal %v)", err, bytes.Equal(got, data))
	}
	if !bytes.Equal(buf, data) {
		t.Fatal("SealPart changed the caller's buffer")
	}
}

// carelessKeyring wraps a keyring and ignores the caller's context: it
// passes on the stored one as if the caller had asked for it.
type carelessKeyring struct{ materials.Keyring }

func (k carelessKeyring) DecryptDataKey(ctx context.Context, req *materials.DecryptionRequest) (*materials.DataKey, error) {
	r := *req
	r.Context = maps.Clone(req.Description)
	for _, reserved := range []string{metadata.ContextContentAlg, metadata.ContextKMSKeyID, materials.DescriptionKeyID} {
		delete(r.Context, reserved)
	}
	return k.Keyring.DecryptDataKey(ctx, &r)
}

// The encryption context is compared by the client, whatever the keyring:
// one that ignores it cannot make a read with the wrong context succeed.
func TestContextCheckedForEveryKeyring(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, name := range []string{"kms", "aes", "rsa"} {
		kr := carelessKeyring{e.keyrings[name]}
		c := e.client(kr)
		ec := map[string]string{"tenant": "acme"}
		e.put(c, name, []byte("context bound"), WithEncryptionContext(ec))
		before := e.kms.Calls("Decrypt")
		for _, wrong := range []map[string]string{nil, {"tenant": "evil"}, {"tenant": "acme", "x": "y"}} {
			got, _, err := e.get(c, name, WithEncryptionContext(wrong))
			var cm *materials.ContextMismatchError
			mustFail(t, name+" with the wrong context", got, err, func(err error) bool { return errors.As(err, &cm) && !IsIntegrityError(err) })
			if !strings.Contains(err.Error(), "[tenant]") || strings.Contains(err.Error(), "acme") {
				t.Fatalf("%s: error should name the object's context keys and no values: %v", name, err)
			}
		}
		if e.kms.Calls("Decrypt") != before {
			t.Fatalf("%s: keyring called for a request whose context does not match", name)
		}
		if got, _, err := e.get(c, name, WithEncryptionContext(ec)); err != nil || string(got) != "context bound" {
			t.Fatalf("%s with the right context: %v", name, err)
		}
	}
	// The keys a raw keyring records itself are not the caller's to give.
	custom, _ := materials.NewAES(e.aesKey, func(o *materials.RawOptions) { o.Description = map[string]string{"generation": "2"} })
	c := e.client(custom)
	e.put(c, "custom", []byte("x"), WithEncryptionContext(map[string]string{"tenant": "acme"}))
	if _, _, err := e.get(c, "custom", WithEncryptionContext(map[string]string{"tenant": "acme"})); err != nil {
		t.Fatalf("custom description: %v", err)
	}
	if got, _, err := e.get(c, "custom"); err == nil || len(got) != 0 {
		t.Fatalf("custom description, no context: %v", err)
	}
}

// Multi(new public key, old key pair) reads an object written under the
// old key whose material description is empty, as Java writes them.
func TestMultiPublicThenOldPrivate(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.keyrings["rsa"]
	for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
		key := "java-style-" + format.String()
		e.put(e.client(old, func(o *Options) { o.Format = format }), key, []byte("old object"))
		body, meta, err := e.rawGet(key)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for k := range meta {
			if k == metadata.KeyMatDesc || k == metadata.KeyV3MatDesc {
				delete(meta, k)
				n++
			}
		}
		if n != 1 {
			t.Fatalf("%s: no material description in %v", format, meta)
		}
		if format == metadata.V2 {
			meta[metadata.KeyMatDesc] = "{}"
		}
		e.rawPut(key, body, meta)
		newPriv, _ := rsa.GenerateKey(rand.Reader, 2048)
		pub, err := materials.NewRSAPublic(&newPriv.PublicKey)
		if err != nil {
			t.Fatal(err)
		}
		c := e.client(materials.Multi(pub, old), func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt })
		got, _, err := e.get(c, key)
		if err != nil || string(got) != "old object" {
			t.Fatalf("%s: %v", format, err)
		}
	}
}

// Not having the right kind of key is no integrity failure, and the error
// says what the object needs.
func TestNoKeyIsNotIntegrity(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.put(e.client(e.keyrings["aes"]), "aes", []byte("x"))
	e.put(e.client(e.keyrings["kms"]), "kms", []byte("x"))
	aesRef := e.keyrings["aes"].(*materials.AESKeyring).KeyRef()
	for _, tc := range []struct {
		key  string
		kr   materials.Keyring
		want string
	}{
		{"aes", e.keyrings["rsa"], `needs a local AES key ("` + aesRef + `")`},
		{"aes", materials.Multi(e.keyrings["kms"], e.keyrings["rsa"]), `needs a local AES key ("` + aesRef + `")`},
		{"kms", e.keyrings["aes"], `needs an AWS KMS key ("alias/s3c-test")`},
	} {
		got, _, err := e.get(e.client(tc.kr), tc.key)
		var nk *materials.NoKeyError
		mustFail(t, tc.key, got, err, func(err error) bool {
			return errors.As(err, &nk) && errors.Is(err, materials.ErrUnsupportedWrap) && !IsIntegrityError(err)
		})
		if !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("%s: %v, want it to say %s", tc.key, err, tc.want)
		}
	}
	// Another key of the right kind, when the object names its own: not
	// the object's fault either (ErrOtherKey, still an ErrIncorrectKey).
	other, _ := materials.NewAES(randomBytes(32))
	got, _, err := e.get(e.client(other), "aes")
	mustFail(t, "other AES key", got, err, func(err error) bool {
		return errors.Is(err, materials.ErrOtherKey) && errors.Is(err, materials.ErrIncorrectKey) && !IsIntegrityError(err)
	})
}

// integrityOrNotForUs accepts the errors an altered envelope may give:
// an integrity error, or, when the alteration makes the object look as if
// it were for another context or another kind of key (which IsIntegrityError
// leaves to the caller), a context mismatch or no keyring for its wrap.
func integrityOrNotForUs(err error) bool {
	var cm *materials.ContextMismatchError
	return IsIntegrityError(err) || errors.As(err, &cm) || errors.Is(err, materials.ErrUnsupportedWrap)
}

// putV1RSA stores a V1 object as AWS's V1 clients write it with an RSA
// key: AES-CBC content, its key wrapped as edk.
func (e *env) putV1RSA(key string, dataKey, edk, plaintext []byte) {
	e.t.Helper()
	iv := randomBytes(16)
	pad := 16 - len(plaintext)%16
	body := append(bytes.Clone(plaintext), bytes.Repeat([]byte{byte(pad)}, pad)...)
	block, _ := aes.NewCipher(dataKey)
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(body, body)
	e.rawPut(key, body, map[string]string{
		metadata.KeyV1EncryptedKey:  base64.StdEncoding.EncodeToString(edk),
		metadata.KeyIV:              base64.StdEncoding.EncodeToString(iv),
		metadata.KeyMatDesc:         "{}",
		metadata.KeyPlaintextLength: strconv.Itoa(len(plaintext)),
	})
}

// A V1 object whose PKCS #1 v1.5 wrapped key has bad padding fails the
// same way as one whose wrapped key has good padding under another key:
// no Bleichenbacher oracle.
func TestRSAPKCS1FailuresAlike(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["rsa"], func(o *Options) {
		o.CommitmentPolicy = RequireEncryptAllowDecrypt
		o.AllowLegacyContent, o.AllowLegacyWrapping = true, true
	})
	plaintext := []byte("thirty-two bytes of V1 plaintext")
	dataKey := randomBytes(32)
	edk, _ := rsa.EncryptPKCS1v15(rand.Reader, &e.rsaKey.PublicKey, dataKey)
	e.putV1RSA("good", dataKey, edk, plaintext)
	if got, _, err := e.get(c, "good"); err != nil || !bytes.Equal(got, plaintext) {
		t.Fatalf("V1 RSA object: %v", err)
	}
	otherKey, _ := rsa.EncryptPKCS1v15(rand.Reader, &e.rsaKey.PublicKey, randomBytes(32))
	m := new(big.Int).SetBytes(append([]byte{0x00, 0x01}, bytes.Repeat([]byte{0xab}, e.rsaKey.Size()-2)...))
	badPadding := new(big.Int).Exp(m, big.NewInt(int64(e.rsaKey.E)), e.rsaKey.N).FillBytes(make([]byte, e.rsaKey.Size()))
	e.putV1RSA("other-key", dataKey, otherKey, plaintext)
	e.putV1RSA("bad-padding", dataKey, badPadding, plaintext)
	var msgs []string
	for _, key := range []string{"other-key", "bad-padding"} {
		got, _, err := e.get(c, key)
		if err == nil {
			// About 1 in 256 for each cause: the random key decrypts
			// to valid CBC padding, and legacy AES-CBC has no integrity
			// to catch it (why reading it is opt-in). Never the
			// plaintext, and alike for both causes.
			if bytes.Equal(got, plaintext) {
				t.Fatalf("%s: the plaintext came out of a key that is not the object's", key)
			}
			continue
		}
		mustFail(t, key, got, err, func(err error) bool {
			return errors.Is(err, ErrBadPadding) && !errors.Is(err, materials.ErrIncorrectKey) && IsIntegrityError(err)
		})
		// The message differs only when the random key happens to give
		// valid padding (about 1 in 256), alike for both.
		msg := strings.ReplaceAll(err.Error(), key, "KEY")
		if !strings.Contains(msg, "padding leaves") {
			msgs = append(msgs, msg)
		}
	}
	if len(msgs) == 2 && msgs[0] != msgs[1] {
		t.Fatalf("the two failures differ:\n%s\n%s", msgs[0], msgs[1])
	}
}

// Context values that look like RFC 2047 encoded words, or hold
// non-ASCII text, round-trip through the server; so does a description
// that another writer stored with raw UTF-8, which MinIO returns encoded.
func TestContextValuesRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ec := map[string]string{"word": "=?utf-8?q?x?=", "words": "=?UTF-8?B?w6k=?= =?utf-8?q?y?=", "text": "é 日本 😀", "=?utf-8?q?k?=": "v"}
	for _, name := range []string{"kms", "aes"} {
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			c := e.client(e.keyrings[name], func(o *Options) { o.Format = format })
			key := name + "/" + format.String()
			e.put(c, key, []byte("x"), WithEncryptionContext(ec))
			if got, _, err := e.get(c, key, WithEncryptionContext(ec)); err != nil || string(got) != "x" {
				t.Fatalf("%s: %v", key, err)
			}
		}
	}
	// A V2 material description with raw UTF-8, as Java writes it.
	c := e.client(e.keyrings["aes"], func(o *Options) { o.Format = metadata.V2 })
	e.put(c, "raw-utf8", []byte("x"), WithEncryptionContext(map[string]string{"text": "é 日本"}))
	body, meta, err := e.rawGet("raw-utf8")
	if err != nil {
		t.Fatal(err)
	}
	meta[metadata.KeyMatDesc] = `{"s3c:key-id":"` + materials.AESKeyID(e.aesKey) + `","text":"é 日本"}`
	e.rawPut("raw-utf8", body, meta)
	if _, stored, _ := e.rawGet("raw-utf8"); !strings.HasPrefix(stored[metadata.KeyMatDesc], "=?") {
		t.Fatalf("expected the server to return the description RFC 2047 encoded: %q", stored[metadata.KeyMatDesc])
	}
	if got, _, err := e.get(c, "raw-utf8", WithEncryptionContext(map[string]string{"text": "é 日本"})); err != nil || string(got) != "x" {
		t.Fatalf("raw UTF-8 description: %v", err)
	}
}
