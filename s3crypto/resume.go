package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Reading an object body that breaks: every whole-object read (GetObject,
// Downloader, the parallel spool) and the ranged GETs read through a
// resumeReader, which, when the connection fails mid-body, asks for the
// rest with a ranged GET of the same ETag and goes on from the byte where
// it broke. What is resumed is ciphertext: the object's GCM tag still
// decides its integrity.

// rangeError is a ranged GET answered with another range than the one
// asked for: a transport failure (often a proxy that ignores Range), not
// a sign of tampering.
type rangeError struct {
	asked string // bytes=a-b
	got   string // the response's Content-Range, or a description of its absence
}

func (e *rangeError) Error() string {
	return fmt.Sprintf("asked for %s, the response has %s: the server or a proxy did not honour Range", e.asked, e.got)
}

// checkContentRange checks that out answers a GET of bytes start–end (end
// clipped to the object's last byte) of an object of total bytes (total
// < 0: not known yet), and returns the last byte the response holds and
// the object's size. A response without Content-Range (200, the whole
// object) is accepted only when the whole object is what was asked for.
func checkContentRange(out *s3.GetObjectOutput, start, end, total int64) (gotEnd, gotTotal int64, err error) {
	asked := fmt.Sprintf("bytes=%d-%d", start, end)
	cr := aws.ToString(out.ContentRange)
	if cr == "" {
		if out.ContentLength == nil {
			return 0, 0, &rangeError{asked, "no Content-Range and no Content-Length"}
		}
		n := *out.ContentLength
		if start != 0 || n-1 > end || (total >= 0 && n != total) {
			return 0, 0, &rangeError{asked, fmt.Sprintf("no Content-Range (the whole object, %d bytes)", n)}
		}
		return n - 1, n, nil
	}
	a, b, t, err := parseContentRange(cr, 0)
	if err != nil {
		return 0, 0, &rangeError{asked, fmt.Sprintf("Content-Range %q", cr)}
	}
	if a != start || b != min(end, t-1) || (total >= 0 && t != total) ||
		(out.ContentLength != nil && *out.ContentLength != b-a+1) {
		got := fmt.Sprintf("Content-Range %q", cr)
		if out.ContentLength != nil {
			got += fmt.Sprintf(" and Content-Length %d", *out.ContentLength)
		}
		if total >= 0 && t != total {
			got += fmt.Sprintf(" (the object was %d bytes)", total)
		}
		return 0, 0, &rangeError{asked, got}
	}
	return b, t, nil
}

// objectSource issues the ranged GETs of one stored object: the version
// the first response came from (its ETag), total bytes long.
type objectSource struct {
	c      *Client
	in     s3.GetObjectInput // bucket, key, version, SSE-C…; Range set per request
	optFns []func(*s3.Options)
	etag   *string
	total  int64
}

// resumeProgress is how much a resumed response must deliver before it
// breaks for its failure not to count against the budget: a long read
// over a flaky network goes on as long as it makes headway.
const resumeProgress = 1 << 20

func (c *Client) objectSource(in *s3.GetObjectInput, optFns []func(*s3.Options), etag *string, total int64) *objectSource {
	src := &objectSource{c: c, in: *in, optFns: optFns, etag: etag, total: total}
	src.in.Range, src.in.PartNumber = nil, nil
	// IfMatch pins the object; the caller's other conditions held for the
	// first response and hold for the same ETag.
	src.in.IfMatch, src.in.IfNoneMatch, src.in.IfModifiedSince, src.in.IfUnmodifiedSince = etag, nil, nil, nil
	src.in.ChecksumMode = ""
	return src
}

// resumes returns how many times a body may be resumed without progress:
// as often as the SDK client retries a request (the first try and n-1
// more), and never when nothing pins the object (no ETag, no version),
// so as not to mix two of them. Asked only when a body breaks: reading
// the client's options copies them.
func (s *objectSource) resumes() int {
	if aws.ToString(s.etag) == "" && s.in.VersionId == nil {
		return 0
	}
	o := s.c.Client.Options()
	n := o.RetryMaxAttempts
	if o.Retryer != nil {
		n = o.Retryer.MaxAttempts()
	}
	if n <= 0 {
		n = 3
	}
	return n - 1
}

// get fetches bytes start–end (end clipped to the object).
func (s *objectSource) get(ctx context.Context, start, end int64) (*s3.GetObjectOutput, int64, error) {
	req := s.in
	req.Range = aws.String(fmt.Sprintf("bytes=%d-%d", start, end))
	out, err := s.c.Client.GetObject(ctx, &req, append(s.optFns, noRangeChecksum)...)
	if err != nil {
		var status interface{ HTTPStatusCode() int }
		if errors.As(err, &status) && status.HTTPStatusCode() == 412 {
			return nil, 0, fmt.Errorf("%w (GET of %s refused: %v)", ErrObjectChanged, *req.Range, err)
		}
		return nil, 0, err
	}
	gotEnd, _, err := checkContentRange(out, start, end, s.total)
	if err != nil {
		out.Body.Close()
		return nil, 0, err
	}
	return out, gotEnd, nil
}

// reader returns a reader of bytes start–end of the object, starting with
// body, an open response that holds bytes start–bodyEnd (bodyEnd ≥ end).
// When body ends with all of its bytes read, the reader checks that it
// holds nothing more.
func (s *objectSource) reader(ctx context.Context, body io.ReadCloser, start, end, bodyEnd int64) *resumeReader {
	return &resumeReader{ctx: ctx, src: s, body: body, next: start, end: end, bodyEnd: bodyEnd}
}

// resumeReader reads bytes next–end of an object from body and, when body
// fails (other than by the context ending), from ranged GETs of the rest.
// Close may be called from another goroutine to interrupt a Read.
type resumeReader struct {
	ctx     context.Context
	src     *objectSource
	next    int64 // the next byte to return
	end     int64 // the last byte to return
	bodyEnd int64 // the last byte the current body holds
	pending error // an error the body returned with data
	got     int64 // bytes from the current body
	fails   int   // resumes without progress
	resumes int
	err     error

	mu     sync.Mutex
	body   io.ReadCloser
	closed bool
}

func (r *resumeReader) current() (io.ReadCloser, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, errors.New("s3crypto: read after close")
	}
	return r.body, nil
}

