package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/keyring/branch"
	"github.com/s3c/s3c/keyring/branch/s3store"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

type pattern struct {
	ctr  cipher.Stream
	left int64
}

func newPattern(n int64) *pattern {
	b, _ := aes.NewCipher(make([]byte, 16))
	return &pattern{ctr: cipher.NewCTR(b, make([]byte, 16)), left: n}
}

func (p *pattern) Read(b []byte) (int, error) {
	if p.left == 0 {
		return 0, io.EOF
	}
	if int64(len(b)) > p.left {
		b = b[:p.left]
	}
	clear(b)
	p.ctr.XORKeyStream(b, b)
	p.left -= int64(len(b))
	return len(b), nil
}

// Object keys of one size, shared by parent and children.
func keyPlain(size int64) string   { return fmt.Sprintf("plain-%d", size) }
func keyManager(size int64) string { return fmt.Sprintf("manager-%d", size) }
func keyTuned(size int64) string   { return fmt.Sprintf("manager-s3c-settings-%d", size) }
func keyS3C(size int64) string     { return fmt.Sprintf("s3c-%d", size) }

// unsignedOverHTTP is what s3crypto does to its encrypted bodies over
// plain http (see unsignedPayload in s3crypto/transport.go): UNSIGNED-PAYLOAD
// instead of a SHA-256 of the body. Over https the SDK already does so
// for everyone, and this adds nothing.
func unsignedOverHTTP(endpoint string) []func(*s3.Options) {
	if !strings.HasPrefix(endpoint, "http://") {
		return nil
	}
	return []func(*s3.Options){func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
	}}
}

type clientSet struct {
	plain    *s3.Client
	unsigned []func(*s3.Options) // s3c's payload signing, for plain baselines
	kms      *s3crypto.Client    // KMS keyring: large objects, small "kms" rows
	aes      *s3crypto.Client    // raw AES keyring: small "aes" rows
	branch   *s3crypto.Client    // branch keys under the KMS key: small "branch" rows
	bucket   string
}

func clients() (*clientSet, error) {
	srv, err := miniotest.Start(nil) // S3C_TEST_ENDPOINT is set by the parent
	if err != nil {
		return nil, err
	}
	plain := srv.Client()
	k := kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(os.Getenv("S3C_BENCH_KMS")),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
	})
	kmsKR := materials.NewKMS(k, "alias/bench")
	enc, err := s3crypto.New(plain, kmsKR)
	if err != nil {
		return nil, err
	}
	bkr, err := branch.NewKeyring(benchKeystore(plain, os.Getenv("S3C_BENCH_BUCKET")), kmsKR,
		branch.Options{BranchKeyID: benchBranchKey, CacheTTL: 15 * time.Minute})
	if err != nil {
		return nil, err
	}
	bc, err := s3crypto.New(plain, bkr)
	if err != nil {
		return nil, err
	}
	aesKR, err := materials.NewAES(make([]byte, 32))
	if err != nil {
		return nil, err
	}
	raw, err := s3crypto.New(plain, aesKR)
	if err != nil {
		return nil, err
	}
	return &clientSet{plain: plain, unsigned: unsignedOverHTTP(srv.Endpoint), kms: enc, aes: raw, branch: bc, bucket: os.Getenv("S3C_BENCH_BUCKET")}, nil
}

