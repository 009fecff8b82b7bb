package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
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

// listedOrHeads is the exists of instructionFilesWith for a listing read
// a page at a time: X is among keys (this page) or prev (the page
// before), or else, where mayHead(X), a HEAD finds it.
func listedOrHeads(sc *s3.Client, bucket string, keys, prev map[string]bool, mayHead func(string) bool) func(context.Context, string) bool {
	return func(ctx context.Context, base string) bool {
		if keys[base] || prev[base] {
			return true
		}
		if !mayHead(base) {
			return false
		}
		_, err := sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &base})
		return err == nil
	}
}

// instructionCheckJobs bounds the HEAD requests instructionFiles makes at
// once.
const instructionCheckJobs = 8

// instructionFilesWith tells which of the listed objects are instruction
// files or chunk indexes (X.s3c-index carrying the index marker, see
// s3crypto.IsIndexObject) of other listed objects: X.instruction where X
// is listed too (exists tells: it may cost a request, and is called
// concurrently, for such names only) and X.instruction carries the
// instruction-file marker, or X's envelope is read from it (AWS SDK for
// Go v1 wrote instruction files without the marker; see core.ReadEnvelope
// in internal/core). That is one HEAD request for each such name, and for
// an unmarked one a HeadObject of X through mc (which unwraps no key);
// other objects cost nothing. A user's own object named X.instruction is
// an object like any other; one that cannot be checked is kept, so that it
// is not silently skipped.
func instructionFilesWith(ctx context.Context, sc *s3.Client, mc *s3crypto.Client, bucket string, objs []listed, exists func(context.Context, string) bool) []bool {
	hide := make([]bool, len(objs))
	w := newWorkers(instructionCheckJobs)
	for i, o := range objs {
		base, isInst := strings.CutSuffix(o.key, metadata.DefaultInstructionSuffix)
		ibase, isIndex := strings.CutSuffix(o.key, s3crypto.IndexSuffix)
		if !isInst && !isIndex {
			continue
		}
		// Every candidate is checked (context.Background: a check under a
		// cancelled ctx fails on its own and keeps the object).
		w.Go(context.Background(), func() {
			if isIndex {
				hide[i] = exists(ctx, ibase) && isIndexOf(ctx, sc, bucket, o.key)
				return
			}
			hide[i] = exists(ctx, base) && isInstructionFileOf(ctx, sc, mc, bucket, o.key, base)
		})
	}
	w.Wait()
	return hide
}

// lsOptions are ls's flags.
type lsOptions struct {
	recursive, long bool
	jobs            int
	filter          keyFilter
}

// lsPageSize, if not 0, is the MaxKeys of ls's list requests (for tests:
// S3's default is 1,000).
var lsPageSize int32

// lsSizeWidth is the width of ls's size column: the largest S3 object, 5
// TiB, has 13 digits, so keys always line up.
const lsSizeWidth = 13

// lsDateFormat is how ls prints a time, in UTC (19 characters).
const lsDateFormat = "2006-01-02 15:04:05"

// gcmTagSize is what AES-GCM adds to the plaintext: the size ls derives
// from a listing assumes it.
const gcmTagSize = 16

// derivedSize is the plaintext size of an object stored in n bytes if it
// is encrypted with AES-GCM, as every object s3c and AWS's V2 and V3
// clients write is: n less the 16-byte tag. An object of fewer than 16
// bytes cannot be such an object: its size is its own. Only a HEAD (ls
// -l) knows for sure.
func derivedSize(n int64) int64 {
	if n >= gcmTagSize {
		return n - gcmTagSize
	}
	return n
}

// lsEntry is one line of a listing: a common prefix, or an object as the
// listing gives it and, with -l, as a HEAD describes it.
type lsEntry struct {
	prefix string // a common prefix (PRE); the fields below are then empty
	obj    listed
	etag   string
	report *objectReport // -l: the HEAD's description
	err    error         // -l: the HEAD failed
}

func (e *lsEntry) name() string {
	if e.prefix != "" {
		return e.prefix
	}
	return e.obj.key
}

