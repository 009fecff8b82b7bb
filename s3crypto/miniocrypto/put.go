package miniocrypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"io"
	"mime"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"
)

// PutObject encrypts reader (size bytes, or -1 if unknown) under a fresh
// data key and stores it with its envelope, in the object's metadata or in
// <key>.instruction. minio-go does the transfer: a single PUT or its own
// multipart upload, whose parts are slices of the one AES-GCM stream, so
// the object reads like any other. The encrypted stream is generated as
// minio-go reads it; memory use is what minio-go buffers: one part, 16 MiB
// unless PartSize says otherwise. UploadInfo.Size is the plaintext size.
//
// A stream of unknown length that passes AES-GCM's limit (2^36 − 32
// bytes, 64 GiB less 32 bytes) fails with an error wrapping
// ErrTooLarge, and minio-go aborts the multipart upload.
//
// Retries never encrypt different plaintext under the same key and
// nonce. This call makes one content encryption (a fresh data key and nonce)
// and takes its one reader; minio-go never asks for a second. A multipart upload
// copies each part into its own buffer before sending it (the body is no
// io.ReaderAt, so minio-go never reads it at offsets), and a retried
// part is resent from that buffer: the cipher runs once per byte. A
// single PUT is retried by seeking the body back to its start; that body
// is rewindable only if reader is an io.Seeker of known size, and on a
// rewind the core encrypts again and compares every chunk with the first
// pass (through its GHASH state) before releasing it, failing with
// ErrSourceChanged if the source changed. Any other body is not
// an io.Seeker, so minio-go sends it once and does not retry.
func (c *Client) PutObject(ctx context.Context, bucket, key string, reader io.Reader, size int64, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
	for k := range opts.UserMetadata {
		if core.IsReservedMetadata(k) {
			return minio.UploadInfo{}, c.fail("PutObject", bucket, key, "", core.ReservedMetadataError(k))
		}
	}
	if opts.RDMABuffer != nil {
		return minio.UploadInfo{}, c.fail("PutObject", bucket, key, "", errRDMA)
	}
	if err := c.checkInstructionFileInUse(ctx, bucket, key, opts.ServerSideEncryption); err != nil {
		return minio.UploadInfo{}, c.fail("PutObject", bucket, key, "", err)
	}
	enc, err := core.NewEncryption(ctx, &c.opts, c.callOptions(ctx).EncryptionContext)
	if err != nil {
		return minio.UploadInfo{}, c.fail("PutObject", bucket, key, "", err)
	}
	fail := func(err error) (minio.UploadInfo, error) {
		return minio.UploadInfo{}, c.fail("PutObject", bucket, key, enc.KeyRef(), err)
	}
	if reader == nil {
		reader, size = bytes.NewReader(nil), 0
	}
	body, err := enc.NewReader(reader, size)
	if err != nil {
		return fail(err)
	}
	objMeta, inst, err := core.PlaceEnvelope(&c.opts, enc.Envelope(size), opts.UserMetadata, c.callOptions(ctx).InstructionFile)
	if err != nil {
		return fail(err)
	}
	put := opts
	put.UserMetadata = objMeta
	if size < 0 && put.PartSize == 0 {
		// minio-go sizes the parts of an unknown-length stream for 5 TiB
		// in 10,000 parts: 528 MiB each, all buffered. The plan's parts
		// of core.MinioPartSize (16 MiB) are minio-go's own size for the
		// objects AES-GCM allows, and reach AES-GCM's limit (2^36 − 16
		// bytes of ciphertext and tag) at 4,096 parts, within minio-go's
		// 10,000: past it the core fails the body with ErrTooLarge and
		// minio-go aborts the upload. (A PartSize the caller sets below
		// 7 MiB makes minio-go's 10,000 parts the tighter limit instead.)
		// Known sizes get that part size from minio-go itself.
		plan, err := core.PlanUpload(size, core.MinioPartSize)
		if err != nil {
			return fail(err)
		}
		put.PartSize = uint64(plan.PartSize)
	}
	if inst != nil {
		// Refuse before storing anything if the instruction file's name
		// is taken by an object of the caller's.
		if err := c.checkInstructionFileFree(ctx, bucket, core.InstructionFileKey(&c.opts, key), opts.ServerSideEncryption); err != nil {
			return fail(err)
		}
	}
	info, err := c.Client.PutObject(ctx, bucket, key, body.Body(), body.Size(), put)
	if err != nil {
		// An error of the body (ErrTooLarge, ErrSourceChanged, a short or
		// long source, the source's own) reaches minio-go as a read error:
		// it aborts the multipart upload and returns that error, perhaps
		// wrapped. Ours is the clearer cause.
		if berr := body.Err(); berr != nil {
			err = berr
		}
		return fail(err)
	}
	if inst != nil {
		err := c.writeInstructionFile(ctx, bucket, core.InstructionFileKey(&c.opts, key), inst, opts.ServerSideEncryption, opts.StorageClass)
		if err != nil {
			// The object is useless without its envelope: take it away
			// again (the version written, if the bucket keeps versions),
			// even if ctx is what failed.
			if derr := c.removeOwnWrite(ctx, bucket, key, info.VersionID); derr != nil {
				err = fmt.Errorf("%w; the object could not be removed again (%w): it is stored without its envelope", err, derr)
			}
			return fail(fmt.Errorf("storing the instruction file: %w", err))
		}
	}
	info.Size = body.PlaintextRead()
	return info, nil
}

