package s3crypto_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

// ExampleNew swaps an *s3.Client for an encrypting one: the calls stay the
// same, the objects are stored encrypted under a fresh data key each,
// wrapped with an AES master key.
func ExampleNew() {
	ctx := context.Background()
	bucket := exampleBucket()

	// The master key, as a key file or secret store holds it: 32 bytes as
	// base64 or hex (see materials.ParseAESKey).
	masterKey, err := materials.ParseAESKey([]byte(os.Getenv("APP_MASTER_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	kr, err := materials.NewAES(masterKey)
	if err != nil {
		log.Fatal(err)
	}
	// Was: c := s3.NewFromConfig(cfg)
	c, err := s3crypto.New(exampleS3Client(), kr)
	if err != nil {
		log.Fatal(err)
	}

	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("hello.txt"),
		Body:   strings.NewReader("Hello, encrypted world!"),
	})
	if err != nil {
		log.Fatal(err)
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("hello.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	plaintext, err := io.ReadAll(out.Body) // authenticated before GetObject returned
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	// HeadObject reports the plaintext size; GetObjectInfo how it is stored.
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("hello.txt")})
	if err != nil {
		log.Fatal(err)
	}
	info, _ := s3crypto.GetObjectInfo(head.ResultMetadata)
	fmt.Println("plaintext bytes:", aws.ToInt64(head.ContentLength))
	fmt.Println("stored bytes:", info.StoredSize)
	// Output:
	// Hello, encrypted world!
	// plaintext bytes: 23
	// stored bytes: 39
}

// ExampleNew_rsa writes with an RSA public key alone, so the writer cannot
// read back what it stored; only the holder of the private key can.
func ExampleNew_rsa() {
	ctx := context.Background()
	bucket := exampleBucket()

	// Usually loaded from PEM files with materials.ParseRSAKey.
	priv := exampleRSAKey()

	// The writer holds only the public key.
	pubKR, err := materials.NewRSAPublic(&priv.PublicKey)
	if err != nil {
		log.Fatal(err)
	}
	writer, err := s3crypto.New(exampleS3Client(), pubKR)
	if err != nil {
		log.Fatal(err)
	}
	_, err = writer.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("drop-box/report.txt"),
		Body:   strings.NewReader("for the private key's eyes only"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// The writer cannot read it back.
	_, err = writer.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("drop-box/report.txt")})
	fmt.Println("writer can read:", err == nil, "- encrypt-only:", errors.Is(err, materials.ErrEncryptOnly))

	// The reader holds the private key.
	privKR, err := materials.NewRSA(priv)
	if err != nil {
		log.Fatal(err)
	}
	reader, err := s3crypto.New(exampleS3Client(), privKR)
	if err != nil {
		log.Fatal(err)
	}
	out, err := reader.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("drop-box/report.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	plaintext, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("reader: %s\n", plaintext)
	// Output:
	// writer can read: false - encrypt-only: true
	// reader: for the private key's eyes only
}

// ExampleWithEncryptionContext uses an AWS KMS key, and binds an encryption
// context to the object's data key: a read must present the same context.
func ExampleWithEncryptionContext() {
	ctx := context.Background()
	bucket := exampleBucket()

	// Was: kms.NewFromConfig(cfg) and s3.NewFromConfig(cfg).
	kr := materials.NewKMS(exampleKMSClient(), "alias/app")
	c, err := s3crypto.New(exampleS3Client(), kr)
	if err != nil {
		log.Fatal(err)
	}

	ec := map[string]string{"tenant": "acme"}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("acme/invoice.txt"),
		Body:   strings.NewReader("invoice #42"),
	}, s3crypto.WithEncryptionContext(ec))
	if err != nil {
		log.Fatal(err)
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/invoice.txt")},
		s3crypto.WithEncryptionContext(ec))
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	plaintext, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	// Another tenant's context is refused before KMS is asked; the object
	// is sound, so this is no integrity error.
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("acme/invoice.txt")},
		s3crypto.WithEncryptionContext(map[string]string{"tenant": "globex"}))
	var mismatch *materials.ContextMismatchError
	fmt.Println("other context refused:", errors.As(err, &mismatch))
	fmt.Println("integrity error:", s3crypto.IsIntegrityError(err))
	// Output:
	// invoice #42
	// other context refused: true
	// integrity error: false
}

