package s3crypto

import (
	"context"
	"errors"
	"github.com/s3c/s3c/internal/core"
	"io"
	"maps"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// GetObject fetches an object and decrypts it. By default Body yields only
// verified plaintext. An object larger than Options.MemoryBufferSize that
// has a valid chunk index (<key>.s3c-index, which s3c writes beside large
// objects; see IsIndexObject) is streamed: each chunk is released once
// its MAC in the index verifies, in constant memory. Other objects are
// authenticated whole before GetObject returns (see
// Options.MemoryBufferSize for where they are held meanwhile); a missing
// or invalid index only means that. WithUnauthenticatedStream trades
// authentication for streaming. GetObjectInfo(...).ReadPath says which
// path a read took. Close the Body, as with the SDK's: it releases the
// object's buffer (a small object's is wiped and reused) or spool file;
// reads after Close fail.
// ContentLength is the plaintext size; Metadata is the caller's own, the
// envelope removed; GetObjectInfo(out.ResultMetadata) describes the
// encryption. ETag and checksums remain those of the stored ciphertext.
//
// The envelope is checked against the commitment policy before any key is
// unwrapped, and the encryption context against WithEncryptionContext.
// A Range of an object with a valid chunk index is read authenticated:
// only the chunks that cover it are fetched, each verified before any of
// it is released. Otherwise Range, and PartNumber always, are refused
// (ErrRangeNotAllowed) unless WithUnauthenticatedRange is given.
//
// A body that breaks is resumed from the byte where it broke, with ranged
// GETs conditional on the first response's ETag, up to the SDK client's
// retry budget; an object replaced meanwhile fails with ErrObjectChanged.
func (c *Client) GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	call := c.callOptions(optFns)
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "GetObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	if in.Range != nil || in.PartNumber != nil {
		if !call.unauthenticatedRange {
			if in.Range != nil && in.PartNumber == nil {
				return c.getIndexedRange(ctx, in, call, optFns)
			}
			return nil, fail("", ErrRangeNotAllowed)
		}
		return c.getRange(ctx, in, call, optFns)
	}
	out, err := c.Client.GetObject(ctx, in, optFns...)
	if err != nil {
		return nil, fail("", err)
	}
	// A large object's chunk index is fetched while the data key is
	// unwrapped.
	var index chan indexResult
	if !call.unauthenticatedStream && in.VersionId == nil && aws.ToInt64(out.ContentLength) > c.opts.MemoryBufferSize {
		index = make(chan indexResult, 1)
		go func() {
			b, err := c.fetchIndex(ctx, in.Bucket, aws.ToString(in.Key), sseOf(in), optFns)
			index <- indexResult{b, err}
		}()
		// Meanwhile the body keeps flowing instead of stalling in the
		// socket's buffers.
		out.Body = startPrefetch(out.Body, prefetchSize)
	}
	env, err := c.loadEnvelope(ctx, in.Bucket, in.Key, sseOf(in), out.Metadata, optFns)
	if err != nil {
		out.Body.Close()
		return nil, fail("", err)
	}
	if out.ContentLength == nil {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), errors.New("S3 did not report the object's size"))
	}
	stored := *out.ContentLength
	dec, err := core.NewDecryption(ctx, &c.opts, env, call.context, index != nil)
	if err != nil {
		out.Body.Close()
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	// A body that breaks is resumed from where it broke.
	src := c.objectSource(in, optFns, out.ETag, stored)
	var size int64
	var x *core.Index
	if index != nil && dec.Content != nil {
		if r := <-index; r.err == nil {
			x, _ = dec.DecodeIndex(r.body, stored) // invalid: authenticate it whole
		}
	}
	path := core.ReadSpool
	switch {
	case call.unauthenticatedStream:
		out.Body, err = dec.OpenStream(src.reader(ctx, out.Body, 0, stored-1, stored-1), stored)
		size = dec.PlaintextSize(stored)
		path = core.ReadUnauthenticated
	case x != nil:
		size = stored - aesgcm.TagSize
		out.Body = dec.OpenIndexed(src.reader(ctx, out.Body, 0, stored-1, stored-1), x, 0, size, true)
		path = core.ReadIndexStream
	case dec.Content != nil && stored > parallelThreshold && stored > c.opts.MemoryBufferSize:
		out.Body, size, err = c.spoolParallel(ctx, src, out, dec)
	default:
		if stored <= c.opts.MemoryBufferSize {
			path = core.ReadMemory
		}
		out.Body, size, err = dec.OpenVerified(src.reader(ctx, out.Body, 0, stored-1, stored-1), stored)
	}
	if err != nil {
		return nil, fail(dec.KeyRef(), err)
	}
	out.ContentLength = nil
	if size >= 0 {
		out.ContentLength = aws.Int64(size)
	}
	out.Metadata = userMetadata(out.Metadata)
	setObjectInfo(&out.ResultMetadata, &ObjectInfo{Envelope: env, KeyRef: dec.KeyRef(), PlaintextSize: size, StoredSize: stored, ReadPath: path})
	return out, nil
}

