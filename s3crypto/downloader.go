package s3crypto

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// DefaultDownloadPartSize is the size of the ranged GETs of Downloader
// and of GetObject for large objects.
const DefaultDownloadPartSize = 32 << 20

// Downloader fetches an object with concurrent ranged GETs. Each range of
// ciphertext is hashed and decrypted at its offset of the GCM stream; the
// ranges' hashes are then combined and the object's tag checked once.
// Memory use is a buffer per worker, whatever the object's size.
//
// An object with a valid chunk index (see IsIndexObject) is checked chunk
// by chunk instead: each chunk's MAC in the index is verified before the
// chunk is decrypted or written, and the object's tag must be the one the
// index records. DownloadUnauthenticated then never writes a byte that
// has not been verified; DownloadOutput.Info.ReadPath is "index-stream".
//
// Download never releases unauthenticated plaintext: it fetches the
// ciphertext into scratch space, checks the tag, and only then returns a
// reader of the plaintext. DownloadUnauthenticated, as its name says,
// writes plaintext into an io.WriterAt before the tag has been checked:
// the content of w is authenticated only if it returns nil. Give it a
// temporary file and keep the file only on success (the s3c CLI does,
// renaming it into place).
type Downloader struct {
	// Client does the requests.
	Client *Client
	// PartSize is the size of each ranged GET; rounded up to a multiple of
	// 16, at most 5 GiB. Default 32 MiB: memory use does not depend on it.
	// A range that breaks is resumed where it broke (see Client.GetObject).
	PartSize int64
	// Concurrency is how many ranges are fetched at once. Default 4.
	Concurrency int
	// ClientOptions apply to every request; WithEncryptionContext goes here.
	ClientOptions []func(*s3.Options)
}

// NewDownloader returns a Downloader for c with default settings,
// adjusted by optFns.
func NewDownloader(c *Client, optFns ...func(*Downloader)) *Downloader {
	d := &Downloader{Client: c, PartSize: DefaultDownloadPartSize, Concurrency: DefaultConcurrency}
	for _, fn := range optFns {
		fn(d)
	}
	return d
}

// DownloadOutput describes a finished download.
type DownloadOutput struct {
	Size int64       // plaintext bytes written
	Info *ObjectInfo // how the object is encrypted
	// Object is the first response with its Body drawn: ETag, metadata
	// (without the envelope), content type and so on.
	Object *s3.GetObjectOutput
}

// DownloadUnauthenticated writes the plaintext of the object into w as
// it is decrypted, before the object's tag is checked, and returns once it
// is authenticated: on error, w holds unauthenticated plaintext (see
// Downloader). Range and PartNumber are not allowed.
func (d Downloader) DownloadUnauthenticated(ctx context.Context, w io.WriterAt, in *s3.GetObjectInput, optFns ...func(*Downloader)) (*DownloadOutput, error) {
	res, err := d.download(ctx, w, in, true, optFns)
	if err != nil {
		return nil, err
	}
	return res.DownloadOutput, nil
}

// Download fetches the object's ciphertext concurrently into w, a
// scratch space such as a temporary file (never plaintext), checks its
// tag, and returns a reader of the plaintext decrypted from w. Only
// authenticated plaintext is ever returned. Range and PartNumber are not
// allowed.
func (d Downloader) Download(ctx context.Context, w ReadWriterAt, in *s3.GetObjectInput, optFns ...func(*Downloader)) (io.Reader, *DownloadOutput, error) {
	out, err := d.download(ctx, w, in, false, optFns)
	if err != nil {
		return nil, nil, err
	}
	dec := out.decryption
	return &ctrSectionReader{r: io.NewSectionReader(w, 0, out.Size), ctr: dec.Content.GCM.NewCTR(0)}, out.DownloadOutput, nil
}

// ReadWriterAt is scratch space for Download, such as an *os.File.
type ReadWriterAt interface {
	io.ReaderAt
	io.WriterAt
}

type ctrSectionReader struct {
	r   io.Reader
	ctr interface{ XORKeyStream(dst, src []byte) }
}

func (r *ctrSectionReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	r.ctr.XORKeyStream(p[:n], p[:n])
	return n, err
}

type downloadResult struct {
	*DownloadOutput
	decryption *core.Decryption
}