// ExampleUploader stores a stream whose length is not known in advance, here
// a CSV export written by another goroutine, as one multipart upload of
// encrypted parts, in constant memory.
func ExampleUploader() {
	ctx := context.Background()
	bucket := exampleBucket()
	c := exampleAESClient()

	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriter(pw)
		for i := range 1_000_000 {
			fmt.Fprintf(w, "row,%07d\n", i)
		}
		pw.CloseWithError(w.Flush())
	}()

	u := s3crypto.NewUploader(c, func(u *s3crypto.Uploader) {
		u.PartSize = 5 << 20 // S3's smallest part size
	})
	res, err := u.Upload(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("exports/rows.csv"),
		Body:   pr, // no ContentLength: read until EOF
	})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("bytes:", res.Size, "parts:", res.Parts)

	// It reads back like any other object.
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("exports/rows.csv")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	lines := 0
	for sc := bufio.NewScanner(out.Body); sc.Scan(); {
		lines++
	}
	fmt.Println("lines:", lines)
	// Output:
	// bytes: 12000000 parts: 3
	// lines: 1000000
}

// ExampleDownloader fetches an object with concurrent ranged GETs. The
// ciphertext goes to a scratch file, the object's tag is checked, and only
// then is plaintext returned: nothing unauthenticated is ever released.
func ExampleDownloader() {
	ctx := context.Background()
	bucket := exampleBucket()
	c := exampleAESClient()

	data := bytes.Repeat([]byte("0123456789abcdef"), 3<<20/16) // 3 MiB
	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("big.bin"), Body: bytes.NewReader(data),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Scratch space for the ciphertext; it never holds plaintext.
	scratch, err := os.CreateTemp("", "download-*")
	if err != nil {
		log.Fatal(err)
	}
	defer os.Remove(scratch.Name())
	defer scratch.Close()

	d := s3crypto.NewDownloader(c, func(d *s3crypto.Downloader) {
		d.PartSize = 1 << 20 // 1 MiB ranges, 4 at a time
	})
	plaintext, res, err := d.Download(ctx, scratch, &s3.GetObjectInput{
		Bucket: aws.String(bucket), Key: aws.String("big.bin"),
	})
	if err != nil {
		log.Fatal(err)
	}
	h := sha256.New()
	n, err := io.Copy(h, plaintext)
	if err != nil {
		log.Fatal(err)
	}
	want := sha256.Sum256(data)
	fmt.Println("bytes:", n, "of", res.Size)
	fmt.Println("same as uploaded:", bytes.Equal(h.Sum(nil), want[:]))
	// Output:
	// bytes: 3145728 of 3145728
	// same as uploaded: true
}

// ExampleWithUnauthenticatedRange reads a byte range of an object. AES-GCM
// cannot authenticate a part of an object, so a range must be asked for
// explicitly, knowing that its bytes are not verified.
func ExampleWithUnauthenticatedRange() {
	ctx := context.Background()
	bucket := exampleBucket()
	c := exampleAESClient()

	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("alphabet.txt"),
		Body:   strings.NewReader("abcdefghijklmnopqrstuvwxyz"),
	})
	if err != nil {
		log.Fatal(err)
	}

	in := &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("alphabet.txt"), Range: aws.String("bytes=10-19")}

	// Without the option a range is refused.
	_, err = c.GetObject(ctx, in)
	fmt.Println("refused:", errors.Is(err, s3crypto.ErrRangeNotAllowed))

	out, err := c.GetObject(ctx, in, s3crypto.WithUnauthenticatedRange())
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	part, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("bytes 10-19: %s\n", part)
	// Output:
	// refused: true
	// bytes 10-19: klmnopqrst
}

// ExampleIsIntegrityError tells an object that was altered in storage from
// one that this client merely has no key for.
func ExampleIsIntegrityError() {
	ctx := context.Background()
	bucket := exampleBucket()
	c := exampleAESClient()

	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("ledger.txt"),
		Body:   strings.NewReader("balance: 100"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// Someone with write access to the bucket flips a bit of the stored
	// ciphertext, keeping the envelope in the metadata.
	exampleTamper(ctx, c.Client, bucket, "ledger.txt")

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("ledger.txt")})
	fmt.Println("tampered: integrity error:", s3crypto.IsIntegrityError(err),
		"authentication:", errors.Is(err, s3crypto.ErrAuthentication))

	// A client holding another master key cannot read a sound object either,
	// but that is a configuration problem, not an integrity one.
	_, err = c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("ledger-2.txt"),
		Body:   strings.NewReader("balance: 200"),
	})
	if err != nil {
		log.Fatal(err)
	}
	otherKey := make([]byte, 32)
	rand.Read(otherKey)
	otherKR, err := materials.NewAES(otherKey)
	if err != nil {
		log.Fatal(err)
	}
	other, err := s3crypto.New(c.Client, otherKR)
	if err != nil {
		log.Fatal(err)
	}
	_, err = other.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("ledger-2.txt")})
	var noKey *materials.NoKeyError
	fmt.Println("other key: integrity error:", s3crypto.IsIntegrityError(err),
		"no key:", errors.As(err, &noKey))
	// Output:
	// tampered: integrity error: true authentication: true
	// other key: integrity error: false no key: true
}

