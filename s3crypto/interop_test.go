package s3crypto

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	awsv1 "github.com/aws/aws-sdk-go/aws"
	credsv1 "github.com/aws/aws-sdk-go/aws/credentials"
	"github.com/aws/aws-sdk-go/aws/session"
	kmsv1 "github.com/aws/aws-sdk-go/service/kms"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"
	"github.com/aws/aws-sdk-go/service/s3/s3crypto"

	"github.com/s3c/s3c/metadata"
)

// AWS's own Go client: aws-sdk-go v1.55.8 service/s3/s3crypto, the V2
// encryption and decryption clients with kms+context and AES-GCM, talking
// to the same MinIO and KMS server.
type v1World struct {
	sess *session.Session
	kms  *kmsv1.KMS
}

func newV1World(e *env) *v1World {
	// Its own HTTP client: with AWS_CA_BUNDLE set, aws-sdk-go v1 installs
	// the bundle into the session's client, which is otherwise the shared
	// http.DefaultClient (a data race between parallel tests).
	sess := session.Must(session.NewSession(&awsv1.Config{
		HTTPClient:       &http.Client{Transport: http.DefaultTransport.(*http.Transport).Clone()},
		Region:           awsv1.String(minio.Region),
		Endpoint:         awsv1.String(minio.Endpoint),
		S3ForcePathStyle: awsv1.Bool(true),
		Credentials:      credsv1.NewStaticCredentials(minio.AccessKey, minio.SecretKey, ""),
	}))
	k := kmsv1.New(sess, &awsv1.Config{
		Endpoint:    awsv1.String(e.kms.URL()),
		Credentials: credsv1.NewStaticCredentials("AKIDS3C", "kms-secret", ""),
	})
	return &v1World{sess: sess, kms: k}
}

func (w *v1World) encrypter(t *testing.T, matdesc map[string]*string, instruction bool) *s3crypto.EncryptionClientV2 {
	gen := s3crypto.NewKMSContextKeyGenerator(w.kms, "alias/s3c-test", matdesc)
	c, err := s3crypto.NewEncryptionClientV2(w.sess, s3crypto.AESGCMContentCipherBuilderV2(gen), func(o *s3crypto.EncryptionClientOptions) {
		if instruction {
			o.SaveStrategy = s3crypto.S3SaveStrategy{Client: s3v1.New(w.sess)}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *v1World) decrypter(t *testing.T) *s3crypto.DecryptionClientV2 {
	cr := s3crypto.NewCryptoRegistry()
	if err := s3crypto.RegisterKMSContextWrapWithAnyCMK(cr, w.kms); err != nil {
		t.Fatal(err)
	}
	if err := s3crypto.RegisterAESGCMContentCipher(cr); err != nil {
		t.Fatal(err)
	}
	c, err := s3crypto.NewDecryptionClientV2(w.sess, cr)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (w *v1World) get(t *testing.T, bucket, key string) ([]byte, error) {
	out, err := w.decrypter(t).GetObject(&s3v1.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// It writes, we read: metadata and instruction-file envelopes, with and
// without an encryption context.
func TestInteropV1WritesWeRead(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newV1World(e)
	us := e.client(e.keyrings["kms"], func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt })
	for _, instruction := range []bool{false, true} {
		for _, withEC := range []bool{false, true} {
			var matdesc map[string]*string
			var opts []func(*s3.Options)
			if withEC {
				matdesc = map[string]*string{"department": awsv1.String("finance")}
				opts = append(opts, WithEncryptionContext(map[string]string{"department": "finance"}))
			}
			for _, n := range []int{0, 1, 17, 1<<20 + 3} {
				key := fmt.Sprintf("v1/%v/%v/%d", instruction, withEC, n)
				data := randomBytes(n)
				_, err := w.encrypter(t, matdesc, instruction).PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)})
				if err != nil {
					t.Fatalf("%s: aws-sdk-go v1 PutObject: %v", key, err)
				}
				got, out, err := e.get(us, key, opts...)
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("%s: we read: %v", key, err)
				}
				info, _ := GetObjectInfo(out.ResultMetadata)
				wantStorage := metadata.ObjectMetadata
				if instruction {
					wantStorage = metadata.InstructionFile
				}
				if info.Envelope.Format != metadata.V2 || info.Envelope.Storage != wantStorage || info.KeyRef != e.kmsKey {
					t.Fatalf("%s: info %+v", key, info)
				}
			}
		}
	}
}

// We write V2, it reads: single PUTs with and without an encryption
// context, instruction files, multipart (above the index threshold: with
// a chunk index beside it, which it ignores).
func TestInteropWeWriteV1Reads(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	w := newV1World(e)
	for _, instruction := range []bool{false, true} {
		us := e.client(e.keyrings["kms"], func(o *Options) { o.Format = metadata.V2; o.InstructionFile = instruction })
		for i, n := range []int{0, 1, 17, 1<<20 + 3} {
			key := fmt.Sprintf("ours/%v/%d", instruction, n)
			data := randomBytes(n)
			var opts []func(*s3.Options)
			if i%2 == 1 {
				opts = append(opts, WithEncryptionContext(map[string]string{"department": "finance", "ünïcode": "välue"}))
			}
			e.put(us, key, data, opts...)
			got, err := w.get(t, e.bucket, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: aws-sdk-go v1 reads: %v", key, err)
			}
		}
		key := fmt.Sprintf("ours/%v/multipart", instruction)
		n := int64(2*testPart + 5)
		_, err := NewUploader(us, func(u *Uploader) { u.PartSize = testPart }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(4, n)})
		if err != nil {
			t.Fatal(err)
		}
		if !e.exists(key + IndexSuffix) {
			t.Fatal("multipart: no chunk index written; AWS's reader must be shown to ignore it")
		}
		got, err := w.get(t, e.bucket, key)
		if err != nil || int64(len(got)) != n || sha256Sum(got) != patternSum(4, n) {
			t.Fatalf("multipart: aws-sdk-go v1 reads: %v", err)
		}
	}
}
