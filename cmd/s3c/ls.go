package main

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// listed is one object from a listing.
type listed struct {
	key          string
	size         int64
	lastModified time.Time
}

// listObjects lists objects under prefix (recursively, or one level with
// the sub-prefixes), leaving out instruction files of listed objects (see
// instructionFiles).
func (a *app) listObjects(ctx context.Context, bucket, prefix string, recursive bool) ([]listed, []string, error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, nil, err
	}
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix}
	if !recursive {
		in.Delimiter = aws.String("/")
	}
	var objs []listed
	var prefixes []string
	p := s3.NewListObjectsV2Paginator(sc, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, nil, fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
		}
		for _, o := range page.Contents {
			objs = append(objs, listed{aws.ToString(o.Key), aws.ToInt64(o.Size), aws.ToTime(o.LastModified)})
		}
		for _, cp := range page.CommonPrefixes {
			prefixes = append(prefixes, aws.ToString(cp.Prefix))
		}
	}
	mc, err := a.metaClient(ctx)
	if err != nil {
		return nil, nil, err
	}
	hide := instructionFiles(ctx, sc, mc, bucket, objs)
	out := objs[:0]
	for i, o := range objs {
		if !hide[i] {
			out = append(out, o)
		}
	}
	return out, prefixes, nil
}

// instructionCheckJobs bounds the HEAD requests instructionFiles makes at
// once.
const instructionCheckJobs = 8

// instructionFiles tells which of the listed objects are instruction files
// or chunk indexes (X.s3c-index carrying the index marker, see
// s3crypto.IsIndexObject) of other listed objects: X.instruction where X is listed too and
// X.instruction carries the instruction-file marker, or X's envelope is
// read from it (AWS SDK for Go v1 wrote instruction files without the
// marker; see core.ReadEnvelope in internal/core). That is one HEAD request for
// each such name, and for an unmarked one a HeadObject of X through mc
// (which unwraps no key); other objects cost nothing. A user's own object
// named X.instruction is an object like any other; one that cannot be
// checked is kept, so that it is not silently skipped.
func instructionFiles(ctx context.Context, sc *s3.Client, mc *s3crypto.Client, bucket string, objs []listed) []bool {
	keys := make(map[string]bool, len(objs))
	for _, o := range objs {
		keys[o.key] = true
	}
	return instructionFilesWith(ctx, sc, mc, bucket, objs, func(_ context.Context, base string) bool { return keys[base] })
}

// instructionFilesWith is instructionFiles where exists tells whether an
// object X is one of the listing's (it may cost a request: it is called
// concurrently, for names X.instruction only).
func instructionFilesWith(ctx context.Context, sc *s3.Client, mc *s3crypto.Client, bucket string, objs []listed, exists func(context.Context, string) bool) []bool {
	hide := make([]bool, len(objs))
	var wg sync.WaitGroup
	sem := make(chan struct{}, instructionCheckJobs)
	for i, o := range objs {
		base, isInst := strings.CutSuffix(o.key, metadata.DefaultInstructionSuffix)
		ibase, isIndex := strings.CutSuffix(o.key, s3crypto.IndexSuffix)
		if !isInst && !isIndex {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if isIndex {
				hide[i] = exists(ctx, ibase) && isIndexOf(ctx, sc, bucket, o.key)
				return
			}
			hide[i] = exists(ctx, base) && isInstructionFileOf(ctx, sc, mc, bucket, o.key, base)
		}()
	}
	wg.Wait()
	return hide
}

func (a *app) lsCommand() *cobra.Command {
	var recursive bool
	var jobs int
	c := &cobra.Command{
		Use:   "ls [-r] s3://bucket[/prefix]",
		Short: "List objects with their plaintext size and master key",
		Long: `List the objects under a prefix: last modified, plaintext size, format
(V1, V2, V3, or - for objects that are not encrypted), the master key they
name, and the key. Instruction files are not listed. With -r, every object
under the prefix; without, one level, with sub-prefixes shown as PRE.`,
		Example: `  s3c ls s3://bucket/reports/
  s3c ls -r --json s3://bucket | jq '.[] | select(.encrypted | not) | .key'`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			loc, err := parseLocation(args[0])
			if err != nil {
				return err
			}
			if !loc.s3 {
				return usagef("%q is not an s3:// URL", args[0])
			}
			ctx := cmd.Context()
			objs, prefixes, err := a.listObjects(ctx, loc.bucket, loc.key, recursive)
			if err != nil {
				return err
			}
			c, err := a.metaClient(ctx)
			if err != nil {
				return err
			}
			reports := make([]*objectReport, len(objs))
			errs := make([]error, len(objs))
			var wg sync.WaitGroup
			sem := make(chan struct{}, max(jobs, 1))
			for i, o := range objs {
				wg.Add(1)
				sem <- struct{}{}
				go func() {
					defer wg.Done()
					defer func() { <-sem }()
					reports[i], errs[i] = describe(ctx, c, loc.bucket, o.key)
				}()
			}
			wg.Wait()
			if ctx.Err() != nil {
				return context.Cause(ctx)
			}
			for i, err := range errs {
				if err != nil {
					// Still list it, as S3 sees it, and say what is wrong.
					fmt.Fprintf(a.stderr, "s3c: %s\n", oneLine(err))
					lm := objs[i].lastModified
					reports[i] = &objectReport{Bucket: loc.bucket, Key: objs[i].key, StoredSize: objs[i].size, LastModified: &lm}
					a.exit = exitError
				}
			}
			sort.Slice(reports, func(i, j int) bool { return reports[i].Key < reports[j].Key })
			if a.json {
				if reports == nil {
					reports = []*objectReport{}
				}
				return a.printJSON(reports)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', tabwriter.AlignRight)
			for _, p := range prefixes {
				fmt.Fprintf(w, "\t\tPRE\t\t%s\t\n", p)
			}
			for _, r := range reports {
				size := "?"
				if r.PlaintextSize != nil {
					size = fmt.Sprint(*r.PlaintextSize)
				}
				format := "-"
				if r.Encrypted {
					format = r.Format
				}
				when := ""
				if r.LastModified != nil {
					when = r.LastModified.UTC().Format("2006-01-02 15:04:05")
				}
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t\n", when, size, format, orDash(r.KeyRef), r.Key)
			}
			return w.Flush()
		},
	}
	c.Flags().BoolVarP(&recursive, "recursive", "r", false, "list every object under the prefix")
	c.Flags().IntVar(&jobs, "jobs", 8, "objects described at once")
	a.jsonFlag(c.Flags())
	return c
}

// isIndexOf tells whether key, an object named X.s3c-index, carries the
// chunk-index marker. An unmarked one is the user's own object.
func isIndexOf(ctx context.Context, sc *s3.Client, bucket, key string) bool {
	h, err := sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	return err == nil && s3crypto.IsIndexObject(h.Metadata)
}
