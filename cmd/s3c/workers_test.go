package main

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestWorkersBoundAndReuse(t *testing.T) {
	w := newWorkers(3)
	var running, peak, done atomic.Int32
	for range 50 {
		if !w.Go(context.Background(), func() {
			n := running.Add(1)
			for {
				p := peak.Load()
				if n <= p || peak.CompareAndSwap(p, n) {
					break
				}
			}
			time.Sleep(time.Millisecond)
			running.Add(-1)
			done.Add(1)
		}) {
			t.Fatal("Go refused with a live context")
		}
	}
	w.Wait()
	if done.Load() != 50 {
		t.Errorf("%d of 50 functions ran", done.Load())
	}
	if peak.Load() > 3 {
		t.Errorf("%d ran at once, want at most 3", peak.Load())
	}
	if w.started != 3 {
		t.Errorf("%d goroutines started for 50 functions, want 3", w.started)
	}
}

func TestWorkersStopWithContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := newWorkers(1)
	release := make(chan struct{})
	var ran atomic.Int32
	w.Go(ctx, func() { <-release; ran.Add(1) })
	refused := make(chan bool)
	go func() { refused <- !w.Go(ctx, func() { ran.Add(1) }) }() // waits: the one worker is busy
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case r := <-refused:
		if !r {
			t.Fatal("Go ran a function after its context was cancelled while waiting")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Go kept waiting for a worker after its context was cancelled")
	}
	if w.Go(ctx, func() { ran.Add(1) }) {
		t.Fatal("Go accepted a function with a cancelled context")
	}
	close(release)
	w.Wait()
	if ran.Load() != 1 {
		t.Errorf("%d functions ran, want only the one started before the cancel", ran.Load())
	}
}
