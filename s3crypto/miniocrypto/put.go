package miniocrypto

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime"
	"os"
	"path/filepath"

	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// PutObject encrypts reader (size bytes, or -1 if unknown) under a fresh
// data key and stores it with its envelope, in the object's metadata or in
// <key>.instruction. minio-go does the transfer: a single PUT or its own
// multipart upload, whose parts are slices of the one AES-GCM stream, so
// the object reads like any other. The encrypted stream is generated as
// minio-go reads it; memory use is what minio-go buffers: one part, 16 MiB
// unless PartSize says otherwise. UploadInfo.Size is the plaintext size.
func (c *Client) PutObject(ctx context.Context, bucket, key string, reader io.Reader, size int64, opts minio.PutObjectOptions) (minio.UploadInfo, error) {
	for k := range opts.UserMetadata {
		if metadata.IsReservedKey(k) {
			return minio.UploadInfo{}, c.fail("PutObject", bucket, key, "", fmt.Errorf("user metadata key %q is reserved for the encryption envelope", k))
		}
	}
	enc, err := s3crypto.NewEncryption(ctx, &c.opts, encryptionContext(ctx))
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
	objMeta, inst, err := c.opts.PlaceEnvelope(enc.Envelope(size), opts.UserMetadata, flag(ctx, keyInstruction))
	if err != nil {
		return fail(err)
	}
	put := opts
	put.UserMetadata = objMeta
	if size < 0 && put.PartSize == 0 {
		// minio-go sizes parts of an unknown-length stream for 5 TiB
		// (about 512 MiB buffered); AES-GCM stops at 64 GiB, which
		// 10,000 parts of 16 MiB cover.
		put.PartSize = streamPartSize
	}
	info, err := c.Client.PutObject(ctx, bucket, key, body.Body(), body.Size(), put)
	if err != nil {
		if berr := body.Err(); berr != nil {
			err = berr // ours is the clearer cause
		}
		return fail(err)
	}
	if inst != nil {
		_, err := c.Client.PutObject(ctx, bucket, c.opts.InstructionFileKey(key), bytes.NewReader(inst), int64(len(inst)), minio.PutObjectOptions{
			UserMetadata:         map[string]string{metadata.KeyInstructionFileMarker: ""},
			ContentType:          "application/json",
			ServerSideEncryption: opts.ServerSideEncryption,
			StorageClass:         opts.StorageClass,
		})
		if err != nil {
			// The object is useless without its envelope: take it away again.
			c.Client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{})
			return fail(fmt.Errorf("storing the instruction file: %w", err))
		}
	}
	info.Size = body.PlaintextRead()
	return info, nil
}

// streamPartSize is the part size for streams of unknown length.
const streamPartSize = 16 << 20

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
// instruction file.
func (c *Client) RemoveObject(ctx context.Context, bucket, key string, opts minio.RemoveObjectOptions) error {
	if err := c.Client.RemoveObject(ctx, bucket, key, opts); err != nil {
		return c.fail("RemoveObject", bucket, key, "", err)
	}
	if opts.VersionID != "" {
		return nil
	}
	if err := c.Client.RemoveObject(ctx, bucket, c.opts.InstructionFileKey(key), minio.RemoveObjectOptions{}); err != nil {
		return c.fail("RemoveObject", bucket, key, "", fmt.Errorf("object removed, but not its instruction file: %w", err))
	}
	return nil
}
