package miniocrypto

import (
	"context"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/internal/core"
)

// Chunk indexes (<key>.s3c-index, see s3crypto.IsIndexObject), which
// s3crypto writes beside large objects, are removed and copied with their
// objects here too. This front end does not write or read them: its reads
// authenticate each object whole, as without an index.

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
