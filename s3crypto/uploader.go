package s3crypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
)

// Uploader stores objects of any size, known or not, encrypted: small
// ones with one PutObject, larger ones as a MultipartUpload whose parts
// are encrypted in order and uploaded concurrently. Memory use is about
// (Concurrency + 2) × PartSize, whatever the object's size. A failed
// upload is aborted, leaving no parts behind; if the abort fails too, the
// error holds an *IncompleteUploadError naming the upload left open.
type Uploader struct {
	// Client does the requests.
	Client *Client
	// PartSize is the plaintext size of each part but the last; rounded up
	// to a multiple of 16, and raised to S3's minimum of 5 MiB, or further
	// if the object would need more than 10,000 parts. Default 8 MiB. Above
	// S3's maximum part size of 5 GiB it is an error.
	PartSize int64
	// Concurrency is how many parts are uploaded at once. Default 4.
	Concurrency int
	// ClientOptions apply to every request, as optFns do on a Client
	// call; WithEncryptionContext and WithInstructionFile go here.
	ClientOptions []func(*s3.Options)
}

// Defaults of Uploader.
const (
	DefaultPartSize    = 8 << 20
	DefaultConcurrency = 4
	minPartSize        = 5 << 20
	maxPartSize        = 5 << 30
	maxParts           = 10000
)

// NewUploader returns an Uploader for c with default settings, adjusted
// by optFns.
func NewUploader(c *Client, optFns ...func(*Uploader)) *Uploader {
	u := &Uploader{Client: c, PartSize: DefaultPartSize, Concurrency: DefaultConcurrency}
	for _, fn := range optFns {
		fn(u)
	}
	return u
}

// UploadOutput describes a finished upload.
type UploadOutput struct {
	ETag      *string
	VersionID *string
	UploadID  string // "" if a single PutObject was used
	Parts     int    // 0 if a single PutObject was used
	Size      int64  // plaintext bytes stored
	KeyRef    string // the master key that wrapped the data key
}

