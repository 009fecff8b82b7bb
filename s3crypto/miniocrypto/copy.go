package miniocrypto

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/s3c/s3c/internal/core"
	"maps"
	"net/http"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/metadata"
)

// CopyObject copies an object server-side, as *minio.Client does, keeping
// an encrypted object decryptable (see s3crypto.Client.CopyObject): with
// ReplaceMetadata the envelope's keys are kept beside the caller's
// UserMetadata (which may not set any of them), in place too; an envelope
// kept in an instruction file is copied to the destination's instruction
// file after the object, never over an object of that name that is not an
// instruction file, and if that fails the new copy is removed again. The
// copy is conditional on the ETag of the source whose metadata was read.
// A chunk index of the source (s3crypto.IsIndexObject) is copied beside
// the copy; failing to do so does not fail the copy.
func (c *Client) CopyObject(ctx context.Context, dst minio.CopyDestOptions, src minio.CopySrcOptions) (minio.UploadInfo, error) {
	fail := func(err error) (minio.UploadInfo, error) {
		return minio.UploadInfo{}, c.fail("CopyObject", dst.Bucket, dst.Object, "", err)
	}
	if dst.ReplaceMetadata {
		for k := range dst.UserMetadata {
			if core.IsReservedMetadata(k) {
				return fail(core.ReservedMetadataError(k))
			}
		}
	}
	var so minio.StatObjectOptions
	so.VersionID = src.VersionID
	if src.Encryption != nil && src.Encryption.Type() == encrypt.SSEC {
		so.ServerSideEncryption = src.Encryption
	}
	info, err := c.Client.StatObject(ctx, src.Bucket, src.Object, so)
	if err != nil {
		return fail(fmt.Errorf("reading the source %s/%s: %w", src.Bucket, src.Object, err))
	}
	inst, err := c.sourceInstructionFile(ctx, src, info)
	if err != nil {
		return fail(err)
	}
	if src.MatchETag != "" && strings.Trim(src.MatchETag, `"`) != strings.Trim(info.ETag, `"`) {
		return fail(fmt.Errorf("source %s/%s does not match MatchETag %s", src.Bucket, src.Object, src.MatchETag))
	}
	src.MatchETag = info.ETag
	if dst.ReplaceMetadata {
		meta := maps.Clone(dst.UserMetadata)
		if meta == nil {
			meta = map[string]string{}
		}
		for k, v := range info.UserMetadata {
			if metadata.IsReservedKey(k) {
				meta[strings.ToLower(k)] = v
			}
		}
		dst.UserMetadata = meta
	}
	sameObject := src.Bucket == dst.Bucket && src.Object == dst.Object
	if !sameObject {
		if err := c.checkInstructionFileInUse(ctx, dst.Bucket, dst.Object, dst.Encryption); err != nil {
			return fail(err)
		}
	}
	dstInst := core.InstructionFileKey(&c.opts, dst.Object)
	if inst != nil && !sameObject {
		if err := c.checkInstructionFileFree(ctx, dst.Bucket, dstInst, dst.Encryption); err != nil {
			return fail(err)
		}
	}
	out, err := c.Client.CopyObject(ctx, dst, src)
	if err != nil {
		return fail(err)
	}
	if sameObject {
		return out, nil
	}
	if inst == nil {
		c.copyIndex(ctx, dst, src)
		return out, nil
	}
	if err := c.writeInstructionFile(ctx, dst.Bucket, dstInst, inst.Body, dst.Encryption, ""); err != nil {
		if rerr := c.removeOwnWrite(ctx, dst.Bucket, dst.Object, out.VersionID); rerr != nil {
			return fail(fmt.Errorf("copying the instruction file: %w; removing the copy, which cannot be decrypted without it: %v", err, rerr))
		}
		return fail(fmt.Errorf("copying the instruction file (the copy was removed again): %w", err))
	}
	c.copyIndex(ctx, dst, src)
	return out, nil
}

// sourceInstructionFile returns the source's instruction file when its
// envelope is kept in one, nil when it is in its metadata (or the object
// is not encrypted).
func (c *Client) sourceInstructionFile(ctx context.Context, src minio.CopySrcOptions, info minio.ObjectInfo) (*core.InstructionFile, error) {
	if _, err := metadata.Decode(info.UserMetadata); !errors.Is(err, metadata.ErrNoEnvelope) {
		return nil, nil
	}
	var inst *core.InstructionFile
	_, err := core.ReadEnvelope(&c.opts, src.Object, info.UserMetadata, func(instKey string) (*core.InstructionFile, error) {
		f, err := c.fetchInstructionFile(ctx, src.Bucket, instKey, src.Encryption)
		inst = f
		return f, err
	})
	switch {
	case errors.Is(err, core.ErrNotEncrypted):
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("the source %s/%s cannot be copied decryptably: %w", src.Bucket, src.Object, err)
	}
	return inst, nil
}

// statInstructionFile heads the object instKey, with the SSE-C key if
// sse is one. found is false if there is no such object.
func (c *Client) statInstructionFile(ctx context.Context, bucket, instKey string, sse encrypt.ServerSide) (info minio.ObjectInfo, found bool, err error) {
	var o minio.StatObjectOptions
	if sse != nil && sse.Type() == encrypt.SSEC {
		o.ServerSideEncryption = sse
	}
	info, err = c.Client.StatObject(ctx, bucket, instKey, o)
	if err != nil {
		if isNoSuchKey(err) {
			return info, false, nil
		}
		return info, false, err
	}
	return info, true, nil
}

