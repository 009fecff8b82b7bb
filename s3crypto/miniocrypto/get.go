package miniocrypto

import (
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/internal/filemode"
	"github.com/s3c/s3c/metadata"
)

// Object is a decrypted object, used as apps use *minio.Object: Read,
// Stat (with the plaintext size and the caller's own metadata) and
// Close. Unlike minio-go, GetObject fetches and, by default, authenticates
// the whole object before returning, so errors come from GetObject and
// reads never fail for integrity.
//
// Except for an object larger than Options.MemoryBufferSize with a valid
// chunk index (<key>.s3c-index, which s3crypto writes beside large
// objects; see s3crypto.IsIndexObject): it is streamed in constant memory
// without a temporary file, each chunk released only once its MAC in the
// index verifies, so a Read can fail with an integrity error
// (IsIntegrityError) after returning exactly the verified chunks before
// the bad one. ReadAt and Seek on it fetch the chunks that cover the
// bytes asked for, verified, with ranged GETs.
//
// ReadAt and Seek work on authenticated objects (the default), which are
// otherwise held in memory or spooled, as ciphertext, to a temporary
// file: any offset is decrypted with AES-CTR at its counter. They fail
// with ErrNotSeekable on an object opened with WithUnauthenticatedStream,
// and on legacy AES-CBC objects larger than Options.MemoryBufferSize.
//
// As with *minio.Object, all methods are safe for concurrent use. ReadAt
// calls run in parallel with each other; Read, Seek and Close take the
// object for themselves, so Close waits for a Read in progress (on a
// streamed object, cancel GetObject's context to interrupt one). After
// Close every method returns ErrObjectClosed.
type Object struct {
	// mu is held exclusively by Read, Seek and Close, shared by ReadAt and
	// Stat. The bodies that offer ReadAt (a bytes.Reader in memory, the
	// core's spool-file reader) are themselves safe for concurrent ReadAt.
	mu     sync.RWMutex
	body   io.ReadCloser
	info   minio.ObjectInfo
	read   int64 // plaintext returned by Read, for a size learnt at the end
	closed bool

	// For a streamed object, whose body is fetched as it is read: reopen
	// reads the object afresh (once, if it was overwritten before Read
	// returned anything) and changed makes the error for an overwrite.
	reopen   func() (*Object, error)
	changed  func(returned int64, cause error) error
	streamed bool // read through the object's chunk index
}

var (
	// ErrNotSeekable is returned by ReadAt and Seek when the object was
	// not opened for random access.
	ErrNotSeekable = errors.New("miniocrypto: object is read in order only (streamed, or legacy AES-CBC)")

	// ErrObjectClosed is returned by an Object's methods after Close.
	ErrObjectClosed = errors.New("miniocrypto: object is closed")

	// errSizeUnknown: a streamed legacy AES-CBC object that records no
	// plaintext length has a size only once it is read to the end.
	errSizeUnknown = errors.New("miniocrypto: the plaintext size of this legacy AES-CBC object is not recorded; it is known once the object is read to the end")
)

// Read implements io.Reader.
func (o *Object) Read(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrObjectClosed
	}
	n, err := o.body.Read(p)
	if err != nil && o.changed != nil && overwritten(err) {
		err = o.changed(o.read+int64(n), err)
		if n == 0 && o.read == 0 && o.reopen != nil {
			// Nothing was returned yet: read the new version instead.
			reopen := o.reopen
			o.reopen = nil
			if fresh, rerr := reopen(); rerr != nil {
				err = rerr
			} else {
				o.body.Close()
				o.body, o.info = fresh.body, fresh.info
				return o.read0(p)
			}
		}
	}
	o.read += int64(n)
	if err == io.EOF && o.info.Size < 0 {
		// Only a streamed object (read in order, no Seek) can have an
		// unknown size: what was read is the size.
		o.info.Size = o.read
	}
	return n, err
}

// read0 is Read's first read from a reopened body, o.mu held.
func (o *Object) read0(p []byte) (int, error) {
	n, err := o.body.Read(p)
	if err != nil && overwritten(err) {
		err = o.changed(int64(n), err)
	}
	o.read += int64(n)
	if err == io.EOF && o.info.Size < 0 {
		o.info.Size = o.read
	}
	return n, err
}

// ReadAt implements io.ReaderAt. It is safe to call from several
// goroutines at once, also while others Read or Seek.
func (o *Object) ReadAt(p []byte, off int64) (int, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closed {
		return 0, ErrObjectClosed
	}
	ra, ok := o.body.(io.ReaderAt)
	if !ok {
		return 0, ErrNotSeekable
	}
	return ra.ReadAt(p, off)
}

// Seek implements io.Seeker.
func (o *Object) Seek(offset int64, whence int) (int64, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return 0, ErrObjectClosed
	}
	s, ok := o.body.(io.Seeker)
	if !ok {
		return 0, ErrNotSeekable
	}
	return s.Seek(offset, whence)
}

// Stat returns the object's information, with Size the whole plaintext
// size (not, as minio-go's, the part not yet read).
func (o *Object) Stat() (minio.ObjectInfo, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	switch {
	case o.closed:
		return minio.ObjectInfo{}, ErrObjectClosed
	case o.info.Size < 0:
		return minio.ObjectInfo{}, errSizeUnknown
	}
	return o.info, nil
}

// Close releases the object (and its spool file, if any). Closing twice
// is not an error.
func (o *Object) Close() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return nil
	}
	o.closed = true
	return o.body.Close()
}

// GetObject fetches and decrypts an object; see Object. The envelope is
// checked against the commitment policy before any key is unwrapped, and
// the encryption context against WithEncryptionContext. A range or part
// number in opts is refused (a range of an AES-GCM object cannot be
// authenticated): use ReadAt on the authenticated Object instead.
//
// minio-go pins the requests of one read to the ETag of its first
// response. If the object is overwritten in between, GetObject reads it
// again, once, from the new version, as long as nothing has been returned
// (always so by default: nothing is returned before authentication);
// otherwise the error wraps ErrObjectChanged. A precondition of the
// caller's own (If-Match and the like in opts) is never retried.
func (c *Client) GetObject(ctx context.Context, bucket, key string, opts minio.GetObjectOptions) (*Object, error) {
	own := hasConditions(opts)
	changed := func(returned int64, err error) error {
		// The server's own answer, without the ObjectError around it.
		var cause minio.ErrorResponse
		errors.As(err, &cause)
		return &core.ObjectError{Op: "GetObject", Bucket: bucket, Key: key, Err: &changedError{returned: returned, cause: cause}}
	}
	retry := func() (*Object, error) {
		o := opts
		if o.Header().Get("If-Match") != "" {
			// minio-go left its own If-Match in the headers map that
			// opts shares with the caller's: match whatever version
			// there is now instead.
			o.Set("If-Match", "*")
		}
		obj, err := c.getOnce(ctx, bucket, key, o)
		if err != nil && overwritten(err) {
			return nil, changed(0, err)
		}
		return obj, err
	}
	obj, err := c.getOnce(ctx, bucket, key, opts)
	if own {
		return obj, err
	}
	retried := err != nil && overwritten(err)
	if retried {
		obj, err = retry()
	}
	if err == nil && (c.callOptions(ctx).UnauthenticatedStream || obj.streamed) {
		// Streamed: the body is fetched as it is read.
		obj.changed = changed
		if obj.streamed {
			obj.changed = func(returned int64, err error) error {
				e := changed(returned, err)
				var ce *changedError
				if errors.As(e, &ce) {
					ce.verified = true
				}
				return e
			}
		}
		if !retried {
			obj.reopen = retry
		}
	}
	return obj, err
}

type changedError struct {
	returned int64 // plaintext bytes returned before the change was seen
	cause    error // the server's answer: 412 Precondition Failed
	verified bool  // what was returned was verified with the chunk index
}

func (e *changedError) Error() string {
	if e.returned == 0 {
		return ErrObjectChanged.Error() + "; nothing was returned"
	}
	if e.verified {
		return fmt.Sprintf("%s; the %d bytes returned were from the earlier version, each chunk verified", ErrObjectChanged, e.returned)
	}
	return fmt.Sprintf("%s; the %d bytes returned were from the earlier version, unauthenticated", ErrObjectChanged, e.returned)
}

func (e *changedError) Unwrap() []error { return []error{ErrObjectChanged, e.cause} }

// overwritten reports whether err is the server's 412 Precondition Failed.
func overwritten(err error) bool {
	var er minio.ErrorResponse
	return errors.As(err, &er) && (er.StatusCode == http.StatusPreconditionFailed || er.Code == "PreconditionFailed")
}

// hasConditions reports whether the caller made the read conditional.
func hasConditions(opts minio.GetObjectOptions) bool {
	h := opts.Header()
	for _, k := range []string{"If-Match", "If-None-Match", "If-Modified-Since", "If-Unmodified-Since"} {
		if h.Get(k) != "" {
			return true
		}
	}
	return false
}

// getOnce is one attempt of GetObject.
func (c *Client) getOnce(ctx context.Context, bucket, key string, opts minio.GetObjectOptions) (*Object, error) {
	fail := func(ref string, err error) error { return c.fail("GetObject", bucket, key, ref, err) }
	if h := opts.Header(); h.Get("Range") != "" || opts.PartNumber != 0 {
		return nil, fail("", errors.New("a range of an encrypted object cannot be authenticated; use ReadAt on the object"))
	}
	if opts.RDMABuffer != nil {
		return nil, fail("", errRDMA)
	}
	obj, err := c.Client.GetObject(ctx, bucket, key, opts)
	if err != nil {
		return nil, fail("", err)
	}
	info, err := obj.Stat()
	if err != nil {
		obj.Close()
		return nil, fail("", err)
	}
	env, err := c.envelope(ctx, bucket, key, info, opts.ServerSideEncryption)
	if err != nil {
		obj.Close()
		return nil, fail("", err)
	}
	indexed := c.indexable(ctx, opts, info)
	dec, err := core.NewDecryption(ctx, &c.opts, env, c.callOptions(ctx).EncryptionContext, indexed)
	if err != nil {
		obj.Close()
		return nil, fail(core.RecordedKeyRef(env), err)
	}
	var body io.ReadCloser
	size := dec.PlaintextSize(info.Size)
	if x := c.index(ctx, bucket, key, opts, info, dec, indexed); x != nil {
		size = info.Size - aesgcm.TagSize
		body := &indexedBody{ctx: ctx, c: c, bucket: bucket, key: key, opts: opts, etag: info.ETag, dec: dec, x: x, size: size,
			cur: dec.OpenIndexed(obj, x, 0, size, true)}
		return &Object{body: body, info: plaintextInfo(info, size), streamed: true}, nil
	}
	if c.callOptions(ctx).UnauthenticatedStream {
		body, err = dec.OpenStream(obj, info.Size)
	} else {
		body, size, err = dec.OpenVerified(obj, info.Size)
	}
	if err != nil {
		return nil, fail(dec.KeyRef(), err)
	}
	return &Object{body: body, info: plaintextInfo(info, size)}, nil
}

// indexable reports whether a read of the object looks for its chunk
// index: not for a small object (held in memory anyway), a version, an
// object without an ETag, or an unauthenticated stream.
func (c *Client) indexable(ctx context.Context, opts minio.GetObjectOptions, info minio.ObjectInfo) bool {
	return opts.VersionID == "" && info.Size > c.opts.MemoryBufferSize && info.ETag != "" && !c.callOptions(ctx).UnauthenticatedStream
}

// index returns the object's authenticated chunk index, or nil: none, an
// invalid one (the object is then authenticated whole), or a read that
// is not indexable.
func (c *Client) index(ctx context.Context, bucket, key string, opts minio.GetObjectOptions, info minio.ObjectInfo, dec *core.Decryption, indexable bool) *core.Index {
	if !indexable || dec.Content == nil {
		return nil
	}
	b, err := c.fetchIndex(ctx, bucket, key, opts.ServerSideEncryption)
	if err != nil {
		return nil
	}
	x, _ := dec.DecodeIndex(b, info.Size)
	return x
}

// envelope reads the envelope from an object's metadata or its
// instruction file.
func (c *Client) envelope(ctx context.Context, bucket, key string, info minio.ObjectInfo, sse encrypt.ServerSide) (*metadata.Envelope, error) {
	return core.ReadEnvelope(&c.opts, key, info.UserMetadata, func(instKey string) (*core.InstructionFile, error) {
		return c.fetchInstructionFile(ctx, bucket, instKey, sse)
	})
}

// fetchInstructionFile gets the object that may be an instruction file:
// core.ErrNoInstructionFile if there is none.
func (c *Client) fetchInstructionFile(ctx context.Context, bucket, instKey string, sse encrypt.ServerSide) (*core.InstructionFile, error) {
	var o minio.GetObjectOptions
	if sse != nil && sse.Type() == encrypt.SSEC {
		o.ServerSideEncryption = sse // the instruction file was written with it too
	}
	obj, err := c.Client.GetObject(ctx, bucket, instKey, o)
	if err != nil {
		return nil, err
	}
	defer obj.Close()
	b, err := io.ReadAll(io.LimitReader(obj, metadata.MaxInstruction+1))
	if err != nil {
		if isNoSuchKey(err) {
			return nil, core.ErrNoInstructionFile
		}
		return nil, err
	}
	st, err := obj.Stat()
	if err != nil {
		return nil, err
	}
	return &core.InstructionFile{Body: b, Metadata: st.UserMetadata}, nil
}

// plaintextInfo is info as the caller should see it: the plaintext size,
// and metadata without the envelope.
func plaintextInfo(info minio.ObjectInfo, size int64) minio.ObjectInfo {
	info.Size = size
	info.UserMetadata = metadata.WithoutEnvelope(info.UserMetadata)
	if info.Metadata != nil {
		h := http.Header{}
		for k, v := range info.Metadata {
			if name, ok := strings.CutPrefix(strings.ToLower(k), "x-amz-meta-"); ok && metadata.IsReservedKey(name) {
				continue
			}
			h[k] = v
		}
		info.Metadata = h
	}
	return info
}

// StatObject returns an object's information with Size as the plaintext
// size and the envelope removed from its metadata. It unwraps no key. An
// object that is not encrypted is returned as the server describes it.
func (c *Client) StatObject(ctx context.Context, bucket, key string, opts minio.StatObjectOptions) (minio.ObjectInfo, error) {
	info, err := c.Client.StatObject(ctx, bucket, key, opts)
	if err != nil {
		return info, c.fail("StatObject", bucket, key, "", err)
	}
	env, err := c.envelope(ctx, bucket, key, info, opts.ServerSideEncryption)
	if errors.Is(err, core.ErrNotEncrypted) {
		return info, nil
	}
	if err != nil {
		return minio.ObjectInfo{}, c.fail("StatObject", bucket, key, "", err)
	}
	size, err := core.StoredPlaintextSize(env, info.Size)
	if err != nil {
		return minio.ObjectInfo{}, c.fail("StatObject", bucket, key, core.RecordedKeyRef(env), err)
	}
	return plaintextInfo(info, size), nil
}

// FGetObject decrypts an object into the file at filePath. It writes a
// temporary file beside it (mode 0600) and renames it into place only
// once the whole object is authenticated: on any failure no partial file
// is left and an existing file is untouched. The file gets the mode cp
// would give it: an existing file's mode is kept, a new file gets 0666
// less the process's umask.
func (c *Client) FGetObject(ctx context.Context, bucket, key, filePath string, opts minio.GetObjectOptions) error {
	if st, err := os.Stat(filePath); err == nil && st.IsDir() {
		return c.fail("FGetObject", bucket, key, "", fmt.Errorf("%s is a directory", filePath))
	}
	dir := filepath.Dir(filePath)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(filePath)+".*.part.s3c")
	if err != nil {
		return err
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	// Streamed into the temporary file: the tag is checked at the end, and
	// the file is only renamed if it holds.
	obj, err := c.GetObject(WithUnauthenticatedStream(ctx), bucket, key, opts)
	if err != nil {
		return err
	}
	defer obj.Close()
	if _, err := io.Copy(tmp, obj); err != nil {
		return c.fail("FGetObject", bucket, key, "", err)
	}
	// The mode cp gives: an existing file's, or 0666 less the umask.
	if err := tmp.Chmod(filemode.For(filePath)); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), filePath); err != nil {
		return err
	}
	done = true
	return nil
}