// ExampleWithInstructionFile keeps an object's envelope in a separate
// object, <key>.instruction, instead of its metadata; the client reads and
// deletes the two together.
func ExampleWithInstructionFile() {
	ctx := context.Background()
	bucket := exampleBucket()
	c := exampleAESClient()

	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(bucket),
		Key:    aws.String("photo.jpg"),
		Body:   strings.NewReader("not really a photo"),
	}, s3crypto.WithInstructionFile())
	if err != nil {
		log.Fatal(err)
	}

	// What the bucket holds, seen through the plain client.
	plain := c.Client
	exists := func(key string) bool {
		_, err := plain.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
		return err == nil
	}
	fmt.Println("instruction file stored:", exists("photo.jpg.instruction"))

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("photo.jpg")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	plaintext, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	_, err = c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("photo.jpg")})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("after delete:", exists("photo.jpg"), exists("photo.jpg.instruction"))
	// Output:
	// instruction file stored: true
	// not really a photo
	// after delete: false false
}

// ExampleClient_CopyObject copies an encrypted object server-side, and
// replaces an object's metadata in place: the envelope is kept either way,
// so both stay decryptable.
func ExampleClient_CopyObject() {
	ctx := context.Background()
	bucket := exampleBucket()
	c := exampleAESClient()

	_, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket:   aws.String(bucket),
		Key:      aws.String("draft.txt"),
		Body:     strings.NewReader("final text"),
		Metadata: map[string]string{"status": "draft"},
	})
	if err != nil {
		log.Fatal(err)
	}

	// A copy under another key.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:     aws.String(bucket),
		Key:        aws.String("published.txt"),
		CopySource: aws.String(bucket + "/draft.txt"),
	})
	if err != nil {
		log.Fatal(err)
	}

	// New metadata in place.
	_, err = c.CopyObject(ctx, &s3.CopyObjectInput{
		Bucket:            aws.String(bucket),
		Key:               aws.String("published.txt"),
		CopySource:        aws.String(bucket + "/published.txt"),
		MetadataDirective: types.MetadataDirectiveReplace,
		Metadata:          map[string]string{"status": "published"},
	})
	if err != nil {
		log.Fatal(err)
	}

	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("published.txt")})
	if err != nil {
		log.Fatal(err)
	}
	defer out.Body.Close()
	plaintext, err := io.ReadAll(out.Body)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s (%s)\n", plaintext, out.Metadata["status"])
	// Output:
	// final text (published)
}

// The examples' setup, which pkg.go.dev does not show: the S3 server that
// TestMain started (it exports S3C_TEST_ENDPOINT), one bucket, a KMS test
// server and the keys.

func init() {
	// ExampleNew reads its master key from the environment, as a program
	// might; give it one.
	key := make([]byte, 32)
	rand.Read(key)
	os.Setenv("APP_MASTER_KEY", base64.StdEncoding.EncodeToString(key))
}

var exampleEnv = sync.OnceValues(func() (*miniotest.Server, string) {
	if os.Getenv("S3C_TEST_ENDPOINT") == "" {
		// miniotest.Start would start a server that nothing stops.
		panic("examples: S3C_TEST_ENDPOINT is not set; TestMain sets it")
	}
	srv, err := miniotest.Start(nil)
	if err != nil {
		panic(err)
	}
	b := make([]byte, 6)
	rand.Read(b)
	bucket := "s3c-example-" + hex.EncodeToString(b)
	if _, err := srv.Client().CreateBucket(context.Background(), &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
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

// exampleAESClient is an encrypting client with a fresh AES master key,
// as ExampleNew makes one.
func exampleAESClient() *s3crypto.Client {
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := materials.NewAES(key)
	if err != nil {
		panic(err)
	}
	c, err := s3crypto.New(exampleS3Client(), kr)
	if err != nil {
		panic(err)
	}
	return c
}

var exampleKMS = sync.OnceValue(func() *kmstest.Server {
	srv, err := kmstest.Start(kmstest.Options{AccessKeyID: "AKIDEXAMPLE", SecretAccessKey: "kms-secret"})
	if err != nil {
		panic(err)
	}
	srv.CreateKey("alias/app")
	return srv
})

// exampleKMSClient stands for kms.NewFromConfig(cfg).
func exampleKMSClient() *kms.Client { return exampleKMS().Client(context.Background()) }

// exampleRSAKey is an RSA key pair, the same for every example.
var exampleRSAKey = sync.OnceValue(func() *rsa.PrivateKey {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return priv
})

// exampleTamper flips one bit of the stored ciphertext of key through the
// plain client, keeping its metadata (the envelope).
func exampleTamper(ctx context.Context, raw *s3.Client, bucket, key string) {
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		panic(err)
	}
	body, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		panic(err)
	}
	body[0] ^= 1
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: out.Metadata}); err != nil {
		panic(err)
	}
}