// statCompanion heads a companion object (instruction file, index) of an
// object being removed: without a key, then, if the server will not
// describe it without one (SSE-C) and ssec is given, with ssec.
func (c *Client) statCompanion(ctx context.Context, bucket, key string, ssec encrypt.ServerSide) (minio.ObjectInfo, bool, error) {
	info, found, err := c.statInstructionFile(ctx, bucket, key, nil)
	if minio.ToErrorResponse(err).StatusCode == http.StatusBadRequest && ssec != nil {
		return c.statInstructionFile(ctx, bucket, key, ssec)
	}
	return info, found, err
}

// checkInstructionFileFree fails if instKey exists and is not an
// instruction file.
func (c *Client) checkInstructionFileFree(ctx context.Context, bucket, instKey string, sse encrypt.ServerSide) error {
	info, found, err := c.statInstructionFile(ctx, bucket, instKey, sse)
	switch {
	case err != nil:
		return fmt.Errorf("checking %s, where the instruction file goes: %w", instKey, err)
	case found && !core.IsInstructionFile(info.UserMetadata):
		return &core.NotInstructionFileError{Key: instKey}
	}
	return nil
}

// writeInstructionFile stores file as the instruction file instKey, with
// the marker, never overwriting an object that is not an instruction
// file: the write is conditional on no object existing and, if one does,
// on it being a marked instruction file with the ETag seen.
func (c *Client) writeInstructionFile(ctx context.Context, bucket, instKey string, file []byte, sse encrypt.ServerSide, storageClass string) error {
	opts := minio.PutObjectOptions{
		UserMetadata:         map[string]string{metadata.KeyInstructionFileMarker: ""},
		ContentType:          "application/json",
		ServerSideEncryption: sse,
		StorageClass:         storageClass,
	}
	put := func(o minio.PutObjectOptions) error {
		_, err := c.Client.PutObject(ctx, bucket, instKey, bytes.NewReader(file), int64(len(file)), o)
		return err
	}
	first := opts
	first.SetMatchETagExcept("*")
	err := put(first)
	if !isPreconditionFailed(err) {
		return err
	}
	info, found, err := c.statInstructionFile(ctx, bucket, instKey, sse)
	switch {
	case err != nil:
		return fmt.Errorf("%s exists and could not be checked: %w", instKey, err)
	case !found:
		return fmt.Errorf("%s was removed while it was being replaced; not written", instKey)
	case !core.IsInstructionFile(info.UserMetadata):
		return &core.NotInstructionFileError{Key: instKey}
	}
	again := opts
	again.SetMatchETag(info.ETag)
	if err := put(again); err != nil {
		if isPreconditionFailed(err) {
			return fmt.Errorf("%s changed while it was being replaced; not overwritten: %w", instKey, err)
		}
		return err
	}
	return nil
}

// removeInstructionFile removes key's instruction file if there is one:
// if <key><suffix> exists and carries the marker.
func (c *Client) removeInstructionFile(ctx context.Context, bucket, key string, ssec encrypt.ServerSide) error {
	instKey := core.InstructionFileKey(&c.opts, key)
	info, found, err := c.statCompanion(ctx, bucket, instKey, ssec)
	switch {
	case minio.ToErrorResponse(err).StatusCode == http.StatusBadRequest:
		// Stored with SSE-C, which the server does not describe without
		// the key: it cannot be told from a user's object; left alone.
		return nil
	case err != nil:
		return fmt.Errorf("checking whether %s is an instruction file: %w", instKey, err)
	case !found || !core.IsInstructionFile(info.UserMetadata):
		return nil // none, or the caller's own object
	}
	return c.Client.RemoveObject(ctx, bucket, instKey, minio.RemoveObjectOptions{})
}

// isPreconditionFailed reports whether err is a failed If-Match or
// If-None-Match (412), or a conflicting concurrent conditional write.
func isPreconditionFailed(err error) bool {
	if err == nil {
		return false
	}
	r := minio.ToErrorResponse(err)
	return r.StatusCode == http.StatusPreconditionFailed || r.Code == "PreconditionFailed" || r.Code == "ConditionalRequestConflict"
}

// checkInstructionFileInUse fails, wrapping s3crypto.ErrInstructionFileInUse,
// if key is the instruction file of an existing object (see
// core.InstructionFileOwner), which storing or removing key
// would leave undecryptable. Only keys ending in the suffix cost a request.
func (c *Client) checkInstructionFileInUse(ctx context.Context, bucket, key string, sse encrypt.ServerSide) error {
	owner, ok := strings.CutSuffix(key, core.InstructionFileKey(&c.opts, ""))
	if !ok || owner == "" {
		return nil
	}
	head := func(k string) (map[string]string, error) {
		info, found, err := c.statInstructionFile(ctx, bucket, k, sse)
		switch {
		case err != nil:
			return nil, fmt.Errorf("checking whether %s is an instruction file in use: %w", key, err)
		case !found:
			return nil, nil
		case info.UserMetadata == nil:
			return map[string]string{}, nil
		}
		return info.UserMetadata, nil
	}
	im, err := head(key)
	if err != nil || !core.IsInstructionFile(im) {
		return err
	}
	om, err := head(owner)
	if err != nil {
		return err
	}
	if _, inUse := core.InstructionFileOwner(&c.opts, key, im, om); inUse {
		return fmt.Errorf("%w: %s holds the envelope of %s, which could not be decrypted without it", core.ErrInstructionFileInUse, key, owner)
	}
	return nil
}