// lsObjectJSON is an object in ls --json without -l: what the listing
// says. Its plaintext size is derived (see derivedSize), not read from the
// object's envelope: hence its name; ls -l gives objectReport's
// plaintext_size instead.
type lsObjectJSON struct {
	Bucket               string     `json:"bucket"`
	Key                  string     `json:"key"`
	DerivedPlaintextSize int64      `json:"derived_plaintext_size"`
	StoredSize           int64      `json:"stored_size"`
	LastModified         *time.Time `json:"last_modified,omitempty"`
	ETag                 string     `json:"etag,omitempty"`
	Error                string     `json:"error,omitempty"` // ls -l: the object could not be described
}

// lsPrefixJSON is a common prefix in ls --json (PRE in the text).
type lsPrefixJSON struct {
	Bucket string `json:"bucket"`
	Prefix string `json:"prefix"`
}

// bucketJSON is a bucket in ls --json with no argument.
type bucketJSON struct {
	Bucket       string     `json:"bucket"`
	CreationDate *time.Time `json:"creation_date,omitempty"`
}

// lsPrinter prints a listing as it comes: lines, or the elements of one
// JSON array, flushed page by page.
type lsPrinter struct {
	a        *app
	w        *bufio.Writer
	bucket   string
	long     bool
	n        int // JSON elements written
	refWidth int // -l: width of the key reference column so far
}

func (a *app) newLsPrinter(bucket string, long bool) *lsPrinter {
	return &lsPrinter{a: a, w: bufio.NewWriter(a.stdout), bucket: bucket, long: long, refWidth: 1}
}

// element writes one element of the JSON array, opening it first.
func (p *lsPrinter) element(v any) error {
	b, err := json.MarshalIndent(v, "  ", "  ")
	if err != nil {
		return err
	}
	if p.n == 0 {
		p.w.WriteString("[\n  ")
	} else {
		p.w.WriteString(",\n  ")
	}
	p.n++
	_, err = p.w.Write(b)
	return err
}

// end closes the JSON array ([] if nothing was listed) and flushes. It is
// not called when the listing fails part way: the array is left open, so
// that no JSON reader takes a partial listing for a whole one.
func (p *lsPrinter) end() error {
	if p.a.json {
		if p.n == 0 {
			p.w.WriteString("[]\n")
		} else {
			p.w.WriteString("\n]\n")
		}
	}
	return p.w.Flush()
}

// page prints a page of entries, in order, and flushes them; an object
// -l could not describe is reported on stderr (exit code 1), and still
// listed as the listing gives it.
func (p *lsPrinter) page(entries []lsEntry) error {
	if p.long {
		for i := range entries {
			if r := entries[i].report; r != nil {
				p.refWidth = max(p.refWidth, utf8.RuneCountInString(orDash(r.KeyRef)))
			}
		}
	}
	for i := range entries {
		e := &entries[i]
		if e.err != nil {
			fmt.Fprintf(p.a.stderr, "s3c: %s\n", p.a.errorLine(e.err))
			p.a.exit = exitError
		}
		if p.a.json {
			if err := p.element(p.jsonOf(e)); err != nil {
				return err
			}
			continue
		}
		p.line(e)
	}
	return p.w.Flush()
}

func (p *lsPrinter) jsonOf(e *lsEntry) any {
	if e.prefix != "" {
		return lsPrefixJSON{Bucket: p.bucket, Prefix: e.prefix}
	}
	if e.report != nil {
		return e.report
	}
	lm := e.obj.lastModified
	j := lsObjectJSON{Bucket: p.bucket, Key: e.obj.key, DerivedPlaintextSize: derivedSize(e.obj.size),
		StoredSize: e.obj.size, LastModified: &lm, ETag: e.etag}
	if e.err != nil {
		j.Error = p.a.errorLine(e.err)
	}
	return j
}

// line prints an entry: date, size right-aligned in a fixed width, and
// with -l the format and key reference, left-aligned, then the key.
func (p *lsPrinter) line(e *lsEntry) {
	if e.prefix != "" {
		if p.long {
			fmt.Fprintf(p.w, "%19s %*s %-2s %-*s %s\n", "", lsSizeWidth, "PRE", "", p.refWidth, "", e.prefix)
		} else {
			fmt.Fprintf(p.w, "%19s %*s %s\n", "", lsSizeWidth, "PRE", e.prefix)
		}
		return
	}
	when := e.obj.lastModified.UTC().Format(lsDateFormat)
	if !p.long {
		fmt.Fprintf(p.w, "%s %*d %s\n", when, lsSizeWidth, derivedSize(e.obj.size), e.obj.key)
		return
	}
	size, format, ref := "?", "?", "?"
	if r := e.report; r != nil {
		if r.PlaintextSize != nil {
			size = strconv.FormatInt(*r.PlaintextSize, 10)
		}
		format = "-"
		if r.Encrypted {
			format = r.Format
		}
		ref = orDash(r.KeyRef)
	}
	fmt.Fprintf(p.w, "%s %*s %-2s %-*s %s\n", when, lsSizeWidth, size, format, p.refWidth, ref, e.obj.key)
}

