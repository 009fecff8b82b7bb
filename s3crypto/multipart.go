package s3crypto

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/metadata"
)

// MultipartUpload stores one encrypted object in parts. The parts
// together form a single AES-GCM stream with the tag at the end of the
// last part, so the object is indistinguishable from one written by
// PutObject and AWS's clients read it.
//
// Every part but the last holds exactly PartSize bytes of plaintext (a
// multiple of 16), so each part's offset in the stream is known and parts
// may be encrypted and uploaded in any order, concurrently. The last part
// is sealed once every other part has been: its tag covers them all.
// Uploading a part number again is allowed only with the same plaintext
// (a retry): different bytes at the same offset would reuse the GCM key
// stream, so they are refused before anything is sent.
//
// Uploader drives a MultipartUpload from an io.Reader; use one directly to
// upload parts your own way.
type MultipartUpload struct {
	c        *Client
	enc      *core.Encryption
	bucket   *string
	key      *string
	uploadID string
	partSize int64
	create   *s3.CreateMultipartUploadInput
	optFns   []func(*s3.Options)
	partOpts []func(*s3.Options) // optFns, and an unsigned payload over http
	inst     []byte              // instruction file body, written after completion
	meta     map[string]string   // the object's metadata, envelope included
	// The caller's conditions on the write (PutObjectInput's IfMatch and
	// IfNoneMatch), which S3 checks when the upload completes.
	ifMatch, ifNoneMatch *string

	mu      sync.Mutex
	hashed  *sync.Cond             // signalled when a part's hash is recorded
	hashes  map[int32]*aesgcm.Hash // per sealed part
	parts   map[int32]types.CompletedPart
	last    int32   // number of the last part, once sealed
	done    bool    // completion begun, or aborted
	settled bool    // completed, or aborted: nothing left to abort
	strays  []error // uploads a retried create left behind that could not be aborted

	// The chunk index (see IsIndexObject), computed per part: parts start
	// on chunk boundaries (the chunk size divides the part size).
	indexing   bool
	indexParts map[int32]*core.IndexWriter
	tag        []byte // the object's tag, once the last part is sealed
}

// NewMultipartUpload creates the upload: a fresh data key from the
// keyring, and the envelope in the upload's metadata (or, as for
// PutObject, in an instruction file written on Complete). partSize is the
// plaintext size of every part but the last, a multiple of 16.
// WithEncryptionContext and WithInstructionFile apply, in optFns.
func (c *Client) NewMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, partSize int64, optFns ...func(*s3.Options)) (*MultipartUpload, error) {
	return c.newMultipartUpload(ctx, in, partSize, -1, optFns)
}

