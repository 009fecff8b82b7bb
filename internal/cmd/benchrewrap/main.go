// Command benchrewrap measures key rotation: s3c rewrap (RewrapObject:
// the data key rewrapped, the body never moved) against the old way, a
// cp re-encryption (download, decrypt, encrypt, upload), for many small
// objects and for one large object. It reports objects per second and
// the bytes of object body the client sent or received, counted by its
// HTTP transport (0 for rewrap, which is checked: exit 1 otherwise).
// `make bench-rewrap` runs it with a MinIO (or the server named by
// S3C_TEST_ENDPOINT). It is not part of `make test`.
package main

import (
	"context"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	mrand "math/rand/v2"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

func main() {
	n := flag.Int("n", 10000, "number of small objects (0: skip)")
	smallSize := flag.String("small-size", "4K", "size of each small object")
	large := flag.String("large", "1G", "size of the large object (0: skip)")
	jobs := flag.Int("jobs", 32, "objects processed at once")
	inst := flag.Bool("instruction-files", true, "also rewrap the small objects with their envelopes in instruction files")
	flag.Parse()
	log.SetFlags(0)
	log.SetPrefix("bench-rewrap: ")
	ss, err1 := parseSize(*smallSize)
	ls, err2 := parseSize(*large)
	if err := errors.Join(err1, err2); err != nil {
		log.Fatal(err)
	}
	if err := run(*n, ss, ls, *jobs, *inst); err != nil {
		log.Fatal(err)
	}
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return v * mult, nil
}

// counter is an HTTP transport that counts body bytes: all of them, and
// those of object bodies (PUT and UploadPart request bodies, GetObject
// response bodies; not listings, tags, instruction files or copies).
type counter struct {
	next     http.RoundTripper
	all, obj atomic.Int64
}

func (c *counter) RoundTrip(req *http.Request) (*http.Response, error) {
	q := req.URL.RawQuery
	isObj := !strings.HasSuffix(req.URL.Path, ".instruction") && !strings.Contains(q, "tagging") &&
		!strings.Contains(q, "list-type") && !strings.Contains(q, "uploads") && req.Header.Get("X-Amz-Copy-Source") == ""
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = &countingBody{ReadCloser: req.Body, n: &c.all, obj: objCounter(c, isObj && req.Method == http.MethodPut)}
	}
	resp, err := c.next.RoundTrip(req)
	if err == nil && resp.Body != nil {
		resp.Body = &countingBody{ReadCloser: resp.Body, n: &c.all, obj: objCounter(c, isObj && req.Method == http.MethodGet && resp.StatusCode/100 == 2)}
	}
	return resp, err
}

func objCounter(c *counter, yes bool) *atomic.Int64 {
	if yes {
		return &c.obj
	}
	return nil
}

type countingBody struct {
	io.ReadCloser
	n, obj *atomic.Int64
}

func (b *countingBody) Read(p []byte) (int, error) {
	k, err := b.ReadCloser.Read(p)
	b.n.Add(int64(k))
	if b.obj != nil {
		b.obj.Add(int64(k))
	}
	return k, err
}

type row struct {
	what, how       string
	objects         int
	seconds         float64
	objBytes, bytes int64
}

