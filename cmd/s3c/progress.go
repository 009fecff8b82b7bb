package main

import (
	"io"
	"os"
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
			mpb.PrependDecorators(decor.Name("total", decor.WCSyncSpaceR), decor.CountersKibiByte("% .1f / % .1f")),
			mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
		pr.totalBytes = totalBytes
		pr.total.SetTotal(totalBytes, false)
	}
	return pr
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
		mpb.PrependDecorators(decor.Name(shorten(name, 40), decor.WCSyncSpaceR), decor.CountersKibiByte("% .1f / % .1f")),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace), decor.Name(" ETA "), decor.AverageETA(decor.ET_STYLE_GO)))
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
// parts concurrently, straight from it.
func (b *bar) reader(r io.Reader) io.Reader {
	if b.b == nil {
		return r
	}
	if f, ok := r.(readSeekerAt); ok {
		return &countingFile{countingReader{f, b}, f}
	}
	return &countingReader{r, b}
}

type readSeekerAt interface {
	io.ReadSeeker
	io.ReaderAt
}

type countingFile struct {
	countingReader
	f readSeekerAt
}

func (c *countingFile) ReadAt(p []byte, off int64) (int, error) {
	n, err := c.f.ReadAt(p, off)
	c.b.add(n)
	return n, err
}

func (c *countingFile) Seek(off int64, whence int) (int64, error) { return c.f.Seek(off, whence) }

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