// newMultipartUpload is NewMultipartUpload for an object of size bytes of
// plaintext (-1 if unknown), which the envelope records where it can.
func (c *Client) newMultipartUpload(ctx context.Context, in *s3.CreateMultipartUploadInput, partSize, size int64, optFns []func(*s3.Options)) (*MultipartUpload, error) {
	fail := func(ref string, err error) error {
		return &ObjectError{Op: "CreateMultipartUpload", Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), KeyRef: ref, Err: err}
	}
	if partSize <= 0 || partSize%aesgcm.BlockSize != 0 {
		return nil, fail("", fmt.Errorf("part size %d is not a positive multiple of 16", partSize))
	}
	for k := range in.Metadata {
		if isReserved(k) {
			return nil, fail("", core.ReservedMetadataError(k))
		}
	}
	call := collectCallOptions(c.Client.Options(), optFns)
	var ec map[string]string
	if call.hasContext {
		ec = call.context
	}
	enc, err := core.NewEncryption(ctx, &c.opts, ec)
	if err != nil {
		return nil, fail("", err)
	}
	meta, inst, err := core.PlaceEnvelope(&c.opts, enc.Envelope(size), in.Metadata, call.instructionFile)
	if err != nil {
		return nil, fail(enc.KeyRef(), err)
	}
	create := *in
	create.Metadata = meta
	// An attempt whose answer is lost may have created an upload that the
	// SDK's next attempt does not know of: find those and abort them.
	var attempts attemptLog
	out, err := c.Client.CreateMultipartUpload(ctx, &create, append(slices.Clip(optFns), attempts.option())...)
	var strays []error
	if first, ambiguous := attempts.result(); ambiguous {
		ours := ""
		if err == nil {
			ours = aws.ToString(out.UploadId)
		}
		strays = c.abortStrays(ctx, in, ours, first, time.Now(), optFns)
	}
	if err != nil {
		return nil, withCleanupErrors(fail(enc.KeyRef(), err), strays...)
	}
	m := &MultipartUpload{
		c: c, enc: enc, bucket: in.Bucket, key: in.Key, uploadID: aws.ToString(out.UploadId),
		partSize: partSize, create: in, optFns: optFns, inst: inst, meta: meta,
		hashes: map[int32]*aesgcm.Hash{}, parts: map[int32]types.CompletedPart{}, strays: strays,
	}
	m.hashed = sync.NewCond(&m.mu)
	if chunk := c.partIndexChunk(partSize); chunk > 0 && c.opts.IndexThreshold >= 0 && (size < 0 || c.wantsIndex(size)) {
		enc.SetIndexChunk(chunk)
		m.indexing = enc.IndexChunk() == chunk
		m.indexParts = map[int32]*core.IndexWriter{}
	}
	m.partOpts = optFns
	if plainHTTP(c.Client.Options(), optFns) {
		m.partOpts = append(append([]func(*s3.Options){}, optFns...), unsignedPayload)
	}
	return m, nil
}

// UploadID returns S3's id of the upload.
func (m *MultipartUpload) UploadID() string { return m.uploadID }

// PartSize returns the plaintext size of every part but the last.
func (m *MultipartUpload) PartSize() int64 { return m.partSize }

// KeyRef names the master key that wrapped the data key.
func (m *MultipartUpload) KeyRef() string { return m.enc.KeyRef() }

func (m *MultipartUpload) fail(err error) error {
	return &ObjectError{Op: "UploadPart", Bucket: aws.ToString(m.bucket), Key: aws.ToString(m.key), KeyRef: m.enc.KeyRef(), Err: err}
}

// UploadPart encrypts size bytes of plaintext from r as part number n
// (1-based) and uploads them. Every part but the last must be PartSize
// bytes; pass last=true for the final part, after every other part has
// been uploaded or at least sealed. It returns the completed part.
func (m *MultipartUpload) UploadPart(ctx context.Context, n int32, r io.Reader, size int64, last bool) (types.CompletedPart, error) {
	if size < 0 || size > m.partSize {
		return types.CompletedPart{}, m.fail(fmt.Errorf("part %d: %d bytes, parts hold at most %d", n, size, m.partSize))
	}
	buf := make([]byte, size, size+aesgcm.TagSize)
	if _, err := io.ReadFull(r, buf); err != nil {
		return types.CompletedPart{}, m.fail(fmt.Errorf("part %d: reading plaintext: %w", n, err))
	}
	ct, err := m.seal(n, buf, last)
	if err != nil {
		return types.CompletedPart{}, err
	}
	return m.send(ctx, n, ct)
}

// SealPart encrypts plaintext as part number n (1-based) and returns the
// bytes to upload as that part, for callers that send parts their own way
// (presigned URLs, another HTTP stack); then report each uploaded part
// with AddCompletedPart before Complete. The rules of UploadPart apply:
// every part but the last is PartSize bytes, the last is sealed last, and
// a part sealed again must have the same plaintext. The ciphertext is
// returned in a new slice: plaintext is only read, and nothing beyond
// len(plaintext) is touched, so consecutive parts may be slices of one
// buffer.
func (m *MultipartUpload) SealPart(n int32, plaintext []byte, last bool) ([]byte, error) {
	return m.sealPart(n, plaintext, last, false)
}

// AddCompletedPart records a part uploaded outside UploadPart, with the
// ETag (and checksums) S3 returned for it.
func (m *MultipartUpload) AddCompletedPart(p types.CompletedPart) error {
	n := aws.ToInt32(p.PartNumber)
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, sealed := m.hashes[n]; !sealed {
		return m.fail(fmt.Errorf("part %d was never sealed", n))
	}
	m.parts[n] = p
	return nil
}