func (d *Downloader) download(ctx context.Context, w io.WriterAt, in *s3.GetObjectInput, decrypt bool, optFns []func(*Downloader)) (*downloadResult, error) {
	for _, fn := range optFns {
		fn(d)
	}
	fail := func(ref string, err error) error {
		var oe *ObjectError
		if errors.As(err, &oe) {
			return err
		}
		return &ObjectError{Op: "Download", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	if in.Range != nil || in.PartNumber != nil {
		return nil, fail("", errors.New("Download fetches whole objects; use GetObject with WithUnauthenticatedRange for a range"))
	}
	partSize := downloadPartSize(d.PartSize)
	c := d.Client
	call := c.callOptions(d.ClientOptions)

	// The first range brings the metadata and the object's size, and the
	// whole object if it is one range (the tag included).
	first := *in
	firstEnd := partSize + aesgcm.TagSize - 1
	first.Range = aws.String(fmt.Sprintf("bytes=0-%d", firstEnd))
	out, err := c.Client.GetObject(ctx, &first, append(d.ClientOptions, noRangeChecksum)...)
	if err != nil {
		return nil, fail("", err)
	}
	// The body keeps flowing while the key is unwrapped and the index
	// fetched (see prefetch).
	body := out.Body
	if n := aws.ToInt64(out.ContentLength); n > prefetchMin {
		body = startPrefetch(out.Body, int(min(n, prefetchSize)))
	}
	defer func() { body.Close() }()
	env, err := c.loadEnvelope(ctx, in.Bucket, in.Key, sseOf(in), out.Metadata, d.ClientOptions)
	if err != nil {
		return nil, fail("", err)
	}
	bodyEnd, total, err := checkContentRange(out, 0, firstEnd, -1)
	if err != nil {
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	// A large object's chunk index is fetched while the data key is
	// unwrapped.
	var index chan indexResult
	if in.VersionId == nil && total > c.opts.MemoryBufferSize && total > partSize && env.ContentAlg != metadata.ContentAESCBC {
		index = make(chan indexResult, 1)
		go func() {
			b, err := c.fetchIndex(ctx, in.Bucket, aws.ToString(in.Key), sseOf(in), d.ClientOptions)
			index <- indexResult{b, err}
		}()
	}
	dec, err := core.NewDecryption(ctx, &c.opts, env, call.context, index != nil)
	if err != nil {
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	if err := core.CheckStoredSize(env, total); err != nil {
		return nil, fail(dec.KeyRef(), err)
	}
	if dec.Content == nil {
		// Legacy AES-CBC: one stream, through GetObject's checks.
		body.Close()
		return d.downloadCBC(ctx, w, in, decrypt)
	}
	size, err := core.PlaintextSizeOf(total)
	if err != nil {
		return nil, fail(dec.KeyRef(), err)
	}
	out.Metadata = userMetadata(out.Metadata)
	out.ContentLength, out.ContentRange = aws.Int64(size), nil
	info := &ObjectInfo{Envelope: env, KeyRef: dec.KeyRef(), PlaintextSize: size, StoredSize: total}
	setObjectInfo(&out.ResultMetadata, info)

	// An object with a valid chunk index (and ranges on its chunk
	// boundaries) is checked chunk by chunk: w then never holds plaintext
	// whose MAC has not verified.
	var x *core.Index
	if index != nil {
		if r := <-index; r.err == nil {
			if x, _ = dec.DecodeIndex(r.body, total); x != nil && partSize%x.ChunkSize != 0 {
				x = nil
			}
		}
	}
	if x != nil {
		info.ReadPath = core.ReadIndexStream
	}
	src := c.objectSource(in, d.ClientOptions, out.ETag, total)
	if err := c.rangedTransfer(ctx, src, body, bodyEnd, dec, x, w, decrypt, partSize, d.Concurrency); err != nil {
		return nil, fail(dec.KeyRef(), err)
	}
	return &downloadResult{DownloadOutput: &DownloadOutput{Size: size, Info: info, Object: out}, decryption: dec}, nil
}

// downloadCBC reads a legacy AES-CBC object with one GetObject.
func (d *Downloader) downloadCBC(ctx context.Context, w io.WriterAt, in *s3.GetObjectInput, decrypt bool) (*downloadResult, error) {
	if !decrypt {
		return nil, &ObjectError{Op: "Download", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key),
			Err: errors.New("Download does not read legacy AES-CBC objects; use GetObject")}
	}
	out, err := d.Client.GetObject(ctx, in, d.ClientOptions...)
	if err != nil {
		return nil, err
	}
	defer out.Body.Close()
	n, err := io.Copy(io.NewOffsetWriter(w, 0), out.Body)
	if err != nil {
		return nil, &ObjectError{Op: "Download", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), Err: err}
	}
	info, _ := GetObjectInfo(out.ResultMetadata)
	return &downloadResult{DownloadOutput: &DownloadOutput{Size: n, Info: info, Object: out}}, nil
}

// noRangeChecksum turns off response checksum validation for a ranged
// GET: S3 has no checksum of an arbitrary range to send (the SDK would
// log that for every range), and AES-GCM authenticates the object anyway.
func noRangeChecksum(o *s3.Options) {
	o.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
}

// maxDownloadPartSize bounds Downloader.PartSize: S3's largest part, and
// far from overflowing the range arithmetic.
const maxDownloadPartSize = 5 << 30

// downloadPartSize is the ranged GET size for a Downloader.PartSize: the
// default for 0 or less, rounded up to a multiple of 16, at most 5 GiB.
func downloadPartSize(n int64) int64 {
	if n <= 0 {
		return DefaultDownloadPartSize
	}
	return roundUp(min(n, maxDownloadPartSize), aesgcm.BlockSize)
}

// rangedTransfer moves the object of src into w in ranges of partSize,
// concurrently: range 0 from body (an open response that holds bytes 0 to
// bodyEnd), the others with ranged GETs of the same ETag, each resumed
// where it breaks. Each range is hashed at its offset of the GCM stream
// and, if decrypt, decrypted; then the hashes are combined and the tag,
// read at the end, is checked. With the object's chunk index x (partSize
// a multiple of its chunk size), each chunk is instead checked against
// its MAC before it is decrypted or written, and the tag must be the one
// the index records.
func (c *Client) rangedTransfer(ctx context.Context, src *objectSource, body io.ReadCloser, bodyEnd int64,
	dec *core.Decryption, x *core.Index, w io.WriterAt, decrypt bool, partSize int64, concurrency int) error {
	total := src.total
	size, err := core.PlaintextSizeOf(total)
	if err != nil {
		return err
	}
	// Ranges [i·partSize, (i+1)·partSize) of the ciphertext; the tag is
	// read with the last one.
	nparts := max((size+partSize-1)/partSize, 1)
	hashes := make([]*aesgcm.Hash, nparts)
	var tag [aesgcm.TagSize]byte
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	// One buffer per range in flight, reused from range to range: with an
	// index it holds a whole chunk (checked before any of it is written).
	bufs := make(chan []byte, max(concurrency, 1)+1)
	for range cap(bufs) {
		bufs <- nil
	}
	fetch := func(i int64, r io.Reader) error {
		off := i * partSize
		n := min(partSize, size-off)
		s := dec.Content.GCM.NewStream(uint64(off))
		step := int64(core.ChunkSize)
		if x != nil {
			step = x.ChunkSize
		}
		// A chunk, or the whole range if smaller (a small object's own
		// size), with room for OpenChunk's scratch.
		bufLen := min(n, step)
		buf := <-bufs
		if int64(cap(buf)) < bufLen+aesgcm.TagSize {
			buf = make([]byte, bufLen, bufLen+aesgcm.TagSize)
		}
		defer func() { bufs <- buf }()
		buf = buf[:bufLen]
		for done := int64(0); done < n; {
			k := min(int64(len(buf)), n-done)
			if _, err := io.ReadFull(r, buf[:k]); err != nil {
				return fmt.Errorf("reading bytes %d-%d: %w", off+done, off+done+k-1, err)
			}
			if x != nil {
				ci := (off + done) / x.ChunkSize
				ok := false
				if decrypt {
					ok = x.OpenChunk(ci, buf[:k])
				} else {
					ok = x.VerifyChunk(ci, buf[:k])
				}
				if !ok {
					return fmt.Errorf("%w: chunk %d (bytes %d–%d) does not match its MAC in the index", ErrAuthentication, ci, off+done, off+done+k-1)
				}
			} else if decrypt {
				s.Open(buf[:k], buf[:k])
			} else {
				s.Hash().Write(buf[:k])
			}
			if _, err := w.WriteAt(buf[:k], off+done); err != nil {
				return err
			}
			done += k
		}
		hashes[i] = s.Hash()
		if i == nparts-1 {
			if _, err := io.ReadFull(r, tag[:]); err != nil {
				return fmt.Errorf("reading the tag: %w", err)
			}
			if err := core.ExpectEOF(r); err != nil {
				return err
			}
		}
		return nil
	}
	// Range i is ciphertext bytes start–end; the last one ends with the tag.
	bounds := func(i int64) (start, end int64) {
		start = i * partSize
		end = min(start+partSize, size) - 1
		if i == nparts-1 {
			end = total - 1
		}
		return start, end
	}
	get := func(i int64) error {
		start, end := bounds(i)
		o, gotEnd, err := src.get(ctx, start, end) // the same ETag throughout
		if err != nil {
			return err
		}
		r := src.reader(ctx, o.Body, start, end, gotEnd)
		defer r.Close()
		return fetch(i, r)
	}

	// Workers for the other ranges, if any: a small object is all in the
	// open response.
	var wg sync.WaitGroup
	if nparts > 1 {
		idx := make(chan int64)
		for range min(int64(max(concurrency, 1)), nparts-1) {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range idx {
					if err := get(i); err != nil {
						cancel(err)
					}
				}
			}()
		}
		go func() {
			defer close(idx)
			for i := int64(1); i < nparts; i++ {
				select {
				case idx <- i:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	// Range 0 comes from the response already open, meanwhile the workers
	// fetch the rest; if one of them fails, that response is closed too.
	_, end0 := bounds(0)
	r0 := src.reader(ctx, body, 0, end0, bodyEnd)
	defer context.AfterFunc(ctx, func() { r0.Close() })()
	if err := fetch(0, r0); err != nil {
		cancel(err)
	}
	r0.Close()
	wg.Wait()
	if err := context.Cause(ctx); err != nil {
		return err
	}
	if x != nil {
		if !x.CheckTag(tag[:]) {
			return fmt.Errorf("%w: the object's tag is not the one its index records", ErrAuthentication)
		}
		return nil
	}
	h := dec.Content.GCM.NewHash()
	for _, p := range hashes {
		h.Append(p)
	}
	if !h.Verify(dec.Content.AAD, tag[:]) {
		return ErrAuthentication
	}
	return nil
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }
