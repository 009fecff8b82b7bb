package miniocrypto

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	awsv1 "github.com/aws/aws-sdk-go/aws"
	credsv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	kmsv1 "github.com/aws/aws-sdk-go/service/kms"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"
	s3cryptov1 "github.com/aws/aws-sdk-go/service/s3/s3crypto"
	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// AWS's own Go client, aws-sdk-go v1.55.8 service/s3/s3crypto (as in
// s3crypto's interop tests): its V2 clients, kms+context and AES-GCM,
// against the same MinIO and KMS server. It reads only format V2.
type v1Client struct {
	sess *session.Session
	kms  *kmsv1.KMS
}

func newV1Client() *v1Client {
	// Its own HTTP client: aws-sdk-go v1 otherwise shares
	// http.DefaultClient, and may change it (AWS_CA_BUNDLE).
	sess := session.Must(session.NewSession(&awsv1.Config{
		HTTPClient:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		Region:           awsv1.String(server.Region),
		Endpoint:         awsv1.String(server.Endpoint),
		S3ForcePathStyle: awsv1.Bool(true),
		Credentials:      credsv1.NewStaticCredentials(server.AccessKey, server.SecretKey, ""),
	}))
	k := kmsv1.New(sess, &awsv1.Config{
		Endpoint:    awsv1.String(kmsSrv.URL()),
		Credentials: credsv1.NewStaticCredentials("AKIDMINIO", "kms-secret", ""),
	})
	return &v1Client{sess: sess, kms: k}
}

func (w *v1Client) get(t *testing.T, bucket, key string) ([]byte, error) {
	cr := s3cryptov1.NewCryptoRegistry()
	if err := s3cryptov1.RegisterKMSContextWrapWithAnyCMK(cr, w.kms); err != nil {
		t.Fatal(err)
	}
	if err := s3cryptov1.RegisterAESGCMContentCipher(cr); err != nil {
		t.Fatal(err)
	}
	c, err := s3cryptov1.NewDecryptionClientV2(w.sess, cr)
	if err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(&s3v1.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

func (w *v1Client) put(t *testing.T, bucket, key string, data []byte, matdesc map[string]*string, instruction bool) {
	gen := s3cryptov1.NewKMSContextKeyGenerator(w.kms, "alias/minio-test", matdesc)
	c, err := s3cryptov1.NewEncryptionClientV2(w.sess, s3cryptov1.AESGCMContentCipherBuilderV2(gen), func(o *s3cryptov1.EncryptionClientOptions) {
		if instruction {
			o.SaveStrategy = s3cryptov1.S3SaveStrategy{Client: s3v1.New(w.sess)}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.PutObject(&s3v1.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		t.Fatalf("%s: aws-sdk-go v1 PutObject: %v", key, err)
	}
}

// The minio-go front writes V2 with KMS, AWS's Go client reads it: single
// PUTs and minio-go multipart uploads, known and unknown length, envelope
// in metadata and in an instruction file, with and without an encryption
// context.
func TestInteropAWSv1ReadsMinioWrites(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	w := newV1Client()
	kr := keyrings(t)["kms"]
	for _, inst := range []bool{false, true} {
		c := newClient(t, kr, func(o *s3crypto.Options) { o.Format = metadata.V2; o.InstructionFile = inst })
		for i, n := range []int{0, 1, 17, 1<<20 + 3, 17*mib + 5} {
			for _, known := range []bool{true, false} {
				if n == 17*mib+5 && inst && !known {
					continue // the multipart cases once each way are enough
				}
				key := fmt.Sprintf("minio/%v/%d/%v", inst, n, known)
				data := randomBytes(n)
				ctx := bg
				if i%2 == 1 {
					ctx = WithEncryptionContext(bg, map[string]string{"department": "finance"})
				}
				size := int64(n)
				var r io.Reader = bytes.NewReader(data)
				if !known {
					size, r = -1, io.MultiReader(r)
				}
				if _, err := c.PutObject(ctx, bucket, key, r, size, minio.PutObjectOptions{}); err != nil {
					t.Fatal(err)
				}
				got, err := w.get(t, bucket, key)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: aws-sdk-go v1 reads: %v", key, err)
				}
			}
		}
	}
}

// And the other way: AWS's Go client writes, the minio-go front reads.
func TestInteropMinioReadsAWSv1Writes(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	w := newV1Client()
	c := newClient(t, keyrings(t)["kms"], func(o *s3crypto.Options) { o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt })
	for _, inst := range []bool{false, true} {
		for i, n := range []int{0, 17, 1<<20 + 3} {
			key := fmt.Sprintf("v1/%v/%d", inst, n)
			data := randomBytes(n)
			ctx := bg
			var matdesc map[string]*string
			if i%2 == 1 {
				matdesc = map[string]*string{"department": awsv1.String("finance")}
				ctx = WithEncryptionContext(bg, map[string]string{"department": "finance"})
			}
			w.put(t, bucket, key, data, matdesc, inst)
			got, obj, err := readAll(t, c, ctx, bucket, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: minio front reads: %v", key, err)
			}
			if st, err := obj.Stat(); err != nil || st.Size != int64(n) {
				t.Fatalf("%s: Stat %d, %v", key, st.Size, err)
			}
			obj.Close()
			if st, err := c.StatObject(bg, bucket, key, minio.StatObjectOptions{}); err != nil || st.Size != int64(n) {
				t.Fatalf("%s: StatObject %d, %v", key, st.Size, err)
			}
		}
	}
}