// seal encrypts buf, whose whole capacity the caller owns, in place as
// part n and returns the ciphertext, with the tag if last.
func (m *MultipartUpload) seal(n int32, buf []byte, last bool) ([]byte, error) {
	return m.sealPart(n, buf, last, true)
}

// sealPart encrypts buf as part n and returns the ciphertext, with the tag
// if last. If owned, the caller owns all of buf's capacity and buf is
// encrypted in place, the capacity beyond len(buf) used for GCM's scratch
// tag and the final tag (no copy when cap(buf) ≥ len(buf)+16). Otherwise
// buf is only read and the ciphertext is a new slice: buf may be part of
// a larger buffer whose bytes past len(buf) belong to someone else.
func (m *MultipartUpload) sealPart(n int32, buf []byte, last, owned bool) ([]byte, error) {
	size := int64(len(buf))
	switch {
	case n < 1 || n > 10000:
		return nil, m.fail(fmt.Errorf("part number %d is outside 1…10000", n))
	case !last && size != m.partSize:
		return nil, m.fail(fmt.Errorf("part %d is %d bytes; every part but the last must be %d", n, size, m.partSize))
	}
	off := int64(n-1) * m.partSize
	if err := core.CheckSize(off + size); err != nil {
		return nil, m.fail(err)
	}
	s := m.enc.Content.GCM.NewStream(uint64(off))
	dst := buf[:0]
	if !owned {
		// No spare capacity: Seal allocates, buf is left as it is.
		dst = buf[:0:0]
	}
	ct := s.Seal(dst, buf)
	var iw *core.IndexWriter
	if m.indexing {
		if iw = m.enc.NewIndexWriter(off); iw != nil {
			iw.Write(ct)
		}
	}

	m.mu.Lock()
	defer m.mu.Unlock()
	if m.done {
		return nil, m.fail(errors.New("upload already completed or aborted"))
	}
	if m.last != 0 && (n > m.last || (last && n != m.last)) {
		return nil, m.fail(fmt.Errorf("part %d: part %d was already sealed as the last", n, m.last))
	}
	prev, retry := m.hashes[n]
	if retry {
		// A retry: only the very same ciphertext may go out again.
		state, prevState := s.Hash().State(), prev.State()
		if prev.Len() != uint64(size) || subtle.ConstantTimeCompare(state[:], prevState[:]) != 1 {
			clear(ct[:cap(ct)])
			return nil, m.fail(fmt.Errorf("part %d: %w", n, ErrSourceChanged))
		}
	}
	if last {
		for i := int32(1); i < n; i++ {
			if _, ok := m.hashes[i]; !ok {
				clear(ct[:cap(ct)])
				return nil, m.fail(fmt.Errorf("last part %d sealed before part %d", n, i))
			}
		}
	}
	if !retry {
		m.hashes[n] = s.Hash()
		m.addIndexPart(n, iw, size)
	}
	if last {
		total := m.enc.Content.GCM.NewHash()
		for i := int32(1); i <= n; i++ {
			total.Append(m.hashes[i])
		}
		m.last = n
		tag := total.Sum(m.enc.Content.AAD)
		m.tag = tag[:]
		ct = append(ct, tag[:]...)
	}
	return ct, nil
}

// send uploads sealed part n. The body is an in-memory reader, so the
// SDK's retries resend the same bytes.
func (m *MultipartUpload) send(ctx context.Context, n int32, ct []byte) (types.CompletedPart, error) {
	return m.sendBody(ctx, n, bytes.NewReader(ct), int64(len(ct)))
}

