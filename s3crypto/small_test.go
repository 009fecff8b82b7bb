package s3crypto

import (
	"net/http"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/metadata"
)

// opLog records the requests an S3 client sends.
type opLog struct {
	next aws.HTTPClient
	mu   sync.Mutex
	reqs []string
}

func (l *opLog) Do(req *http.Request) (*http.Response, error) {
	l.mu.Lock()
	l.reqs = append(l.reqs, req.Method+" "+req.URL.Path+"?"+req.URL.RawQuery)
	l.mu.Unlock()
	return l.next.Do(req)
}

func (l *opLog) take() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	r := l.reqs
	l.reqs = nil
	return r
}

// A small object costs one request to write and one to read, for every
// keyring and format: no HEAD, no instruction-file or index lookup.
func TestSmallObjectOneRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, kr := range []string{"aes", "kms", "rsa"} {
		for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
			log := &opLog{next: http.DefaultClient}
			c, err := New(minio.Client(func(o *s3.Options) { o.HTTPClient = log }), e.keyrings[kr], func(o *Options) { o.Format = format })
			if err != nil {
				t.Fatal(err)
			}
			key := "small-" + kr + "-" + format.String()
			data := randomBytes(4096)
			e.put(c, key, data)
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("%s %v: PutObject of 4 KiB sent %d requests: %q", kr, format, len(reqs), reqs)
			}
			got, _, err := e.get(c, key)
			if err != nil || string(got) != string(data) {
				t.Fatalf("%s %v: get: %v", kr, format, err)
			}
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("%s %v: GetObject of 4 KiB sent %d requests: %q", kr, format, len(reqs), reqs)
			}
		}
	}
}
