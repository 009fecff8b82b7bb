package s3crypto

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/metadata"
)

// getRange returns the plaintext of a range of key.
func (e *env) getRange(c *Client, key, rng string) ([]byte, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key, Range: &rng}, WithUnauthenticatedRange())
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	return io.ReadAll(out.Body)
}

// rewriter is an HTTP client for the SDK that passes every response to
// fix, to play a misbehaving proxy.
type rewriter func(req *http.Request, resp *http.Response)

func (fix rewriter) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err == nil {
		fix(req, resp)
	}
	return resp, err
}

func setBody(resp *http.Response, body []byte) {
	resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
}

// rewritten returns an encryption client whose responses go through fix.
func (e *env) rewritten(fix rewriter, optFns ...func(*Options)) *Client {
	e.t.Helper()
	c, err := New(minio.Client(func(o *s3.Options) { o.HTTPClient = fix }), e.keyrings["aes"], optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

// A proxy that ignores Range answers with the whole object: every ranged
// GET (the Downloader's, the parallel spool's, a resume, GetObject with
// a range) must notice and fail as a transport error, before it writes
// the wrong bytes, rather than report tampering.
func TestIgnoredRangeIsATransportError(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(3<<20 + 5)
	e.put(e.client(e.keyrings["aes"]), "obj", data)
	stored, _, err := e.rawGet("obj")
	if err != nil {
		t.Fatal(err)
	}
	ignoreRange := func(from int64) rewriter {
		return func(req *http.Request, resp *http.Response) {
			r := req.Header.Get("Range")
			if r == "" || req.Method != "GET" || strings.Contains(req.URL.Path, ".instruction") {
				return
			}
			var a int64 // a suffix (bytes=-n) counts as 0
			if !strings.HasPrefix(r, "bytes=-") {
				fmt.Sscanf(r, "bytes=%d-", &a)
			}
			if a < from {
				return
			}
			resp.StatusCode, resp.Status = 200, "200 OK"
			resp.Header.Del("Content-Range")
			setBody(resp, stored)
		}
	}
	transport := func(t *testing.T, what string, err error) {
		t.Helper()
		if err == nil || IsIntegrityError(err) || !strings.Contains(err.Error(), "Content-Range") {
			t.Errorf("%s: got %v, want a transport error about Content-Range", what, err)
		}
	}
	dl := func(c *Client) (*memWriterAt, error) {
		var w memWriterAt
		_, err := NewDownloader(c, func(d *Downloader) { d.PartSize = 1 << 20 }).DownloadUnauthenticated(bg, &w, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("obj")})
		return &w, err
	}
	w, err := dl(e.rewritten(ignoreRange(0)))
	transport(t, "Downloader, every range ignored", err)
	if len(w.b) != 0 {
		t.Errorf("Downloader wrote %d bytes before failing", len(w.b))
	}
	_, err = dl(e.rewritten(ignoreRange(1)))
	transport(t, "Downloader, later ranges ignored", err)

	if got, _, err := e.get(e.rewritten(ignoreRange(0)), "obj"); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("GetObject (no Range, unaffected): %v", err)
	}
	for _, r := range []string{"bytes=100-200", "bytes=-100", "bytes=5-"} {
		_, err = e.getRange(e.rewritten(ignoreRange(0)), "obj", r)
		transport(t, "GetObject "+r, err)
	}
	// The whole object is a fine answer to a range that covers it.
	if got, err := e.getRange(e.rewritten(ignoreRange(0)), "obj", fmt.Sprintf("bytes=0-%d", len(stored)+100)); err != nil || !bytes.Equal(got, data) {
		t.Errorf("GetObject of a range that covers the object: %d bytes, %v", len(got), err)
	}

	// A range of another size of object.
	otherTotal := func(req *http.Request, resp *http.Response) {
		if cr := resp.Header.Get("Content-Range"); cr != "" && !strings.HasPrefix(cr, "bytes 0-") {
			i := strings.LastIndexByte(cr, '/')
			resp.Header.Set("Content-Range", cr[:i+1]+"99999999")
		}
	}
	_, err = dl(e.rewritten(otherTotal))
	transport(t, "Downloader, another total", err)
}

