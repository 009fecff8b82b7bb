package s3crypto

import (
	"bytes"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
)

// proxied returns a proxy in front of the test S3 server and an
// encryption client that goes through it.
func (e *env) proxied(kr string, optFns ...func(*Options)) (*faultproxy.Proxy, *Client) {
	e.t.Helper()
	p, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(p.Close)
	c, err := New(minio.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(p.URL()) }), e.keyrings[kr], optFns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return p, c
}

// objectGET matches the GETs of the object itself (not its instruction
// file).
func (e *env) objectGET(key string) func(method, target string) bool {
	prefix := "/" + e.bucket + "/" + key
	return func(method, target string) bool {
		return method == "GET" && (target == prefix || strings.HasPrefix(target, prefix+"?"))
	}
}

// The fault series of issue 9.10: gets of a 20 MiB object, each through a
// connection reset after a random 1–20 MiB of the response (once). Every
// get must resume and succeed. S3C_FAULT_TRIALS raises the number of
// trials (the figures in the notes come from 30).
func TestFaultSeriesGetResumes(t *testing.T) {
	e := newEnv(t)
	proxy, c := e.proxied("aes")
	const size = 20 << 20
	data := randomBytes(size)
	key := "series"
	e.put(e.client(e.keyrings["aes"]), key, data)
	trials := 10
	if n, err := strconv.Atoi(os.Getenv("S3C_FAULT_TRIALS")); err == nil && n > 0 {
		trials = n
	}
	rng := rand.New(rand.NewPCG(9, 10))
	failed := map[string]int{}
	for i := range trials {
		after := 1<<20 + rng.Int64N(19<<20)
		for _, path := range []string{"GetObject", "Downloader"} {
			proxy.Clear()
			rule := proxy.Add(&faultproxy.Rule{Match: e.objectGET(key), Kind: faultproxy.ResetResponse, After: after, Times: 1})
			var got []byte
			var err error
			switch path {
			case "GetObject":
				got, _, err = e.get(c, key)
			case "Downloader":
				var f memWriterAt
				_, err = NewDownloader(c).Download(bg, &f, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
				got = f.b
			}
			if rule.Hits() != 1 {
				t.Fatalf("trial %d %s: the fault did not fire", i, path)
			}
			if err != nil || !bytes.Equal(got, data) {
				failed[path]++
				t.Logf("trial %d %s: reset after %d bytes: %v", i, path, after, err)
			}
		}
	}
	t.Logf("fault series: %d trials per path; failed: GetObject %d, Downloader %d", trials, failed["GetObject"], failed["Downloader"])
	if len(failed) > 0 {
		t.Errorf("gets failed under a single connection reset: %v of %d each", failed, trials)
	}
}
