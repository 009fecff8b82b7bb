package faultproxy

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func start(t *testing.T) (*Proxy, *atomic.Int64) {
	t.Helper()
	var puts atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			return // the request never arrived whole
		}
		if r.Method == http.MethodPut {
			puts.Add(1)
		}
		w.Write(bytes.Repeat([]byte("x"), 100000))
		w.Write(body)
	}))
	t.Cleanup(srv.Close)
	p, err := Start(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, &puts
}

func TestPassThroughAndKeepAlive(t *testing.T) {
	p, _ := start(t)
	for i := range 3 {
		resp, err := http.Post(p.URL()+"/a", "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatal(i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if len(b) != 100005 || !strings.HasSuffix(string(b), "hello") {
			t.Fatalf("request %d: %d bytes", i, len(b))
		}
	}
	if got := len(p.Requests()); got != 3 {
		t.Fatalf("%d requests seen, want 3", got)
	}
}

func TestResetResponseMatchesOneRequestOnAKeptAliveConnection(t *testing.T) {
	p, _ := start(t)
	r := p.Add(&Rule{Method: "GET", Path: "/broken", Times: 1, Kind: ResetResponse, After: 5000})
	get := func(path string) (int, error) {
		resp, err := http.Get(p.URL() + path)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		return len(b), err
	}
	if n, err := get("/fine"); err != nil || n != 100000 {
		t.Fatalf("fine: %d, %v", n, err)
	}
	if n, err := get("/broken"); err == nil {
		t.Fatalf("broken: read %d bytes without an error", n)
	}
	if n, err := get("/broken"); err != nil || n != 100000 {
		t.Fatalf("broken, second time (Times 1): %d, %v", n, err)
	}
	if r.Hits() != 1 {
		t.Fatalf("hits %d, want 1", r.Hits())
	}
}

func TestDropResponseLetsTheServerAct(t *testing.T) {
	p, puts := start(t)
	p.Add(&Rule{Method: "PUT", Kind: DropResponse})
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/k", strings.NewReader("body"))
	req.Header.Set("Expect", "100-continue")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("no error for a dropped response")
	}
	if puts.Load() != 1 {
		t.Fatalf("server saw %d PUTs, want 1", puts.Load())
	}
}

func TestResetRequest(t *testing.T) {
	p, puts := start(t)
	p.Add(&Rule{Method: "PUT", Kind: ResetRequest, After: 300})
	req, _ := http.NewRequest(http.MethodPut, p.URL()+"/k", bytes.NewReader(make([]byte, 1<<20)))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Fatal("no error")
	}
	if puts.Load() != 0 {
		t.Fatalf("server completed %d PUTs", puts.Load())
	}
}

func TestStallHoldsUntilTimeoutOrRelease(t *testing.T) {
	p, _ := start(t)
	r := p.Add(&Rule{Kind: StallResponse, After: 10})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/s", nil)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want the deadline", err)
	}
	if time.Since(start) < 150*time.Millisecond {
		t.Fatal("returned before the deadline")
	}
	r.Release()
}
