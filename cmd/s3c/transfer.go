package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/internal/filemode"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// upload encrypts a local file (or stdin, for "-") to bucket/key.
func (a *app) upload(ctx context.Context, c *s3crypto.Client, src string, dst location, b *bar) (*s3crypto.UploadOutput, error) {
	var body io.Reader
	var mtime time.Time
	size := int64(-1)
	if src == "-" {
		r, stop := contextReader(ctx, a.stdin)
		defer stop()
		body = r
		size = regularRemaining(a.stdin)
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
		body, size, mtime = f, st.Size(), st.ModTime()
	}
	b.setTotal(size)
	in := &s3.PutObjectInput{Bucket: &dst.bucket, Key: &dst.key, Body: b.reader(body)}
	if size >= 0 && src != "-" {
		in.ContentLength = aws.Int64(size)
		recordMtime(in, mtime)
	}
	if a.noClobber {
		in.IfNoneMatch = aws.String("*")
	}
	a.setObjectSettings(in, src)
	opts := a.callOptions()
	out, err := s3crypto.NewUploader(c, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx, in)
	return out, clobbered(err)
}

// mtimeKey is the user metadata entry that records the modification time
// of the file an object was uploaded from, as rclone records it: Unix
// seconds with a nanosecond fraction ("1733150000.123456789"). A download
// gives the file that time back, so that sync compares a file with the
// object it was uploaded from (or downloaded to) exactly.
const mtimeKey = "mtime"

// recordMtime adds the file's modification time to the upload's metadata.
func recordMtime(in *s3.PutObjectInput, t time.Time) {
	if t.IsZero() {
		return
	}
	if in.Metadata == nil {
		in.Metadata = map[string]string{}
	}
	in.Metadata[mtimeKey] = formatMtime(t)
}

func formatMtime(t time.Time) string {
	return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond())
}

// parseMtime reads a recorded modification time ("secs[.fraction]"); ok
// is false if there is none or it is malformed.
func parseMtime(s string) (time.Time, bool) {
	secs, frac, _ := strings.Cut(strings.TrimSpace(s), ".")
	sec, err := strconv.ParseInt(secs, 10, 64)
	if err != nil || secs == "" || len(frac) > 9 {
		return time.Time{}, false
	}
	var nsec int64
	if frac != "" {
		if nsec, err = strconv.ParseInt(frac+strings.Repeat("0", 9-len(frac)), 10, 64); err != nil || nsec < 0 {
			return time.Time{}, false
		}
	}
	return time.Unix(sec, nsec), true
}

// objectMtime is the modification time a file downloaded from an object
// gets: the one recorded at upload, else the object's LastModified.
func objectMtime(meta map[string]string, lastModified *time.Time) time.Time {
	if t, ok := parseMtime(meta[mtimeKey]); ok {
		return t
	}
	return aws.ToTime(lastModified)
}

// clobbered turns the refusal of a conditional write (If-None-Match: *,
// for --no-clobber) into errExists: an object was created meanwhile.
func clobbered(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return errExists
	}
	return err
}

// regularRemaining is what is left to read of r if it is a regular file
// (stdin redirected from a file), else -1.
func regularRemaining(r io.Reader) int64 {
	f, ok := r.(*os.File)
	if !ok {
		return -1
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return -1
	}
	pos, err := f.Seek(0, io.SeekCurrent)
	if err != nil {
		return -1
	}
	return max(st.Size()-pos, 0)
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

// downloadResult is what a get reports.
type downloadResult struct {
	size   int64
	info   *s3crypto.ObjectInfo
	stdout bool      // written to stdout
	mtime  time.Time // the modification time the file gets (see objectMtime)
}

// download decrypts bucket/key into a local file, or to stdout for "-"
// or a path that names stdout (/dev/stdout). A file is written where no
// one sees it (see createOut) and put in place only once the object is
// authenticated: on any failure, cancellation included, the destination
// is untouched. A symbolic link is written through: its target is
// replaced. A new file's mode is 0666 less the umask; a file replaced
// keeps its mode.
func (a *app) download(ctx context.Context, c *s3crypto.Client, src location, dst string, stream bool, rng string, b *bar) (*downloadResult, error) {
	opts := append(a.callOptions(), requireContentLength)
	in := &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}
	a.setSSECRead(in, false)
	if rng != "" {
		in.Range = aws.String("bytes=" + rng)
		opts = append(opts, s3crypto.WithUnauthenticatedRange())
	}
	target, toStdout, err := a.resolveDest(dst)
	if err != nil {
		return nil, err
	}
	if toStdout {
		res, err := a.downloadStream(ctx, c, in, stream, opts, b)
		if res != nil {
			res.stdout = true
		}
		return res, err
	}
	out, err := createOut(target)
	if err != nil {
		return nil, err
	}
	defer out.discard()
	var res *downloadResult
	if rng != "" {
		res, err = a.getInto(ctx, c, in, out, opts, b)
	} else {
		if b.live() {
			// The Downloader reports the size only at the end: ask for it
			// beside, for the bar's total and ETA.
			stop := sizeInto(ctx, c, headInput(in), b)
			defer stop()
		}
		var dl *s3crypto.DownloadOutput
		dl, err = s3crypto.NewDownloader(c, func(d *s3crypto.Downloader) { d.ClientOptions = opts }).DownloadUnauthenticated(ctx, b.writerAt(out), in)
		var ae smithy.APIError
		switch {
		case err == nil:
			res = &downloadResult{size: dl.Size, info: dl.Info}
			if dl.Object != nil {
				res.mtime = objectMtime(dl.Object.Metadata, dl.Object.LastModified)
			}
		case errors.As(err, &ae) && ae.ErrorCode() == "InvalidRange":
			// An empty object: the Downloader's first ranged GET cannot
			// be satisfied. GetObject, as to stdout, says what it is
			// (for an encrypted object: shorter than its tag).
			res, err = a.getInto(ctx, c, in, out, opts, b)
		}
	}
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Cause(ctx)
	}
	if st, err := os.Stat(target); err == nil && !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file", dst)
	}
	if rng == "" {
		out.mtime = res.mtime // a part of the object is not the object
	}
	out.noClobber = a.noClobber
	if err := out.commit(modeFor(target)); err != nil {
		return nil, err
	}
	return res, nil
}

