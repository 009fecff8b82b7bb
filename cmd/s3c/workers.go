package main

import (
	"context"
	"sync"
)

// workers runs functions on at most n goroutines that live until Wait:
// the bounded parallelism of cp -r, sync, rm -r, ls and the bulk
// commands. A goroutine per object would start with a small stack and
// grow it again through the SDK's deep middleware for every object
// (runtime.morestack was ~15% of the CPU of a cp -r of small files); a
// worker grows it once.
type workers struct {
	n       int
	started int
	work    chan func()
	wg      sync.WaitGroup
}

func newWorkers(n int) *workers {
	return &workers{n: max(n, 1), work: make(chan func())}
}

// Go runs f on a worker, waiting until one is free. It reports false,
// and does not run f, if ctx is done first. Go and Wait are called from
// one goroutine.
func (w *workers) Go(ctx context.Context, f func()) bool {
	if ctx.Err() != nil {
		return false
	}
	if w.started < w.n {
		w.started++
		w.wg.Add(1)
		go func() {
			defer w.wg.Done()
			f()
			for f := range w.work {
				f()
			}
		}()
		return true
	}
	select {
	case w.work <- f:
		return true
	case <-ctx.Done():
		return false
	}
}

// Wait waits for every function started to return. The workers are done
// after it.
func (w *workers) Wait() {
	close(w.work)
	w.wg.Wait()
}