// uploadSection uploads part n from src, a rewindable source of its
// plaintext, encrypting as the SDK reads: no part is held in memory, and
// a re-read must give the same bytes (see EncryptReader). Parts but the
// last record their hash when first read through; the last part waits
// for every other part's hash, then appends the tag.
func (m *MultipartUpload) uploadSection(ctx context.Context, n int32, src io.ReadSeeker, size int64, last bool) (types.CompletedPart, error) {
	switch {
	case n < 1 || n > 10000:
		return types.CompletedPart{}, m.fail(fmt.Errorf("part number %d is outside 1…10000", n))
	case !last && size != m.partSize:
		return types.CompletedPart{}, m.fail(fmt.Errorf("part %d is %d bytes; every part but the last must be %d", n, size, m.partSize))
	}
	off := int64(n-1) * m.partSize
	if err := core.CheckSize(off + size); err != nil {
		return types.CompletedPart{}, m.fail(err)
	}
	var tail func(*aesgcm.Hash) []byte
	if last {
		total, err := m.waitHashes(ctx, n)
		if err != nil {
			return types.CompletedPart{}, m.fail(err)
		}
		tail = func(h *aesgcm.Hash) []byte {
			t := total.Clone() // each pass starts from the same state
			t.Append(h)
			tag := t.Sum(m.enc.Content.AAD)
			m.mu.Lock()
			m.tag = tag[:]
			m.mu.Unlock()
			return tag[:]
		}
	} else {
		tail = func(h *aesgcm.Hash) []byte {
			m.mu.Lock()
			defer m.mu.Unlock()
			if _, ok := m.hashes[n]; !ok {
				m.hashes[n] = h
				m.hashed.Broadcast()
			}
			return nil
		}
	}
	r, err := m.enc.NewPartReader(src, size, uint64(off), last, tail)
	if err != nil {
		return types.CompletedPart{}, m.fail(err)
	}
	var iw *core.IndexWriter
	if m.indexing {
		if iw = m.enc.NewIndexWriter(off); iw != nil {
			r.IndexFrom(iw)
		}
	}
	p, err := m.sendBody(ctx, n, r.Body(), r.Size())
	if err == nil {
		m.mu.Lock()
		m.addIndexPart(n, iw, size)
		m.mu.Unlock()
	}
	if err != nil && r.Err() != nil {
		return p, m.fail(fmt.Errorf("part %d: %w", n, r.Err()))
	}
	return p, err
}

// waitHashes waits until parts 1…n-1 are hashed and returns their
// combined hash, marking n as the last part.
func (m *MultipartUpload) waitHashes(ctx context.Context, n int32) (*aesgcm.Hash, error) {
	stop := context.AfterFunc(ctx, func() {
		m.mu.Lock()
		m.hashed.Broadcast()
		m.mu.Unlock()
	})
	defer stop()
	m.mu.Lock()
	defer m.mu.Unlock()
	for {
		if err := context.Cause(ctx); err != nil {
			return nil, err
		}
		if m.done {
			return nil, errors.New("upload already completed or aborted")
		}
		missing := false
		for i := int32(1); i < n && !missing; i++ {
			_, ok := m.hashes[i]
			missing = !ok
		}
		if !missing {
			break
		}
		m.hashed.Wait()
	}
	total := m.enc.Content.GCM.NewHash()
	for i := int32(1); i < n; i++ {
		total.Append(m.hashes[i])
	}
	m.last = n
	return total, nil
}

// sendBody uploads part n with the given body.
func (m *MultipartUpload) sendBody(ctx context.Context, n int32, body io.Reader, length int64) (types.CompletedPart, error) {
	out, err := m.c.Client.UploadPart(ctx, &s3.UploadPartInput{
		Bucket: m.bucket, Key: m.key, UploadId: &m.uploadID, PartNumber: aws.Int32(n),
		Body: body, ContentLength: aws.Int64(length),
		ChecksumAlgorithm:    m.create.ChecksumAlgorithm,
		ExpectedBucketOwner:  m.create.ExpectedBucketOwner,
		RequestPayer:         m.create.RequestPayer,
		SSECustomerAlgorithm: m.create.SSECustomerAlgorithm,
		SSECustomerKey:       m.create.SSECustomerKey,
		SSECustomerKeyMD5:    m.create.SSECustomerKeyMD5,
	}, m.partOpts...)
	if err != nil {
		return types.CompletedPart{}, m.fail(fmt.Errorf("part %d: %w", n, err))
	}
	p := types.CompletedPart{
		PartNumber: aws.Int32(n), ETag: out.ETag,
		ChecksumCRC32: out.ChecksumCRC32, ChecksumCRC32C: out.ChecksumCRC32C, ChecksumCRC64NVME: out.ChecksumCRC64NVME,
		ChecksumSHA1: out.ChecksumSHA1, ChecksumSHA256: out.ChecksumSHA256,
	}
	m.mu.Lock()
	m.parts[n] = p
	m.mu.Unlock()
	return p, nil
}

