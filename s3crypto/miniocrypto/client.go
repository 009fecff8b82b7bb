// Package miniocrypto is s3crypto's client-side encryption for programs
// that use minio-go: a drop-in for *minio.Client with the same keyrings,
// policies and wire format as the aws-sdk-go-v2 client, on the same core.
// An object written through either front end is read by the other, and by
// AWS's S3 Encryption Clients.
//
//	mc, _ := minio.New(endpoint, &minio.Options{Creds: creds, Secure: true})
//	kr, _ := keyring.NewAES(key)
//	c, err := miniocrypto.New(mc, kr)      // was: c := mc
//	_, err = c.PutObject(ctx, "bucket", "key", f, size, minio.PutObjectOptions{})
//	obj, err := c.GetObject(ctx, "bucket", "key", minio.GetObjectOptions{})
//
// PutObject, FPutObject, StatObject, RemoveObject and CopyObject keep
// *minio.Client's signatures; GetObject and FGetObject take the same
// arguments, but
// GetObject returns an *Object (see there) instead of a *minio.Object,
// which cannot be made from decrypted data. Every other method is
// *minio.Client's own, except those that would store plaintext or
// splice ciphertexts (PutObjectFanOut, PutObjectsSnowball, AppendObject,
// ComposeObject), which are refused. So are ranges in GetObjectOptions
// (use Object.ReadAt) and RDMA buffers in either options struct, whose
// bytes would bypass the cipher. RemoveObjects and its variants are
// minio-go's own: they leave instruction files behind (use RemoveObject).
//
// Per-call settings, which minio-go's option structs have no room for,
// are given as CallOptions to Client.WithCallOptions, which returns a view
// of the client that applies them. (The context functions
// WithEncryptionContext, WithInstructionFile and WithUnauthenticatedStream
// still work for one release; they are deprecated.)
//
// minio-go's server-side encryption (PutObjectOptions.ServerSideEncryption,
// encrypt.ServerSide) still applies and composes: the server encrypts the
// ciphertext again, and the instruction file, if any, with the same
// settings. Pass the same SSE-C key on GetObject, FGetObject and
// StatObject, as without s3c; S3 and MinIO accept SSE-C only over TLS.
package miniocrypto

import (
	"context"
	"errors"
	"github.com/s3c/s3c/internal/core"
	"io"
	"maps"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/encrypt"

	"github.com/s3c/s3c/keyring"
)

// Client is a *minio.Client that encrypts objects on PutObject and
// decrypts them on GetObject.
type Client struct {
	*minio.Client
	opts Options
	call *CallOptions // set by WithCallOptions; nil: the context's
}

// New wraps mc so that objects are encrypted with data keys from kr, with
// the same Options as s3crypto.New (the same type: a func(*s3crypto.Options)
// works here too).
func New(mc *minio.Client, kr keyring.Keyring, optFns ...func(*Options)) (*Client, error) {
	c, err := core.NewOptions(kr, optFns...)
	if err != nil {
		return nil, err
	}
	return &Client{Client: mc, opts: c}, nil
}

// CallOptions are the per-call settings minio-go's option structs have no
// room for. Give them with Client.WithCallOptions.
type CallOptions struct {
	// EncryptionContext is the encryption context (KMS) or the
	// material-description pairs (raw keys) that PutObject binds to the
	// data key and that GetObject requires of the stored one; see
	// s3crypto.WithEncryptionContext.
	EncryptionContext map[string]string
	// InstructionFile makes PutObject and FPutObject store the envelope in
	// <key>.instruction instead of the object's metadata.
	InstructionFile bool
	// UnauthenticatedStream makes GetObject release plaintext as it is
	// decrypted, before the object's tag is checked: a failed check is
	// reported by the final Read, after the bytes before it were returned.
	// See s3crypto.WithUnauthenticatedStream.
	UnauthenticatedStream bool
	// SSECustomerKey is the SSE-C key (encrypt.NewSSEC) of the objects
	// RemoveObject removes, which minio-go's RemoveObjectOptions has no
	// field for: with it, the instruction file and chunk index of an
	// object stored with SSE-C, which the server does not describe without
	// the key, are checked and removed too. Other calls take the key in
	// their options' ServerSideEncryption.
	SSECustomerKey encrypt.ServerSide
}