// errRDMA refuses minio-go's RDMA buffers, which move the caller's bytes
// without passing through a reader s3c could encrypt or decrypt.
var errRDMA = errors.New("miniocrypto: RDMABuffer is not supported: the bytes would bypass client-side encryption")

// FPutObject encrypts and stores the file at filePath, as PutObject. As in
// minio-go, a missing ContentType is guessed from the file's extension.
func (c *Client) FPutObject(ctx context.Context, bucket, key, filePath string, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
	f, err := os.Open(filePath)
	if err != nil {
		return minio.UploadInfo{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return minio.UploadInfo{}, err
	}
	if !st.Mode().IsRegular() {
		return minio.UploadInfo{}, fmt.Errorf("miniocrypto: %s is not a regular file", filePath)
	}
	if opts.ContentType == "" {
		if opts.ContentType = mime.TypeByExtension(filepath.Ext(filePath)); opts.ContentType == "" {
			opts.ContentType = "application/octet-stream"
		}
	}
	return c.PutObject(ctx, bucket, key, f, st.Size(), opts)
}

// RemoveObject removes the object and, unless a version is named, its
// instruction file: the object <key>.instruction if it carries the
// instruction-file marker (s3crypto.IsInstructionFile), and its chunk
// index <key>.s3c-index if marked (s3crypto.IsIndexObject). An object of that
// name without the marker is the caller's own and is left alone, and so
// is one stored with SSE-C, which the server does not describe without
// the key (RemoveObjectOptions has none), unless CallOptions.SSECustomerKey
// gives it. Removing
// an instruction file that an existing object needs is refused
// (s3crypto.ErrInstructionFileInUse).
func (c *Client) RemoveObject(ctx context.Context, bucket, key string, opts minio.RemoveObjectOptions) error {
	if opts.VersionID == "" {
		if err := c.checkInstructionFileInUse(ctx, bucket, key, nil); err != nil {
			return c.fail("RemoveObject", bucket, key, "", err)
		}
	}
	if err := c.Client.RemoveObject(ctx, bucket, key, opts); err != nil {
		return c.fail("RemoveObject", bucket, key, "", err)
	}
	if opts.VersionID != "" {
		return nil
	}
	ssec := c.callOptions(ctx).SSECustomerKey
	if err := c.removeInstructionFile(ctx, bucket, key, ssec); err != nil {
		return c.fail("RemoveObject", bucket, key, "", fmt.Errorf("object removed, but not its instruction file: %w", err))
	}
	if err := c.removeIndex(ctx, bucket, key, ssec); err != nil {
		return c.fail("RemoveObject", bucket, key, "", fmt.Errorf("object removed, but not its index: %w", err))
	}
	return nil
}