// runChild does one measured operation; the caller adds the peak RSS.
func runChild(op string, size int64, file string, small, workers int) (result, error) {
	ctx := context.Background()
	cs, err := clients()
	if err != nil {
		return result{}, err
	}
	bucket := cs.bucket
	dir := os.Getenv("S3C_BENCH_DIR")
	var src *io.SectionReader
	if strings.HasPrefix(op, "put-") {
		f, err := os.Open(file)
		if err != nil {
			return result{}, err
		}
		defer f.Close()
		src = io.NewSectionReader(f, 0, size)
	}
	put := func(key string) *s3.PutObjectInput {
		return &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(key), Body: src, ContentLength: aws.Int64(size)}
	}
	get := func(key string) *s3.GetObjectInput { return &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)} }
	start := time.Now()
	switch op {
	case "put-plain":
		_, err = cs.plain.PutObject(ctx, put(keyPlain(size)))
	case "put-manager":
		_, err = manager.NewUploader(cs.plain).Upload(ctx, put(keyManager(size)))
	case "put-manager-s3c-settings":
		_, err = manager.NewUploader(cs.plain, func(u *manager.Uploader) {
			u.PartSize = s3crypto.DefaultPartSize
			u.Concurrency = s3crypto.DefaultConcurrency
			u.ClientOptions = append(u.ClientOptions, cs.unsigned...)
		}).Upload(ctx, put(keyTuned(size)))
	case "put-s3c":
		_, err = s3crypto.NewUploader(cs.kms).Upload(ctx, put(keyS3C(size)))
	case "get-plain":
		err = getToFile(dir, size, func(w *os.File) error {
			out, err := cs.plain.GetObject(ctx, get(keyManager(size)))
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(w, out.Body)
			return err
		})
	case "get-plain-downloader":
		err = getToFile(dir, size, func(w *os.File) error {
			_, err := manager.NewDownloader(cs.plain, func(d *manager.Downloader) {
				d.PartSize = s3crypto.DefaultDownloadPartSize
				d.Concurrency = s3crypto.DefaultConcurrency
			}).Download(ctx, w, get(keyManager(size)))
			return err
		})
	case "get-s3c-downloader":
		err = getToFile(dir, size, func(w *os.File) error {
			_, err := s3crypto.NewDownloader(cs.kms).DownloadUnauthenticated(ctx, w, get(keyS3C(size)))
			return err
		})
	case "small-put-plain", "small-get-plain":
		return smallObjects(ctx, op, plainAPI{cs.plain, cs.unsigned}, "small-plain/", bucket, small, workers)
	case "small-get-envelope": // the raw AES rows' objects, as stored: ciphertext and envelope, no client work
		return smallObjects(ctx, op, plainAPI{cs.plain, cs.unsigned}, "small-aes/", bucket, small, workers)
	case "small-cpr-plain":
		return smallDownloads(ctx, cs.plain, "small-plain/", bucket, dir, small)
	case "small-cpr-cli":
		return runCLICopy(ctx, bucket, "small-aes/", dir, small)
	case "small-put-aes", "small-get-aes":
		return smallObjects(ctx, op, cs.aes, "small-aes/", bucket, small, workers)
	case "small-put-kms", "small-get-kms":
		return smallObjects(ctx, op, cs.kms, "small-kms/", bucket, small, workers)
	case "small-put-branch", "small-get-branch":
		return smallObjects(ctx, op, cs.branch, "small-branch/", bucket, small, workers)
	default:
		if r, ok, err := runIndexChild(ctx, cs, op, size, file); ok {
			return r, err
		}
		return result{}, fmt.Errorf("unknown operation %q", op)
	}
	if err != nil {
		return result{}, err
	}
	return result{Seconds: time.Since(start).Seconds()}, nil
}

// getToFile downloads into a new file in dir, checks its size and
// removes it.
func getToFile(dir string, size int64, get func(*os.File) error) error {
	f, err := os.CreateTemp(dir, "get-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	if err := get(f); err != nil {
		return err
	}
	st, err := f.Stat()
	if err != nil {
		return err
	}
	if st.Size() != size {
		return fmt.Errorf("downloaded %d bytes, want %d", st.Size(), size)
	}
	return nil
}

// plainAPI is the plain client with s3c's payload signing on puts, so
// that the small-object rows differ only by encryption.
type plainAPI struct {
	*s3.Client
	unsigned []func(*s3.Options)
}

func (p plainAPI) PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	return p.Client.PutObject(ctx, in, append(append([]func(*s3.Options){}, p.unsigned...), optFns...)...)
}

type smallAPI interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
}

func smallObjects(ctx context.Context, op string, api smallAPI, prefix, bucket string, n, workers int) (result, error) {
	data := bytes.Repeat([]byte("s3c!"), 1024)
	want := int64(len(data))
	if op == "small-get-envelope" {
		want += 16 // the GCM tag
	}
	return timedOps(n, workers, func(i int) error {
		key := fmt.Sprintf("%s%05d", prefix, i)
		if strings.HasPrefix(op, "small-put") {
			_, err := api.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
			return err
		}
		out, err := api.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return err
		}
		defer out.Body.Close()
		k, err := io.Copy(io.Discard, out.Body)
		if err == nil && k != want {
			err = fmt.Errorf("%s: got %d bytes, want %d", key, k, want)
		}
		return err
	})
}

// timedOps calls op for 0 … n-1 on workers goroutines and returns the
// time and this process's CPU time they took; the first error stops it.
func timedOps(n, workers int, op func(i int) error) (result, error) {
	var (
		next     atomic.Int64
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	start, cpu := time.Now(), cpuTime()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				if err := op(int(i)); err != nil {
					mu.Lock()
					firstErr = cmp.Or(firstErr, err)
					mu.Unlock()
					next.Store(int64(n)) // the others stop too
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return result{}, firstErr
	}
	return result{Seconds: time.Since(start).Seconds(), Ops: n, CPU: (cpuTime() - cpu).Seconds()}, nil
}

// benchBranchKey is the branch key of the "branch" rows, made by the
// parent under the KMS key alias/bench.
const benchBranchKey = "bench"

func benchKeystore(c *s3.Client, bucket string) *s3store.Store {
	return s3store.New(c, bucket, "bench-keystore/")
}
