package s3crypto

import (
	"context"
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/materials"
)

// ObjectAPI is the part of *s3.Client that Client implements with
// client-side encryption. Programs that hold an ObjectAPI run unchanged on
// either.
type ObjectAPI interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	HeadObject(ctx context.Context, in *s3.HeadObjectInput, optFns ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
	DeleteObjects(ctx context.Context, in *s3.DeleteObjectsInput, optFns ...func(*s3.Options)) (*s3.DeleteObjectsOutput, error)
	CopyObject(ctx context.Context, in *s3.CopyObjectInput, optFns ...func(*s3.Options)) (*s3.CopyObjectOutput, error)
}

var (
	_ ObjectAPI = (*s3.Client)(nil)
	_ ObjectAPI = (*Client)(nil)
)

// Client is an *s3.Client that encrypts objects on PutObject and decrypts
// them on GetObject. PutObject, GetObject, HeadObject, DeleteObject,
// DeleteObjects and CopyObject keep *s3.Client's signatures; every other
// method is *s3.Client's own, through the embedded client, except the
// multipart upload calls, which would store plaintext and are refused
// (use Uploader), UploadPartCopy, which would splice ciphertexts, and
// RenameObject, which would leave an instruction file behind.
type Client struct {
	*s3.Client
	opts Options

	indexChunk int64 // chunk size of new indexes; 0: core.DefaultIndexChunk (tests set it)
}

// New wraps client so that objects are encrypted with data keys from
// keyring. Options may be adjusted with optFns.
func New(client *s3.Client, keyring materials.Keyring, optFns ...func(*Options)) (*Client, error) {
	o, err := core.NewOptions(keyring, optFns...)
	if err != nil {
		return nil, err
	}
	return &Client{Client: client, opts: o}, nil
}

// errPlaintextMultipart is returned by the multipart calls, which would
// store the parts unencrypted.
var errPlaintextMultipart = errors.New("s3crypto: multipart upload through the encryption client would store plaintext; use s3crypto.Uploader")

// CreateMultipartUpload is refused: see errPlaintextMultipart.
func (c *Client) CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	return nil, errPlaintextMultipart
}

// UploadPart is refused: it would store the part unencrypted.
func (c *Client) UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	return nil, errPlaintextMultipart
}