// lsObjects lists bucket/prefix a page at a time, printing each page as
// it comes: memory does not grow with the listing. Instruction files and
// chunk indexes of listed objects are left out (see instructionFilesWith:
// a sibling X.instruction or X.s3c-index is checked against the keys of
// this page and the one before, else by a HEAD of X; one whose X does not
// exist is listed, so that it can be seen and removed). Without -l, no
// object is HEADed.
func (a *app) lsObjects(ctx context.Context, bucket, prefix string, o *lsOptions, out *lsPrinter) error {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return err
	}
	mc, err := a.metaClient(ctx)
	if err != nil {
		return err
	}
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix}
	if !o.recursive {
		in.Delimiter = aws.String("/")
	}
	if lsPageSize > 0 {
		in.MaxKeys = aws.Int32(lsPageSize)
	}
	// --exclude and --include match names relative to the prefix's
	// "directory": s3://b/docs/ and s3://b/docs/re both see docs/report
	// as "report".
	dir := prefix[:strings.LastIndexByte(prefix, '/')+1]
	var prev map[string]bool
	p := s3.NewListObjectsV2Paginator(sc, in)
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return listError(bucket, prefix, err)
		}
		keys := make(map[string]bool, len(page.Contents))
		objs := make([]listed, 0, len(page.Contents))
		etags := make([]string, 0, len(page.Contents))
		for _, c := range page.Contents {
			k := aws.ToString(c.Key)
			keys[k] = true
			if !o.filter.match(strings.TrimPrefix(k, dir)) {
				continue
			}
			objs = append(objs, listed{k, aws.ToInt64(c.Size), aws.ToTime(c.LastModified)})
			etags = append(etags, trimETag(c.ETag))
		}
		// X on an earlier page, or outside the prefix: a HEAD.
		exists := listedOrHeads(sc, bucket, keys, prev, func(base string) bool { return base != "" })
		hide := instructionFilesWith(ctx, sc, mc, bucket, objs, exists)
		entries := make([]lsEntry, 0, len(objs)+len(page.CommonPrefixes))
		for i, obj := range objs {
			if !hide[i] {
				entries = append(entries, lsEntry{obj: obj, etag: etags[i]})
			}
		}
		for _, cp := range page.CommonPrefixes {
			if pfx := aws.ToString(cp.Prefix); o.filter.match(strings.TrimPrefix(pfx, dir)) {
				entries = append(entries, lsEntry{prefix: pfx})
			}
		}
		slices.SortFunc(entries, func(x, y lsEntry) int { return strings.Compare(x.name(), y.name()) })
		if o.long {
			describeEntries(ctx, mc, bucket, entries, o.jobs)
		}
		if ctx.Err() != nil {
			return context.Cause(ctx)
		}
		if err := out.page(entries); err != nil {
			return err
		}
		prev = keys
	}
	return nil
}

// describeEntries HEADs the objects among entries, o.jobs at a time.
func describeEntries(ctx context.Context, mc *s3crypto.Client, bucket string, entries []lsEntry, jobs int) {
	w := newWorkers(jobs)
	for i := range entries {
		if entries[i].prefix != "" {
			continue
		}
		// Every entry is described (context.Background: under a cancelled
		// ctx, describe fails and says so in the entry).
		w.Go(context.Background(), func() {
			entries[i].report, entries[i].err = describe(ctx, mc, bucket, entries[i].obj.key)
		})
	}
	w.Wait()
}

// listError names what failed to list. A bucket that does not exist is
// an error about the bucket (exit 1); a prefix with nothing under it is
// no error at all.
func listError(bucket, prefix string, err error) error {
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "NoSuchBucket" {
		return &s3crypto.ObjectError{Op: "ListObjectsV2", Bucket: bucket, Key: prefix, Err: err}
	}
	return fmt.Errorf("listing s3://%s/%s: %w", bucket, prefix, err)
}

