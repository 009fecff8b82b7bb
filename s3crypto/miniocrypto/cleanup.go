package miniocrypto

import (
	"context"
	"time"

	"github.com/minio/minio-go/v7"
)

// cleanupTimeout bounds every compensating call, which runs on a context
// of its own: the caller's may be what failed.
const cleanupTimeout = 30 * time.Second

// removeOwnWrite removes the object a write of ours just stored because it
// cannot be decrypted without the instruction file that failed: only the
// version written, if the bucket keeps versions (the one before becomes
// current again).
func (c *Client) removeOwnWrite(ctx context.Context, bucket, key, versionID string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cleanupTimeout)
	defer cancel()
	return c.Client.RemoveObject(ctx, bucket, key, minio.RemoveObjectOptions{VersionID: versionID})
}
