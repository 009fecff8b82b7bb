package main

import (
	"bytes"
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
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/miniotest"
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

func clients() (*s3.Client, *s3crypto.Client, *s3crypto.Client, string, error) {
	srv, err := miniotest.Start(nil) // S3C_TEST_ENDPOINT is set by the parent
	if err != nil {
		return nil, nil, nil, "", err
	}
	plain := srv.Client()
	k := kms.New(kms.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(os.Getenv("S3C_BENCH_KMS")),
		Credentials:  credentials.NewStaticCredentialsProvider("AKIDBENCH", "bench-secret", ""),
	})
	enc, err := s3crypto.New(plain, materials.NewKMS(k, "alias/bench"))
	if err != nil {
		return nil, nil, nil, "", err
	}
	aesKR, err := materials.NewAES(make([]byte, 32))
	if err != nil {
		return nil, nil, nil, "", err
	}
	raw, err := s3crypto.New(plain, aesKR)
	return plain, enc, raw, os.Getenv("S3C_BENCH_BUCKET"), err
}

func runChild(op string, size int64, file, key string, small, workers int) (result, error) {
	ctx := context.Background()
	plain, enc, raw, bucket, err := clients()
	if err != nil {
		return result{}, err
	}
	f, err := os.Open(file)
	if err != nil {
		return result{}, err
	}
	defer f.Close()
	src := io.NewSectionReader(f, 0, size)
	dir := os.Getenv("S3C_BENCH_DIR")
	start := time.Now()
	switch op {
	case "put-plain":
		_, err = plain.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: src, ContentLength: aws.Int64(size)})
	case "put-manager":
		_, err = manager.NewUploader(plain).Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: src})
	case "put-s3c":
		_, err = s3crypto.NewUploader(enc).Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: src, ContentLength: aws.Int64(size)})
	case "get-plain":
		err = getToFile(ctx, dir, func(w *os.File) error {
			out, err := plain.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("manager-" + fmt.Sprint(size))})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(w, out.Body)
			return err
		})
	case "get-s3c-downloader":
		err = getToFile(ctx, dir, func(w *os.File) error {
			_, err := s3crypto.NewDownloader(enc).Download(ctx, w, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("s3c-" + fmt.Sprint(size))})
			return err
		})
	case "get-s3c-getobject":
		err = getToFile(ctx, dir, func(w *os.File) error {
			out, err := enc.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("s3c-" + fmt.Sprint(size))})
			if err != nil {
				return err
			}
			defer out.Body.Close()
			_, err = io.Copy(w, out.Body)
			return err
		})
	case "small-put-plain", "small-get-plain":
		return smallObjects(ctx, op, plain, "small-plain/", bucket, small, workers)
	case "small-put-aes", "small-get-aes":
		return smallObjects(ctx, op, raw, "small-aes/", bucket, small, workers)
	case "small-put-kms", "small-get-kms":
		return smallObjects(ctx, op, enc, "small-kms/", bucket, small, workers)
	default:
		return result{}, fmt.Errorf("unknown operation %q", op)
	}
	if err != nil {
		return result{}, err
	}
	return result{Seconds: time.Since(start).Seconds()}, nil
}

// getToFile downloads into a new file and removes it.
func getToFile(ctx context.Context, dir string, get func(*os.File) error) error {
	f, err := os.CreateTemp(dir, "get-")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	defer f.Close()
	return get(f)
}

func smallObjects(ctx context.Context, op string, api s3crypto.ObjectAPI, prefix, bucket string, n, workers int) (result, error) {
	data := bytes.Repeat([]byte("s3c!"), 1024)
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(n) {
					return
				}
				key := fmt.Sprintf("%s%05d", prefix, i)
				var err error
				if strings.HasPrefix(op, "small-put") {
					_, err = api.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(data)})
				} else {
					var out *s3.GetObjectOutput
					if out, err = api.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key}); err == nil {
						_, err = io.Copy(io.Discard, out.Body)
						out.Body.Close()
					}
				}
				if err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return result{}, err
	}
	return result{Seconds: time.Since(start).Seconds(), Ops: n}, nil
}
