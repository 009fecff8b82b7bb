package s3crypto

import (
	"testing"

	"github.com/s3c/s3c/metadata"
)

// A small object costs one request to write and one to read, for every
// keyring and format: no HEAD, no instruction-file or index lookup.
func TestSmallObjectOneRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, kr := range []string{"aes", "kms", "rsa"} {
		for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
			log := &requestLog{bucket: e.bucket}
			c, err := New(minio.Client(log.option), e.keyrings[kr], func(o *Options) { o.Format = format })
			if err != nil {
				t.Fatal(err)
			}
			key := "small-" + kr + "-" + format.String()
			data := randomBytes(4096)
			e.put(c, key, data)
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("%s %v: PutObject of 4 KiB sent %d requests: %v", kr, format, len(reqs), reqs)
			}
			got, _, err := e.get(c, key)
			if err != nil || string(got) != string(data) {
				t.Fatalf("%s %v: get: %v", kr, format, err)
			}
			if reqs := log.take(); len(reqs) != 1 {
				t.Errorf("%s %v: GetObject of 4 KiB sent %d requests: %v", kr, format, len(reqs), reqs)
			}
		}
	}
}