// Complete finishes the upload once the last part and every part before it
// are uploaded, then writes the instruction file if the envelope goes
// there. If a part is missing, it says which and leaves the upload open:
// upload the part and call Complete again, or Abort. If S3 refuses to
// complete it, the upload is aborted.
//
// If S3's answer is lost (the connection broke, a timeout, a server error,
// ctx cancelled after the request left), Complete looks at what the key
// holds: if it is this upload's object, the upload did complete and
// Complete finishes the job; if it is not and the upload is still open,
// the upload is aborted; if that cannot be told, the error says so. An
// abort that fails adds an *IncompleteUploadError to the error.
func (m *MultipartUpload) Complete(ctx context.Context) (*s3.CompleteMultipartUploadOutput, error) {
	fail := func(err error) error {
		return &ObjectError{Op: "CompleteMultipartUpload", Bucket: aws.ToString(m.bucket), Key: aws.ToString(m.key), KeyRef: m.enc.KeyRef(), Err: err}
	}
	m.mu.Lock()
	if m.done {
		m.mu.Unlock()
		return nil, fail(errors.New("upload already completed or aborted"))
	}
	if m.last == 0 {
		m.mu.Unlock()
		return nil, fail(errors.New("the last part was never uploaded"))
	}
	var parts []types.CompletedPart
	for i := int32(1); i <= m.last; i++ {
		p, ok := m.parts[i]
		if !ok {
			m.mu.Unlock()
			return nil, fail(fmt.Errorf("part %d was never uploaded", i))
		}
		parts = append(parts, p)
	}
	m.done = true
	m.mu.Unlock()
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	var attempts attemptLog
	out, err := m.c.Client.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: m.bucket, Key: m.key, UploadId: &m.uploadID,
		MultipartUpload:      &types.CompletedMultipartUpload{Parts: parts},
		ExpectedBucketOwner:  m.create.ExpectedBucketOwner,
		RequestPayer:         m.create.RequestPayer,
		SSECustomerAlgorithm: m.create.SSECustomerAlgorithm,
		SSECustomerKey:       m.create.SSECustomerKey,
		SSECustomerKeyMD5:    m.create.SSECustomerKeyMD5,
		IfMatch:              m.ifMatch,
		IfNoneMatch:          m.ifNoneMatch,
	}, append(slices.Clip(m.optFns), attempts.option())...)
	if err == nil {
		return m.finish(ctx, out)
	}
	if _, ambiguous := attempts.result(); !ambiguous && errorCode(err) != "NoSuchUpload" {
		// Refused: the upload is still open, and cannot complete as it is.
		return nil, withCleanupErrors(fail(err), m.abort(ctx))
	}
	// The upload may have completed: look before aborting anything.
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	head, state, cerr := m.outcome(cctx, parts)
	switch state {
	case uploadCompleted:
		return m.finish(ctx, &s3.CompleteMultipartUploadOutput{
			Bucket: m.bucket, Key: m.key, ETag: head.ETag, VersionId: head.VersionId,
			ServerSideEncryption: head.ServerSideEncryption, SSEKMSKeyId: head.SSEKMSKeyId,
			BucketKeyEnabled: head.BucketKeyEnabled, Expiration: head.Expiration, RequestCharged: head.RequestCharged,
		})
	case uploadNotCompleted:
		return nil, withCleanupErrors(fail(err), m.abort(ctx))
	}
	stored := "the object may be stored"
	if m.inst != nil {
		stored += " without its instruction file"
	}
	return nil, withCleanupErrors(fail(fmt.Errorf("no answer (%w), and whether the upload completed could not be checked (%v); %s", err, cerr, stored)), m.abort(ctx))
}

