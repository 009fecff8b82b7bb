package s3crypto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/faultproxy"
	"github.com/s3c/s3c/materials"
)

// faultEnv is an env whose encryption clients go through a fault proxy.
type faultEnv struct {
	*env
	proxy  *faultproxy.Proxy
	s3opts []func(*s3.Options) // for the clients' s3.Client
}

func newFaultEnv(t *testing.T) *faultEnv {
	t.Helper()
	e := newEnv(t)
	p, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &faultEnv{env: e, proxy: p}
}

// client is an encryption client whose requests pass the proxy.
func (f *faultEnv) client(kr materials.Keyring, optFns ...func(*Options)) *Client {
	f.t.Helper()
	c, err := New(minio.Client(append([]func(*s3.Options){func(o *s3.Options) { o.BaseEndpoint = aws.String(f.proxy.URL()) }}, f.s3opts...)...), kr, optFns...)
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

// openUploads lists the multipart uploads in progress for exactly key.
func (e *env) openUploads(key string) []string {
	e.t.Helper()
	out, err := e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket, Prefix: &key})
	if err != nil {
		e.t.Fatal(err)
	}
	var ids []string
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			ids = append(ids, aws.ToString(u.UploadId))
		}
	}
	return ids
}

// A put cancelled while the instruction file is being written (what a
// SIGINT does) leaves no object that cannot be read: the compensating
// delete runs on a context of its own.
func TestCancelWhileInstructionFileIsWritten(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	c := f.client(f.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	plain := f.env.client(f.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	for _, size := range []int64{1000, 2*testPart + 3} {
		key := fmt.Sprintf("cancelled-%d", size)
		// An older version with its own instruction file: the new object
		// must not end up paired with it.
		f.put(plain, key, []byte("old version"))
		rule := f.proxy.Add(&faultproxy.Rule{Method: "PUT", Path: "/" + key + ".instruction", Kind: faultproxy.StallRequest})
		hit := rule.Hit()
		ctx, cancel := context.WithCancel(bg)
		go func() { <-hit; cancel() }()
		_, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(ctx,
			&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: newPattern(3, size), ContentLength: aws.Int64(size)})
		cancel()
		rule.Release()
		f.proxy.Clear()
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("%s: upload cancelled while its instruction file is written: %v", key, err)
		}
		if f.exists(key) {
			got, _, gerr := f.get(plain, key)
			if gerr != nil || sha256.Sum256(got) != patternSum(3, size) {
				t.Fatalf("%s: an object is left that cannot be read: %v", key, gerr)
			}
		}
		if ids := f.openUploads(key); len(ids) > 0 {
			t.Fatalf("%s: uploads left: %v", key, ids)
		}
	}
}

// A CreateMultipartUpload whose answer is lost is retried by the SDK,
// which creates a second upload: the first is found and aborted.
func TestLostCreateResponseLeavesNoUpload(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	c := f.client(f.keyrings["aes"])
	for _, source := range []string{"stream", "readerat"} {
		key := "lost-create-" + source
		rule := f.proxy.Add(&faultproxy.Rule{Method: "POST", Path: "?uploads", Times: 1, Kind: faultproxy.DropResponse})
		data := randomBytes(2*testPart + 1)
		in := &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(data)}
		if source == "stream" {
			in.Body = struct{ *bytes.Reader }{bytes.NewReader(data)}
		}
		if _, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg, in); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if rule.Hits() != 1 {
			t.Fatalf("%s: the create was not dropped", key)
		}
		if ids := f.openUploads(key); len(ids) > 0 {
			t.Fatalf("%s: orphaned uploads: %v", key, ids)
		}
		got, _, err := f.get(c, key)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("%s: read back: %v", key, err)
		}
	}
	// Every attempt's answer lost: the upload fails, and what the
	// attempts created is aborted all the same.
	key := "lost-creates"
	f.proxy.Add(&faultproxy.Rule{Method: "POST", Path: "?uploads", Kind: faultproxy.DropResponse})
	_, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
		&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(randomBytes(2*testPart + 1))})
	f.proxy.Clear()
	if err == nil {
		t.Fatal("every create dropped, and no error")
	}
	if ids := f.openUploads(key); len(ids) > 0 {
		t.Fatalf("%s: orphaned uploads: %v", key, ids)
	}
}

