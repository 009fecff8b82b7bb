package materials_test

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"maps"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

// ExampleMulti rotates a master key: new objects are written under the new
// key while objects written under the old one stay readable, and each old
// object is re-encrypted in place, after which the old key can be retired.
func ExampleMulti() {
	ctx := context.Background()
	bucket := exampleBucket()
	s3Client := exampleS3Client() // s3.NewFromConfig(cfg)

	oldKey, err := materials.ParseAESKey([]byte(os.Getenv("APP_OLD_MASTER_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	newKey, err := materials.ParseAESKey([]byte(os.Getenv("APP_NEW_MASTER_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	oldKR, err := materials.NewAES(oldKey)
	if err != nil {
		log.Fatal(err)
	}
	newKR, err := materials.NewAES(newKey)
	if err != nil {
		log.Fatal(err)
	}

	// Before the rotation, objects were written under the old key.
	before, err := s3crypto.New(s3Client, oldKR)
	if err != nil {
		log.Fatal(err)
	}
	_, err = before.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("notes.txt"), Body: strings.NewReader("written before the rotation"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// From now on: write with the new key, read with either. Each object
	// names its key, so Multi tries the right keyring first.
	c, err := s3crypto.New(s3Client, materials.Multi(newKR, oldKR))
	if err != nil {
		log.Fatal(err)
	}

	// Re-encrypt in place: read the object and write it back, now under the
	// new key, unless someone replaced it meanwhile (If-Match).
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("notes.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:        aws.String(bucket),
		Key:           aws.String("notes.txt"),
		Body:          out.Body, // authenticated plaintext
		ContentLength: out.ContentLength,
		ContentType:   out.ContentType,
		Metadata:      out.Metadata, // the caller's own; the envelope is new
		IfMatch:       out.ETag,
	})
	if err != nil {
		log.Fatal(err)
	}

	// Once every object is re-encrypted, the new key alone reads them.
	after, err := s3crypto.New(s3Client, newKR)
	if err != nil {
		log.Fatal(err)
	}
	got, err := after.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("notes.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer got.Body.Close()
	plaintext, err := io.ReadAll(got.Body)
	if err != nil {
		log.Fatal(err)
	}
	info, _ := s3crypto.GetObjectInfo(got.ResultMetadata)
	fmt.Printf("%s\n", plaintext)
	fmt.Println("under the new key:", info.KeyRef == newKR.KeyRef())
	// Output:
	// written before the rotation
	// under the new key: true
}

// ExampleKeyring plugs in a keyring of one's own (see gcmKeyring below):
// a stand-in for a key manager AWS's clients do not know, such as Vault or
// an HSM.
func ExampleKeyring() {
	ctx := context.Background()
	bucket := exampleBucket()
	s3Client := exampleS3Client()

	masterKey := make([]byte, 32) // held by the key manager
	rand.Read(masterKey)
	kr, err := newGCMKeyring("example-key-1", masterKey)
	if err != nil {
		log.Fatal(err)
	}
	c, err := s3crypto.New(s3Client, kr)
	if err != nil {
		log.Fatal(err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("custom.txt"), Body: strings.NewReader("wrapped by my own keyring"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// A client with only an AES keyring does not handle the wrap: the object
	// is sound, it just needs another keyring.
	aesKey := make([]byte, 32)
	rand.Read(aesKey)
	aesKR, err := materials.NewAES(aesKey)
	if err != nil {
		log.Fatal(err)
	}
	aesOnly, err := s3crypto.New(s3Client, aesKR)
	if err != nil {
		log.Fatal(err)
	}
	_, err = aesOnly.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("custom.txt")})
	fmt.Println("AES keyring: unsupported wrap:", errors.Is(err, materials.ErrUnsupportedWrap),
		"integrity error:", s3crypto.IsIntegrityError(err))

	// Combined with Multi, each keyring reads its own objects.
	both, err := s3crypto.New(s3Client, materials.Multi(aesKR, kr))
	if err != nil {
		log.Fatal(err)
	}
	out, err := both.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("custom.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	plaintext, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("Multi: %s\n", plaintext)
	// Output:
	// AES keyring: unsupported wrap: true integrity error: false
	// Multi: wrapped by my own keyring
}

// gcmWrap is gcmKeyring's wrapping algorithm: a name of its own (see
// metadata.IsCustomWrap), recorded in each envelope and handed back on read.
const gcmWrap = "example.com/local-gcm-v1"

// gcmKeyring implements materials.Keyring: it seals data keys with AES-GCM
// under a named master key. A keyring for a real key manager would make
// these two calls to it instead.
type gcmKeyring struct {
	name string // recorded as the object's s3c:key-id; never key material
	aead cipher.AEAD
}

func newGCMKeyring(name string, key []byte) (*gcmKeyring, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &gcmKeyring{name: name, aead: aead}, nil
}

func (k *gcmKeyring) GenerateDataKey(_ context.Context, req *materials.EncryptionRequest) (*materials.DataKey, error) {
	if _, ok := req.Context[materials.DescriptionKeyID]; ok {
		return nil, &materials.KeyError{KeyRef: k.name, Err: errors.New("the encryption context may not set " + materials.DescriptionKeyID)}
	}
	dataKey := make([]byte, materials.DataKeySize)
	rand.Read(dataKey)
	nonce := make([]byte, k.aead.NonceSize())
	rand.Read(nonce)
	desc := maps.Clone(req.Context)
	if desc == nil {
		desc = map[string]string{}
	}
	desc[materials.DescriptionKeyID] = k.name
	return &materials.DataKey{
		Plaintext: dataKey,
		// Bound to the content algorithm, so it cannot be used for another.
		Encrypted:   k.aead.Seal(nonce, nonce, dataKey, []byte(req.ContentAlg)),
		WrapAlg:     gcmWrap,
		Description: desc,
		KeyRef:      k.name,
	}, nil
}

func (k *gcmKeyring) DecryptDataKey(_ context.Context, req *materials.DecryptionRequest) (*materials.DataKey, error) {
	fail := func(err error) (*materials.DataKey, error) {
		return nil, &materials.KeyError{KeyRef: k.name, Err: err}
	}
	n := k.aead.NonceSize()
	switch {
	case req.WrapAlg != gcmWrap: // not mine at all: Multi tries the next keyring
		return fail(fmt.Errorf("%w: %s", materials.ErrUnsupportedWrap, req.WrapAlg))
	case req.Description[materials.DescriptionKeyID] != k.name: // another key of this kind
		return fail(materials.ErrOtherKey)
	case len(req.EncryptedKey) < n:
		return fail(materials.ErrIncorrectKey)
	}
	dataKey, err := k.aead.Open(nil, req.EncryptedKey[:n], req.EncryptedKey[n:], []byte(req.ContentAlg))
	if err != nil || len(dataKey) != materials.DataKeySize {
		return fail(materials.ErrIncorrectKey) // altered, or for another content algorithm
	}
	return &materials.DataKey{Plaintext: dataKey, WrapAlg: req.WrapAlg, Description: maps.Clone(req.Description), KeyRef: k.name}, nil
}

// The examples' setup, which pkg.go.dev does not show: an S3 server (the
// one S3C_TEST_ENDPOINT names, or a MinIO started on first use and stopped
// by TestMain), one bucket, and the keys.

var exampleServer *miniotest.Server // started by exampleEnv, if at all

func TestMain(m *testing.M) {
	code := m.Run()
	if exampleServer != nil {
		exampleServer.Stop()
	}
	os.Exit(code)
}

func init() {
	// ExampleMulti reads its master keys from the environment, as a
	// program might; give it two.
	for _, name := range []string{"APP_OLD_MASTER_KEY", "APP_NEW_MASTER_KEY"} {
		key := make([]byte, 32)
		rand.Read(key)
		os.Setenv(name, base64.StdEncoding.EncodeToString(key))
	}
}

var exampleEnv = sync.OnceValues(func() (*miniotest.Server, string) {
	srv, err := miniotest.Start(log.Printf)
	if err != nil {
		panic(err)
	}
	exampleServer = srv
	b := make([]byte, 6)
	rand.Read(b)
	bucket := "s3c-example-" + hex.EncodeToString(b)
	if _, err := srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		srv.Stop() // a panic skips TestMain's Stop
		panic(err)
	}
	return srv, bucket
})

// exampleS3Client stands for s3.NewFromConfig(cfg).
func exampleS3Client() *s3.Client {
	srv, _ := exampleEnv()
	return srv.Client()
}

// exampleBucket is a bucket of the examples' own.
func exampleBucket() string {
	_, bucket := exampleEnv()
	return bucket
}
