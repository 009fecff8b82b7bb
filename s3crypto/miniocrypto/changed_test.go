package miniocrypto

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/s3c/s3c/internal/faultproxy"
	"github.com/s3c/s3c/s3crypto"
)

// An object overwritten between the requests of one read (minio-go
// pins its GET to the ETag its HEAD saw) is read again from the new
// version; if it keeps changing, the error says so, not a bare 412.
func TestGetObjectRacesOverwrite(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	kr := keyrings(t)["aes"]
	direct := newClient(t, kr)
	proxy, err := faultproxy.Start(server.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	mc, err := minio.New(proxy.Addr(), &minio.Options{
		Creds: credentials.NewStaticV4(server.AccessKey, server.SecretKey, ""), Region: server.Region})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(mc, kr)
	if err != nil {
		t.Fatal(err)
	}
	var version atomic.Int32
	put := func(key string) []byte {
		data := bytes.Repeat([]byte{byte('a' + version.Add(1))}, 1000)
		if _, err := direct.PutObject(bg, bucket, key, bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
			t.Error(err)
		}
		return data
	}
	// overwriteOnGet overwrites key, synchronously, as each of the first
	// n GETs of it arrives, before the server sees the request.
	overwriteOnGet := func(key string, n int32, latest *atomic.Pointer[[]byte]) {
		var gets atomic.Int32
		proxy.Add(&faultproxy.Rule{Method: "GET", Kind: faultproxy.ResetRequest, Match: func(_, target string) bool {
			if target == "/"+bucket+"/"+key && gets.Add(1) <= n {
				data := put(key)
				latest.Store(&data)
			}
			return false
		}})
	}

	for _, stream := range []bool{false, true} {
		ctx, name := bg, "verified"
		if stream {
			ctx, name = WithUnauthenticatedStream(bg), "streamed"
		}
		key := name + "-once"
		put(key)
		var latest atomic.Pointer[[]byte]
		overwriteOnGet(key, 1, &latest)
		got, _, err := readAll(t, c, ctx, bucket, key)
		if err != nil || latest.Load() == nil || !bytes.Equal(got, *latest.Load()) {
			t.Fatalf("%s, overwritten once: %v", name, err)
		}

		key = name + "-always"
		put(key)
		overwriteOnGet(key, 1000, &latest)
		got, _, err = readAll(t, c, ctx, bucket, key)
		if err == nil || len(got) != 0 || !errors.Is(err, ErrObjectChanged) || s3crypto.IsIntegrityError(err) {
			t.Fatalf("%s, overwritten on every read: %d bytes, %v", name, len(got), err)
		}
		for _, want := range []string{"s3://" + bucket + "/" + key, "changed while it was being read (overwritten); nothing was returned"} {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("%s: error %q does not say %q", name, err, want)
			}
		}
	}

	// Options with headers of their own: minio-go writes its If-Match
	// into their map, which the second try must not inherit.
	key0 := "with-headers"
	put(key0)
	var latest atomic.Pointer[[]byte]
	overwriteOnGet(key0, 1, &latest)
	var hopts minio.GetObjectOptions
	hopts.Set("X-S3c-Test", "1")
	obj, err := c.GetObject(bg, bucket, key0, hopts)
	if err != nil {
		t.Fatalf("options with headers, overwritten once: %v", err)
	}
	if got, _ := io.ReadAll(obj); !bytes.Equal(got, *latest.Load()) {
		t.Fatal("options with headers: not the new version")
	}

	// The caller's own precondition is the caller's: no second try.
	key := "own-precondition"
	put(key)
	var opts minio.GetObjectOptions
	opts.SetMatchETag("0123456789abcdef0123456789abcdef")
	before := len(proxy.Requests())
	_, err = c.GetObject(bg, bucket, key, opts)
	if err == nil || errors.Is(err, ErrObjectChanged) {
		t.Fatalf("GetObject with an If-Match that does not hold: %v", err)
	}
	if n := len(proxy.Requests()) - before; n != 1 {
		t.Fatalf("%d requests for a read whose own precondition failed", n)
	}
}
