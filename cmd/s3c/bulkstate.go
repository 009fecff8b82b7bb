package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// lowWater tracks the input's low-water mark: the last item such that
// it and every item before it are finished. Items are issued in input
// order; at most --jobs are pending at once, so the state is small.
type lowWater struct {
	mu      sync.Mutex
	last    bulkItem           // the last item issued or skipped
	pending map[int64]bulkItem // issued, not finished → the item before it
}

// skip records an item that needs no work (another shard's).
func (l *lowWater) skip(it bulkItem) {
	l.mu.Lock()
	l.last = it
	l.mu.Unlock()
}

func (l *lowWater) issue(it bulkItem) {
	l.mu.Lock()
	if l.pending == nil {
		l.pending = map[int64]bulkItem{}
	}
	l.pending[it.seq] = l.last
	l.last = it
	l.mu.Unlock()
}

func (l *lowWater) finish(it bulkItem) {
	l.mu.Lock()
	delete(l.pending, it.seq)
	l.mu.Unlock()
}

// mark is the low-water item (seq 0: none yet).
func (l *lowWater) mark() bulkItem {
	l.mu.Lock()
	defer l.mu.Unlock()
	m := l.last
	first := int64(-1)
	for seq, before := range l.pending {
		if first < 0 || seq < first {
			first, m = seq, before
		}
	}
	return m
}

// checkpointState is what a checkpoint records. A run refuses a
// checkpoint made by another command, for another input or shard.
type checkpointState struct {
	Command  string    `json:"command"`
	Input    string    `json:"input"`           // s3://bucket/prefix or manifest:REF
	Shard    string    `json:"shard,omitempty"` // I/N
	After    string    `json:"after"`           // listing: every key up to it is done
	Row      int64     `json:"row"`             // manifest: every row up to it is done
	Complete bool      `json:"complete"`
	Updated  time.Time `json:"updated"`
}

// checkpoint is a run's --checkpoint.
type checkpoint struct {
	ref      string
	state    checkpointState
	resumed  bool // read from an earlier run
	manifest bool
	mu       sync.Mutex
}

// openCheckpoint reads the checkpoint, if --checkpoint is given and it
// exists, and checks that it was made for this command, input and shard.
func (a *app) openCheckpoint(ctx context.Context, b *bulkFlags, verb string, in *bulkInput) (*checkpoint, error) {
	if b.ckp == "" {
		return nil, nil
	}
	want := checkpointState{Command: verb}
	if b.manifest != "" {
		want.Input = "manifest:" + b.manifest
	} else {
		want.Input = "s3://" + in.loc.bucket + "/" + in.prefix
	}
	if in.shard.n != 0 {
		want.Shard = fmt.Sprintf("%d/%d", in.shard.i, in.shard.n)
	}
	cp := &checkpoint{ref: b.ckp, state: want, manifest: b.manifest != ""}
	data, err := a.readRef(ctx, b.ckp)
	if errors.Is(err, os.ErrNotExist) {
		return cp, nil
	}
	if err != nil {
		return nil, fmt.Errorf("--checkpoint %s: %w", b.ckp, err)
	}
	var got checkpointState
	if err := json.Unmarshal(data, &got); err != nil {
		return nil, fmt.Errorf("--checkpoint %s: not a checkpoint (%v)", b.ckp, err)
	}
	if got.Command != want.Command || got.Input != want.Input || got.Shard != want.Shard {
		return nil, usagef("--checkpoint %s was made by %q over %s%s; this run is %q over %s%s: give another checkpoint",
			b.ckp, got.Command, got.Input, shardNote(got.Shard), want.Command, want.Input, shardNote(want.Shard))
	}
	cp.state, cp.resumed = got, true
	return cp, nil
}

func shardNote(s string) string {
	if s == "" {
		return ""
	}
	return " shard " + s
}

func (c *checkpoint) complete() bool { return c != nil && c.resumed && c.state.Complete }

// save writes the low-water mark; complete once the whole input is done.
func (c *checkpoint) save(ctx context.Context, a *app, lw *lowWater, complete bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	m := lw.mark()
	if m.seq != 0 {
		if c.manifest {
			c.state.Row = m.seq
		} else {
			c.state.After = m.key
		}
	}
	c.state.Complete = complete
	c.state.Updated = time.Now().UTC()
	data, err := json.Marshal(c.state)
	if err != nil {
		return err
	}
	if err := a.writeRef(context.WithoutCancel(ctx), c.ref, append(data, '\n')); err != nil {
		return fmt.Errorf("--checkpoint %s: %w", c.ref, err)
	}
	return nil
}

// saveEvery saves the checkpoint every interval until stop.
func (c *checkpoint) saveEvery(ctx context.Context, a *app, every time.Duration, lw *lowWater) (stop func()) {
	if c == nil || every <= 0 {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		warned := false
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				if err := c.save(ctx, a, lw, false); err != nil && !warned {
					fmt.Fprintf(a.stderr, "s3c: warning: %s\n", oneLine(err))
					warned = true
				}
			}
		}
	}()
	return func() {
		close(done)
		wg.Wait()
	}
}

// refTimeout bounds reading or writing a checkpoint or manifest object's
// single request.
const refTimeout = time.Minute

