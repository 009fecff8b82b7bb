package s3crypto

import (
	"bytes"
	"io"
	"net/http"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// replayHTTP answers every request with one recorded response: the
// client's own cost of a GET, without the server's.
type replayHTTP struct {
	status int
	header http.Header
	body   []byte
}

func (r *replayHTTP) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		req.Body.Close()
	}
	return &http.Response{
		StatusCode: r.status, Header: r.header.Clone(), Request: req,
		Body: io.NopCloser(bytes.NewReader(r.body)), ContentLength: int64(len(r.body)),
	}, nil
}

// recordHTTP keeps the last response it passed on.
type recordHTTP struct{ last *replayHTTP }

func (r *recordHTTP) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	r.last = &replayHTTP{status: resp.StatusCode, header: resp.Header.Clone(), body: b}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

// BenchmarkSmallGetClient measures the client side of a 4 KiB GetObject
// (plain, and encrypted under a raw AES key in the default V3 format)
// against a recorded MinIO response: what s3crypto adds per object, with
// no server or network noise. The target for 4 KiB gets is ≥ 0.95×
// of plain ops/s with a raw AES key (make bench); this is the CPU part.
func BenchmarkSmallGetClient(b *testing.B) {
	e := newEnv(b)
	data := bytes.Repeat([]byte("s3c!"), 1024)
	for _, kind := range []string{"plain", "aes"} {
		b.Run(kind, func(b *testing.B) {
			rec := &recordHTTP{}
			raw := minio.Client(func(o *s3.Options) { o.HTTPClient = rec })
			var api ObjectAPI = raw
			if kind != "plain" {
				api = e.client(e.keyrings["aes"])
			}
			key := "small-client-" + kind
			if _, err := api.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				b.Fatal(err)
			}
			if _, err := raw.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key}); err != nil {
				b.Fatal(err)
			}
			replay := minio.Client(func(o *s3.Options) { o.HTTPClient = rec.last })
			api = replay
			if kind != "plain" {
				c, err := New(replay, e.keyrings["aes"])
				if err != nil {
					b.Fatal(err)
				}
				api = c
			}
			b.ReportAllocs()
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				out, err := api.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
				if err != nil {
					b.Fatal(err)
				}
				n, err := io.Copy(io.Discard, out.Body)
				out.Body.Close()
				if err != nil || n != int64(len(data)) {
					b.Fatalf("read %d bytes: %v", n, err)
				}
			}
		})
	}
}
