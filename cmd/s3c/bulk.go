package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// bulkHelp is the part of rewrap's, verify's and encrypt's help about
// their shared engine.
const bulkHelp = `

Input: one object; with -r every object under a prefix (listed a page at a
time, instruction files left out); or --manifest FILE|s3://bucket/key with no
URL: an S3 Batch Operations CSV manifest (bucket,key[,versionId], keys
URL-encoded, '+' for a space) or an S3 Inventory manifest.json (CSV
inventories only; its .csv.gz files are read from its destination bucket;
delete markers and versions that are not the latest are left out).

--report FILE writes one CSV line per object as it finishes: bucket,key,
result,reason, where result is one of the summary's counters or "failed".
--checkpoint FILE|s3://bucket/key records, every few seconds and at the end,
the point up to which every object is done (the key of a listing, the row of a
manifest), with the command, input and shard it belongs to; a run given the
same checkpoint continues from there (a listing with StartAfter), and refuses
one made for another command, input or shard. Objects in flight when a run is
killed are done again: every operation is safe to repeat. A resumed run
appends to its --report.
--rate N starts at most N objects a second. Throttled objects (S3 503
SlowDown, KMS ThrottlingException) are retried, after the SDK's own 3
attempts, up to 5 more times with backoff (1 s, 2 s, 4 s, … at most 30 s,
jittered).`

// bulkFlags are the flags rewrap, verify and encrypt share.
type bulkFlags struct {
	recursive, dryRun            bool
	jobs, shardCount             int
	shard, manifest, report, ckp string
	rate                         float64
	ckpEvery                     time.Duration
}

func (b *bulkFlags) register(f *pflag.FlagSet, verb string) {
	f.BoolVarP(&b.recursive, "recursive", "r", false, verb+" every object under the prefix")
	f.IntVar(&b.jobs, "jobs", 8, "objects processed at once")
	f.StringVar(&b.shard, "shard", "", "process only the keys of shard I of N (I/N, 0-based; FNV-1a 64 of the key mod N)")
	f.IntVar(&b.shardCount, "shard-count", 0, "number of shards when the index comes from JOB_COMPLETION_INDEX or AWS_BATCH_JOB_ARRAY_INDEX")
	f.StringVar(&b.manifest, "manifest", "", "take the objects from a manifest (FILE or s3://bucket/key): S3 Batch Operations CSV or S3 Inventory manifest.json")
	f.StringVar(&b.report, "report", "", "write one CSV line per object to FILE: bucket,key,result,reason")
	f.StringVar(&b.ckp, "checkpoint", "", "record progress in FILE or s3://bucket/key, and continue from it")
	f.Float64Var(&b.rate, "rate", 0, "start at most N objects a second (0: no limit)")
	f.DurationVar(&b.ckpEvery, "checkpoint-interval", 5*time.Second, "how often the checkpoint is written")
	f.MarkHidden("checkpoint-interval")
}

// bulkItem is one object to process; seq is its place in the input (the
// row of a manifest, from 1).
type bulkItem struct {
	bucket, key, version string
	seq                  int64
}

func (it bulkItem) String() string { return "s3://" + it.bucket + "/" + it.key }

// versionOf is the item's version ID from a manifest, or nil.
func versionOf(it bulkItem) *string {
	if it.version == "" {
		return nil
	}
	return &it.version
}

// bulkOutcome is what processing one object gave: a counter (one of the
// job's counters) and a stdout line, or an error.
type bulkOutcome struct {
	result string
	line   string
	err    error
}

// bulkJob is one of the bulk commands.
type bulkJob struct {
	verb string
	// counters are the JSON names of the successful results, in the
	// order of the summary; "not_encrypted" is printed "not encrypted".
	counters []string
	// integrity adds an integrity_failures count after failed.
	integrity bool
	do        func(ctx context.Context, it bulkItem) bulkOutcome
}

// bulkFailure is one failed object in the JSON summary.
type bulkFailure struct {
	Key    string `json:"key"`
	Reason string `json:"reason"`
}

// bulkCounts is a run's tally.
type bulkCounts struct {
	mu        sync.Mutex
	seen      int
	n         map[string]int
	failed    int
	integrity int
	failures  []bulkFailure
	errs      []error
}

// bulkInput is what a bulk command runs over: one object, a prefix (-r)
// or a manifest.
type bulkInput struct {
	loc    location
	prefix string
	shard  shardSpec
}

