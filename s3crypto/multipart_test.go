package s3crypto

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/metadata"
)

const testPart = 5 << 20 // S3's smallest part

// Multipart objects at every boundary, known and unknown length, read
// back as one GCM stream.
func TestUploaderSizes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		c := e.client(e.keyrings["kms"], func(o *Options) { o.Format = format })
		u := NewUploader(c, func(u *Uploader) { u.PartSize = testPart; u.Concurrency = 3 })
		for _, n := range []int64{0, 1, testPart - 1, testPart, testPart + 1, 2*testPart + 5, 3 * testPart, 3*testPart + 16} {
			// A stream of known or unknown length (parts buffered), and a
			// file-like source (parts encrypted as they are sent).
			for _, source := range []string{"known", "unknown", "readerat"} {
				key := fmt.Sprintf("%s/%d/%s", format, n, source)
				in := &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(byte(n), n)}
				switch source {
				case "known":
					in.ContentLength = aws.Int64(n)
				case "readerat":
					data, _ := io.ReadAll(newPattern(byte(n), n))
					in.Body = bytes.NewReader(data)
				}
				out, err := u.Upload(bg, in)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				wantParts := 0
				if n > testPart {
					wantParts = int((n + testPart - 1) / testPart)
				}
				if out.Parts != wantParts || out.Size != n {
					t.Fatalf("%s: %d parts, %d bytes; want %d parts", key, out.Parts, out.Size, wantParts)
				}
				got, _, err := e.get(c, key)
				if err != nil || sha256.Sum256(got) != patternSum(byte(n), n) {
					t.Fatalf("%s: read back: %v", key, err)
				}
			}
		}
	}
}

// PutObject hands a long body of unknown length to the Uploader.
func TestPutObjectUnknownLengthMultipart(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	const n = DefaultPartSize*2 + 3
	key := "stdin-like"
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(9, n)}, WithEncryptionContext(map[string]string{"a": "b"})); err != nil {
		t.Fatal(err)
	}
	got, _, err := e.get(c, key, WithEncryptionContext(map[string]string{"a": "b"}))
	if err != nil || sha256.Sum256(got) != patternSum(9, n) {
		t.Fatalf("read back: %v", err)
	}
}

// failingParts fails every UploadPart of one part number, for good.
type failingParts struct {
	next  http.Client
	part  string
	fails atomic.Int32
}

func (f *failingParts) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodPut && req.URL.Query().Get("partNumber") == f.part {
		f.fails.Add(1)
		io.Copy(io.Discard, req.Body)
		return s3ErrorResponse(req, 403, "AccessDenied", "denied by test"), nil
	}
	return f.next.Do(req)
}

// A failed upload is aborted: no multipart upload is left behind, no object appears.
func TestUploaderAbortsOnFailure(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	failing := &failingParts{part: "2"}
	c, err := New(minio.Client(func(o *s3.Options) { o.HTTPClient = failing }), e.keyrings["aes"])
	if err != nil {
		t.Fatal(err)
	}
	key := "doomed"
	_, err = NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: newPattern(1, 4*testPart)})
	if err == nil || !strings.Contains(err.Error(), "part 2") || !strings.Contains(err.Error(), "s3://"+e.bucket+"/doomed") {
		t.Fatalf("upload with a failing part: %v", err)
	}
	if failing.fails.Load() == 0 {
		t.Fatal("the failing part was never sent")
	}
	ups, err := e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if err != nil {
		t.Fatal(err)
	}
	if len(ups.Uploads) != 0 || e.exists(key) {
		t.Fatalf("left behind: %d uploads, object exists: %v", len(ups.Uploads), e.exists(key))
	}
	// The same, with a file-like source.
	failing.fails.Store(0)
	key = "doomed-readerat"
	data, _ := io.ReadAll(newPattern(1, 4*testPart))
	_, err = NewUploader(c, func(u *Uploader) { u.PartSize = testPart }).Upload(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)})
	if err == nil || !strings.Contains(err.Error(), "part 2") || failing.fails.Load() == 0 {
		t.Fatalf("file-like upload with a failing part: %v", err)
	}
	ups, _ = e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if len(ups.Uploads) != 0 || e.exists(key) {
		t.Fatalf("left behind: %d uploads", len(ups.Uploads))
	}
	// A source that fails mid-way aborts too.
	key = "broken-source"
	_, err = NewUploader(e.client(e.keyrings["aes"]), func(u *Uploader) { u.PartSize = testPart }).Upload(bg,
		&s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: io.MultiReader(newPattern(1, 2*testPart+7), errReader{})})
	if err == nil || !strings.Contains(err.Error(), "source broke") {
		t.Fatalf("broken source: %v", err)
	}
	ups, _ = e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
	if len(ups.Uploads) != 0 || e.exists(key) {
		t.Fatalf("broken source left %d uploads", len(ups.Uploads))
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("source broke") }

// The low-level API: parts in any order, the last one sealed last, and a
// re-sent part must be the same bytes.
func TestMultipartUploadLowLevel(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["rsa"], func(o *Options) { o.InstructionFile = true })
	data := randomBytes(3*testPart + 100)
	key := "manual"
	mp, err := c.NewMultipartUpload(bg, &s3.CreateMultipartUploadInput{Bucket: &e.bucket, Key: &key, ContentType: aws.String("application/x-test")}, testPart)
	if err != nil {
		t.Fatal(err)
	}
	part := func(n int) []byte { return data[(n-1)*testPart : min(n*testPart, len(data))] }
	if _, err := mp.UploadPart(bg, 4, bytes.NewReader(part(4)), int64(len(part(4))), true); err == nil {
		t.Fatal("last part sealed before the others")
	}
	for _, n := range []int{3, 1, 2} {
		if _, err := mp.UploadPart(bg, int32(n), bytes.NewReader(part(n)), testPart, false); err != nil {
			t.Fatalf("part %d: %v", n, err)
		}
	}
	// The same part again, same bytes: fine. Other bytes: refused.
	if _, err := mp.UploadPart(bg, 2, bytes.NewReader(part(2)), testPart, false); err != nil {
		t.Fatalf("re-sending part 2: %v", err)
	}
	other := bytes.Clone(part(2))
	other[0] ^= 1
	if _, err := mp.UploadPart(bg, 2, bytes.NewReader(other), testPart, false); !errors.Is(err, ErrSourceChanged) {
		t.Fatalf("part 2 with other bytes: %v", err)
	}
	if _, err := mp.UploadPart(bg, 1, bytes.NewReader(part(1)[:100]), 100, false); err == nil {
		t.Fatal("short middle part accepted")
	}
	if _, err := mp.UploadPart(bg, 4, bytes.NewReader(part(4)), int64(len(part(4))), true); err != nil {
		t.Fatal(err)
	}
	if _, err := mp.Complete(bg); err != nil {
		t.Fatal(err)
	}
	got, out, err := e.get(c, key)
	if err != nil || !bytes.Equal(got, data) || aws.ToString(out.ContentType) != "application/x-test" {
		t.Fatalf("read back: %v", err)
	}
	if !e.exists(key + ".instruction") {
		t.Fatal("no instruction file")
	}
}
