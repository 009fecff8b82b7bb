package nettimeout

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
)

// bound fails the test if f has not returned within d: the timeouts, not
// the test's own limit, must end a stalled exchange.
func bound(t *testing.T, d time.Duration, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(d):
		t.Fatalf("still running after %v", d)
	}
}

// retryable says whether the AWS SDK's standard retryer retries err.
func retryable(err error) bool {
	return retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err) == aws.TrueTernary
}

func client(t Timeouts) *http.Client { return &http.Client{Transport: Transport(t)} }

func TestResolved(t *testing.T) {
	got := Timeouts{Connect: -1, FirstByte: 0, Idle: 3 * time.Second}.Resolved()
	if got != (Timeouts{0, DefaultFirstByte, 3 * time.Second}) {
		t.Fatalf("Resolved: %+v", got)
	}
}

// A body that stops mid-way fails after the idle timeout, with a
// timeout error the SDK's retryer retries.
func TestIdleRead(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		w.Write(make([]byte, 100))
		w.(http.Flusher).Flush()
		<-release
	}))
	defer srv.Close()
	defer close(release)
	bound(t, 5*time.Second, func() {
		resp, err := client(Timeouts{Idle: 300 * time.Millisecond}).Get(srv.URL)
		if err != nil {
			t.Error(err)
			return
		}
		defer resp.Body.Close()
		_, err = io.ReadAll(resp.Body)
		var ne net.Error
		var te *Error
		if !errors.As(err, &ne) || !ne.Timeout() || !errors.As(err, &te) || !retryable(err) {
			t.Errorf("got %v, want a retryable idle timeout", err)
		}
		if !strings.Contains(err.Error(), "nothing received for 300ms (idle timeout)") {
			t.Errorf("unclear error %q", err)
		}
	})
}

// No answer at all: the first-byte timeout.
func TestFirstByte(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	bound(t, 5*time.Second, func() {
		_, err := client(Timeouts{FirstByte: 300 * time.Millisecond, Idle: time.Hour}).Get(srv.URL)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !retryable(err) {
			t.Errorf("got %v, want a retryable timeout", err)
		}
	})
}

// A server that stops reading the request body: the idle timeout on
// writes.
func TestIdleWrite(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer srv.Close()
	defer close(release)
	bound(t, 10*time.Second, func() {
		body := bytes.NewReader(make([]byte, 64<<20))
		_, err := client(Timeouts{Idle: 300 * time.Millisecond, FirstByte: time.Hour}).Post(srv.URL, "application/octet-stream", body)
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !retryable(err) || !strings.Contains(err.Error(), "could not send anything for 300ms (idle timeout)") {
			t.Errorf("got %v, want a retryable idle timeout", err)
		}
	})
}

// Slow transfers that keep making progress, and connections reused after
// idling in the pool, do not time out.
func TestProgressIsNotIdle(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		for range 6 {
			w.Write([]byte("x"))
			w.(http.Flusher).Flush()
			time.Sleep(50 * time.Millisecond)
		}
	}))
	defer srv.Close()
	// Gaps of 50 ms against a 1 s timeout: a loaded machine's scheduling
	// delays must not read as idleness.
	c := client(Timeouts{Idle: time.Second, FirstByte: time.Second})
	for i := range 4 {
		resp, err := c.Post(srv.URL, "text/plain", strings.NewReader("hello"))
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || string(b) != "xxxxxx" {
			t.Fatalf("request %d: %q, %v", i, b, err)
		}
		time.Sleep(time.Duration(i) * 400 * time.Millisecond) // idle in the pool, up to past the timeout
	}
}