// prefetchSize bounds what GetObject reads of a large object's body
// while it unwraps the data key and fetches the chunk index: a few
// milliseconds of a fast link. A body of prefetchMin bytes or less waits
// in the socket's buffers without stalling the sender, and is not worth
// a goroutine.
const (
	prefetchSize = 4 << 20
	prefetchMin  = 64 << 10
)

// prefetch reads the start of a body on its own goroutine until its
// first Read (or Close), then serves what it read followed by the rest.
// It reads ciphertext only; nothing is released from here.
type prefetch struct {
	body  io.ReadCloser
	stopc chan struct{}
	done  chan struct{}
	once  sync.Once
	buf   []byte // set by the goroutine; read after done
	err   error
}

func startPrefetch(body io.ReadCloser, max int) *prefetch {
	p := &prefetch{body: body, stopc: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		// Allocated (and zeroed) here, while the caller waits for the key.
		buf := make([]byte, 0, max)
		for len(buf) < max {
			select {
			case <-p.stopc:
				p.buf = buf
				return
			default:
			}
			n, err := p.body.Read(buf[len(buf):min(max, len(buf)+256<<10)])
			buf = buf[:len(buf)+n]
			if err != nil {
				p.err = err
				break
			}
		}
		p.buf = buf
	}()
	return p
}

// halt stops the goroutine and waits for it.
func (p *prefetch) halt() {
	p.once.Do(func() { close(p.stopc) })
	<-p.done
}

func (p *prefetch) Read(b []byte) (int, error) {
	p.halt()
	if len(p.buf) > 0 {
		n := copy(b, p.buf)
		p.buf = p.buf[n:]
		return n, nil
	}
	if p.err != nil {
		return 0, p.err
	}
	return p.body.Read(b)
}

// Close closes the body, which interrupts a read in progress, then waits
// for the goroutine.
func (p *prefetch) Close() error {
	err := p.body.Close()
	p.halt()
	return err
}

type indexResult struct {
	body []byte
	err  error
}

// parallelThreshold is the stored size above which GetObject fetches the
// rest of an object with concurrent ranged GETs while it reads the first
// part from the response it already has.
const parallelThreshold = 2 * DefaultDownloadPartSize

// spoolParallel authenticates a large object into a spool file with
// concurrent ranged GETs and returns the plaintext decrypted from it.
func (c *Client) spoolParallel(ctx context.Context, src *objectSource, out *s3.GetObjectOutput, dec *core.Decryption) (io.ReadCloser, int64, error) {
	defer out.Body.Close()
	stored := src.total
	if err := core.CheckStoredSize(dec.Envelope(), stored); err != nil {
		return nil, 0, err
	}
	f, err := dec.Spool()
	if err != nil {
		return nil, 0, err
	}
	err = c.rangedTransfer(ctx, src, out.Body, stored-1, dec, nil, f, false, DefaultDownloadPartSize, DefaultConcurrency)
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	size := stored - aesgcm.TagSize
	return core.NewCTRFileReader(f, dec.Content.GCM, size), size, nil
}

