package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

const indexHelp = `Index builds the chunk index of existing objects: <key>.s3c-index, a MAC per
1 MiB chunk of the object's ciphertext under a key derived from its data key.
With it, get streams the object authenticated chunk by chunk, without a
temporary file, and serves authenticated ranges (s3c put writes one itself
for objects over 8 MiB). Use it for objects written by AWS's S3 Encryption
Clients, by older s3c, or by the minio-go front end. Each object is read once
in full, in constant memory, and its index is written only if the whole
object authenticates; an existing index is replaced, an object of that name
that is not an s3c index is never overwritten. AWS's readers ignore the index.
AES-GCM objects (V2, V3) only: legacy AES-CBC objects are skipped.

  s3c index --kms-key-id alias/app s3://bucket/big.tar
  s3c index -r --aes-key master.key s3://bucket/backups/

With -r or --manifest, objects of 8 MiB or less are skipped (get reads them in
memory anyway) unless --all is given; a single object is always indexed.
Output: one line per object (unless -q), then a summary on stderr:
"index: N seen, N indexed, N skipped, N not encrypted, N failed, N integrity
failures". With --json the last line of stdout is one JSON object with the
fields seen, indexed, skipped, not_encrypted, failed, integrity_failures and
failures ([{"key", "reason"}]). Exit 0 if nothing failed, 3 if any object
failed its integrity check (it was altered: no index is written), else 1.
--dry-run reads the envelopes only (no key is used, no body is read).`

func (a *app) indexCommand() *cobra.Command {
	var b bulkFlags
	var all bool
	c := &cobra.Command{
		Use:   "index [-r] [flags] KEYFLAGS (s3://bucket/key-or-prefix | --manifest FILE|s3://…)",
		Short: "Build the chunk index of existing objects, for streamed authenticated reads",
		Long:  indexHelp + bulkHelp,
		Example: `  s3c index --aes-key master.key s3://bucket/big.tar
  s3c index -r --dry-run s3://bucket/backups/`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := b.input(args); err != nil {
				return err
			}
			if len(a.keys) == 0 && len(a.allowKMS) == 0 && !b.dryRun {
				return usagef("index needs the keys that read the objects: --kms-key-id, --aes-key or --rsa-key")
			}
			ctx := cmd.Context()
			job, err := a.indexJob(ctx, b.dryRun, all || !b.recursive && b.manifest == "")
			if err != nil {
				return err
			}
			return a.runBulk(ctx, job, &b, args)
		},
	}
	f := c.Flags()
	b.register(f, "index")
	f.BoolVar(&b.dryRun, "dry-run", false, "list what would be indexed from the envelopes alone; read no body, write nothing")
	f.BoolVar(&all, "all", false, "with -r or --manifest, index objects of 8 MiB or less too")
	a.readKeyFlags(f)
	a.jsonFlag(f)
	return c
}

// indexJob is index as a bulk job: counters indexed, skipped and
// not_encrypted, and integrity_failures. Objects of memoryBuffer bytes or
// less are skipped unless small.
func (a *app) indexJob(ctx context.Context, dryRun, small bool) (*bulkJob, error) {
	mc, err := a.metaClient(ctx)
	if err != nil {
		return nil, err
	}
	var rc *s3crypto.Client
	if !dryRun {
		if rc, err = a.readClient(ctx); err != nil {
			return nil, err
		}
	}
	return &bulkJob{verb: "index", counters: []string{"indexed", "skipped", "not_encrypted"}, integrity: true,
		do: func(ctx context.Context, it bulkItem) bulkOutcome {
			if it.version != "" {
				return bulkOutcome{err: errors.New("an index describes the current object, not a version")}
			}
			h, err := mc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &it.bucket, Key: &it.key})
			if err != nil {
				return bulkOutcome{err: err}
			}
			info, ok := s3crypto.GetObjectInfo(h.ResultMetadata)
			switch {
			case !ok && (s3crypto.IsIndexObject(h.Metadata) || s3crypto.IsInstructionFile(h.Metadata)):
				return bulkOutcome{result: "skipped", line: fmt.Sprintf("skipped %s (an s3c index or instruction file)", it)}
			case !ok:
				return bulkOutcome{result: "not_encrypted", line: fmt.Sprintf("not encrypted %s", it)}
			case info.Envelope.ContentAlg == metadata.ContentAESCBC:
				return bulkOutcome{result: "skipped", line: fmt.Sprintf("skipped %s (legacy AES-CBC: no index)", it)}
			case !small && info.StoredSize <= memoryBuffer:
				return bulkOutcome{result: "skipped", line: fmt.Sprintf("skipped %s (%d bytes: read in memory; --all indexes it)", it, info.StoredSize)}
			case dryRun:
				return bulkOutcome{result: "indexed", line: fmt.Sprintf("would index %s (%d bytes, %s)", it, info.StoredSize, orUnnamed(info.KeyRef))}
			}
			if err := rc.BuildIndex(ctx, &s3.GetObjectInput{Bucket: &it.bucket, Key: &it.key, IfMatch: h.ETag}); err != nil {
				return bulkOutcome{err: err}
			}
			return bulkOutcome{result: "indexed", line: fmt.Sprintf("indexed %s (%d bytes, %s)", it, info.StoredSize, orUnnamed(info.KeyRef))}
		}}, nil
}
