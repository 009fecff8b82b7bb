package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/s3crypto"
)

const verifyHelp = `Verify downloads and authenticates every object, keeping nothing: the audit
that every object is intact and readable with the given keys. Every key flag may
unwrap. Each object is streamed through decryption and discarded, so memory
stays flat whatever its size. V2 objects (no key commitment) are verified too.

  s3c verify -r --kms-key-id alias/app s3://bucket/
  s3c verify -r --aes-key old.key --aes-key new.key --json s3://bucket/data/

Output: one line per object (unless -q), then a summary on stderr:
"verify: N seen, N verified, N not encrypted, N failed, N integrity failures".
An integrity failure is an object that was altered or truncated (its tag or key
commitment does not match); other failures are objects that cannot be read with
the keys given, or S3 errors. With --json the last line of stdout is one JSON
object with the fields seen, verified, not_encrypted, failed,
integrity_failures and failures ([{"key", "reason"}]). Exit 0 if nothing
failed, 3 if any object failed its integrity check, else 1.
--dry-run reads the envelopes only (no key is used, no body is read).

Sharding across machines works as for rewrap: --shard I/N, or
JOB_COMPLETION_INDEX / AWS_BATCH_JOB_ARRAY_INDEX with --shard-count or
S3C_SHARD_COUNT (see s3c rewrap --help).`

func (a *app) verifyCommand() *cobra.Command {
	var b bulkFlags
	c := &cobra.Command{
		Use:   "verify [-r] [flags] KEYFLAGS (s3://bucket/key-or-prefix | --manifest FILE|s3://…)",
		Short: "Download and authenticate objects, keeping nothing",
		Long:  verifyHelp + bulkHelp,
		Example: `  s3c verify --aes-key master.key s3://bucket/report.pdf
  s3c verify -r --jobs 16 --kms-key-id alias/app s3://bucket/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := b.input(args); err != nil {
				return err
			}
			if len(a.keys) == 0 && len(a.allowKMS) == 0 && !b.dryRun {
				return usagef("verify needs the keys that read the objects: --kms-key-id, --aes-key or --rsa-key")
			}
			ctx := cmd.Context()
			job, err := a.verifyJob(ctx, b.dryRun)
			if err != nil {
				return err
			}
			return a.runBulk(ctx, job, &b, args)
		},
	}
	f := c.Flags()
	b.register(f, "verify")
	f.BoolVar(&b.dryRun, "dry-run", false, "list what would be verified from the envelopes alone; read no body")
	a.readKeyFlags(f)
	a.jsonFlag(f)
	return c
}

// verifyJob is verify as a bulk job: counters verified and not_encrypted,
// and integrity_failures.
func (a *app) verifyJob(ctx context.Context, dryRun bool) (*bulkJob, error) {
	var c *s3crypto.Client
	var err error
	if dryRun {
		c, err = a.metaClient(ctx)
	} else {
		c, err = a.readClient(ctx)
	}
	if err != nil {
		return nil, err
	}
	return &bulkJob{verb: "verify", counters: []string{"verified", "not_encrypted"}, integrity: true,
		do: func(ctx context.Context, it bulkItem) bulkOutcome {
			var n int64
			var ref string
			var err error
			if dryRun {
				var h *s3.HeadObjectOutput
				if h, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &it.bucket, Key: &it.key, VersionId: versionOf(it)}); err == nil {
					info, ok := s3crypto.GetObjectInfo(h.ResultMetadata)
					if !ok {
						err = s3crypto.ErrNotEncrypted
					} else {
						ref = info.KeyRef
					}
				}
			} else {
				n, ref, err = verifyObject(ctx, c, it)
			}
			switch {
			case errors.Is(err, s3crypto.ErrNotEncrypted):
				return bulkOutcome{result: "not_encrypted", line: fmt.Sprintf("not encrypted %s", it)}
			case err != nil:
				return bulkOutcome{err: err}
			case dryRun:
				return bulkOutcome{result: "verified", line: fmt.Sprintf("would verify %s (%s)", it, orUnnamed(ref))}
			}
			return bulkOutcome{result: "verified", line: fmt.Sprintf("verified %s (%d bytes, %s)", it, n, orUnnamed(ref))}
		}}, nil
}

// verifyObject reads the object through decryption into io.Discard: its
// plaintext is released before the tag is checked, which is harmless as
// nothing keeps it; a failed check is the error of the last Read.
func verifyObject(ctx context.Context, c *s3crypto.Client, it bulkItem) (int64, string, error) {
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &it.bucket, Key: &it.key, VersionId: versionOf(it)},
		requireContentLength, s3crypto.WithUnauthenticatedStream())
	if err != nil {
		return 0, "", err
	}
	defer out.Body.Close()
	n, err := io.Copy(io.Discard, out.Body)
	if err != nil {
		return n, "", err
	}
	var ref string
	if info, ok := s3crypto.GetObjectInfo(out.ResultMetadata); ok {
		ref = info.KeyRef
	}
	return n, ref, nil
}

// readClient is a client whose keyring is every key flag, reading V2
// objects too (they are authenticated by their tag).
func (a *app) readClient(ctx context.Context) (*s3crypto.Client, error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	kr, err := a.keyring(ctx, false)
	if err != nil {
		return nil, err
	}
	return s3crypto.New(sc, kr, func(o *s3crypto.Options) { o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt })
}

// readKeyFlags adds the key flags of a command that only reads.
func (a *app) readKeyFlags(f *pflag.FlagSet) {
	f.Var(keyFlag{a, "kms"}, "kms-key-id", "AWS KMS key: ID, ARN, alias/NAME (repeatable)")
	f.Var(keyFlag{a, "aes"}, "aes-key", "local AES master key file (repeatable)")
	f.Var(keyFlag{a, "rsa"}, "rsa-key", "local RSA key file, PEM (repeatable)")
	f.Var(keyFlag{a, "pkcs11"}, "pkcs11-key", "key in an HSM: PKCS#11 URI (repeatable)")
	f.StringArrayVar(&a.allowKMS, "allow-kms-key", nil, "also unwrap KMS-wrapped objects under this key ARN (discovery; repeatable)")
}