// The compensating delete removes only what was written: in a versioned
// bucket, the version written, so that the one before is current again.
func TestFailedInstructionFileRestoresPreviousVersion(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	if _, err := f.raw.PutBucketVersioning(bg, &s3.PutBucketVersioningInput{Bucket: &f.bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	plain := f.env.client(f.keyrings["aes"])
	c := f.client(f.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	for _, size := range []int64{100, 2*testPart + 1} {
		key := fmt.Sprintf("versioned-%d", size)
		f.put(plain, key, []byte("previous"))
		f.proxy.Add(&faultproxy.Rule{Method: "PUT", Path: "/" + key + ".instruction", Kind: faultproxy.ResetRequest})
		_, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
			&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(randomBytes(int(size)))})
		f.proxy.Clear()
		if err == nil || !strings.Contains(err.Error(), "storing the instruction file") {
			t.Fatalf("%s: instruction file refused: %v", key, err)
		}
		got, _, err := f.get(plain, key)
		if err != nil || string(got) != "previous" {
			t.Fatalf("%s: the previous version is not current again: %q, %v", key, got, err)
		}
		vs, err := f.raw.ListObjectVersions(bg, &s3.ListObjectVersionsInput{Bucket: &f.bucket, Prefix: &key})
		if err != nil || len(vs.Versions) != 1 || len(vs.DeleteMarkers) != 0 {
			t.Fatalf("%s: versions %d, delete markers %d (%v)", key, len(vs.Versions), len(vs.DeleteMarkers), err)
		}
	}
}

// Whether an unanswered upload completed is told by the multipart ETag,
// or, where the server's ETags are not MD5s, by the envelope.
func TestUploadOutcomeRecognisesItsObject(t *testing.T) {
	t.Parallel()
	md5a, md5b := `"0123456789abcdef0123456789abcdef"`, `"fedcba9876543210fedcba9876543210"`
	parts := []types.CompletedPart{{ETag: aws.String(md5a)}, {ETag: aws.String(md5b)}}
	etag := multipartETag(parts)
	if !strings.HasSuffix(etag, "-2") || len(etag) != 34 {
		t.Fatalf("multipart ETag %q", etag)
	}
	opaque := []types.CompletedPart{{ETag: aws.String(`"enc-1"`)}, {ETag: aws.String(`"enc-2"`)}}
	if multipartETag(opaque) != "" {
		t.Fatal("a multipart ETag from ETags that are not MD5s")
	}
	v3 := map[string]string{"x-amz-3": "key", "x-amz-i": "id", "x-amz-c": "115"}
	v2inst := map[string]string{}
	for _, tc := range []struct {
		meta  map[string]string
		parts []types.CompletedPart
		head  s3.HeadObjectOutput
		ours  bool
	}{
		{v2inst, parts, s3.HeadObjectOutput{ETag: aws.String(`"` + etag + `"`)}, true},
		{v2inst, parts, s3.HeadObjectOutput{ETag: aws.String(`"0123-2"`)}, false},
		{v2inst, opaque, s3.HeadObjectOutput{ETag: aws.String(`"xyz"`)}, false},
		{v3, opaque, s3.HeadObjectOutput{ETag: aws.String(`"xyz"`), Metadata: map[string]string{"X-Amz-3": "key", "x-amz-i": "id"}}, true},
		{v3, opaque, s3.HeadObjectOutput{ETag: aws.String(`"xyz"`), Metadata: map[string]string{"x-amz-3": "key", "x-amz-i": "other"}}, false},
		{v3, opaque, s3.HeadObjectOutput{ETag: aws.String(`"xyz"`)}, false},
	} {
		m := &MultipartUpload{meta: tc.meta}
		if got := m.ours(&tc.head, tc.parts); got != tc.ours {
			t.Errorf("meta %v, ETag %s, metadata %v: ours %v, want %v", tc.meta, *tc.head.ETag, tc.head.Metadata, got, tc.ours)
		}
	}
}

// A CompleteMultipartUpload whose answer is lost: the object is stored,
// so the upload succeeds, and an instruction file is written with it.
func TestLostCompleteResponse(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	for _, inst := range []bool{false, true} {
		for _, kr := range []string{"aes", "kms"} {
			c := f.client(f.keyrings[kr], func(o *Options) { o.InstructionFile = inst })
			key := fmt.Sprintf("lost-complete-%s-%v", kr, inst)
			if inst {
				// An older object and its instruction file.
				f.put(f.env.client(f.keyrings[kr], func(o *Options) { o.InstructionFile = true }), key, []byte("old"))
			}
			rule := f.proxy.Add(&faultproxy.Rule{Method: "POST", Path: "?uploadId=", Times: 1, Kind: faultproxy.DropResponse})
			data := randomBytes(2*testPart + 17)
			out, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
				&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(data)})
			if err != nil {
				t.Fatalf("%s: %v", key, err)
			}
			if rule.Hits() != 1 {
				t.Fatalf("%s: the complete was not dropped", key)
			}
			head, err := f.raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &f.bucket, Key: &key})
			if err != nil || aws.ToString(head.ETag) != aws.ToString(out.ETag) {
				t.Fatalf("%s: ETag %s, stored %v (%v)", key, aws.ToString(out.ETag), head, err)
			}
			got, _, err := f.get(c, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: read back: %v", key, err)
			}
			if ids := f.openUploads(key); len(ids) > 0 {
				t.Fatalf("%s: uploads left: %v", key, ids)
			}
		}
	}
}

