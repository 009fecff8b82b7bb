package s3crypto

import (
	"context"
	"maps"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Per-call options ride in the ordinary optFns of each operation, so the
// Client keeps *s3.Client's signatures: each is a func(*s3.Options) that
// adds a pass-through middleware carrying its setting. The Client finds
// them by building a throwaway stack; a plain *s3.Client ignores them.

type callOptions struct {
	context               map[string]string
	hasContext            bool
	instructionFile       bool
	unauthenticatedStream bool
	unauthenticatedRange  bool
	ssec                  *ssecOption
}

// ssecOption is an SSE-C key as the request fields carry it.
type ssecOption struct{ alg, key, keyMD5 string }

const callOptionsID = "s3crypto.CallOptions"

type callOptionsMiddleware struct{ opts callOptions }

func (*callOptionsMiddleware) ID() string { return callOptionsID }

func (*callOptionsMiddleware) HandleInitialize(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
	return next.HandleInitialize(ctx, in)
}

func withCallOption(set func(*callOptions)) func(*s3.Options) {
	return func(o *s3.Options) {
		o.APIOptions = append(o.APIOptions, func(st *middleware.Stack) error {
			m, ok := st.Initialize.Get(callOptionsID)
			if !ok {
				m = &callOptionsMiddleware{}
				if err := st.Initialize.Add(m, middleware.Before); err != nil {
					return err
				}
			}
			set(&m.(*callOptionsMiddleware).opts)
			return nil
		})
	}
}

// WithEncryptionContext sets the encryption context of one PutObject or
// GetObject call. On put, a KMS keyring binds it to the data key and a raw
// keyring adds it to the material description; on get, the object's stored
// context, less the reserved entries, must equal it exactly, as AWS's Java
// client checks. Without it, a get expects an object stored with no
// context of its own.
func WithEncryptionContext(ec map[string]string) func(*s3.Options) {
	ec = maps.Clone(ec)
	return withCallOption(func(c *callOptions) { c.context, c.hasContext = ec, true })
}

// WithInstructionFile makes one PutObject store its envelope in
// <key>.instruction instead of the object's metadata.
func WithInstructionFile() func(*s3.Options) {
	return withCallOption(func(c *callOptions) { c.instructionFile = true })
}

// WithUnauthenticatedStream makes one GetObject return plaintext as it is
// decrypted, before the object's tag has been checked; a failed check
// surfaces as an error from the body's final Read (wrapping
// ErrAuthentication). Only for callers that discard what they read when
// that happens, such as a writer to a temporary file. Memory use does not
// grow with the object either way.
func WithUnauthenticatedStream() func(*s3.Options) {
	return withCallOption(func(c *callOptions) { c.unauthenticatedStream = true })
}

// WithUnauthenticatedRange lets one GetObject honour Range (or
// PartNumber): the plaintext of the range is decrypted with AES-CTR at
// the right counter, and cannot be authenticated, exactly as AWS's Java
// client does with its legacy flag.
func WithUnauthenticatedRange() func(*s3.Options) {
	return withCallOption(func(c *callOptions) { c.unauthenticatedRange = true })
}

// WithSSECustomerKey gives DeleteObject and DeleteObjects the SSE-C key
// of the objects deleted (algorithm "AES256", the key and its MD5, both
// base64, as the SSECustomer* fields of other requests take them), which
// S3's delete requests have no field for: with it they can check, and
// delete, the instruction files and chunk indexes of objects stored with
// SSE-C, which S3 does not describe without the key. Other calls take the
// key in their input's own fields.
func WithSSECustomerKey(algorithm, key, keyMD5 string) func(*s3.Options) {
	k := &ssecOption{algorithm, key, keyMD5}
	return withCallOption(func(c *callOptions) { c.ssec = k })
}

// collectCallOptions finds the per-call options among optFns. base is the
// client's own options, so caller functions that read fields see real values.
func collectCallOptions(base s3.Options, optFns []func(*s3.Options)) callOptions {
	if len(optFns) == 0 {
		return callOptions{}
	}
	o := base
	o.APIOptions = nil
	for _, fn := range optFns {
		fn(&o)
	}
	st := middleware.NewStack("s3crypto-probe", smithyhttp.NewStackRequest)
	for _, apply := range o.APIOptions {
		_ = apply(st) // other callers' options may need a full stack; only ours matter
	}
	if m, ok := st.Initialize.Get(callOptionsID); ok {
		return m.(*callOptionsMiddleware).opts
	}
	return callOptions{}
}

// callOptions is collectCallOptions with the client's options copied only
// when there are optFns to look through: most calls have none, and a
// small object's get or put should not pay for building a stack.
func (c *Client) callOptions(optFns []func(*s3.Options)) callOptions {
	if len(optFns) == 0 {
		return callOptions{}
	}
	return collectCallOptions(c.Client.Options(), optFns)
}