// WithCallOptions returns a view of c whose calls use o: a shallow copy,
// sharing the minio-go client and the Options, that c's other users do
// not see. Every method keeps minio-go's signature.
//
//	_, err := c.WithCallOptions(miniocrypto.CallOptions{
//		EncryptionContext: map[string]string{"tenant": "acme"},
//	}).PutObject(ctx, bucket, key, r, size, minio.PutObjectOptions{})
//
// The settings given here replace, all together, any that the deprecated
// context functions put on a call's context.
func (c *Client) WithCallOptions(o CallOptions) *Client {
	v := *c
	o.EncryptionContext = maps.Clone(o.EncryptionContext)
	v.call = &o
	return &v
}

type ctxKey int

const (
	keyContext ctxKey = iota
	keyInstruction
	keyStream
)

// WithEncryptionContext returns a context carrying the encryption context
// (KMS) or material-description pairs (local keys) for one call; see
// s3crypto.WithEncryptionContext.
//
// Deprecated: use Client.WithCallOptions with CallOptions.EncryptionContext.
// The context form is kept for one release.
func WithEncryptionContext(ctx context.Context, ec map[string]string) context.Context {
	return context.WithValue(ctx, keyContext, maps.Clone(ec))
}

// WithInstructionFile returns a context that makes PutObject store the
// envelope in <key>.instruction.
//
// Deprecated: use Client.WithCallOptions with CallOptions.InstructionFile.
// The context form is kept for one release.
func WithInstructionFile(ctx context.Context) context.Context {
	return context.WithValue(ctx, keyInstruction, true)
}

// WithUnauthenticatedStream returns a context that makes GetObject release
// plaintext as it is decrypted, with a failed check reported by the final
// Read; see s3crypto.WithUnauthenticatedStream.
//
// Deprecated: use Client.WithCallOptions with
// CallOptions.UnauthenticatedStream. The context form is kept for one
// release.
func WithUnauthenticatedStream(ctx context.Context) context.Context {
	return context.WithValue(ctx, keyStream, true)
}

// callOptions returns the settings of a call: the client's, if it was
// made by WithCallOptions, or else those on ctx.
func (c *Client) callOptions(ctx context.Context) CallOptions {
	if c.call != nil {
		return *c.call
	}
	ec, _ := ctx.Value(keyContext).(map[string]string)
	inst, _ := ctx.Value(keyInstruction).(bool)
	stream, _ := ctx.Value(keyStream).(bool)
	return CallOptions{EncryptionContext: ec, InstructionFile: inst, UnauthenticatedStream: stream}
}

func (c *Client) fail(op, bucket, key, ref string, err error) error {
	var oe *core.ObjectError
	if errors.As(err, &oe) {
		return err
	}
	return &core.ObjectError{Op: op, Bucket: bucket, Key: key, KeyRef: ref, Err: err}
}

// errSplice is returned by the methods that would store plaintext or glue
// ciphertexts together.
var errSplice = errors.New("miniocrypto: this call would store plaintext or splice encrypted objects; use PutObject")

// PutObjectFanOut is refused: it would store plaintext.
func (c *Client) PutObjectFanOut(context.Context, string, io.Reader, minio.PutObjectFanOutRequest) ([]minio.PutObjectFanOutResponse, error) {
	return nil, errSplice
}

// PutObjectsSnowball is refused: it would store plaintext.
func (c *Client) PutObjectsSnowball(context.Context, string, minio.SnowballOptions, <-chan minio.SnowballObject) error {
	return errSplice
}

// AppendObject is refused: appended bytes would not be part of the
// object's AES-GCM stream.
func (c *Client) AppendObject(context.Context, string, string, io.Reader, int64, minio.AppendObjectOptions) (minio.UploadInfo, error) {
	return minio.UploadInfo{}, errSplice
}

// ComposeObject is refused: concatenated encrypted objects are not one
// AES-GCM stream.
func (c *Client) ComposeObject(context.Context, minio.CopyDestOptions, ...minio.CopySrcOptions) (minio.UploadInfo, error) {
	return minio.UploadInfo{}, errSplice
}

func isNoSuchKey(err error) bool {
	code := minio.ToErrorResponse(err).Code
	return code == "NoSuchKey" || code == "NotFound"
}