// finish is the end of a completed upload: the instruction file, if the
// envelope goes there. If it cannot be written, the object is removed
// again: useless without its envelope.
func (m *MultipartUpload) finish(ctx context.Context, out *s3.CompleteMultipartUploadOutput) (*s3.CompleteMultipartUploadOutput, error) {
	m.mu.Lock()
	m.settled = true
	strays := m.strays
	m.strays = nil
	m.mu.Unlock()
	for _, s := range strays { // a second chance; they are reported to no one now
		var iu *IncompleteUploadError
		if errors.As(s, &iu) {
			m.c.abortUpload(ctx, m.bucket, m.key, iu.UploadID, m.create.ExpectedBucketOwner, m.create.RequestPayer, m.optFns)
		}
	}
	put := &s3.PutObjectInput{Bucket: m.bucket, Key: m.key, ExpectedBucketOwner: m.create.ExpectedBucketOwner,
		RequestPayer: m.create.RequestPayer, ACL: m.create.ACL, ServerSideEncryption: m.create.ServerSideEncryption,
		SSEKMSKeyId: m.create.SSEKMSKeyId, SSEKMSEncryptionContext: m.create.SSEKMSEncryptionContext, BucketKeyEnabled: m.create.BucketKeyEnabled,
		SSECustomerAlgorithm: m.create.SSECustomerAlgorithm,
		SSECustomerKey:       m.create.SSECustomerKey, SSECustomerKeyMD5: m.create.SSECustomerKeyMD5, StorageClass: m.create.StorageClass}
	if m.inst != nil {
		if err := m.c.storeInstructionFile(ctx, put, m.inst, out.ETag, out.VersionId, m.optFns); err != nil {
			return nil, &ObjectError{Op: "CompleteMultipartUpload", Bucket: aws.ToString(m.bucket), Key: aws.ToString(m.key), KeyRef: m.enc.KeyRef(), Err: err}
		}
	}
	m.c.storeIndex(ctx, put, m.index(), m.optFns)
	return out, nil
}

// addIndexPart records part n's chunk MACs, computed over all of its
// size bytes of ciphertext, once. m.mu is held.
func (m *MultipartUpload) addIndexPart(n int32, w *core.IndexWriter, size int64) {
	if w == nil || m.indexParts == nil || w.Len() != size {
		return
	}
	if _, ok := m.indexParts[n]; !ok {
		m.indexParts[n] = w
	}
}

// index returns the encoded chunk index of the completed object (once:
// it consumes the parts' writers), or nil
// if it gets none: not indexing, below the threshold, or a part's MACs
// missing (a part added with AddCompletedPart).
func (m *MultipartUpload) index() []byte {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.indexing || m.tag == nil || m.last == 0 {
		return nil
	}
	whole := m.enc.NewIndexWriter(0)
	for i := int32(1); i <= m.last; i++ {
		w := m.indexParts[i]
		if w == nil || !whole.Merge(w) {
			return nil
		}
	}
	if !m.c.wantsIndex(whole.Len()) {
		return nil
	}
	return whole.Finish(m.enc.IndexID(), m.tag)
}

type uploadState int

const (
	uploadUnknown uploadState = iota
	uploadCompleted
	uploadNotCompleted
)

