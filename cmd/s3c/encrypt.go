package main

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

const encryptHelp = `Encrypt encrypts existing plaintext objects in place, for buckets moving to
client-side encryption: each object is downloaded, encrypted with the first key
flag and written back over itself, conditional on the ETag read (If-Match): an
object overwritten meanwhile is reported, not clobbered. Objects already
encrypted (with an envelope in their metadata or an instruction file) and
instruction files are skipped. The object keeps its content headers
(Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
Content-Language, Expires), user metadata, tags, storage class, website
redirect and SSE-KMS key; not its ACL or Object Lock settings.

  s3c encrypt -r --kms-key-id alias/app s3://bucket/
  s3c encrypt -r --aes-key master.key --instruction-file s3://bucket/data/

In a versioned bucket the encrypted object is a new version: the plaintext
stays in the older versions until they are deleted (a lifecycle rule for
noncurrent versions, or s3api delete-object --version-id).

Output: one line per object (unless -q), then a summary on stderr:
"encrypt: N seen, N encrypted, N already encrypted, N failed". With --json the
last line of stdout is one JSON object with the fields seen, encrypted,
already_encrypted, failed and failures ([{"key", "reason"}]). Exit 0 if
nothing failed, else 1. --dry-run reads metadata only and writes nothing.

Sharding across machines works as for rewrap: --shard I/N, or
JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX with --shard-count or
S3C_SHARD_COUNT (see s3c rewrap --help).`

