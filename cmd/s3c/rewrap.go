package main

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strconv"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

const rewrapHelp = `Rewrap moves objects to a new master key without downloading or re-encrypting
them: only the wrapped data key in each object's envelope changes. The first key
flag is the new key, which wraps; every key flag, the first included, may unwrap:

  s3c rewrap -r --aes-key new.key --aes-key old.key s3://bucket/data/
  s3c rewrap -r --kms-key-id alias/new --kms-key-id alias/old s3://bucket/

KMS to KMS uses KMS ReEncrypt, for objects that name their KMS key (as s3c
writes them): the data key never leaves KMS. The encryption context or material
description, the format (V2, V3) and the key commitment are kept; an object
already under the new key is reported as current and left alone, so a run can
simply be repeated. Legacy objects (V1, AES-CBC, legacy key wraps)
are not rewrapped: copy them with cp to re-encrypt them.

What is written:
  - an object whose envelope is in its instruction file is untouched (same ETag,
    same Last-Modified): only <key>.instruction is rewritten;
  - an object whose envelope is in its metadata is copied onto itself on the
    server (no body bytes reach s3c), keeping its content headers, metadata,
    tags, storage class and SSE settings, conditional on the ETag read: an
    object overwritten meanwhile is reported, not clobbered. In a versioned
    bucket this makes a new version; the old versions keep the old wrapping
    (they are not rewrapped, and need the old key to be read).
  --instruction-file moves a metadata envelope into the instruction file, so
  that the next rotation touches only instruction files.

Output: one line per object (unless -q), then a summary on stderr:
"rewrap: N seen, N rewrapped, N current, N not encrypted, N failed". With --json
the last line of stdout is one JSON object with the fields seen, rewrapped,
current, not_encrypted, failed and failures ([{"key", "reason"}]). Exit 0 if
nothing failed, else 1, or 3 if any failure was an integrity failure.
--dry-run reads the envelopes only (no key is used) and writes nothing.

Sharding across machines: --shard I/N processes only the keys whose shard is I
(0 <= I < N), where shard(key) = FNV-1a 64-bit hash of the key's bytes, mod N.
N runs with I = 0..N-1 cover a prefix exactly once, with no coordination.
Without --shard, the index comes from JOB_COMPLETION_INDEX (Kubernetes indexed
Job) or AWS_BATCH_JOB_ARRAY_INDEX (AWS Batch array job), and N from
--shard-count or S3C_SHARD_COUNT.`

// shardOf is the shard of a key among n: FNV-1a 64-bit of its bytes,
// mod n.
func shardOf(key string, n uint64) uint64 {
	h := fnv.New64a()
	h.Write([]byte(key))
	return h.Sum64() % n
}

// shardSpec is this run's part of the keys; n == 0 means all.
type shardSpec struct{ i, n uint64 }

// parseShard decides the shard from --shard, --shard-count and the
// environment of Kubernetes indexed Jobs and AWS Batch array jobs.
func parseShard(flag string, count int, getenv func(string) string) (shardSpec, error) {
	if flag != "" {
		if count != 0 {
			return shardSpec{}, usagef("--shard I/N and --shard-count exclude each other")
		}
		is, ns, ok := strings.Cut(flag, "/")
		i, err1 := strconv.ParseUint(is, 10, 64)
		n, err2 := strconv.ParseUint(ns, 10, 64)
		if !ok || err1 != nil || err2 != nil || n == 0 || i >= n {
			return shardSpec{}, usagef("--shard %q: want I/N with 0 <= I < N", flag)
		}
		return shardSpec{i, n}, nil
	}
	var idxVar, idx string
	for _, v := range []string{"JOB_COMPLETION_INDEX", "AWS_BATCH_JOB_ARRAY_INDEX"} {
		if s := getenv(v); s != "" {
			idxVar, idx = v, s
			break
		}
	}
	if idx == "" {
		if count != 0 {
			return shardSpec{}, usagef("--shard-count needs a shard index: --shard I/N, JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX")
		}
		return shardSpec{}, nil
	}
	n := uint64(count)
	if count < 0 {
		return shardSpec{}, usagef("--shard-count must be positive")
	}
	if n == 0 {
		s := getenv("S3C_SHARD_COUNT")
		if s == "" {
			return shardSpec{}, usagef("%s is set but the number of shards is not: give --shard-count or S3C_SHARD_COUNT", idxVar)
		}
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil || v == 0 {
			return shardSpec{}, usagef("S3C_SHARD_COUNT %q: want a positive number", s)
		}
		n = v
	}
	i, err := strconv.ParseUint(idx, 10, 64)
	if err != nil || i >= n {
		return shardSpec{}, usagef("%s %q: want a number below the shard count %d", idxVar, idx, n)
	}
	return shardSpec{i, n}, nil
}