// Upload stores in.Body, of in.ContentLength bytes if set, else of
// whatever length it turns out to have, under in.Key.
func (u Uploader) Upload(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*Uploader)) (*UploadOutput, error) {
	for _, fn := range optFns {
		fn(&u)
	}
	if u.Concurrency <= 0 {
		u.Concurrency = DefaultConcurrency
	}
	size, err := plaintextBodySize(in)
	if err != nil {
		return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	if err := core.CheckSize(size); err != nil {
		return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	partSize, err := uploadPartSize(u.PartSize, size)
	if err != nil {
		return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	var body io.Reader = in.Body
	if body == nil {
		body = bytes.NewReader(nil)
	}
	if size >= 0 && size <= partSize {
		return u.putSingle(ctx, in, body, size)
	}
	if err := u.Client.checkInstructionFileInUse(ctx, in.Bucket, aws.ToString(in.Key), putSSE(in), u.ClientOptions); err != nil {
		return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	if ra, ok := body.(io.ReaderAt); ok && size >= 0 && !hasPlaintextChecksums(in) {
		if s, ok := body.(io.Seeker); ok {
			if base, err := s.Seek(0, io.SeekCurrent); err == nil {
				return u.multipartSections(ctx, in, ra, base, size, partSize)
			}
		}
	}
	// Read the first part: a stream that ends within it is one PutObject.
	first := make([]byte, partSize, partSize+aesgcm.TagSize)
	n, err := io.ReadFull(body, first)
	switch {
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		if size >= 0 {
			return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key),
				Err: fmt.Errorf("body ended after %d bytes, ContentLength is %d", n, size)}
		}
		return u.putSingle(ctx, in, bytes.NewReader(first[:n]), int64(n))
	case err != nil:
		return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	if size < 0 { // exactly one part?
		var b [1]byte
		k, err := io.ReadFull(body, b[:])
		switch {
		case k == 0 && err == io.EOF:
			return u.putSingle(ctx, in, bytes.NewReader(first), partSize)
		case k == 0:
			return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
		}
		body = io.MultiReader(bytes.NewReader(b[:]), body)
	}
	return u.multipart(ctx, in, first, body, size, partSize)
}

func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }

// uploadPartSize is the part size for Uploader.PartSize n and an object of
// size bytes (-1: unknown): the default for 0 or less, at least 5 MiB, a
// multiple of 16, large enough for 10,000 parts to hold the object, and
// at most S3's 5 GiB.
func uploadPartSize(n, size int64) (int64, error) {
	if n <= 0 {
		n = DefaultPartSize
	}
	if n > maxPartSize {
		return 0, fmt.Errorf("PartSize %d is above S3's limit of 5 GiB", n)
	}
	partSize := roundUp(max(n, minPartSize), aesgcm.BlockSize)
	if size > 0 && (size+partSize-1)/partSize > maxParts {
		partSize = roundUp((size+maxParts-1)/maxParts, 1<<20)
		if partSize > maxPartSize {
			return 0, fmt.Errorf("%d bytes do not fit in S3's 10,000 parts of at most 5 GiB", size)
		}
	}
	return partSize, nil
}

// noMore fails if r has another byte, or fails to tell.
func noMore(r io.Reader, size int64) error {
	var b [1]byte
	n, err := io.ReadFull(r, b[:])
	switch {
	case n > 0:
		return fmt.Errorf("body is longer than ContentLength %d", size)
	case err != io.EOF:
		return err
	}
	return nil
}

func (u *Uploader) putSingle(ctx context.Context, in *s3.PutObjectInput, body io.Reader, size int64) (*UploadOutput, error) {
	put := *in
	put.Body = body
	put.ContentLength = aws.Int64(size)
	out, ref, err := u.Client.putObject(ctx, &put, u.ClientOptions)
	if err != nil {
		return nil, err
	}
	return &UploadOutput{ETag: out.ETag, VersionID: out.VersionId, Size: size, KeyRef: ref}, nil
}

// multipart uploads first (a full part) and the rest of body.
//
// Checksums of the plaintext in carries are computed as the parts are
// read, in order, and checked before the last part is sealed; S3 gets
// checksums of the ciphertext instead.
func (u *Uploader) multipart(ctx context.Context, in *s3.PutObjectInput, first []byte, body io.Reader, size, partSize int64) (*UploadOutput, error) {
	put := *in
	verifiers, alg, err := takeChecksums(&put)
	if err != nil {
		return nil, &ObjectError{Op: "Upload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	create := createInputFrom(&put)
	if create.ChecksumAlgorithm == "" {
		create.ChecksumAlgorithm = alg
	}
	mp, err := u.Client.newMultipartUpload(ctx, create, partSize, size, u.ClientOptions)
	if err != nil {
		return nil, err
	}
	mp.ifMatch, mp.ifNoneMatch = in.IfMatch, in.IfNoneMatch // checked by S3 on Complete
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	type job struct {
		n  int32
		ct []byte
	}
	jobs := make(chan job)
	// A fixed set of part buffers, reused: one per worker, the part being
	// sealed (first, to begin with) and the read-ahead.
	free := make(chan []byte, u.Concurrency+2)
	for range u.Concurrency + 1 {
		free <- make([]byte, partSize, partSize+aesgcm.TagSize)
	}
	var (
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	setErr := func(err error) {
		errOnce.Do(func() { firstErr = err; cancel() })
	}
	for range u.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				if _, err := mp.send(ctx, j.n, j.ct); err != nil {
					setErr(err)
				}
				// Reusing the buffer is safe: the SDK wraps a request
				// body in a closer that ends every read by the transport
				// before UploadPart returns.
				free <- j.ct[:partSize]
			}
		}()
	}

	// Read and seal parts in order; one part of read-ahead tells which is last.
	known := size >= 0
	var total int64
	cur, curLen := first, int64(len(first))
	produce := func() error {
		for n := int32(1); ; n++ {
			var next []byte
			var nextLen int64
			last := known && total+curLen == size
			if !last {
				select {
				case next = <-free:
				case <-ctx.Done():
					return context.Cause(ctx)
				}
				k, err := io.ReadFull(body, next[:partSize])
				switch {
				case err == io.EOF:
					last = true
				case err == nil || err == io.ErrUnexpectedEOF:
					nextLen = int64(k)
				default:
					return err
				}
			}
			if known && last {
				if total+curLen != size {
					return fmt.Errorf("body ended after %d bytes, ContentLength is %d", total+curLen, size)
				}
				if err := noMore(body, size); err != nil {
					return err
				}
			}
			core.VerifyWrite(verifiers, cur[:curLen])
			if last {
				if err := core.VerifyAll(verifiers); err != nil {
					return err
				}
			}
			ct, err := mp.seal(n, cur[:curLen], last)
			if err != nil {
				return err
			}
			total += curLen
			select {
			case jobs <- job{n, ct}:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			if last {
				return nil
			}
			cur, curLen = next, nextLen
			if known && total+curLen > size {
				return fmt.Errorf("body is longer than ContentLength %d", size)
			}
		}
	}
	perr := produce()
	close(jobs)
	wg.Wait()
	if perr != nil {
		setErr(perr)
	}
	if firstErr != nil {
		var oe *ObjectError
		if !errors.As(firstErr, &oe) {
			firstErr = mp.fail(firstErr)
		}
		return nil, withCleanupErrors(firstErr, mp.Abort(ctx))
	}
	out, err := mp.Complete(ctx) // aborts the upload if it fails
	if err != nil {
		return nil, err
	}
	return &UploadOutput{ETag: out.ETag, VersionID: out.VersionId, UploadID: mp.UploadID(), Parts: len(mp.parts), Size: total, KeyRef: mp.KeyRef()}, nil
}

// multipartSections uploads a source that can be read at any offset (a
// file): each part is encrypted as the SDK reads it, straight from the
// source, so no part is buffered; only the last part waits, for the
// others' hashes.
func (u *Uploader) multipartSections(ctx context.Context, in *s3.PutObjectInput, src io.ReaderAt, base, size, partSize int64) (*UploadOutput, error) {
	mp, err := u.Client.newMultipartUpload(ctx, createInputFrom(in), partSize, size, u.ClientOptions)
	if err != nil {
		return nil, err
	}
	mp.ifMatch, mp.ifNoneMatch = in.IfMatch, in.IfNoneMatch // checked by S3 on Complete
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	nparts := int32((size + partSize - 1) / partSize)
	section := func(n int32) (io.ReadSeeker, int64) {
		off := int64(n-1) * partSize
		length := min(partSize, size-off)
		return io.NewSectionReader(src, base+off, length), length
	}
	var wg sync.WaitGroup
	next := make(chan int32)
	for range u.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := range next {
				r, length := section(n)
				if _, err := mp.uploadSection(ctx, n, r, length, n == nparts); err != nil {
					cancel(err)
				}
			}
		}()
	}
	// The last part goes first in line: it starts as soon as the others
	// are hashed, while they are still being sent.
	order := append([]int32{nparts}, make([]int32, 0, nparts-1)...)
	for n := int32(1); n < nparts; n++ {
		order = append(order, n)
	}
	if u.Concurrency < 2 {
		order = append(order[1:], nparts) // one worker: the last part must come last
	}
feed:
	for _, n := range order {
		select {
		case next <- n:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		var oe *ObjectError
		if !errors.As(err, &oe) {
			err = mp.fail(err)
		}
		return nil, withCleanupErrors(err, mp.Abort(ctx))
	}
	out, err := mp.Complete(ctx) // aborts the upload if it fails
	if err != nil {
		return nil, err
	}
	return &UploadOutput{ETag: out.ETag, VersionID: out.VersionId, UploadID: mp.UploadID(), Parts: int(nparts), Size: size, KeyRef: mp.KeyRef()}, nil
}

// hasPlaintextChecksums reports whether in carries checksums of its body.
func hasPlaintextChecksums(in *s3.PutObjectInput) bool {
	return in.ContentMD5 != nil || in.ChecksumCRC32 != nil || in.ChecksumCRC32C != nil ||
		in.ChecksumCRC64NVME != nil || in.ChecksumSHA1 != nil || in.ChecksumSHA256 != nil
}

// createInputFrom carries a PutObjectInput's object settings over to the
// multipart upload.
func createInputFrom(in *s3.PutObjectInput) *s3.CreateMultipartUploadInput {
	return &s3.CreateMultipartUploadInput{
		Bucket: in.Bucket, Key: in.Key, ACL: in.ACL, BucketKeyEnabled: in.BucketKeyEnabled,
		CacheControl: in.CacheControl, ChecksumAlgorithm: in.ChecksumAlgorithm,
		ContentDisposition: in.ContentDisposition, ContentEncoding: in.ContentEncoding,
		ContentLanguage: in.ContentLanguage, ContentType: in.ContentType,
		ExpectedBucketOwner: in.ExpectedBucketOwner, Expires: in.Expires,
		GrantFullControl: in.GrantFullControl, GrantRead: in.GrantRead, GrantReadACP: in.GrantReadACP, GrantWriteACP: in.GrantWriteACP,
		Metadata: in.Metadata, ObjectLockLegalHoldStatus: in.ObjectLockLegalHoldStatus, ObjectLockMode: in.ObjectLockMode,
		ObjectLockRetainUntilDate: in.ObjectLockRetainUntilDate, RequestPayer: in.RequestPayer,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5,
		SSEKMSEncryptionContext: in.SSEKMSEncryptionContext, SSEKMSKeyId: in.SSEKMSKeyId,
		ServerSideEncryption: in.ServerSideEncryption, StorageClass: in.StorageClass, Tagging: in.Tagging,
		WebsiteRedirectLocation: in.WebsiteRedirectLocation,
	}
}
