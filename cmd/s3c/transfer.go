package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/s3crypto"
)

// upload encrypts a local file (or stdin, for "-") to bucket/key.
func (a *app) upload(ctx context.Context, c *s3crypto.Client, src string, dst location, b *bar) (*s3crypto.UploadOutput, error) {
	var body io.Reader
	size := int64(-1)
	if src == "-" {
		r, stop := contextReader(ctx, a.stdin)
		defer stop()
		body = r
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
	b.setTotal(size)
	in := &s3.PutObjectInput{Bucket: &dst.bucket, Key: &dst.key, Body: b.reader(body)}
	if size >= 0 {
		in.ContentLength = aws.Int64(size)
	}
	opts := a.callOptions()
	return s3crypto.NewUploader(c, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx, in)
}

// contextReader returns a reader of r whose Read fails with the cause of
// ctx's cancellation as soon as ctx is done, even while a Read of r is
// blocked (stdin as a terminal, or a pipe or FIFO whose writer sends
// nothing): the upload then fails at once and its multipart upload is
// aborted. r is read by a goroutine through an io.Pipe, which hands the
// goroutine's buffer straight to the reader. A regular file never blocks
// and is returned as it is. stop releases the goroutine (unless it is
// blocked in a Read of r, which the process's exit ends).
func contextReader(ctx context.Context, r io.Reader) (_ io.Reader, stop func()) {
	if f, ok := r.(*os.File); ok {
		if st, err := f.Stat(); err == nil && st.Mode().IsRegular() {
			return r, func() {}
		}
	}
	pr, pw := io.Pipe()
	go func() {
		// struct{ io.Reader } hides *os.File's WriteTo, which would
		// ignore the buffer.
		_, err := io.CopyBuffer(pw, struct{ io.Reader }{r}, make([]byte, 256<<10))
		pw.CloseWithError(err) // nil: EOF
	}()
	unwatch := context.AfterFunc(ctx, func() { pr.CloseWithError(context.Cause(ctx)) })
	return pr, func() {
		unwatch()
		pr.Close()
	}
}

// tempFiles are the temporary files being written, removed by the
// deferred clean-up of their download or, when a second signal exits at
// once, by removeTempFiles.
var tempFiles sync.Map // name → struct{}

func removeTempFiles() {
	tempFiles.Range(func(name, _ any) bool {
		os.Remove(name.(string))
		return true
	})
}

// downloadResult is what a get reports.
type downloadResult struct {
	size int64
	info *s3crypto.ObjectInfo
}

// download decrypts bucket/key into a local file, or to stdout for "-".
// A file is written to a temporary file beside it and renamed into place
// only once the object is authenticated: on any failure, cancellation
// included, the destination is untouched and the temporary file removed.
func (a *app) download(ctx context.Context, c *s3crypto.Client, src location, dst string, stream bool, rng string, b *bar) (*downloadResult, error) {
	opts := a.callOptions()
	in := &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}
	if rng != "" {
		in.Range = aws.String("bytes=" + rng)
		opts = append(opts, s3crypto.WithUnauthenticatedRange())
	}
	if dst == "-" {
		return a.downloadStream(ctx, c, in, stream, opts, b)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".s3c-*.tmp")
	if err != nil {
		return nil, err
	}
	tempFiles.Store(tmp.Name(), struct{}{})
	kept := false
	defer func() {
		if !kept {
			tmp.Close()
			os.Remove(tmp.Name())
		}
		tempFiles.Delete(tmp.Name())
	}()
	var res *downloadResult
	if rng != "" {
		res, err = a.getInto(ctx, c, in, tmp, opts, b)
	} else {
		if b.live() {
			// The Downloader reports the size only at the end: ask for it
			// beside, for the bar's total and ETA.
			stop := sizeInto(ctx, c, src, b)
			defer stop()
		}
		var out *s3crypto.DownloadOutput
		out, err = s3crypto.NewDownloader(c, func(d *s3crypto.Downloader) { d.ClientOptions = opts }).Download(ctx, b.writerAt(tmp), in)
		if err == nil {
			res = &downloadResult{size: out.Size, info: out.Info}
		}
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
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

// sizeInto heads the object (no key is unwrapped; ContentLength is the
// plaintext size) and sets the bar's total, while the download goes on.
// stop waits for it.
func sizeInto(ctx context.Context, c *s3crypto.Client, src location, b *bar) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &src.bucket, Key: &src.key})
		if err == nil && out.ContentLength != nil {
			b.setTotal(*out.ContentLength)
		}
	}()
	return func() {
		cancel()
		<-done
	}
}

// getInto writes the plaintext from GetObject into f (already verified,
// unless a range was asked for).
func (a *app) getInto(ctx context.Context, c *s3crypto.Client, in *s3.GetObjectInput, f *os.File, opts []func(*s3.Options), b *bar) (*downloadResult, error) {
	out, err := c.GetObject(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if out.ContentLength != nil {
		b.setTotal(*out.ContentLength)
	}
	n, err := io.Copy(b.writer(f), out.Body)
	if err != nil {
		return nil, err
	}
	info, _ := s3crypto.GetObjectInfo(out.ResultMetadata)
	return &downloadResult{size: n, info: info}, nil
}

// downloadStream writes the plaintext to stdout: by default only once the
// whole object is authenticated; with stream, as it is decrypted.
func (a *app) downloadStream(ctx context.Context, c *s3crypto.Client, in *s3.GetObjectInput, stream bool, opts []func(*s3.Options), b *bar) (*downloadResult, error) {
	if stream {
		opts = append(opts, s3crypto.WithUnauthenticatedStream())
	}
	out, err := c.GetObject(ctx, in, opts...)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	if out.ContentLength != nil {
		b.setTotal(*out.ContentLength)
	}
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
func (a *app) copyObject(ctx context.Context, rc, wc *s3crypto.Client, src, dst location, b *bar) (int64, error) {
	opts := a.callOptions()
	out, err := rc.GetObject(ctx, &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}, opts...)
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	if out.ContentLength != nil {
		b.setTotal(*out.ContentLength)
	}
	up, err := s3crypto.NewUploader(wc, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx,
		&s3.PutObjectInput{Bucket: &dst.bucket, Key: &dst.key, Body: b.reader(out.Body), ContentLength: out.ContentLength,
			ContentType: out.ContentType, Metadata: out.Metadata})
	if err != nil {
		return 0, err
	}
	return up.Size, nil
}