func (s shardSpec) has(key string) bool { return s.n == 0 || shardOf(key, s.n) == s.i }

func (a *app) rewrapCommand() *cobra.Command {
	var b bulkFlags
	c := &cobra.Command{
		Use:   "rewrap [-r] [flags] KEYFLAGS (s3://bucket/key-or-prefix | --manifest FILE|s3://…)",
		Short: "Move objects to a new master key without moving their data",
		Long:  rewrapHelp + bulkHelp,
		Example: `  s3c rewrap --aes-key new.key --aes-key old.key s3://bucket/report.pdf
  s3c rewrap -r --jobs 16 --kms-key-id alias/new --kms-key-id alias/old s3://bucket/
  s3c rewrap -r --shard 3/10 --kms-key-id alias/new --kms-key-id alias/old s3://bucket/
  s3c rewrap --manifest s3://inventory/bucket/config/2026-12-01T01-00Z/manifest.json \
      --checkpoint s3://ops/rewrap-3.json --report rewrap-3.csv --rate 500 --shard 3/10 \
      --kms-key-id alias/new --kms-key-id alias/old`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if _, err := b.input(args); err != nil {
				return err
			}
			if len(a.keys) == 0 {
				return usagef("rewrap needs the new key as its first key flag: --kms-key-id, --aes-key, --rsa-key or --pkcs11-key")
			}
			ctx := cmd.Context()
			job, err := a.rewrapJob(ctx, b.dryRun)
			if err != nil {
				return err
			}
			return a.runBulk(ctx, job, &b, args)
		},
	}
	f := c.Flags()
	b.register(f, "rewrap")
	f.BoolVar(&b.dryRun, "dry-run", false, "report what would be done from the envelopes alone; write nothing")
	f.Var(keyFlag{a, "kms"}, "kms-key-id", "AWS KMS key: ID, ARN, alias/NAME (repeatable; the first wraps)")
	f.Var(keyFlag{a, "aes"}, "aes-key", "local AES master key file (repeatable; the first wraps)")
	f.Var(keyFlag{a, "rsa"}, "rsa-key", "local RSA key file, PEM (repeatable; the first wraps)")
	f.Var(keyFlag{a, "pkcs11"}, "pkcs11-key", "key in an HSM: PKCS#11 URI (repeatable; the first wraps)")
	a.branchFlags(f, true)
	f.StringArrayVar(&a.allowKMS, "allow-kms-key", nil, "also unwrap KMS-wrapped objects under this key ARN (discovery; repeatable)")
	f.BoolVar(&a.instruction, "instruction-file", false, "move envelopes kept in object metadata into <key>.instruction")
	a.jsonFlag(f)
	return c
}

