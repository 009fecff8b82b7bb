package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/internal/core"
)

// uploadStream is the multipart transport of a stream: it uploads first
// (a full part) and the rest of body, reading and sealing the parts in
// order into a fixed set of buffers and sending them concurrently.
//
// Checksums of the plaintext in carries are computed as the parts are
// read, in order, and checked before the last part is sealed; S3 gets
// checksums of the ciphertext instead.
func (c *Client) uploadStream(ctx context.Context, in *s3.PutObjectInput, first []byte, body io.Reader, size int64, plan core.Plan, s uploadSettings) (uploaded, error) {
	partSize := plan.PartSize
	put := *in
	verifiers, alg, err := takeChecksums(&put)
	if err != nil {
		return uploaded{}, &ObjectError{Op: s.op, Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	create := createInputFrom(&put)
	if create.ChecksumAlgorithm == "" {
		create.ChecksumAlgorithm = alg
	}
	mp, err := c.newMultipartUpload(ctx, create, partSize, size, s.optFns)
	if err != nil {
		return uploaded{}, err
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
	free := make(chan []byte, s.concurrency+2)
	for range s.concurrency + 1 {
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
	for range s.concurrency {
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
		return uploaded{}, withCleanupErrors(firstErr, mp.Abort(ctx))
	}
	out, err := mp.Complete(ctx) // aborts the upload if it fails
	if err != nil {
		return uploaded{}, err
	}
	return uploaded{UploadOutput: UploadOutput{ETag: out.ETag, VersionID: out.VersionId, UploadID: mp.UploadID(), Parts: len(mp.parts), Size: total, KeyRef: mp.KeyRef()}}, nil
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
