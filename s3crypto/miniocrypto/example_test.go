package miniocrypto_test

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"net/url"
	"os"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/s3crypto/miniocrypto"
)

// ExampleNew swaps a *minio.Client for an encrypting one: the calls stay
// the same, and the objects are those the aws-sdk-go-v2 client and AWS's
// S3 Encryption Clients read.
func ExampleNew() {
	ctx := context.Background()
	bucket := exampleBucket()

	masterKey, err := keyring.ParseAESKey([]byte(os.Getenv("APP_MASTER_KEY")))
	if err != nil {
		log.Fatal(err)
	}
	kr, err := keyring.NewAES(masterKey)
	if err != nil {
		log.Fatal(err)
	}
	// Was: c := mc, from minio.New(endpoint, &minio.Options{...})
	c, err := miniocrypto.New(exampleMinioClient(), kr)
	if err != nil {
		log.Fatal(err)
	}

	body := "Hello from minio-go!"
	_, err = c.PutObject(ctx, bucket, "hello.txt", strings.NewReader(body), int64(len(body)),
		minio.PutObjectOptions{ContentType: "text/plain"})
	if err != nil {
		log.Fatal(err)
	}

	obj, err := c.GetObject(ctx, bucket, "hello.txt", minio.GetObjectOptions{})
	if err != nil {
		log.Fatal(err) // integrity errors come here, before any plaintext
	}
	defer obj.Close()
	plaintext, err := io.ReadAll(obj)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	// Random access on the authenticated object.
	word := make([]byte, 5)
	if _, err := obj.ReadAt(word, 11); err != nil {
		log.Fatal(err)
	}
	fmt.Printf("at 11: %s\n", word)

	st, err := c.StatObject(ctx, bucket, "hello.txt", minio.StatObjectOptions{})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("size:", st.Size, st.ContentType)
	// Output:
	// Hello from minio-go!
	// at 11: minio
	// size: 20 text/plain
}

// ExampleClient_WithCallOptions binds an encryption context to an
// object's data key: a read must present the same one. minio-go's option
// structs have no room for it, so it goes on a view of the client.
func ExampleClient_WithCallOptions() {
	bucket := exampleBucket()
	c := exampleAESClient()
	ctx := context.Background()

	acme := c.WithCallOptions(miniocrypto.CallOptions{
		EncryptionContext: map[string]string{"tenant": "acme"},
	})
	body := "invoice #42"
	_, err := acme.PutObject(ctx, bucket, "acme/invoice.txt", strings.NewReader(body), int64(len(body)), minio.PutObjectOptions{})
	if err != nil {
		log.Fatal(err)
	}

	obj, err := acme.GetObject(ctx, bucket, "acme/invoice.txt", minio.GetObjectOptions{})
	if err != nil {
		log.Fatal(err)
	}
	defer obj.Close()
	plaintext, err := io.ReadAll(obj)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Printf("%s\n", plaintext)

	// Without the context, or with another, the read is refused; the
	// object is sound, so this is no integrity error.
	_, err = c.GetObject(ctx, bucket, "acme/invoice.txt", minio.GetObjectOptions{})
	var mismatch *keyring.ContextMismatchError
	fmt.Println("refused:", errors.As(err, &mismatch), "integrity error:", miniocrypto.IsIntegrityError(err))
	// Output:
	// invoice #42
	// refused: true integrity error: false
}

// The examples' setup, which pkg.go.dev does not show: the S3 server that
// TestMain started (it exports S3C_TEST_ENDPOINT), one bucket, and a key.

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
	if err := newMinioClient(srv).MakeBucket(context.Background(), bucket, minio.MakeBucketOptions{Region: srv.Region}); err != nil {
		panic(err)
	}
	return srv, bucket
})

func newMinioClient(srv *miniotest.Server) *minio.Client {
	u, err := url.Parse(srv.Endpoint)
	if err != nil {
		panic(err)
	}
	mc, err := minio.New(u.Host, &minio.Options{
		Creds:  credentials.NewStaticV4(srv.AccessKey, srv.SecretKey, ""),
		Secure: u.Scheme == "https",
		Region: srv.Region,
	})
	if err != nil {
		panic(err)
	}
	return mc
}

// exampleMinioClient stands for minio.New(endpoint, &minio.Options{...}).
func exampleMinioClient() *minio.Client {
	srv, _ := exampleEnv()
	return newMinioClient(srv)
}

// exampleBucket is a bucket of the examples' own.
func exampleBucket() string {
	_, bucket := exampleEnv()
	return bucket
}

// exampleAESClient is an encrypting client with a fresh AES master key, as
// ExampleNew makes one.
func exampleAESClient() *miniocrypto.Client {
	key := make([]byte, 32)
	rand.Read(key)
	kr, err := keyring.NewAES(key)
	if err != nil {
		panic(err)
	}
	c, err := miniocrypto.New(exampleMinioClient(), kr)
	if err != nil {
		panic(err)
	}
	return c
}
