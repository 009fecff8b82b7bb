package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress draws transfer bars on stderr when it is a terminal and
// --quiet is not given; otherwise every method does nothing.
type progress struct {
	p     *mpb.Progress
	total *mpb.Bar // for several objects

	mu         sync.Mutex
	totalBytes int64 // the total bar's total: sizes known, estimates for the others
}

func (a *app) newProgress(totalBytes int64, objects int) *progress {
	f, ok := a.stderr.(*os.File)
	if a.quiet || !ok || !term.IsTerminal(int(f.Fd())) {
		return &progress{}
	}
	pr := &progress{p: mpb.New(mpb.WithOutput(f), mpb.WithWidth(32), mpb.WithRefreshRate(150*time.Millisecond))}
	if objects > 1 {
		// Made with total 0, so that its total can still be corrected.
		pr.total = pr.p.New(0, mpb.BarStyle(), mpb.BarPriority(1<<30),
			mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR), counters()),
			mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace), eta()))
		pr.totalBytes = totalBytes
		pr.total.SetTotal(totalBytes, false)
	}
	return pr
}

// counters shows the bytes done of the total, or only the bytes done
// while the total is unknown (a stream from stdin).
func counters() decor.Decorator {
	return decor.Any(func(s decor.Statistics) string {
		if s.Total <= 0 && !s.Completed {
			return fmt.Sprintf("% .1f", decor.SizeB1024(s.Current))
		}
		return fmt.Sprintf("% .1f / % .1f", decor.SizeB1024(s.Current), decor.SizeB1024(s.Total))
	})
}

// eta shows the estimated time left, once the total is known.
func eta() decor.Decorator {
	avg := decor.AverageETA(decor.ET_STYLE_GO)
	return decor.Any(func(s decor.Statistics) string {
		if s.Total <= 0 && !s.Completed {
			return ""
		}
		str, _ := avg.Decor(s)
		return " ETA " + str
	})
}

// bar is one object's progress.
type bar struct {
	pr  *progress
	b   *mpb.Bar
	mu  sync.Mutex
	est int64 // what the total bar counts for this object
}

// start begins a bar for an object of size bytes, or of an estimated
// size (the total bar counts it) until setTotal gives the real one; -1
// if unknown.
func (pr *progress) start(name string, size int64) *bar {
	if pr.p == nil {
		return &bar{}
	}
	// Made with total 0, so that setTotal can set it later; done
	// completes it.
	b := pr.p.New(0, mpb.BarStyle(), mpb.BarRemoveOnComplete(),
		mpb.PrependDecorators(decor.Name(shorten(name, 40), decor.WCSyncSpaceR), counters()),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace), eta()))
	if size > 0 {
		b.SetTotal(size, false)
	}
	return &bar{pr: pr, b: b, est: max(size, 0)}
}

// live reports whether the bar is drawn.
func (b *bar) live() bool { return b.b != nil }

// setTotal sets the object's size once it is known (n < 0: unknown),
// and corrects the total bar's estimate.
func (b *bar) setTotal(n int64) {
	if b.b == nil || n < 0 {
		return
	}
	b.b.SetTotal(n, false)
	b.mu.Lock()
	delta := n - b.est
	b.est = n
	b.mu.Unlock()
	if pr := b.pr; pr.total != nil && delta != 0 {
		pr.mu.Lock()
		pr.totalBytes += delta
		pr.total.SetTotal(pr.totalBytes, false)
		pr.mu.Unlock()
	}
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return "…" + s[len(s)-n+1:]
}

// add counts n bytes done.
func (b *bar) add(n int) {
	if b.b == nil || n <= 0 {
		return
	}
	b.b.IncrBy(n)
	if b.pr.total != nil {
		b.pr.total.IncrBy(n)
	}
}

// done ends the bar.
func (b *bar) done() {
	if b.b != nil {
		b.b.SetTotal(-1, true)
	}
}

func (pr *progress) wait() {
	if pr.p == nil {
		return
	}
	if pr.total != nil {
		pr.total.SetTotal(-1, true)
	}
	pr.p.Wait()
}

// reader counts what is read through it. A file stays a file (an
// io.ReaderAt and io.Seeker), so that the Uploader still encrypts its
// parts concurrently, straight from it. A file's bytes are counted once
// each, however often they are read: the SDK reads a part twice (once to
// hash or checksum it, once to send it), and a retry reads it again.
func (b *bar) reader(r io.Reader) io.Reader {
	if b.b == nil {
		return r
	}
	if f, ok := r.(readSeekerAt); ok {
		pos, err := f.Seek(0, io.SeekCurrent)
		if err != nil {
			pos = 0
		}
		return &countingFile{f: f, b: b, pos: pos}
	}
	return &countingReader{r, b}
}

type readSeekerAt interface {
	io.ReadSeeker
	io.ReaderAt
}

// countingFile counts the bytes of a file read through it, each once.
type countingFile struct {
	f readSeekerAt
	b *bar

	mu   sync.Mutex
	pos  int64   // the offset of Read
	seen extents // the bytes counted
}

func (c *countingFile) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	c.mu.Lock()
	off := c.pos
	c.pos += int64(n)
	c.mu.Unlock()
	c.count(off, n)
	return n, err
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.count(off, n)
	return n, err
}

func (c *countingFile) Seek(off int64, whence int) (int64, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	pos, err := c.f.Seek(off, whence)
	if err == nil {
		c.pos = pos
	}
	return pos, err
}

// count adds the bytes [off, off+n) not counted before.
func (c *countingFile) count(off int64, n int) {
	if n <= 0 {
		return
	}
	c.mu.Lock()
	added := c.seen.add(off, off+int64(n))
	c.mu.Unlock()
	c.b.add(int(added))
}

// extents is a set of byte ranges [start, end), sorted and disjoint.
type extents [][2]int64

// add puts [start, end) into the set and returns how many of its bytes
// were not in it.
func (e *extents) add(start, end int64) int64 {
	s := *e
	i := sort.Search(len(s), func(i int) bool { return s[i][1] >= start })
	j := i
	covered := int64(0)
	lo, hi := start, end
	for ; j < len(s) && s[j][0] <= end; j++ {
		covered += min(s[j][1], end) - max(s[j][0], start)
		lo, hi = min(lo, s[j][0]), max(hi, s[j][1])
	}
	*e = slices.Replace(s, i, j, [2]int64{lo, hi})
	return end - start - covered
}

type countingReader struct {
	r io.Reader
	b *bar
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.b.add(n)
	return n, err
}

// writerAt counts what is written through it.
func (b *bar) writerAt(w io.WriterAt) io.WriterAt {
	if b.b == nil {
		return w
	}
	return &countingWriterAt{w, b}
}

type countingWriterAt struct {
	w io.WriterAt
	b *bar
}

func (c *countingWriterAt) WriteAt(p []byte, off int64) (int, error) {
	n, err := c.w.WriteAt(p, off)
	c.b.add(n)
	return n, err
}

// writer counts what is written through it.
func (b *bar) writer(w io.Writer) io.Writer {
	if b.b == nil {
		return w
	}
	return &countingWriter{w, b}
}

type countingWriter struct {
	w io.Writer
	b *bar
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.b.add(n)
	return n, err
}