// lsBuckets lists the buckets: creation date and name.
func (a *app) lsBuckets(ctx context.Context) error {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return err
	}
	out := a.newLsPrinter("", false)
	p := s3.NewListBucketsPaginator(sc, &s3.ListBucketsInput{})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			out.w.Flush()
			return fmt.Errorf("listing buckets: %w", err)
		}
		for _, b := range page.Buckets {
			if a.json {
				if err := out.element(bucketJSON{Bucket: aws.ToString(b.Name), CreationDate: b.CreationDate}); err != nil {
					return err
				}
				continue
			}
			fmt.Fprintf(out.w, "%s %s\n", aws.ToTime(b.CreationDate).UTC().Format(lsDateFormat), aws.ToString(b.Name))
		}
		if err := out.w.Flush(); err != nil {
			return err
		}
	}
	return out.end()
}

func (a *app) lsCommand() *cobra.Command {
	var o lsOptions
	c := &cobra.Command{
		Use:   "ls [-r] [-l] [s3://bucket[/prefix]]",
		Short: "List buckets, or objects with their plaintext size",
		Long: `List the objects under a prefix, as S3 lists them, a page at a time:
last modified (UTC), plaintext size and key. With -r, every object under
the prefix; without, one level, with sub-prefixes shown as PRE. With no
argument, list the buckets: creation date and name.

The size is derived from the listing without reading any object: the
stored size less 16 bytes (the AES-GCM tag), which assumes the object is
encrypted, as everything s3c and AWS's V2 and V3 encryption clients write
is. An object that is not encrypted shows 16 bytes less than it holds (an
object under 16 bytes shows its own size), a legacy AES-CBC object up to
15 bytes less than its plaintext. -l (--long) sends one HEAD request per
object (--jobs at a time) and shows the exact plaintext size, the format
(V1, V2, V3, or - for objects that are not encrypted) and the master key
the object names.

Instruction files (X.instruction) and chunk indexes (X.s3c-index) of
listed objects are not listed; one whose object X does not exist is, so
that it can be seen and removed.

--exclude and --include match the key relative to the prefix's
"directory" (up to its last "/"): with s3://bucket/docs/, docs/a/b.txt is
matched as "a/b.txt"; a PRE entry as "a/".

--json prints one JSON array, element by element as the listing comes:
objects as {"bucket", "key", "derived_plaintext_size", "stored_size",
"last_modified", "etag"} (with -l: as head --json describes them, with
"plaintext_size" read from the envelope), sub-prefixes as {"bucket",
"prefix"}, buckets as {"bucket", "creation_date"}. If the listing fails
part way, the array is left unclosed.`,
		Example: `  s3c ls
  s3c ls s3://bucket/reports/
  s3c ls -r --exclude '*.tmp' s3://bucket/reports/
  s3c ls -rl s3://bucket/reports/
  s3c ls -rl --json s3://bucket | jq -r '.[] | select(.encrypted == false) | .key'`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if len(args) == 0 {
				if o.recursive || o.long || o.filter.active() {
					return usagef("-r, -l, --exclude and --include list objects: give an s3://bucket[/prefix]")
				}
				return a.lsBuckets(ctx)
			}
			loc, err := parseLocation(args[0])
			if err != nil {
				return err
			}
			if !loc.s3 {
				return usagef("%q is not an s3:// URL", args[0])
			}
			out := a.newLsPrinter(loc.bucket, o.long)
			if err := a.lsObjects(ctx, loc.bucket, loc.key, &o, out); err != nil {
				out.w.Flush()
				return err
			}
			return out.end()
		},
	}
	c.Flags().BoolVarP(&o.recursive, "recursive", "r", false, "list every object under the prefix")
	c.Flags().BoolVarP(&o.long, "long", "l", false, "HEAD each object: exact plaintext size, format and master key")
	c.Flags().IntVar(&o.jobs, "jobs", 8, "objects described at once (-l)")
	o.filter.register(c.Flags())
	a.jsonFlag(c.Flags())
	return c
}

// isIndexOf tells whether key, an object named X.s3c-index, carries the
// chunk-index marker. An unmarked one is the user's own object.
func isIndexOf(ctx context.Context, sc *s3.Client, bucket, key string) bool {
	h, err := sc.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	return err == nil && s3crypto.IsIndexObject(h.Metadata)
}