// HeadObject returns an object's metadata with ContentLength as the
// plaintext size and the envelope removed from Metadata;
// GetObjectInfo(out.ResultMetadata) describes the encryption. It unwraps
// no key. An object that is not encrypted is returned as S3 describes it,
// without ObjectInfo.
func (c *Client) HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	fail := func(err error) error {
		return &ObjectError{Op: "HeadObject", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	out, err := c.Client.HeadObject(ctx, in, optFns...)
	if err != nil {
		return nil, fail(err)
	}
	sse := sseFields{in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5, in.ExpectedBucketOwner, in.RequestPayer}
	env, err := c.loadEnvelope(ctx, in.Bucket, in.Key, sse, out.Metadata, optFns)
	if errors.Is(err, ErrNotEncrypted) {
		return out, nil
	}
	if err != nil {
		return nil, fail(err)
	}
	stored := aws.ToInt64(out.ContentLength)
	size, err := core.StoredPlaintextSize(env, stored)
	if err != nil {
		size = -1
	}
	out.ContentLength = nil
	if size >= 0 {
		out.ContentLength = aws.Int64(size)
	}
	out.Metadata = userMetadata(out.Metadata)
	setObjectInfo(&out.ResultMetadata, &ObjectInfo{Envelope: env, KeyRef: core.RecordedKeyRef(env), PlaintextSize: size, StoredSize: stored})
	return out, nil
}

// sseFields are the request fields an instruction-file GET must repeat.
type sseFields struct {
	alg, key, keyMD5, owner *string
	payer                   types.RequestPayer
}

func sseOf(in *s3.GetObjectInput) sseFields {
	return sseFields{in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5, in.ExpectedBucketOwner, in.RequestPayer}
}

// loadEnvelope decodes the envelope from the object's metadata or, when
// it is not there, from its instruction file, fetched through the same
// client.
func (c *Client) loadEnvelope(ctx context.Context, bucket, key *string, sse sseFields, meta map[string]string, optFns []func(*s3.Options)) (*metadata.Envelope, error) {
	return core.ReadEnvelope(&c.opts, aws.ToString(key), meta, func(instKey string) (*core.InstructionFile, error) {
		return c.fetchInstructionFile(ctx, bucket, instKey, sse, optFns)
	})
}

// fetchInstructionFile gets the object that may be an instruction file:
// core.ErrNoInstructionFile if there is none.
func (c *Client) fetchInstructionFile(ctx context.Context, bucket *string, instKey string, sse sseFields, optFns []func(*s3.Options)) (*core.InstructionFile, error) {
	f, _, err := c.readInstructionObject(ctx, &s3.GetObjectInput{
		Bucket: bucket, Key: &instKey,
		SSECustomerAlgorithm: sse.alg, SSECustomerKey: sse.key, SSECustomerKeyMD5: sse.keyMD5,
		ExpectedBucketOwner: sse.owner, RequestPayer: sse.payer,
	}, optFns)
	return f, err
}

// readInstructionObject GETs what may be an instruction file, bounded in
// size, and returns it with the response (its body drawn):
// core.ErrNoInstructionFile if there is none.
func (c *Client) readInstructionObject(ctx context.Context, in *s3.GetObjectInput, optFns []func(*s3.Options)) (*core.InstructionFile, *s3.GetObjectOutput, error) {
	out, err := c.Client.GetObject(ctx, in, optFns...)
	if err != nil {
		var nsk *types.NoSuchKey
		if errors.As(err, &nsk) {
			return nil, nil, core.ErrNoInstructionFile
		}
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, metadata.MaxInstruction+1))
	if err != nil {
		return nil, nil, err
	}
	return &core.InstructionFile{Body: b, Metadata: out.Metadata}, out, nil
}

// userMetadata removes the envelope from an SDK output's metadata, in
// place (the map is the output's own, and the envelope was decoded from
// a copy), and returns it.
func userMetadata(meta map[string]string) map[string]string {
	maps.DeleteFunc(meta, func(k, _ string) bool { return metadata.IsReservedKey(k) })
	return meta
}