func (a *app) encryptCommand() *cobra.Command {
	var b bulkFlags
	c := &cobra.Command{
		Use:   "encrypt [-r] [flags] KEYFLAGS (s3://bucket/key-or-prefix | --manifest FILE|s3://…)",
		Short: "Encrypt existing plaintext objects in place",
		Long:  encryptHelp + bulkHelp,
		Example: `  s3c encrypt --aes-key master.key s3://bucket/report.pdf
  s3c encrypt -r --jobs 16 --kms-key-id alias/app s3://bucket/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := b.input(args); err != nil {
				return err
			}
			if len(a.keys) == 0 {
				return usagef("encrypt needs the key to encrypt with: --kms-key-id, --aes-key or --rsa-key")
			}
			ctx := cmd.Context()
			job, err := a.encryptJob(ctx, b.dryRun)
			if err != nil {
				return err
			}
			return a.runBulk(ctx, job, &b, args)
		},
	}
	f := c.Flags()
	b.register(f, "encrypt")
	f.BoolVar(&b.dryRun, "dry-run", false, "report what would be encrypted from metadata alone; write nothing")
	f.Var(keyFlag{a, "kms"}, "kms-key-id", "AWS KMS key: ID, ARN, alias/NAME (the first key flag encrypts)")
	f.Var(keyFlag{a, "aes"}, "aes-key", "local AES master key file (the first key flag encrypts)")
	f.Var(keyFlag{a, "rsa"}, "rsa-key", "local RSA key file, PEM (the first key flag encrypts)")
	f.Var(keyFlag{a, "pkcs11"}, "pkcs11-key", "key in an HSM: PKCS#11 URI (the first key flag encrypts)")
	f.StringArrayVar(&a.contexts, "context", nil, "encryption context or material description entry k=v (repeatable)")
	f.StringVar(&a.format, "format", "v3", "format of the encrypted objects: v3 (key-committing) or v2 (AES-GCM, for older readers)")
	f.BoolVar(&a.instruction, "instruction-file", false, "store the envelope in <key>.instruction instead of the object's metadata")
	a.jsonFlag(f)
	return c
}

// errChangedMeanwhile: the conditional write found another object than
// the one read.
var errChangedMeanwhile = errors.New("the object changed while it was being encrypted; it was not overwritten (run again to encrypt the new one)")

// encryptJob is encrypt as a bulk job: counters encrypted and
// already_encrypted.
func (a *app) encryptJob(ctx context.Context, dryRun bool) (*bulkJob, error) {
	mc, err := a.metaClient(ctx)
	if err != nil {
		return nil, err
	}
	var wc *s3crypto.Client
	if !dryRun {
		if wc, err = a.client(ctx, true); err != nil {
			return nil, err
		}
	}
	return &bulkJob{verb: "encrypt", counters: []string{"encrypted", "already_encrypted"},
		do: func(ctx context.Context, it bulkItem) bulkOutcome {
			h, err := mc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &it.bucket, Key: &it.key, VersionId: versionOf(it)})
			if err != nil {
				return bulkOutcome{err: err}
			}
			if info, ok := s3crypto.GetObjectInfo(h.ResultMetadata); ok {
				return bulkOutcome{result: "already_encrypted", line: fmt.Sprintf("already encrypted %s (%s)", it, orUnnamed(info.KeyRef))}
			}
			if s3crypto.IsInstructionFile(h.Metadata) {
				return bulkOutcome{result: "already_encrypted", line: fmt.Sprintf("instruction file %s", it)}
			}
			if s3crypto.IsIndexObject(h.Metadata) {
				return bulkOutcome{result: "already_encrypted", line: fmt.Sprintf("chunk index %s", it)}
			}
			// An instruction file without the marker (AWS SDK for Go v1
			// wrote them so): encrypting it would lose its object's key.
			if base, ok := strings.CutSuffix(it.key, metadata.DefaultInstructionSuffix); ok && isInstructionFileOf(ctx, mc.Client, mc, it.bucket, it.key, base) {
				return bulkOutcome{result: "already_encrypted", line: fmt.Sprintf("instruction file %s", it)}
			}
			if dryRun {
				return bulkOutcome{result: "encrypted", line: fmt.Sprintf("would encrypt %s", it)}
			}
			n, err := a.encryptObject(ctx, wc, it, h.ETag)
			if err != nil {
				return bulkOutcome{err: err}
			}
			return bulkOutcome{result: "encrypted", line: fmt.Sprintf("encrypted %s (%d bytes)", it, n)}
		}}, nil
}

// encryptObject reads the plaintext object whose ETag is etag and writes
// it back encrypted, If-Match etag, with its properties (as cp keeps them,
// plus the SSE-KMS key).
func (a *app) encryptObject(ctx context.Context, wc *s3crypto.Client, it bulkItem, etag *string) (int64, error) {
	sc := wc.Client
	out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: &it.bucket, Key: &it.key, VersionId: versionOf(it), IfMatch: etag}, requireContentLength)
	if err != nil {
		return 0, changed(err)
	}
	defer out.Body.Close()
	put := &s3.PutObjectInput{Bucket: &it.bucket, Key: &it.key, Body: out.Body, ContentLength: out.ContentLength,
		IfMatch: etag, ContentType: out.ContentType, Metadata: out.Metadata,
		CacheControl: out.CacheControl, ContentDisposition: out.ContentDisposition, ContentEncoding: out.ContentEncoding,
		ContentLanguage: out.ContentLanguage, Expires: out.Expires, StorageClass: out.StorageClass,
		WebsiteRedirectLocation: out.WebsiteRedirectLocation}
	if out.ServerSideEncryption == types.ServerSideEncryptionAwsKms || out.ServerSideEncryption == types.ServerSideEncryptionAwsKmsDsse {
		put.ServerSideEncryption, put.SSEKMSKeyId, put.BucketKeyEnabled = out.ServerSideEncryption, out.SSEKMSKeyId, out.BucketKeyEnabled
	}
	if aws.ToInt32(out.TagCount) > 0 {
		tags, err := sc.GetObjectTagging(ctx, &s3.GetObjectTaggingInput{Bucket: &it.bucket, Key: &it.key, VersionId: out.VersionId})
		if err != nil {
			return 0, fmt.Errorf("reading the tags of %s, which must be kept: %w", it, err)
		}
		put.Tagging = aws.String(encodeTags(tags.TagSet))
	}
	opts := a.callOptions()
	up, err := s3crypto.NewUploader(wc, func(u *s3crypto.Uploader) { u.ClientOptions = opts }).Upload(ctx, put)
	if err != nil {
		return 0, changed(err)
	}
	return up.Size, nil
}

// changed turns a failed If-Match into errChangedMeanwhile.
func changed(err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "PreconditionFailed" || ae.ErrorCode() == "ConditionalRequestConflict") {
		return fmt.Errorf("%w (%v)", errChangedMeanwhile, err)
	}
	return err
}
