// Package s3crypto is client-side envelope encryption for Amazon S3 and
// compatible stores, as a drop-in for aws-sdk-go-v2's *s3.Client.
//
// Each object is encrypted under its own fresh 256-bit data key with
// AES-256-GCM; a keyring from package materials wraps the data key under
// a master key (AWS KMS, a raw AES key or a raw RSA key), and the wrapped
// key, IV or message ID, algorithms and key reference are stored with the
// object, in its metadata or in an instruction file. The format is AWS's
// S3 Encryption Client's, byte for byte, so objects cross in both
// directions between this package and AWS's clients for Go, Java and
// aws-sdk-go v1.
//
// Most programs need two calls:
//
//	kr := materials.NewKMS(kms.NewFromConfig(cfg), "alias/app")
//	c, err := s3crypto.New(s3.NewFromConfig(cfg), kr)
//	...
//	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: &b, Key: &k, Body: f})
//	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &b, Key: &k})
//
// Client embeds the *s3.Client, and PutObject, GetObject, HeadObject,
// DeleteObject and DeleteObjects keep its signatures (ObjectAPI names
// them), so code written against *s3.Client keeps working. Per-call
// settings travel in the usual optFns: WithEncryptionContext,
// WithInstructionFile, WithUnauthenticatedStream, WithUnauthenticatedRange.
//
// # Formats and policies
//
// New objects use the key-committing suite 115 (format V3) by default;
// Options.Format = metadata.V2 writes plain AES-GCM for readers that
// predate key commitment. Reading follows Options.CommitmentPolicy, with
// AWS's semantics, and is checked before any key is unwrapped: by default
// only V3 objects are decrypted. Legacy AES-CBC content and legacy key
// wraps are read only with Options.AllowLegacyContent and
// AllowLegacyWrapping.
//
// # Authenticated reads, and memory
//
// GetObject authenticates the whole object before returning: Body yields
// only verified plaintext. Small objects are checked in memory; larger
// ones are spooled as ciphertext to an unlinked temporary file and
// decrypted from there, so memory does not grow with the object and
// plaintext never touches the disk. Objects that s3c wrote above
// Options.IndexThreshold have a chunk index beside them (<key>.s3c-index,
// see IsIndexObject): GetObject streams those chunk by chunk, each
// released once its MAC in the index verifies, with no temporary file,
// and serves authenticated Range reads of them; without a valid index it
// authenticates the whole object first. WithUnauthenticatedStream releases
// plaintext as it is decrypted instead, reporting a failed check at the
// end; it is for callers that discard what they read on error.
// PutObject and Uploader encrypt as they send, in constant memory.
//
// # Large objects
//
// Uploader stores objects of any size, of known length or not, as one
// multipart upload whose parts together form a single AES-GCM stream, so
// AWS's clients read them like any other object. MultipartUpload is the
// same thing for callers that upload the parts themselves.
//
// # Broken connections and timeouts
//
// A body that breaks during a read (GetObject, Downloader, ranged GETs)
// is resumed from the byte where it broke: a ranged GET of the rest,
// conditional on the first response's ETag, up to the client's retry
// budget (RetryMaxAttempts − 1 resumes without progress). An object
// replaced meanwhile is ErrObjectChanged; the GCM tag still decides
// integrity. A ranged response that is not the range asked for (a proxy
// that ignores Range) is a transport error, never ErrAuthentication.
//
// Timeouts are the HTTP client's job: the SDK's default client waits
// indefinitely for a stalled connection. Give the *s3.Client (and the KMS
// client of a keyring) an HTTP client with a connect timeout
// (net.Dialer.Timeout), a first-byte timeout
// (http.Transport.ResponseHeaderTimeout) and an idle timeout on reads and
// writes, for example a net.Conn wrapper that sets a deadline of now plus
// the idle timeout before each Read and Write, or the SDK's
// awshttp.BuildableClient WithReadTimeout. Timeout errors that are
// net.Error with Timeout() true are retried by the SDK, and a read that
// times out mid-body is resumed as above. The s3c command does this with
// its --connect-timeout, --first-byte-timeout and --idle-timeout flags.
//
// # Errors
//
// Errors name the object and the master key and never contain key
// material. They are *ObjectError wrapping the cause: ErrAuthentication,
// ErrCommitmentMismatch, *PolicyError, ErrNotEncrypted, a
// *metadata.FormatError, a materials error, or the SDK's own typed errors.
// IsIntegrityError tells an object that cannot be trusted from a
// configuration or transport problem (no keyring for the object's kind of
// key, another encryption context, an unreachable or faulty KMS).
//
// The cipher is internal/aesgcm (streaming AES-GCM stitched from the
// standard library's assembly), the envelope is package metadata and the
// keyrings are package materials.
package s3crypto