// input checks the arguments and flags of a bulk command: a single
// object, with -r a prefix (ending in "/" unless empty), or --manifest
// and no argument.
func (b *bulkFlags) input(args []string) (*bulkInput, error) {
	if b.rate < 0 {
		return nil, usagef("--rate must not be negative")
	}
	sh, err := parseShard(b.shard, b.shardCount, os.Getenv)
	if err != nil {
		return nil, err
	}
	in := &bulkInput{shard: sh}
	if b.manifest != "" {
		if len(args) != 0 || b.recursive {
			return nil, usagef("--manifest names the objects: give no s3:// URL and no -r")
		}
		return in, nil
	}
	if len(args) != 1 {
		return nil, usagef("give one s3:// URL, or --manifest")
	}
	loc, err := parseLocation(args[0])
	if err != nil {
		return nil, err
	}
	if !loc.s3 {
		return nil, usagef("%q is not an s3:// URL", args[0])
	}
	if !b.recursive && (loc.key == "" || strings.HasSuffix(loc.key, "/")) {
		return nil, usagef("%q names no object; -r takes every object under a prefix", args[0])
	}
	if !b.recursive && b.ckp != "" {
		return nil, usagef("--checkpoint is for runs over a prefix (-r) or a manifest")
	}
	in.loc = loc
	in.prefix = loc.key
	if b.recursive && in.prefix != "" && !strings.HasSuffix(in.prefix, "/") {
		in.prefix += "/"
	}
	return in, nil
}

// runBulk feeds the objects of the input to job.do, jobs at a time, and
// reports: a line per object on stdout (unless -q), a summary on stderr,
// with --json the summary as the last line of stdout. The input is
// streamed: a listing page, or a manifest row, at a time, so memory stays
// bounded whatever the number of objects.
func (a *app) runBulk(ctx context.Context, job *bulkJob, b *bulkFlags, args []string) error {
	in, err := b.input(args)
	if err != nil {
		return err
	}
	cp, err := a.openCheckpoint(ctx, b, job.verb, in)
	if err != nil {
		return err
	}
	rep, err := openReport(b.report, cp != nil && cp.resumed)
	if err != nil {
		return err
	}
	defer rep.close()
	counts := &bulkCounts{n: map[string]int{}, failures: []bulkFailure{}}
	var (
		w     = newWorkers(b.jobs)
		outMu sync.Mutex
		lw    lowWater
		pace  = newPacer(b.rate)
	)
	var (
		isc *s3.Client
		imc *s3crypto.Client
	)
	if b.manifest != "" {
		if isc, err = a.s3Client(ctx); err != nil {
			return err
		}
		if imc, err = a.metaClient(ctx); err != nil {
			return err
		}
	}
	stopSaving := cp.saveEvery(ctx, a, b.ckpEvery, &lw)
	// dispatch starts one object; false once ctx is done.
	dispatch := func(it bulkItem) bool {
		if !in.shard.has(it.key) {
			lw.skip(it)
			return true
		}
		if pace.wait(ctx) != nil {
			return false
		}
		// Issued before it starts, so that the checkpoint's low-water
		// mark never passes it; one that does not start (ctx done) stays
		// pending, like one stopped, and a resumed run does it.
		lw.issue(it)
		return w.Go(ctx, func() {
			if isc != nil {
				// A manifest lists instruction files too: they are part
				// of their object, not objects to process.
				if base, ok := strings.CutSuffix(it.key, metadata.DefaultInstructionSuffix); ok && isInstructionFileOf(ctx, isc, imc, it.bucket, it.key, base) {
					lw.finish(it)
					return
				}
			}
			o := retryThrottled(ctx, func() bulkOutcome { return job.do(ctx, it) })
			counts.mu.Lock()
			defer counts.mu.Unlock()
			if ctx.Err() != nil && o.err != nil {
				// Stopped, not done: not counted, and not finished for
				// the checkpoint.
				return
			}
			defer lw.finish(it)
			counts.seen++
			if o.err != nil {
				err := explain(o.err)
				counts.failed++
				// The exit code needs one failure of each kind, not all
				// of them (a run may meet millions).
				integrity := exitCode(o.err) == exitIntegrity
				if integrity {
					counts.integrity++
				}
				if len(counts.errs) == 0 || (integrity && counts.integrity == 1) {
					counts.errs = append(counts.errs, err)
				}
				counts.failures = append(counts.failures, bulkFailure{Key: it.key, Reason: a.errorLine(err)})
				rep.line(it, "failed", a.errorLine(err))
				outMu.Lock()
				fmt.Fprintf(a.stderr, "s3c: %s: %s\n", it, a.errorLine(err))
				outMu.Unlock()
				return
			}
			counts.n[o.result]++
			rep.line(it, o.result, "")
			if o.line != "" && !a.quiet {
				outMu.Lock()
				fmt.Fprintln(a.stdout, o.line)
				outMu.Unlock()
			}
		})
	}
	var srcErr error
	switch {
	case cp.complete():
		a.say("%s: checkpoint %s: the run it records is complete; nothing to do", job.verb, b.ckp)
	case b.manifest != "":
		var after int64
		if cp != nil {
			after = cp.state.Row
		}
		srcErr = a.manifestRows(ctx, b.manifest, func(it bulkItem) bool {
			if it.seq <= after {
				return true
			}
			return dispatch(it)
		})
	case b.recursive:
		var after string
		var seq int64
		if cp != nil {
			after = cp.state.After
		}
		srcErr = a.listStream(ctx, in.loc.bucket, in.prefix, after, func(page []listed) bool {
			for _, o := range page {
				seq++
				if !dispatch(bulkItem{bucket: in.loc.bucket, key: o.key, seq: seq}) {
					return false
				}
			}
			return true
		})
	default:
		dispatch(bulkItem{bucket: in.loc.bucket, key: in.loc.key, seq: 1})
	}
	w.Wait()
	stopSaving()
	var cpErr error
	if cp != nil && !cp.complete() {
		cpErr = cp.save(ctx, a, &lw, srcErr == nil && ctx.Err() == nil)
	}
	if srcErr != nil && counts.seen == 0 {
		// The input could not be read: its error alone.
		return srcErr
	}
	a.say("%s", counts.summary(job))
	if a.json {
		fmt.Fprintf(a.stdout, "%s\n", counts.json(job))
	}
	if err := rep.close(); err != nil && cpErr == nil {
		cpErr = fmt.Errorf("--report %s: %w", b.report, err)
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%w after %d objects", context.Cause(ctx), counts.seen)
	case srcErr != nil:
		return srcErr
	case cpErr != nil:
		return cpErr
	case counts.failed > 0:
		return &batchError{failed: counts.failed, total: counts.seen, errs: counts.errs}
	}
	return nil
}