func run(n int, smallSize, largeSize int64, jobs int, inst bool) error {
	ctx := context.Background()
	srv, err := miniotest.Start(log.Printf)
	if err != nil {
		return err
	}
	defer srv.Stop()
	cnt := &counter{next: srv.Transport()}
	raw := srv.Client(func(o *s3.Options) { o.HTTPClient = &http.Client{Transport: cnt} })
	bucket := "s3c-bench-rewrap-" + strconv.FormatInt(time.Now().UnixNano(), 36)
	if _, err := raw.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return err
	}
	defer cleanup(srv.Client(), bucket)

	keys := make([]*materials.AESKeyring, 3)
	for i := range keys {
		k := make([]byte, 32)
		rand.Read(k)
		if keys[i], err = materials.NewAES(k); err != nil {
			return err
		}
	}
	oldC, _ := s3crypto.New(raw, keys[0])
	// Reads under any of the three; rewraps to keys[1]; cp writes keys[2].
	rc, _ := s3crypto.New(raw, materials.Multi(keys[1], keys[0], keys[2]))
	cpC, _ := s3crypto.New(raw, keys[2])

	fmt.Printf("Key rotation: s3c rewrap against cp re-encryption (S3: %s; %d CPUs, a shared and noisy machine: compare rows of one run, not runs)\n\n",
		srv.Endpoint, runtime.NumCPU())
	var rows []row
	measure := func(what, how string, objects int, f func() error) error {
		cnt.all.Store(0)
		cnt.obj.Store(0)
		start := time.Now()
		if err := f(); err != nil {
			return fmt.Errorf("%s %s: %w", what, how, err)
		}
		rows = append(rows, row{what, how, objects, time.Since(start).Seconds(), cnt.obj.Load(), cnt.all.Load()})
		return nil
	}
	rewrap := func(key string) error {
		_, err := rc.RewrapObject(ctx, &s3crypto.RewrapObjectInput{Bucket: &bucket, Key: &key, NewKeyring: keys[1]})
		return err
	}
	cp := func(key string) error {
		out, err := rc.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		_, err = s3crypto.NewUploader(cpC).Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: out.Body,
			ContentLength: out.ContentLength, IfMatch: nil})
		return err
	}

	if n > 0 {
		small := make([]string, n)
		for i := range small {
			small[i] = fmt.Sprintf("small/%06d", i)
		}
		log.Printf("storing %d objects of %d bytes", n, smallSize)
		body := make([]byte, smallSize)
		rand.Read(body)
		if err := parallel(small, jobs, func(k string) error {
			_, err := oldC.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &k, Body: strings.NewReader(string(body))})
			return err
		}); err != nil {
			return err
		}
		what := fmt.Sprintf("%d × %s", n, human(smallSize))
		if err := measure(what, "rewrap", n, func() error { return parallel(small, jobs, rewrap) }); err != nil {
			return err
		}
		if err := measure(what, "cp", n, func() error { return parallel(small, jobs, cp) }); err != nil {
			return err
		}
		if inst {
			// The same with the envelopes in instruction files: rewrap
			// rewrites only those, the objects are not copied.
			instC, _ := s3crypto.New(raw, keys[0], func(o *s3crypto.Options) { o.InstructionFile = true })
			for i := range small {
				small[i] = fmt.Sprintf("inst/%06d", i)
			}
			log.Printf("storing %d objects of %d bytes with instruction files", n, smallSize)
			if err := parallel(small, jobs, func(k string) error {
				_, err := instC.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &k, Body: strings.NewReader(string(body))})
				return err
			}); err != nil {
				return err
			}
			if err := measure(what, "rewrap (instruction files)", n, func() error { return parallel(small, jobs, rewrap) }); err != nil {
				return err
			}
		}
	}
	if largeSize > 0 {
		key := "large/object"
		log.Printf("storing one object of %s", human(largeSize))
		src := io.LimitReader(mrand.NewChaCha8([32]byte{1}), largeSize)
		if _, err := s3crypto.NewUploader(oldC).Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: src, ContentLength: &largeSize}); err != nil {
			return err
		}
		what := "1 × " + human(largeSize)
		if err := measure(what, "rewrap", 1, func() error { return rewrap(key) }); err != nil {
			return err
		}
		if err := measure(what, "cp", 1, func() error { return cp(key) }); err != nil {
			return err
		}
	}

	fmt.Printf("%-16s %-26s %9s %10s %11s %20s %16s\n", "objects", "method", "seconds", "objects/s", "MiB/s", "object body bytes", "all body bytes")
	ok := true
	for _, r := range rows {
		size := largeSize
		if r.objects > 1 {
			size = smallSize * int64(r.objects)
		}
		fmt.Printf("%-16s %-26s %9.2f %10.1f %11.1f %20d %16d\n", r.what, r.how, r.seconds, float64(r.objects)/r.seconds,
			float64(size)/(1<<20)/r.seconds, r.objBytes, r.bytes)
		if strings.HasPrefix(r.how, "rewrap") && r.objBytes != 0 {
			ok = false
		}
	}
	fmt.Println()
	fmt.Println("MiB/s is plaintext rotated per second. Object body bytes: PUT/UploadPart request bodies and GetObject")
	fmt.Println("response bodies the client sent or received; all body bytes adds envelopes, instruction files and XML.")
	if !ok {
		fmt.Println("rewrap moved object body bytes: NOT MET (must be 0)")
		os.Exit(1)
	}
	fmt.Println("rewrap moved 0 bytes of object body: met")
	return nil
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20 && n%(1<<20) == 0:
		return fmt.Sprintf("%d MiB", n>>20)
	case n >= 1<<10 && n%(1<<10) == 0:
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}

// parallel runs f on every key, jobs at a time; the first error wins.
func parallel(keys []string, jobs int, f func(string) error) error {
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	ch := make(chan string)
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for k := range ch {
				if err := f(k); err != nil {
					mu.Lock()
					if first == nil {
						first = fmt.Errorf("%s: %w", k, err)
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, k := range keys {
		ch <- k
	}
	close(ch)
	wg.Wait()
	return first
}

// cleanup empties and removes the bucket (the server may outlive the run).
func cleanup(c *s3.Client, bucket string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			log.Printf("cleanup: %v", err)
			return
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if len(ids) > 0 {
			if _, err := c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}}); err != nil {
				log.Printf("cleanup: %v", err)
				return
			}
		}
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket}); err != nil {
		log.Printf("cleanup: %v", err)
	}
}
