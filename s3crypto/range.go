package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// A range of an AES-GCM object is decrypted with AES-CTR at the range's
// counter: GCM encrypts plaintext byte i with the key stream at counter
// 2 + i/16, and ciphertext and plaintext share offsets, so ciphertext
// bytes a…b are plaintext bytes a…b. The tag covers the whole object, so a
// range cannot be authenticated; that is why it takes an opt-in.

// getRange serves GetObject with Range or PartNumber.
func (c *Client) getRange(ctx context.Context, in *s3.GetObjectInput, call callOptions, optFns []func(*s3.Options)) (*s3.GetObjectOutput, error) {
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "GetObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	req := *in
	var r byteRange
	if in.Range != nil {
		var err error
		if r, err = parseRange(*in.Range); err != nil {
			return nil, fail("", err)
		}
		// A suffix of n plaintext bytes ends where the tag starts.
		if r.suffix {
			r.n += aesgcm.TagSize
			req.Range = aws.String(fmt.Sprintf("bytes=-%d", r.n))
		}
	}
	suffix := r.suffix
	out, err := c.Client.GetObject(ctx, &req, append(optFns, noRangeChecksum)...)
	if err != nil {
		return nil, fail("", err)
	}
	env, err := c.loadEnvelope(ctx, in.Bucket, in.Key, sseOf(in), out.Metadata, optFns)
	if err != nil {
		out.Body.Close()
		return nil, fail("", err)
	}
	if env.ContentAlg == metadata.ContentAESCBC {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), errors.New("ranged GET of a legacy AES-CBC object is not supported"))
	}
	start, end, total, err := r.check(out, in.Range != nil)
	if err != nil {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	size, err := core.PlaintextSizeOf(total)
	if err == nil {
		err = core.CheckStoredSize(env, total)
	}
	if err != nil {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	if start >= size && !(suffix && size == 0) {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), fmt.Errorf("range starts at byte %d, the object holds %d bytes of plaintext", start, size))
	}
	dec, err := core.NewDecryption(ctx, &c.opts, env, call.context, false) // CTR: no index
	if err != nil {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	last := min(end, size-1) // tag bytes are not plaintext
	n := max(last-start+1, 0)
	body := c.objectSource(in, optFns, out.ETag, total).reader(ctx, out.Body, start, start+n-1, end)
	out.Body = &rangeReader{body: body, r: body, ctr: dec.Content.GCM.NewCTR(uint64(start))}
	out.ContentLength = aws.Int64(n)
	if n > 0 {
		out.ContentRange = aws.String(fmt.Sprintf("bytes %d-%d/%d", start, last, size))
	} else {
		out.ContentRange = aws.String(fmt.Sprintf("bytes */%d", size))
	}
	out.Metadata = userMetadata(out.Metadata)
	setObjectInfo(&out.ResultMetadata, &ObjectInfo{Envelope: env, KeyRef: dec.KeyRef(), PlaintextSize: size, StoredSize: total})
	return out, nil
}

type rangeReader struct {
	body io.Closer
	r    io.Reader
	ctr  interface{ XORKeyStream(dst, src []byte) }
}

func (r *rangeReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.ctr.XORKeyStream(p[:n], p[:n])
	return n, err
}

func (r *rangeReader) Close() error { return r.body.Close() }

type byteRange struct {
	suffix bool
	n      int64 // suffix length
	a, b   int64 // first and last byte (b = -1: to the end)
}

// check parses the Content-Range of the response to r (ranged: false
// for a PartNumber request, whose bytes only S3 knows) and checks that it
// is the range asked for.
func (r byteRange) check(out *s3.GetObjectOutput, ranged bool) (start, end, total int64, err error) {
	if !ranged {
		return parseContentRange(aws.ToString(out.ContentRange), aws.ToInt64(out.ContentLength))
	}
	if !r.suffix {
		last := r.b
		if last < 0 {
			last = 1<<63 - 1
		}
		end, total, err := checkContentRange(out, r.a, last, -1)
		if re, ok := err.(*rangeError); ok && r.b < 0 {
			re.asked = fmt.Sprintf("bytes=%d-", r.a)
		}
		return r.a, end, total, err
	}
	// bytes=-n: the last n bytes, or the whole object if it is shorter.
	if cr := aws.ToString(out.ContentRange); cr != "" {
		if _, _, total, err = parseContentRange(cr, 0); err != nil {
			return 0, 0, 0, &rangeError{fmt.Sprintf("bytes=-%d", r.n), fmt.Sprintf("Content-Range %q", cr)}
		}
	} else {
		total = aws.ToInt64(out.ContentLength)
	}
	start = max(total-r.n, 0)
	end, _, err = checkContentRange(out, start, total-1, total)
	if err != nil {
		err = &rangeError{fmt.Sprintf("bytes=-%d", r.n), err.(*rangeError).got}
	}
	return start, end, total, err
}

// parseRange accepts one HTTP byte range: a-b, a- or -n.
func parseRange(s string) (byteRange, error) {
	spec, ok := strings.CutPrefix(strings.TrimSpace(s), "bytes=")
	if !ok || strings.Contains(spec, ",") {
		return byteRange{}, fmt.Errorf("unsupported Range %q: one range of bytes=a-b, bytes=a- or bytes=-n", s)
	}
	first, last, ok := strings.Cut(spec, "-")
	if !ok {
		return byteRange{}, fmt.Errorf("malformed Range %q", s)
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n <= 0 {
			return byteRange{}, fmt.Errorf("malformed Range %q", s)
		}
		return byteRange{suffix: true, n: n}, nil
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return byteRange{}, fmt.Errorf("malformed Range %q", s)
	}
	b := int64(-1)
	if last != "" {
		b, err = strconv.ParseInt(last, 10, 64)
		if err != nil || b < a {
			return byteRange{}, fmt.Errorf("malformed Range %q", s)
		}
	}
	return byteRange{a: a, b: b}, nil
}

// parseContentRange reads "bytes a-b/total"; a response without one is the
// whole object.
func parseContentRange(s string, length int64) (start, end, total int64, err error) {
	if s == "" {
		return 0, length - 1, length, nil
	}
	spec, ok := strings.CutPrefix(s, "bytes ")
	rng, tot, ok2 := strings.Cut(spec, "/")
	a, b, ok3 := strings.Cut(rng, "-")
	if !ok || !ok2 || !ok3 {
		return 0, 0, 0, fmt.Errorf("unexpected Content-Range %q", s)
	}
	if start, err = strconv.ParseInt(a, 10, 64); err == nil {
		if end, err = strconv.ParseInt(b, 10, 64); err == nil {
			total, err = strconv.ParseInt(tot, 10, 64)
		}
	}
	if err != nil || start < 0 || end < start || total <= end {
		return 0, 0, 0, fmt.Errorf("unexpected Content-Range %q", s)
	}
	return start, end, total, nil
}
