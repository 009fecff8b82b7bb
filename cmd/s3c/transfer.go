package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/s3crypto"
)

// upload encrypts a local file (or stdin, for "-") to bucket/key.
func (a *app) upload(ctx context.Context, c *s3crypto.Client, src string, dst location, pr *progress) (*s3crypto.UploadOutput, error) {
	var body io.Reader
	size := int64(-1)
	if src == "-" {
		body = a.stdin
	} else {
		f, err := os.Open(src)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		st, err := f.Stat()
		if err != nil {
			return nil, err
		}
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s is not a regular file", src)
		}
		body, size = f, st.Size()
	}
	opts, err := a.callOptions()
	if err != nil {
		return nil, err
	}
	b := pr.start(dst.String(), size)
	defer b.done()
	in := &s3.PutObjectInput{Bucket: &dst.bucket, Key: &dst.key, Body: b.reader(body)}
	if size >= 0 {
		in.ContentLength = aws.Int64(size)
	}
	return s3crypto.NewUploader(c, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx, in)
}

// downloadResult is what a get reports.
type downloadResult struct {
	size int64
	info *s3crypto.ObjectInfo
}

// download decrypts bucket/key into a local file, or to stdout for "-".
// A file is written to a temporary file beside it and renamed into place
// only once the object is authenticated: on any failure the destination
// is untouched and the temporary file removed.
func (a *app) download(ctx context.Context, c *s3crypto.Client, src location, dst string, stream bool, rng string, pr *progress) (*downloadResult, error) {
	opts, err := a.callOptions()
	if err != nil {
		return nil, err
	}
	in := &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}
	if rng != "" {
		in.Range = aws.String("bytes=" + rng)
		opts = append(opts, s3crypto.WithUnauthenticatedRange())
	}
	if dst == "-" {
		return a.downloadStream(ctx, c, in, stream, opts, pr)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".s3c-*.tmp")
	if err != nil {
		return nil, err
	}
	kept := false
	defer func() {
		if !kept {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	b := pr.start(src.String(), -1)
	defer b.done()
	var res *downloadResult
	if rng != "" {
		res, err = a.getInto(ctx, c, in, tmp, opts, b)
	} else {
		var out *s3crypto.DownloadOutput
		out, err = s3crypto.NewDownloader(c, func(d *s3crypto.Downloader) { d.ClientOptions = opts }).Download(ctx, b.writerAt(tmp), in)
		if err == nil {
			res = &downloadResult{size: out.Size, info: out.Info}
		}
	}
	if err != nil {
		return nil, err
	}
	mode := os.FileMode(0o644)
	if st, err := os.Stat(dst); err == nil {
		if !st.Mode().IsRegular() {
			return nil, fmt.Errorf("%s exists and is not a regular file", dst)
		}
		mode = st.Mode().Perm()
	}
	if err := tmp.Chmod(mode); err != nil {
		return nil, err
	}
	if err := tmp.Close(); err != nil {
		return nil, err
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return nil, err
	}
	kept = true
	return res, nil
}

// getInto writes the plaintext from GetObject into f (already verified,
// unless a range was asked for).
func (a *app) getInto(ctx context.Context, c *s3crypto.Client, in *s3.GetObjectInput, f *os.File, opts []func(*s3.Options), b *bar) (*downloadResult, error) {
	out, err := c.GetObject(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	n, err := io.Copy(b.writer(f), out.Body)
	if err != nil {
		return nil, err
	}
	info, _ := s3crypto.GetObjectInfo(out.ResultMetadata)
	return &downloadResult{size: n, info: info}, nil
}

// downloadStream writes the plaintext to stdout: by default only once the
// whole object is authenticated; with stream, as it is decrypted.
func (a *app) downloadStream(ctx context.Context, c *s3crypto.Client, in *s3.GetObjectInput, stream bool, opts []func(*s3.Options), pr *progress) (*downloadResult, error) {
	if stream {
		opts = append(opts, s3crypto.WithUnauthenticatedStream())
	}
	b := pr.start("s3://"+*in.Bucket+"/"+*in.Key, -1)
	defer b.done()
	out, err := c.GetObject(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	n, err := io.Copy(b.writer(a.stdout), out.Body)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return nil, fmt.Errorf("writing to stdout: %w", err)
		}
		return nil, err
	}
	info, _ := s3crypto.GetObjectInfo(out.ResultMetadata)
	return &downloadResult{size: n, info: info}, nil
}

// copyObject decrypts src with rc and encrypts it again to dst with wc,
// streaming: the source is authenticated before the upload completes.
func (a *app) copyObject(ctx context.Context, rc, wc *s3crypto.Client, src, dst location, pr *progress) (int64, error) {
	opts, err := a.callOptions()
	if err != nil {
		return 0, err
	}
	out, err := rc.GetObject(ctx, &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}, opts...)
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	b := pr.start(dst.String(), aws.ToInt64(out.ContentLength))
	defer b.done()
	up, err := s3crypto.NewUploader(wc, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx,
		&s3.PutObjectInput{Bucket: &dst.bucket, Key: &dst.key, Body: b.reader(out.Body), ContentLength: out.ContentLength,
			ContentType: out.ContentType, Metadata: out.Metadata})
	if err != nil {
		return 0, err
	}
	return up.Size, nil
}