// outcome tells whether an upload whose CompleteMultipartUpload went
// unanswered completed: the key holds this upload's object (see ours), or
// the upload is still open, or neither (it was aborted, or completed and
// overwritten since). It returns the object's HEAD if it completed, and
// why it cannot tell if it cannot.
func (m *MultipartUpload) outcome(ctx context.Context, parts []types.CompletedPart) (*s3.HeadObjectOutput, uploadState, error) {
	head := func() (*s3.HeadObjectOutput, uploadState, error) {
		h, err := m.c.Client.HeadObject(ctx, &s3.HeadObjectInput{
			Bucket: m.bucket, Key: m.key, ExpectedBucketOwner: m.create.ExpectedBucketOwner, RequestPayer: m.create.RequestPayer,
			SSECustomerAlgorithm: m.create.SSECustomerAlgorithm, SSECustomerKey: m.create.SSECustomerKey, SSECustomerKeyMD5: m.create.SSECustomerKeyMD5,
		}, m.optFns...)
		switch {
		case err == nil && m.ours(h, parts):
			return h, uploadCompleted, nil
		case err == nil || httpStatus(err) == 404:
			return nil, uploadNotCompleted, nil
		}
		return nil, uploadUnknown, err
	}
	if h, state, err := head(); state != uploadNotCompleted {
		return h, state, err
	}
	_, err := m.c.Client.ListParts(ctx, &s3.ListPartsInput{
		Bucket: m.bucket, Key: m.key, UploadId: &m.uploadID, MaxParts: aws.Int32(1),
		ExpectedBucketOwner: m.create.ExpectedBucketOwner, RequestPayer: m.create.RequestPayer,
		SSECustomerAlgorithm: m.create.SSECustomerAlgorithm, SSECustomerKey: m.create.SSECustomerKey, SSECustomerKeyMD5: m.create.SSECustomerKeyMD5,
	}, m.optFns...)
	switch {
	case err == nil:
		return nil, uploadNotCompleted, nil // still open
	case errorCode(err) != "NoSuchUpload":
		return nil, uploadUnknown, err
	}
	// Gone: completed since the first look, or aborted.
	return head()
}

// ours reports whether the object h describes is the one this upload
// makes: its ETag is the multipart ETag of our parts (S3's and MinIO's for
// objects not encrypted at rest with SSE-C or SSE-KMS), or its metadata
// holds our envelope's encrypted data key or V3 message id, which are
// unique to this upload.
func (m *MultipartUpload) ours(h *s3.HeadObjectOutput, parts []types.CompletedPart) bool {
	if want := multipartETag(parts); want != "" && strings.Trim(aws.ToString(h.ETag), `"`) == want {
		return true
	}
	unique := false
	for _, k := range []string{metadata.KeyV2EncryptedKey, metadata.KeyV3EncryptedKey, metadata.KeyV3MessageID} {
		v, ok := m.meta[k]
		if !ok {
			continue
		}
		unique = true
		if got, ok := lookupFold(h.Metadata, k); !ok || got != v {
			return false
		}
	}
	return unique
}

// multipartETag is the ETag S3 gives an object completed from parts: the
// hex MD5 of the parts' binary MD5s, then "-" and the number of parts; ""
// if a part's ETag is not an MD5.
func multipartETag(parts []types.CompletedPart) string {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil || len(b) != md5.Size {
			return ""
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)) + "-" + strconv.Itoa(len(parts))
}

func lookupFold(m map[string]string, key string) (string, bool) {
	if v, ok := m[key]; ok {
		return v, true
	}
	for k, v := range m {
		if strings.EqualFold(k, key) {
			return v, true
		}
	}
	return "", false
}

// Abort aborts the upload, so that no parts are left behind. It runs even
// if ctx is already cancelled, on a context of its own with a deadline;
// once the upload is aborted or completed, later calls do nothing. If the
// abort fails, the error is an *IncompleteUploadError naming the upload:
// call Abort again, or see IncompleteUploadError.
func (m *MultipartUpload) Abort(ctx context.Context) error {
	return m.abort(ctx)
}

func (m *MultipartUpload) abort(ctx context.Context) error {
	m.mu.Lock()
	if m.settled {
		m.mu.Unlock()
		return nil
	}
	m.done = true
	strays := m.strays
	m.mu.Unlock()
	err := m.c.abortUpload(ctx, m.bucket, m.key, m.uploadID, m.create.ExpectedBucketOwner, m.create.RequestPayer, m.optFns)
	var left []error
	for _, s := range strays {
		var iu *IncompleteUploadError
		if errors.As(s, &iu) {
			if serr := m.c.abortUpload(ctx, m.bucket, m.key, iu.UploadID, m.create.ExpectedBucketOwner, m.create.RequestPayer, m.optFns); serr != nil {
				left = append(left, serr)
			}
		}
	}
	m.mu.Lock()
	m.settled = err == nil
	m.strays = left
	m.mu.Unlock()
	return join(append([]error{err}, left...)...)
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
