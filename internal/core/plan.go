package core

import (
	"fmt"

	"github.com/s3c/s3c/internal/aesgcm"
)

// The limits of S3's uploads, and the part sizes s3c uses within them.
// Every upload, whichever front end makes it, is planned here.
const (
	// DefaultPartSize is the plaintext size of each part but the last of
	// s3crypto's multipart uploads unless the caller sets one: 8 MiB.
	DefaultPartSize = 8 << 20
	// MinioPartSize is the part size miniocrypto hands minio-go unless the
	// caller sets one: minio-go's own default for objects up to 156 GiB,
	// which is beyond AES-GCM's limit, so for every object it may store.
	// minio-go would size the parts of a stream of unknown length for
	// 5 TiB (528 MiB each, all buffered); at 16 MiB, 4,096 parts reach
	// AES-GCM's limit, within S3's 10,000.
	MinioPartSize = 16 << 20

	// MinPartSize is S3's smallest part but the last: 5 MiB.
	MinPartSize = 5 << 20
	// MaxPartSize is S3's largest part: 5 GiB.
	MaxPartSize = 5 << 30
	// MaxParts is S3's most parts in one upload.
	MaxParts = 10000
)

// Plan is how an object is uploaded: in one PUT, or as a multipart upload
// whose parts but the last hold PartSize bytes of plaintext.
//
// If the size is not known, the plan is neither yet (Single false, Parts
// 0): read PartSize bytes, and one more. A body that ends there is one
// PUT; a longer one is a multipart upload of parts of PartSize.
type Plan struct {
	// Single is true for one PUT.
	Single bool
	// PartSize is the plaintext size of every part but the last: a
	// multiple of 16 (AES blocks, so that every part begins at a block of
	// the one AES-GCM stream), at least MinPartSize, at most MaxPartSize.
	PartSize int64
	// Parts is the number of parts of a multipart upload of known size;
	// 0 for a single PUT, and while the size is unknown.
	Parts int
}

// PlanUpload plans an upload of size bytes of plaintext (-1 if unknown) in
// parts of about partSize bytes (DefaultPartSize if 0 or less). The part
// size is rounded up to a multiple of 16, raised to MinPartSize, and
// raised further, to whole MiB, if the object would need more than
// MaxParts parts; above MaxPartSize it is an error. A size within one part
// is one PUT. A size past AES-GCM's limit is an error wrapping
// ErrTooLarge.
func PlanUpload(size, partSize int64) (Plan, error) {
	if err := CheckSize(size); err != nil {
		return Plan{}, err
	}
	ps, err := planPartSize(partSize, size)
	if err != nil {
		return Plan{}, err
	}
	switch {
	case size < 0:
		return Plan{PartSize: ps}, nil
	case size <= ps:
		return Plan{Single: true, PartSize: ps}, nil
	}
	return Plan{PartSize: ps, Parts: int((size + ps - 1) / ps)}, nil
}

// PlanPut plans a PutObject call: a body of known length is one PUT,
// whatever its size, as the call asks (S3 takes up to 5 GiB in one); one
// of unknown length is planned by PlanUpload with DefaultPartSize, so a
// short stream is still one PUT and a long one is uploaded in parts.
func PlanPut(size int64) (Plan, error) {
	if size < 0 {
		return PlanUpload(size, DefaultPartSize)
	}
	if err := CheckSize(size); err != nil {
		return Plan{}, err
	}
	return Plan{Single: true, PartSize: DefaultPartSize}, nil
}

// planPartSize is the part size for a requested n and an object of size
// bytes (-1: unknown): the default for 0 or less, at least MinPartSize, a
// multiple of 16, large enough for MaxParts parts to hold the object, and
// at most MaxPartSize.
func planPartSize(n, size int64) (int64, error) {
	if n <= 0 {
		n = DefaultPartSize
	}
	if n > MaxPartSize {
		return 0, fmt.Errorf("PartSize %d is above S3's limit of 5 GiB", n)
	}
	partSize := roundUp(max(n, MinPartSize), aesgcm.BlockSize)
	if size > 0 && (size+partSize-1)/partSize > MaxParts {
		partSize = roundUp((size+MaxParts-1)/MaxParts, 1<<20)
		if partSize > MaxPartSize {
			return 0, fmt.Errorf("%d bytes do not fit in S3's 10,000 parts of at most 5 GiB", size)
		}
	}
	return partSize, nil
}

// roundUp rounds n up to a multiple of m.
func roundUp(n, m int64) int64 { return (n + m - 1) / m * m }