// rewrapJob is rewrap as a bulk job: counters rewrapped, current and
// not_encrypted (a contract: the JSON field names).
func (a *app) rewrapJob(ctx context.Context, dryRun bool) (*bulkJob, error) {
	rc, newKR, err := a.rewrapClients(ctx)
	if err != nil {
		return nil, err
	}
	var mc *s3crypto.Client
	if dryRun {
		if mc, err = a.metaClient(ctx); err != nil {
			return nil, err
		}
	}
	return &bulkJob{verb: "rewrap", counters: []string{"rewrapped", "current", "not_encrypted"},
		do: func(ctx context.Context, it bulkItem) bulkOutcome {
			var res, before, after string
			var err error
			if dryRun {
				res, before, err = a.rewrapPlan(ctx, mc, newKR, it.bucket, it.key)
			} else {
				var out *s3crypto.RewrapObjectOutput
				out, err = rc.RewrapObject(ctx, &s3crypto.RewrapObjectInput{Bucket: &it.bucket, Key: &it.key, VersionId: versionOf(it),
					NewKeyring: newKR, ToInstructionFile: a.instruction})
				if err == nil {
					res, before, after = string(out.Result), out.KeyRefBefore, out.KeyRefAfter
				}
			}
			switch {
			case errors.Is(err, s3crypto.ErrNotEncrypted):
				return bulkOutcome{result: "not_encrypted", line: fmt.Sprintf("not encrypted %s", it)}
			case err != nil:
				return bulkOutcome{err: err}
			case res == string(s3crypto.RewrapCurrent):
				return bulkOutcome{result: "current", line: fmt.Sprintf("current %s (%s)", it, orUnnamed(before))}
			case dryRun:
				return bulkOutcome{result: "rewrapped", line: fmt.Sprintf("would rewrap %s (%s)", it, orUnnamed(before))}
			}
			return bulkOutcome{result: "rewrapped", line: fmt.Sprintf("rewrapped %s (%s -> %s)", it, orUnnamed(before), orUnnamed(after))}
		}}, nil
}

// rewrapClients returns the client whose keyring unwraps (every key
// flag) and the new keyring (the first key flag alone, which may be an
// RSA public key: it only wraps). The client reads V2 objects too: a
// rewrap keeps their format and decrypts no content.
func (a *app) rewrapClients(ctx context.Context) (*s3crypto.Client, keyring.Keyring, error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, nil, err
	}
	// Every key file read once as for writing, so that an error names
	// its flag as the other commands do.
	if _, err := a.keyring(ctx, true); err != nil {
		return nil, nil, err
	}
	all, allowKMS := a.keys, a.allowKMS
	defer func() { a.keys, a.allowKMS = all, allowKMS }()
	a.keys, a.allowKMS = all[:1], nil
	newKR, err := a.keyring(ctx, true)
	if err != nil {
		return nil, nil, err
	}
	readKR := newKR
	if len(all) > 1 || len(allowKMS) > 0 {
		a.keys, a.allowKMS = all[1:], allowKMS
		rest, err := a.keyring(ctx, false)
		if err != nil {
			return nil, nil, err
		}
		readKR = materials.Multi(newKR, rest)
	}
	rc, err := s3crypto.New(sc, readKR, func(o *s3crypto.Options) { o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt })
	return rc, newKR, err
}

// rewrapPlan classifies an object from its envelope alone, unwrapping
// nothing: "current" if the new keyring claims it, else "rewrapped" (to
// be rewrapped); ErrNotEncrypted, or the refusal of a legacy object.
func (a *app) rewrapPlan(ctx context.Context, mc *s3crypto.Client, newKR materials.Keyring, bucket, key string) (string, string, error) {
	h, err := mc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return "", "", err
	}
	info, ok := s3crypto.GetObjectInfo(h.ResultMetadata)
	if !ok {
		return "", "", s3crypto.ErrNotEncrypted
	}
	env := info.Envelope
	if env.Format == metadata.V1 || env.ContentAlg == metadata.ContentAESCBC || metadata.IsLegacyWrap(env.WrapAlg) {
		return "", info.KeyRef, &s3crypto.PolicyError{Format: env.Format, Content: env.ContentAlg, Wrap: env.WrapAlg,
			Reason: "legacy objects are not rewrapped"}
	}
	req := &keyring.DecryptionRequest{WrapAlg: env.WrapAlg, ContentAlg: env.ContentAlg, EncryptedKey: env.EncryptedKey, Description: env.Description}
	if c, ok := newKR.(keyring.Claimer); ok && c.Claims(req) {
		return string(s3crypto.RewrapCurrent), info.KeyRef, nil
	}
	return string(s3crypto.RewrapRewrapped), info.KeyRef, nil
}