// resolveDest finds where a download to dst goes: stdout (for "-",
// /dev/stdout or any path naming the same file as stdout), or the file
// dst names, through symbolic links. A destination that exists and is not
// a regular file (a device, a pipe) is refused, as is a link to nowhere.
func (a *app) resolveDest(dst string) (target string, toStdout bool, err error) {
	if dst == "-" || dst == "/dev/stdout" {
		return "", true, nil
	}
	fi, err := os.Lstat(dst)
	if errors.Is(err, fs.ErrNotExist) {
		return dst, false, nil // a new file: not stdout
	}
	if a.isStdout(dst) {
		return "", true, nil
	}
	if err != nil {
		return "", false, destError(dst, err)
	}
	if a.noClobber {
		return "", false, errExists // whatever it is: a link too
	}
	target = dst
	if fi.Mode()&fs.ModeSymlink != 0 {
		if target, err = filepath.EvalSymlinks(dst); err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return "", false, fmt.Errorf("%s is a symbolic link to a file that does not exist", dst)
			}
			return "", false, destError(dst, err)
		}
		if fi, err = os.Stat(target); err != nil {
			return "", false, destError(dst, err)
		}
	}
	if !fi.Mode().IsRegular() {
		return "", false, fmt.Errorf("%s is not a regular file (for a device or pipe, write to - and redirect)", dst)
	}
	return target, false, nil
}

// isStdout reports whether path names the file s3c's stdout is.
func (a *app) isStdout(path string) bool {
	f, ok := a.stdout.(*os.File)
	if !ok {
		return false
	}
	out, err := f.Stat()
	if err != nil {
		return false
	}
	st, err := os.Stat(path)
	return err == nil && os.SameFile(out, st)
}

// sizeInto heads the object (no key is unwrapped; ContentLength is the
// plaintext size) and sets the bar's total, while the download goes on.
// stop waits for it.
func sizeInto(ctx context.Context, c *s3crypto.Client, head *s3.HeadObjectInput, b *bar) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		out, err := c.HeadObject(ctx, head)
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
func (a *app) getInto(ctx context.Context, c *s3crypto.Client, in *s3.GetObjectInput, f io.Writer, opts []func(*s3.Options), b *bar) (*downloadResult, error) {
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
	return &downloadResult{size: n, info: info, mtime: objectMtime(out.Metadata, out.LastModified)}, nil
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
// redirect and tags; --content-type, --metadata and --storage-class
// replace the source's, and --sse or --sse-c-key set the copy's
// server-side encryption (the source's is not carried over: the copy is
// new ciphertext, stored as the flags or the bucket's default say). It
// is encrypted under the source's own encryption context (or material
// description), read from its envelope, unless --context gives one,
// which then applies to both sides.
func (a *app) copyObject(ctx context.Context, rc, wc *s3crypto.Client, src, dst location, b *bar) (int64, error) {
	opts := a.callOptions()
	get := &s3.GetObjectInput{Bucket: &src.bucket, Key: &src.key}
	a.setSSECRead(get, true)
	if a.ec == nil {
		// HeadObject reads the envelope without unwrapping a key; the GET
		// is then pinned to the version it described.
		h, err := rc.HeadObject(ctx, headInput(get))
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
	if a.noClobber {
		put.IfNoneMatch = aws.String("*")
	}
	a.setCopySettings(put)
	up, err := s3crypto.NewUploader(wc, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx, put)
	if err != nil {
		return 0, clobbered(err)
	}
	return up.Size, nil
}

// errNoContentLength: a GetObject response that does not say how long
// its body is. The stored size tells where an object's tag is and, for a
// truncated transfer, that bytes are missing: every download path
// refuses such a response alike.
var errNoContentLength = errors.New("S3 did not report the object's size (no Content-Length)")

// requireContentLength makes GetObject fail with errNoContentLength on a
// successful response without Content-Length.
func requireContentLength(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
		return st.Deserialize.Add(middleware.DeserializeMiddlewareFunc("s3c:RequireContentLength",
			func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
				out, md, err := next.HandleDeserialize(ctx, in)
				if err != nil || middleware.GetOperationName(ctx) != "GetObject" {
					return out, md, err
				}
				if resp, ok := out.RawResponse.(*smithyhttp.Response); ok && resp.StatusCode/100 == 2 && resp.ContentLength < 0 {
					resp.Body.Close()
					return out, md, errNoContentLength
				}
				return out, md, nil
			}), middleware.Before)
	})
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

// modeFor is filemode.For with the umask read once: s3c never changes
// its umask, and reading it (from /proc) for every file of a recursive
// get is a cost per file.
func modeFor(path string) os.FileMode {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return st.Mode().Perm()
	}
	return newFileMode()
}

var newFileMode = sync.OnceValue(filemode.New)
