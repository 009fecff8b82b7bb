package s3crypto

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/core"
)

// uploadSections is the multipart transport of a source that can be read at any offset (a
// file): each part is encrypted as the SDK reads it, straight from the
// source, so no part is buffered; only the last part waits, for the
// others' hashes.
func (c *Client) uploadSections(ctx context.Context, in *s3.PutObjectInput, src io.ReaderAt, base, size int64, plan core.Plan, s uploadSettings) (uploaded, error) {
	partSize := plan.PartSize
	mp, err := c.newMultipartUpload(ctx, createInputFrom(in), partSize, size, s.optFns)
	if err != nil {
		return uploaded{}, err
	}
	mp.ifMatch, mp.ifNoneMatch = in.IfMatch, in.IfNoneMatch // checked by S3 on Complete
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	nparts := int32(plan.Parts)
	section := func(n int32) (io.ReadSeeker, int64) {
		off := int64(n-1) * partSize
		length := min(partSize, size-off)
		return io.NewSectionReader(src, base+off, length), length
	}
	var wg sync.WaitGroup
	next := make(chan int32)
	for range s.concurrency {
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
	if s.concurrency < 2 {
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
		return uploaded{}, withCleanupErrors(err, mp.Abort(ctx))
	}
	out, err := mp.Complete(ctx) // aborts the upload if it fails
	if err != nil {
		return uploaded{}, err
	}
	return uploaded{UploadOutput: UploadOutput{ETag: out.ETag, VersionID: out.VersionId, UploadID: mp.UploadID(), Parts: int(nparts), Size: size, KeyRef: mp.KeyRef()}}, nil
}