// readRef reads a local file or a (small) s3:// object; a missing one is
// os.ErrNotExist.
func (a *app) readRef(ctx context.Context, ref string) ([]byte, error) {
	r, err := a.openRef(ctx, ref)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(io.LimitReader(r, 1<<20))
}

// openRef opens a local file or an s3:// object for reading.
func (a *app) openRef(ctx context.Context, ref string) (io.ReadCloser, error) {
	loc, err := parseLocation(ref)
	if err != nil {
		return nil, err
	}
	if !loc.s3 {
		return os.Open(ref)
	}
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: &loc.bucket, Key: &loc.key})
	var ae smithy.APIError
	if errors.As(err, &ae) && (ae.ErrorCode() == "NoSuchKey" || ae.ErrorCode() == "NotFound") {
		return nil, fmt.Errorf("%s: %w", ref, os.ErrNotExist)
	}
	if err != nil {
		return nil, err
	}
	return out.Body, nil
}

// writeRef replaces a local file (atomically: a temporary file renamed
// over it) or an s3:// object.
func (a *app) writeRef(ctx context.Context, ref string, data []byte) error {
	loc, err := parseLocation(ref)
	if err != nil {
		return err
	}
	if !loc.s3 {
		f, err := os.CreateTemp(filepath.Dir(ref), "."+filepath.Base(ref)+".*")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name())
		if _, err := f.Write(data); err != nil {
			f.Close()
			return err
		}
		if err := f.Close(); err != nil {
			return err
		}
		return os.Rename(f.Name(), ref)
	}
	sc, err := a.s3Client(ctx)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, refTimeout)
	defer cancel()
	_, err = sc.PutObject(ctx, &s3.PutObjectInput{Bucket: &loc.bucket, Key: &loc.key, Body: bytes.NewReader(data)})
	return err
}

// bulkReport is --report: one CSV line per object, as it finishes.
type bulkReport struct {
	mu  sync.Mutex
	f   *os.File
	w   *csv.Writer
	err error
}

// openReport creates the report (or appends to it, for a run resumed
// from a checkpoint); nil without --report.
func openReport(path string, appendTo bool) (*bulkReport, error) {
	if path == "" {
		return nil, nil
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	if appendTo {
		flags = os.O_WRONLY | os.O_CREATE | os.O_APPEND
	}
	f, err := os.OpenFile(path, flags, 0o666)
	if err != nil {
		return nil, fmt.Errorf("--report: %w", err)
	}
	return &bulkReport{f: f, w: csv.NewWriter(f)}, nil
}

func (r *bulkReport) line(it bulkItem, result, reason string) {
	if r == nil {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return
	}
	r.w.Write([]string{it.bucket, it.key, result, reason})
	r.w.Flush()
	r.err = r.w.Error()
}

func (r *bulkReport) close() error {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.f == nil {
		return r.err
	}
	if err := r.f.Close(); err != nil && r.err == nil {
		r.err = err
	}
	r.f = nil
	return r.err
}

// pacer is --rate: a token bucket of one token, filled rate times a
// second. Used by the one goroutine that starts objects.
type pacer struct {
	every time.Duration
	next  time.Time
}

func newPacer(rate float64) *pacer {
	if rate <= 0 {
		return nil
	}
	return &pacer{every: time.Duration(float64(time.Second) / rate)}
}

// wait returns when the next object may start.
func (p *pacer) wait(ctx context.Context) error {
	if p == nil {
		return ctx.Err()
	}
	now := time.Now()
	if p.next.Before(now) {
		p.next = now
	}
	d := p.next.Sub(now)
	p.next = p.next.Add(p.every)
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return context.Cause(ctx)
	case <-t.C:
		return nil
	}
}

// Retries of a throttled object, on top of the SDK's own (3 attempts per
// request, backing off up to 20 s, within its retry quota): the whole
// object's operation again, after 1 s, 2 s, 4 s, … (at most
// bulkMaxBackoff, with full jitter), bulkRetries times.
const (
	bulkRetries    = 5
	bulkMaxBackoff = 30 * time.Second
)

// bulkBackoff is the wait before retry n (from 0); a variable for tests.
var bulkBackoff = bulkBackoffDefault

func bulkBackoffDefault(n int) time.Duration {
	d := min(time.Second<<n, bulkMaxBackoff)
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// retryThrottled runs do until it succeeds, fails otherwise than by
// throttling, or bulkRetries retries are spent.
func retryThrottled(ctx context.Context, do func() bulkOutcome) bulkOutcome {
	for n := 0; ; n++ {
		o := do()
		if o.err == nil || n >= bulkRetries || !isThrottled(o.err) {
			return o
		}
		t := time.NewTimer(bulkBackoff(n))
		select {
		case <-ctx.Done():
			t.Stop()
			return o
		case <-t.C:
		}
	}
}

// isThrottled tells a throttling error from S3 (503 SlowDown) or KMS
// (ThrottlingException), or the SDK's retry quota running out.
func isThrottled(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		if _, ok := retry.DefaultThrottleErrorCodes[ae.ErrorCode()]; ok {
			return true
		}
	}
	var qe ratelimit.QuotaExceededError
	if errors.As(err, &qe) {
		return true
	}
	// Any HTTP response error (the SDK's wraps smithy's): 503 Service
	// Unavailable without a code.
	var re interface{ HTTPStatusCode() int }
	return errors.As(err, &re) && re.HTTPStatusCode() == 503
}