func (r *resumeReader) Read(p []byte) (int, error) {
	for r.err == nil {
		// A cancelled read stops here, not when the transport gets round
		// to closing the connection (bytes already received would go on).
		if err := r.ctx.Err(); err != nil {
			r.err = context.Cause(r.ctx)
			break
		}
		if r.next > r.end {
			r.err = r.finish()
			break
		}
		body, err := r.current()
		if err != nil {
			return 0, err
		}
		err, r.pending = r.pending, nil
		n := 0
		if err == nil {
			if left := r.end - r.next + 1; int64(len(p)) > left {
				p = p[:left]
			}
			n, err = body.Read(p)
			r.next += int64(n)
			r.got += int64(n)
		}
		switch {
		case n > 0:
			r.pending = err
			return n, nil
		case err == nil:
			continue
		default:
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			r.err = r.resume(err)
		}
	}
	return 0, r.err
}

// finish runs once the wanted bytes are read: if the body should now be
// over, a byte more is an error.
func (r *resumeReader) finish() error {
	switch {
	case r.next <= r.bodyEnd:
		return io.EOF // the body holds more than was wanted
	case r.pending == io.EOF:
		return io.EOF
	case r.pending != nil:
		return r.pending
	}
	body, err := r.current()
	if err != nil {
		return err
	}
	var b [1]byte
	for {
		n, err := body.Read(b[:])
		switch {
		case n > 0:
			return fmt.Errorf("%w (bytes %d-%d of %d)", core.ErrTrailingData, r.next-r.got, r.bodyEnd, r.src.total)
		case err == io.EOF:
			return io.EOF
		case err != nil:
			return err
		}
	}
}

// resume replaces a broken body with a GET of the rest, or returns why it
// cannot.
func (r *resumeReader) resume(cause error) error {
	if r.ctx.Err() != nil {
		return cause // the caller's context ended: not a network failure
	}
	if r.got >= resumeProgress {
		r.fails = 0
	}
	r.fails++
	if r.fails > r.src.resumes() {
		if r.resumes > 0 {
			return fmt.Errorf("%w (gave up after resuming %d times)", cause, r.resumes)
		}
		return cause
	}
	r.resumes++
	delay := min(100*time.Millisecond<<(r.fails-1), 2*time.Second)
	t := time.NewTimer(delay)
	select {
	case <-r.ctx.Done():
		t.Stop()
		return cause
	case <-t.C:
	}
	out, gotEnd, err := r.src.get(r.ctx, r.next, r.end)
	if err != nil {
		return fmt.Errorf("resuming at byte %d after %v: %w", r.next, cause, err)
	}
	r.mu.Lock()
	old := r.body
	r.body = out.Body
	closed := r.closed
	r.mu.Unlock()
	old.Close()
	if closed {
		out.Body.Close()
		return cause
	}
	r.bodyEnd, r.got, r.pending = gotEnd, 0, nil
	return nil
}

func (r *resumeReader) Close() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	r.closed = true
	return r.body.Close()
}
