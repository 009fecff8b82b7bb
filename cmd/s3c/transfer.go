package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
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
// The copy keeps what "aws s3 cp" keeps: the content headers
// (Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
// Content-Language, Expires), user metadata, storage class, website
// redirect and tags. It is encrypted under the source's own encryption
// context (or material description), read from its envelope, unless
// --context gives one, which then applies to both sides.
func (a *app) copyObject(ctx context.Context, rc, wc *s3crypto.Client, src, dst location, b *bar) (int64, error) {
	opts := a.callOptions()
	get := &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}
	if a.ec == nil {
		// HeadObject reads the envelope without unwrapping a key; the GET
		// is then pinned to the version it described.
		h, err := rc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &src.bucket, Key: &src.key})
		if err != nil {
			return 0, err
		}
		if info, ok := s3crypto.GetObjectInfo(h.ResultMetadata); ok {
			opts = append(opts, s3crypto.WithEncryptionContext(ownContext(info.Envelope.Description)))
			get.IfMatch = h.ETag
		}
	}
	out, err := rc.GetObject(ctx, get, opts...)
	if err != nil {
		return 0, err
	}
	defer out.Body.Close()
	if out.ContentLength != nil {
		b.setTotal(*out.ContentLength)
	}
	put := &s3.PutObjectInput{Bucket: &dst.bucket, Key: &dst.key, Body: b.reader(out.Body), ContentLength: out.ContentLength,
		ContentType: out.ContentType, Metadata: out.Metadata,
		CacheControl: out.CacheControl, ContentDisposition: out.ContentDisposition, ContentEncoding: out.ContentEncoding,
		ContentLanguage: out.ContentLanguage, Expires: out.Expires, StorageClass: out.StorageClass,
		WebsiteRedirectLocation: out.WebsiteRedirectLocation}
	if aws.ToInt32(out.TagCount) > 0 {
		tags, err := rc.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &src.bucket, Key: &src.key, VersionId: out.VersionId})
		if err != nil {
			return 0, fmt.Errorf("reading the tags of %s, which the copy must keep: %w", src, err)
		}
		put.Tagging = aws.String(encodeTags(tags.TagSet))
	}
	up, err := s3crypto.NewUploader(wc, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx, put)
	if err != nil {
		return 0, err
	}
	return up.Size, nil
}

// ownContext is the caller's part of a stored encryption context or
// material description: without the pairs the keyrings add themselves
// (aws:x-amz-cek-alg and kms_cmk_id for KMS, s3c:key-id for raw keys),
// which are what WithEncryptionContext takes.
func ownContext(d map[string]string) map[string]string {
	ec := maps.Clone(d)
	if ec == nil {
		ec = map[string]string{}
	}
	delete(ec, metadata.ContextContentAlg)
	delete(ec, metadata.ContextKMSKeyID)
	delete(ec, materials.DescriptionKeyID)
	return ec
}

// encodeTags writes a tag set as S3's x-amz-tagging header wants it: a
// URL query string.
func encodeTags(tags []types.Tag) string {
	esc := func(s string) string { return strings.ReplaceAll(url.QueryEscape(s), "+", "%20") }
	parts := make([]string, 0, len(tags))
	for _, t := range tags {
		parts = append(parts, esc(aws.ToString(t.Key))+"="+esc(aws.ToString(t.Value)))
	}
	return strings.Join(parts, "&")
}
