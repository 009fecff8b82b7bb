package s3crypto

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

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

// signalOnce is a faultproxy Match that also matches on path and closes
// hit at the first request it matches.
func signalOnce(path string, hit chan struct{}) func(method, target string) bool {
	var once sync.Once
	return func(method, target string) bool {
		if !strings.Contains(target, path) {
			return false
		}
		once.Do(func() { close(hit) })
		return true
	}
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
		hit := make(chan struct{})
		rule := f.proxy.Add(&faultproxy.Rule{Method: "PUT", Match: signalOnce("/"+key+".instruction", hit), Kind: faultproxy.StallRequest})
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
