package s3crypto

import (
	"context"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/core"
)

// Uploader stores objects of any size, known or not, encrypted: small
// ones with one PutObject, larger ones as a MultipartUpload whose parts
// are encrypted in order and uploaded concurrently. Memory use is about
// (Concurrency + 2) × PartSize, whatever the object's size. A failed
// upload is aborted, leaving no parts behind; if the abort fails too, the
// error holds an *IncompleteUploadError naming the upload left open.
type Uploader struct {
	// Client does the requests.
	Client *Client
	// PartSize is the plaintext size of each part but the last; rounded up
	// to a multiple of 16, and raised to S3's minimum of 5 MiB, or further
	// if the object would need more than 10,000 parts. Default 8 MiB. Above
	// S3's maximum part size of 5 GiB it is an error.
	PartSize int64
	// Concurrency is how many parts are uploaded at once. Default 4.
	Concurrency int
	// ClientOptions apply to every request, as optFns do on a Client
	// call; WithEncryptionContext and WithInstructionFile go here.
	ClientOptions []func(*s3.Options)
}

// Defaults of Uploader.
const (
	DefaultPartSize    = core.DefaultPartSize // 8 MiB
	DefaultConcurrency = 4
)

// NewUploader returns an Uploader for c with default settings, adjusted
// by optFns.
func NewUploader(c *Client, optFns ...func(*Uploader)) *Uploader {
	u := &Uploader{Client: c, PartSize: DefaultPartSize, Concurrency: DefaultConcurrency}
	for _, fn := range optFns {
		fn(u)
	}
	return u
}

// UploadOutput describes a finished upload.
type UploadOutput struct {
	ETag      *string
	VersionID *string
	UploadID  string // "" if a single PutObject was used
	Parts     int    // 0 if a single PutObject was used
	Size      int64  // plaintext bytes stored
	KeyRef    string // the master key that wrapped the data key
}

// Upload stores in.Body, of in.ContentLength bytes if set, else of
// whatever length it turns out to have, under in.Key.
func (u Uploader) Upload(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*Uploader)) (*UploadOutput, error) {
	for _, fn := range optFns {
		fn(&u)
	}
	if u.Concurrency <= 0 {
		u.Concurrency = DefaultConcurrency
	}
	up, err := u.Client.upload(ctx, in, uploadSettings{op: "Upload", partSize: u.PartSize, concurrency: u.Concurrency, optFns: u.ClientOptions})
	if err != nil {
		return nil, err
	}
	return &up.UploadOutput, nil
}