// summary is the stderr line: "verb: N seen, N <counter>, …, N failed".
func (c *bulkCounts) summary(job *bulkJob) string {
	var sb strings.Builder
	fmt.Fprintf(&sb, "%s: %d seen", job.verb, c.seen)
	for _, k := range job.counters {
		fmt.Fprintf(&sb, ", %d %s", c.n[k], strings.ReplaceAll(k, "_", " "))
	}
	fmt.Fprintf(&sb, ", %d failed", c.failed)
	if job.integrity {
		fmt.Fprintf(&sb, ", %d integrity failures", c.integrity)
	}
	return sb.String()
}

// json is the --json summary, fields in the order of the help: seen,
// the counters, failed, [integrity_failures,] failures.
func (c *bulkCounts) json(job *bulkJob) []byte {
	var sb strings.Builder
	fmt.Fprintf(&sb, `{"seen":%d`, c.seen)
	for _, k := range job.counters {
		fmt.Fprintf(&sb, `,%q:%d`, k, c.n[k])
	}
	fmt.Fprintf(&sb, `,"failed":%d`, c.failed)
	if job.integrity {
		fmt.Fprintf(&sb, `,"integrity_failures":%d`, c.integrity)
	}
	f, _ := json.Marshal(c.failures)
	fmt.Fprintf(&sb, `,"failures":%s}`, f)
	return []byte(sb.String())
}

// listPageSize, if not 0, is the MaxKeys of listStream's requests (for
// tests: S3's default is 1,000).
var listPageSize int32

// listStream lists bucket/prefix (after startAfter, if not empty) a page
// at a time, leaving out instruction files and chunk indexes, and
// hands each page to fn as it comes; fn returns false to stop. A marked
// instruction file whose object is on an earlier page is found by the
// keys of the page before, or else by a HEAD of its object.
func (a *app) listStream(ctx context.Context, bucket, prefix, startAfter string, fn func([]listed) bool) error {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return err
	}
	mc, err := a.metaClient(ctx)
	if err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix}
	if startAfter != "" {
		in.StartAfter = &startAfter
	}
	if listPageSize > 0 {
		in.MaxKeys = aws.Int32(listPageSize)
	}
	var prev map[string]bool
	p := s3.NewListObjectsV2Paginator(sc, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
		}
		objs := make([]listed, 0, len(page.Contents))
		keys := make(map[string]bool, len(page.Contents))
		for _, o := range page.Contents {
			objs = append(objs, listed{aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToTime(o.LastModified)})
			keys[aws.ToString(o.Key)] = true
		}
		// X on an earlier page, or before StartAfter (a resumed run
		// listed it before): a HEAD.
		exists := listedOrHeads(sc, bucket, keys, prev, func(base string) bool { return strings.HasPrefix(base, prefix) })
		hide := instructionFilesWith(ctx, sc, mc, bucket, objs, exists)
		out := objs[:0]
		for i, o := range objs {
			if !hide[i] {
				out = append(out, o)
			}
		}
		if !fn(out) {
			return nil
		}
		prev = keys
	}
	return nil
}

// isInstructionFileOf tells whether key, an object named
// base+".instruction", is base's instruction file: it carries the
// instruction-file marker, or base's envelope is read from it.
func isInstructionFileOf(ctx context.Context, sc *s3.Client, mc *s3crypto.Client, bucket, key, base string) bool {
	h, err := sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		return false
	}
	if s3crypto.IsInstructionFile(h.Metadata) {
		return true
	}
	bh, err := mc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &base})
	if err != nil {
		return false
	}
	info, ok := s3crypto.GetObjectInfo(bh.ResultMetadata)
	return ok && info.Envelope.Storage == metadata.InstructionFile
}
