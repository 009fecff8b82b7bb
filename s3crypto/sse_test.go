package s3crypto

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/materials"
)

// sentRequest is one request as it left the client: the operation, the
// object key and the headers.
type sentRequest struct {
	op, key string
	header  http.Header
}

// requestLog records every request an S3 client sends (each attempt).
type requestLog struct {
	bucket string
	mu     sync.Mutex
	reqs   []sentRequest
}

func (l *requestLog) option(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Finalize.Add(middleware.FinalizeMiddlewareFunc("s3c:test-record", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			if req, ok := in.Request.(*smithyhttp.Request); ok {
				key := strings.TrimPrefix(req.URL.Path, "/"+l.bucket+"/")
				l.mu.Lock()
				l.reqs = append(l.reqs, sentRequest{middleware.GetOperationName(ctx), key, req.Header.Clone()})
				l.mu.Unlock()
			}
			return next.HandleFinalize(ctx, in)
		}), middleware.After)
	})
}

func (l *requestLog) take() []sentRequest {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

// Server-side encryption composes with client-side encryption: every
// request the client makes for an object carries the caller's SSE
// settings where S3 takes them. SSE-C (the key on every request that
// reads or writes the object's data: single PUT, CreateMultipartUpload,
// each UploadPart, Complete, GETs whole, ranged and resumed, HEADs, the
// instruction file and the chunk index, both sides of a copy); SSE-S3 and
// SSE-KMS (on the requests that store an object: the object and its
// instruction file and index, which are stored encrypted alike, and with
// the same storage class). Checked on the wire and on what MinIO stores.
// MinIO takes SSE-C only over TLS: this test starts a MinIO of its own
// with a self-signed certificate; SSE-S3 and SSE-KMS use the KMS key
// miniotest configures (MINIO_KMS_SECRET_KEY).
func TestSSEOnEveryRequest(t *testing.T) {
	t.Parallel()
	srv, err := miniotest.StartTLS(t.Logf)
	if err != nil {
		t.Fatalf("starting MinIO with TLS: %v", err)
	}
	t.Cleanup(srv.Stop)
	bucket := srv.NewBucket(t)
	log := &requestLog{bucket: bucket}
	raw := srv.Client()
	kr, err := materials.NewAES(randomBytes(32))
	if err != nil {
		t.Fatal(err)
	}
	ssecKey := randomBytes(32)
	sum := md5.Sum(ssecKey)
	alg, key64, md564 := aws.String("AES256"), aws.String(base64.StdEncoding.EncodeToString(ssecKey)), aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	const kmsKey = "s3c-test-sse" // the key MINIO_KMS_SECRET_KEY names
	kmsContext := aws.String(base64.StdEncoding.EncodeToString([]byte(`{"app":"s3c"}`)))

	for _, mode := range []string{"sse-c", "aws:kms", "AES256"} {
		for _, inst := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/instruction=%v", mode, inst), func(t *testing.T) {
				c, err := New(srv.Client(log.option), kr, func(o *Options) {
					o.InstructionFile = inst
					o.MemoryBufferSize = 1 << 20 // large objects stream through their index
				})
				if err != nil {
					t.Fatal(err)
				}
				ssec := mode == "sse-c"
				setPut := func(in *s3.PutObjectInput) {
					if ssec {
						in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = alg, key64, md564
						return
					}
					in.ServerSideEncryption = types.ServerSideEncryption(mode)
					if mode == "aws:kms" {
						in.SSEKMSKeyId, in.SSEKMSEncryptionContext, in.BucketKeyEnabled = aws.String(kmsKey), kmsContext, aws.Bool(true)
					}
					in.StorageClass = types.StorageClassReducedRedundancy
				}
				setGet := func(in *s3.GetObjectInput) {
					if ssec {
						in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = alg, key64, md564
					}
				}
				prefix := strings.NewReplacer(":", "-").Replace(mode) + fmt.Sprintf("/%v/", inst)
				objects := map[string][]byte{
					prefix + "small":  randomBytes(1000),     // one PUT, no index
					prefix + "single": randomBytes(9 << 20),  // one PUT with an index
					prefix + "multi":  randomBytes(11 << 20), // 3 parts, with an index
				}
				log.take()
				for k, data := range objects {
					in := &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(k), Body: bytes.NewReader(data)}
					setPut(in)
					if strings.HasSuffix(k, "multi") {
						_, err = NewUploader(c, func(u *Uploader) { u.PartSize = 5 << 20 }).Upload(bg, in)
					} else {
						_, err = c.PutObject(bg, in)
					}
					if err != nil {
						t.Fatalf("%s: %v", k, err)
					}
				}
				// Reads: whole (in memory, streamed through the index), ranged
				// (authenticated through the index, and unauthenticated), the
				// Downloader's ranged GETs, HEAD, and a copy.
				for k, data := range objects {
					get := &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(k)}
					setGet(get)
					out, err := c.GetObject(bg, get)
					if err != nil {
						t.Fatalf("%s: get: %v", k, err)
					}
					got, err := io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("%s: read back: %v", k, err)
					}
					rng := *get
					rng.Range = aws.String("bytes=100-199")
					var opts []func(*s3.Options)
					if strings.HasSuffix(k, "small") {
						opts = append(opts, WithUnauthenticatedRange())
					}
					out, err = c.GetObject(bg, &rng, opts...)
					if err != nil {
						t.Fatalf("%s: range: %v", k, err)
					}
					got, err = io.ReadAll(out.Body)
					out.Body.Close()
					if err != nil || !bytes.Equal(got, data[100:200]) {
						t.Fatalf("%s: range read back: %v", k, err)
					}
					w := &memWriterAt{}
					if _, err := NewDownloader(c, func(d *Downloader) { d.PartSize = 4 << 20 }).DownloadUnauthenticated(bg, w, get); err != nil || !bytes.Equal(w.b, data) {
						t.Fatalf("%s: download: %v", k, err)
					}
					head := &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(k)}
					if ssec {
						head.SSECustomerAlgorithm, head.SSECustomerKey, head.SSECustomerKeyMD5 = alg, key64, md564
					}
					if h, err := c.HeadObject(bg, head); err != nil || aws.ToInt64(h.ContentLength) != int64(len(data)) {
						t.Fatalf("%s: head: %v", k, err)
					}
					cp := &s3.CopyObjectInput{Bucket: &bucket, Key: aws.String(k + "-copy"), CopySource: aws.String(bucket + "/" + k)}
					if ssec {
						cp.SSECustomerAlgorithm, cp.SSECustomerKey, cp.SSECustomerKeyMD5 = alg, key64, md564
						cp.CopySourceSSECustomerAlgorithm, cp.CopySourceSSECustomerKey, cp.CopySourceSSECustomerKeyMD5 = alg, key64, md564
					} else {
						cp.ServerSideEncryption = types.ServerSideEncryption(mode)
						if mode == "aws:kms" {
							cp.SSEKMSKeyId, cp.SSEKMSEncryptionContext, cp.BucketKeyEnabled = aws.String(kmsKey), kmsContext, aws.Bool(true)
						}
						cp.StorageClass = types.StorageClassReducedRedundancy
					}
					if _, err := c.CopyObject(bg, cp); err != nil {
						t.Fatalf("%s: copy: %v", k, err)
					}
				}

				seen := map[string]bool{}
				for _, r := range log.take() {
					seen[r.op+" "+sibling(r.key)] = true
					h := r.header
					if ssec {
						switch r.op {
						case "DeleteObject", "AbortMultipartUpload", "ListObjectsV2", "ListMultipartUploads":
							continue // S3 takes no SSE-C key there
						}
						if h.Get("X-Amz-Server-Side-Encryption-Customer-Algorithm") != "AES256" || h.Get("X-Amz-Server-Side-Encryption-Customer-Key-Md5") != *md564 {
							t.Errorf("%s %s: no SSE-C key", r.op, r.key)
						}
						if r.op == "CopyObject" && h.Get("X-Amz-Copy-Source-Server-Side-Encryption-Customer-Key-Md5") != *md564 {
							t.Errorf("%s %s: no SSE-C key for the source", r.op, r.key)
						}
						continue
					}
					switch r.op {
					case "PutObject", "CreateMultipartUpload", "CopyObject":
						if h.Get("X-Amz-Server-Side-Encryption") != mode || h.Get("X-Amz-Storage-Class") != "REDUCED_REDUNDANCY" ||
							(mode == "aws:kms" && (h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id") != kmsKey ||
								h.Get("X-Amz-Server-Side-Encryption-Context") != *kmsContext || h.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled") != "true")) {
							t.Errorf("%s %s: SSE %q, key %q, context %q, bucket key %q, storage class %q", r.op, r.key, h.Get("X-Amz-Server-Side-Encryption"),
								h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"), h.Get("X-Amz-Server-Side-Encryption-Context"),
								h.Get("X-Amz-Server-Side-Encryption-Bucket-Key-Enabled"), h.Get("X-Amz-Storage-Class"))
						}
					}
				}
				want := []string{"PutObject object", "CreateMultipartUpload object", "UploadPart object", "CompleteMultipartUpload object",
					"GetObject object", "HeadObject object", "CopyObject object", "PutObject index", "GetObject index"}
				if inst {
					want = append(want, "PutObject instruction", "GetObject instruction")
				}
				for _, w := range want {
					if !seen[w] {
						t.Errorf("no %s request seen", w)
					}
				}

				// What is stored: the objects, the copies and their companions.
				for k := range objects {
					for _, obj := range []string{k, k + "-copy"} {
						stored := []string{obj}
						if !strings.HasSuffix(k, "small") {
							stored = append(stored, obj+IndexSuffix)
						}
						if inst {
							stored = append(stored, obj+".instruction")
						}
						for _, s := range stored {
							head := &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(s)}
							if ssec {
								if _, err := raw.HeadObject(bg, head); err == nil {
									t.Errorf("%s: described without the SSE-C key", s)
								}
								head.SSECustomerAlgorithm, head.SSECustomerKey, head.SSECustomerKeyMD5 = alg, key64, md564
							}
							h, err := raw.HeadObject(bg, head)
							switch {
							case err != nil:
								t.Errorf("%s: %v", s, err)
							case ssec && aws.ToString(h.SSECustomerKeyMD5) != *md564:
								t.Errorf("%s: stored without SSE-C", s)
							case !ssec && (string(h.ServerSideEncryption) != mode || h.StorageClass != types.StorageClassReducedRedundancy):
								t.Errorf("%s: stored with SSE %q, storage class %q", s, h.ServerSideEncryption, h.StorageClass)
							case mode == "aws:kms" && !strings.HasSuffix(aws.ToString(h.SSEKMSKeyId), kmsKey):
								t.Errorf("%s: stored under SSE-KMS key %q", s, aws.ToString(h.SSEKMSKeyId))
							}
						}
					}
				}

				// Deletes take the companions along; for SSE-C, only with the
				// key (WithSSECustomerKey): S3 does not describe them without.
				var delOpts []func(*s3.Options)
				if ssec {
					delOpts = append(delOpts, WithSSECustomerKey(*alg, *key64, *md564))
					lone := prefix + "lone"
					in := &s3.PutObjectInput{Bucket: &bucket, Key: &lone, Body: bytes.NewReader(randomBytes(9 << 20))}
					setPut(in)
					if _, err := c.PutObject(bg, in); err != nil {
						t.Fatal(err)
					}
					if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &bucket, Key: &lone}); err != nil {
						t.Fatal(err)
					}
					if _, err := raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(lone + IndexSuffix),
						SSECustomerAlgorithm: alg, SSECustomerKey: key64, SSECustomerKeyMD5: md564}); err != nil {
						t.Errorf("without the key, the SSE-C index was deleted: %v", err)
					}
					raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(lone + IndexSuffix)})
					raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(lone + ".instruction")})
				}
				var batch []types.ObjectIdentifier
				for k := range objects {
					if _, err := c.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)}, delOpts...); err != nil {
						t.Errorf("%s: delete: %v", k, err)
					}
					batch = append(batch, types.ObjectIdentifier{Key: aws.String(k + "-copy")})
				}
				if out, err := c.DeleteObjects(bg, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: batch}}, delOpts...); err != nil || len(out.Errors) > 0 {
					t.Errorf("delete copies: %v %v", err, out)
				}
				list, err := raw.ListObjectsV2(bg, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: aws.String(prefix)})
				if err != nil || len(list.Contents) > 0 {
					var left []string
					for _, o := range list.Contents {
						left = append(left, aws.ToString(o.Key))
					}
					t.Errorf("left after the deletes: %v %v", left, err)
				}
			})
		}
	}
}

// sibling says what a key is: the object, its instruction file or index.
func sibling(key string) string {
	switch {
	case strings.HasSuffix(key, IndexSuffix):
		return "index"
	case strings.HasSuffix(key, ".instruction"):
		return "instruction"
	}
	return "object"
}