// A response that holds more bytes than its Content-Length announces is
// refused on every read path (the tag alone would not notice: the extra
// bytes come after it).
func TestResponseLongerThanContentLength(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(1<<20 + 3)
	e.put(e.client(e.keyrings["aes"]), "obj", data)
	extra := func(req *http.Request, resp *http.Response) {
		if req.Method != "GET" || resp.StatusCode/100 != 2 || strings.Contains(req.URL.Path, ".instruction") {
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			// Another range of the same read already failed and
			// cancelled this one: pass that on as it came.
			resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), iotest.ErrReader(err)))
			return
		}
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(b), strings.NewReader("x")))
	}
	c := e.rewritten(extra)
	paths := e.getPaths()
	spooled := e.rewritten(extra, func(o *Options) { o.MemoryBufferSize = 256 << 10 })
	paths["spooled"] = func(_ *Client, key string) ([]byte, error) {
		b, _, err := e.get(spooled, key)
		return b, err
	}
	for name, get := range paths {
		got, err := get(c, "obj")
		if !errors.Is(err, core.ErrTrailingData) || IsIntegrityError(err) {
			t.Errorf("%s: %d bytes, %v; want core.ErrTrailingData", name, len(got), err)
		}
	}
}

// Bytes after the tag in what S3 stores: a V3 object fails its tag; a V2
// object that records its plaintext length (in its instruction file here:
// MinIO drops x-amz-meta-x-amz-unencrypted-content-length) is refused
// before any key is unwrapped, on every read path, ranged GETs included.
func TestStoredTrailingBytes(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	data := randomBytes(300 << 10)
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		c := e.client(e.keyrings["aes"], func(o *Options) { o.Format = format; o.InstructionFile = format == metadata.V2 })
		e.put(c, "src", data)
		stored, meta, err := e.rawGet("src")
		if err != nil {
			t.Fatal(err)
		}
		appended := "appended-" + format.String()
		variants := []string{appended}
		e.rawPut(appended, append(stored, 0), meta)
		if format == metadata.V2 {
			inst, instMeta, err := e.rawGet("src.instruction")
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]string
			if err := json.Unmarshal(inst, &fields); err != nil || fields[metadata.KeyPlaintextLength] != strconv.Itoa(len(data)) {
				t.Fatalf("instruction file %s (%v) does not record the length", inst, err)
			}
			e.rawPut(appended+".instruction", inst, instMeta)
			e.rawPut("right-length", stored, meta)
			e.rawPut("right-length.instruction", inst, instMeta)
			fields[metadata.KeyPlaintextLength] = strconv.Itoa(len(data) + 1)
			wrong, _ := json.Marshal(fields)
			e.rawPut("wrong-length", stored, meta)
			e.rawPut("wrong-length.instruction", wrong, instMeta)
			variants = append(variants, "wrong-length")
		}
		reader := e.client(e.keyrings["aes"], func(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt })
		spooled := e.client(e.keyrings["aes"], func(o *Options) {
			o.CommitmentPolicy = RequireEncryptAllowDecrypt
			o.MemoryBufferSize = 64 << 10
		})
		paths := e.getPaths()
		paths["spooled"] = func(_ *Client, key string) ([]byte, error) {
			b, _, err := e.get(spooled, key)
			return b, err
		}
		if format == metadata.V2 {
			paths["range"] = func(c *Client, key string) ([]byte, error) {
				return e.getRange(c, key, "bytes=0-99")
			}
		}
		for _, key := range variants {
			for name, get := range paths {
				got, err := get(reader, key)
				want := is(ErrAuthentication)
				if format == metadata.V2 {
					want = func(err error) bool {
						var fe *metadata.FormatError
						return errors.As(err, &fe) && fe.Key == metadata.KeyPlaintextLength
					}
				}
				if (len(got) != 0 && name != "stream") || err == nil || !want(err) || !IsIntegrityError(err) {
					t.Errorf("%s %s: %d bytes, %v", key, name, len(got), err)
				}
			}
		}
		if format == metadata.V2 {
			for name, get := range paths {
				if got, err := get(reader, "right-length"); err != nil || (name != "range" && !bytes.Equal(got, data)) {
					t.Errorf("right-length %s: %d bytes, %v", name, len(got), err)
				}
			}
		}
	}
}
