package miniocrypto

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/internal/core"
)

// maxIndexSize bounds the index object a reader fetches.
const maxIndexSize = 8 << 20

// fetchIndex gets key's chunk index, or an error if there is none (or an
// object of that name lacks the marker).
func (c *Client) fetchIndex(ctx context.Context, bucket, key string, sse encrypt.ServerSide) ([]byte, error) {
	var o minio.GetObjectOptions
	if sse != nil && sse.Type() == encrypt.SSEC {
		o.ServerSideEncryption = sse
	}
	obj, err := c.Client.GetObject(ctx, bucket, core.IndexKey(key), o)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	st, err := obj.Stat()
	if err != nil {
		return nil, err
	}
	if !core.IsIndexObject(st.UserMetadata) {
		return nil, errors.New("no index")
	}
	if st.Size > maxIndexSize {
		return nil, core.ErrIndexInvalid
	}
	return io.ReadAll(io.LimitReader(obj, maxIndexSize))
}

// indexedBody is the plaintext of an object with a valid chunk index:
// Read streams it, each chunk released once its MAC verifies; Seek
// reopens the stream at a chunk boundary with a ranged GET; ReadAt reads
// the chunks that cover it, verified, with a ranged GET of its own. Every
// ranged GET is pinned to the first response's ETag.
type indexedBody struct {
	ctx    context.Context // GetObject's, as minio-go's Object keeps it
	c      *Client
	bucket string
	key    string
	opts   minio.GetObjectOptions // the caller's, for SSE-C
	etag   string
	dec    *core.Decryption
	x      *core.Index
	size   int64 // plaintext

	cur io.ReadCloser // the stream from pos, nil until the next Read
	pos int64
}

func (b *indexedBody) Read(p []byte) (int, error) {
	if b.cur == nil && b.pos >= b.size {
		return 0, io.EOF
	}
	if b.cur == nil {
		r, err := b.open(b.pos, b.size-b.pos, true)
		if err != nil {
			return 0, err
		}
		b.cur = r
	}
	n, err := b.cur.Read(p)
	b.pos += int64(n)
	return n, err
}

// open returns the verified plaintext off … off+n−1 read with a ranged
// GET of the chunks that cover it (and the tag, if withTag).
func (b *indexedBody) open(off, n int64, withTag bool) (io.ReadCloser, error) {
	cs := off / b.x.ChunkSize * b.x.ChunkSize
	last := (off + max(n, 1) - 1) / b.x.ChunkSize
	ce := last*b.x.ChunkSize + b.x.ChunkLen(last) - 1
	if withTag {
		ce = b.x.Stored - 1
	}
	o := minio.GetObjectOptions{ServerSideEncryption: b.opts.ServerSideEncryption}
	if err := o.SetMatchETag(b.etag); err != nil {
		return nil, err
	}
	if err := o.SetRange(cs, ce); err != nil {
		return nil, err
	}
	obj, err := b.c.Client.GetObject(b.ctx, b.bucket, b.key, o)
	if err != nil {
		return nil, err
	}
	return b.dec.OpenIndexed(obj, b.x, off, n, withTag), nil
}

func (b *indexedBody) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	case io.SeekStart:
	default:
		return 0, errors.New("miniocrypto: invalid whence")
	}
	if offset < 0 {
		return 0, errors.New("miniocrypto: negative position")
	}
	if offset != b.pos && b.cur != nil {
		b.cur.Close()
		b.cur = nil
	}
	b.pos = offset
	return offset, nil
}

// ReadAt is safe for concurrent use: it shares nothing with Read.
func (b *indexedBody) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("miniocrypto: negative offset")
	}
	if off >= b.size {
		return 0, io.EOF
	}
	n := min(int64(len(p)), b.size-off)
	if n == 0 {
		return 0, nil
	}
	r, err := b.open(off, n, false)
	if err != nil {
		return 0, err
	}
	defer r.Close()
	k, err := io.ReadFull(r, p[:n])
	if err != nil {
		return k, fmt.Errorf("bytes %d–%d: %w", off, off+n-1, err)
	}
	if n < int64(len(p)) {
		return k, io.EOF
	}
	return k, nil
}

func (b *indexedBody) Close() error {
	if b.cur != nil {
		return b.cur.Close()
	}
	return nil
}

// Chunk indexes (<key>.s3c-index, see s3crypto.IsIndexObject), which
// s3crypto writes beside large objects, are removed and copied with their
// objects here too. This front end does not write them; GetObject reads
// through a valid one (see Object).

// removeIndex removes key's chunk index if there is one: <key>.s3c-index
// carrying the marker.
func (c *Client) removeIndex(ctx context.Context, bucket, key string, ssec encrypt.ServerSide) error {
	ik := core.IndexKey(key)
	info, found, err := c.statCompanion(ctx, bucket, ik, ssec)
	switch {
	case err != nil:
		return nil // SSE-C or unreadable: cannot be told from the caller's own object
	case !found || !core.IsIndexObject(info.UserMetadata):
		return nil
	}
	return c.Client.RemoveObject(ctx, bucket, ik, minio.RemoveObjectOptions{})
}

// copyIndex copies the source's chunk index, if it has one, beside the
// copy, server-side, never over an object of that name that is not an
// index. Failing leaves the copy without an index, which is not an error.
func (c *Client) copyIndex(ctx context.Context, dst minio.CopyDestOptions, src minio.CopySrcOptions) {
	if src.VersionID != "" {
		return
	}
	sk, dk := core.IndexKey(src.Object), core.IndexKey(dst.Object)
	info, found, err := c.statInstructionFile(ctx, src.Bucket, sk, src.Encryption)
	if err != nil || !found || !core.IsIndexObject(info.UserMetadata) {
		return
	}
	dinfo, dfound, err := c.statInstructionFile(ctx, dst.Bucket, dk, dst.Encryption)
	if err != nil || dfound && !core.IsIndexObject(dinfo.UserMetadata) {
		return
	}
	_, _ = c.Client.CopyObject(ctx,
		minio.CopyDestOptions{Bucket: dst.Bucket, Object: dk, Encryption: dst.Encryption},
		minio.CopySrcOptions{Bucket: src.Bucket, Object: sk, Encryption: src.Encryption, MatchETag: info.ETag})
}