// An upload that fails and cannot be aborted says which upload is left
// open, as an *IncompleteUploadError beside the cause.
func TestAbortFailureNamesTheUpload(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	c := f.client(f.keyrings["aes"])
	key := "unabortable"
	f.proxy.Add(&faultproxy.Rule{Method: "PUT", Path: "partNumber=2&", Kind: faultproxy.ResetRequest, After: 100})
	f.proxy.Add(&faultproxy.Rule{Method: "DELETE", Path: "uploadId=", Kind: faultproxy.ResetRequest})
	_, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
		&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(randomBytes(3 * testPart))})
	var iu *IncompleteUploadError
	var oe *ObjectError
	if !errors.As(err, &iu) || !errors.As(err, &oe) || !strings.Contains(err.Error(), "part 2") {
		t.Fatalf("upload with failing part and abort: %v", err)
	}
	ids := f.openUploads(key)
	if len(ids) != 1 || iu.UploadID != ids[0] || iu.Bucket != f.bucket || iu.Key != key {
		t.Fatalf("error names upload %q of s3://%s/%s; open: %v", iu.UploadID, iu.Bucket, iu.Key, ids)
	}
	want := "multipart upload " + ids[0] + " of s3://" + f.bucket + "/" + key + " could not be aborted"
	if !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "\n") {
		t.Fatalf("error %q does not say %q on one line", err, want)
	}
	// MultipartUpload.Abort says the same.
	mp, err := c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &f.bucket, Key: &key}, testPart)
	if err != nil {
		t.Fatal(err)
	}
	if err := mp.Abort(bg); !errors.As(err, &iu) || iu.UploadID != mp.UploadID() {
		t.Fatalf("Abort: %v", err)
	}
	f.proxy.Clear()
	if err := mp.Abort(bg); err != nil {
		t.Fatalf("Abort again, with the network back: %v", err)
	}
	for _, id := range ids {
		f.raw.AbortMultipartUpload(bg, &s3.AbortMultipartUploadInput{Bucket: &f.bucket, Key: &key, UploadId: &id})
	}
}

// refusingComplete answers every CompleteMultipartUpload with a 400.
type refusingComplete struct{ next http.Client }

func (f *refusingComplete) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPost && req.URL.Query().Has("uploadId") {
		io.Copy(io.Discard, req.Body)
		return s3ErrorResponse(req, 400, "InvalidPart", "refused by test"), nil
	}
	return f.next.Do(req)
}

// A Complete that S3 refuses is aborted at once; one whose answer is lost
// and whose outcome cannot be checked says what may be stored.
func TestCompleteRefusedOrUnknown(t *testing.T) {
	t.Parallel()
	f := newFaultEnv(t)
	c, err := New(minio.Client(func(o *s3.Options) { o.HTTPClient = &refusingComplete{} }), f.keyrings["aes"])
	if err != nil {
		t.Fatal(err)
	}
	key := "refused"
	_, err = NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
		&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(randomBytes(2*testPart + 1))})
	if err == nil || !strings.Contains(err.Error(), "InvalidPart") || strings.Contains(err.Error(), "no answer") {
		t.Fatalf("refused Complete: %v", err)
	}
	if ids := f.openUploads(key); len(ids) > 0 || f.exists(key) {
		t.Fatalf("refused Complete left uploads %v, object %v", ids, f.exists(key))
	}

	// Every Complete answer lost, and neither HEAD nor ListParts answered.
	key = "unknown"
	inst := f.client(f.keyrings["aes"], func(o *Options) { o.InstructionFile = true })
	f.proxy.Add(&faultproxy.Rule{Method: "POST", Path: "?uploadId=", Kind: faultproxy.DropResponse})
	f.proxy.Add(&faultproxy.Rule{Method: "HEAD", Kind: faultproxy.ResetRequest})
	f.proxy.Add(&faultproxy.Rule{Method: "GET", Path: "uploadId=", Kind: faultproxy.ResetRequest})
	_, err = NewUploader(inst, func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
		&s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(randomBytes(2*testPart + 1))})
	f.proxy.Clear()
	want := "s3crypto: CompleteMultipartUpload s3://" + f.bucket + "/" + key
	if err == nil || !strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), ": no answer (") ||
		!strings.Contains(err.Error(), "; the object may be stored without its instruction file") {
		t.Fatalf("unknown outcome: %v", err)
	}
	// As it says: stored (the first Complete went through), without
	// its instruction file, and no upload left open.
	if !f.exists(key) || f.exists(key+".instruction") || len(f.openUploads(key)) > 0 {
		t.Fatalf("after an unknown outcome: object %v, instruction file %v, uploads %v", f.exists(key), f.exists(key+".instruction"), f.openUploads(key))
	}
}
