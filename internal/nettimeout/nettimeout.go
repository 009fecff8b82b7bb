// Package nettimeout gives HTTP transports the timeouts every S3 and KMS
// call needs, so that a stalled connection fails (and is retried by the
// AWS SDK) instead of hanging: a connect timeout, a first-byte timeout
// (from the request sent to the response's headers), and an idle timeout
// on every read and write of the connection, which a slow transfer that
// makes progress never trips.
//
// Timeout errors are net.Error values whose Timeout and Temporary methods
// return true: aws-sdk-go-v2's retryer (retry.RetryableConnectionError)
// retries them, and so does s3crypto's resuming of a broken body.
package nettimeout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Defaults for the zero Timeouts.
const (
	DefaultConnect   = 10 * time.Second
	DefaultFirstByte = 60 * time.Second
	DefaultIdle      = 60 * time.Second
)

// Timeouts are the limits of one transport. Zero means the default, a
// negative value no limit.
type Timeouts struct {
	// Connect bounds establishing a TCP connection.
	Connect time.Duration
	// FirstByte bounds the wait for a response's headers once the request
	// has been sent.
	FirstByte time.Duration
	// Idle bounds every wait for a read or a write on a connection to
	// make progress.
	Idle time.Duration
}

func pick(d, def time.Duration) time.Duration {
	switch {
	case d == 0:
		return def
	case d < 0:
		return 0
	}
	return d
}

// Resolved returns t with defaults filled in and disabled limits as 0.
func (t Timeouts) Resolved() Timeouts {
	return Timeouts{pick(t.Connect, DefaultConnect), pick(t.FirstByte, DefaultFirstByte), pick(t.Idle, DefaultIdle)}
}

// Apply sets tr's dialer and response-header timeout from t. It replaces
// tr.DialContext.
func Apply(tr *http.Transport, t Timeouts) {
	t = t.Resolved()
	d := &net.Dialer{Timeout: t.Connect, KeepAlive: 30 * time.Second}
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil || t.Idle <= 0 {
			return c, err
		}
		return &idleConn{Conn: c, idle: t.Idle, firstByte: t.FirstByte}, nil
	}
	tr.ResponseHeaderTimeout = t.FirstByte
}

// Transport returns a clone of http.DefaultTransport with t applied.
func Transport(t Timeouts) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	Apply(tr, t)
	return tr
}

// idleConn sets a deadline of now+idle before each Read and Write.
//
// The HTTP transport keeps a Read pending on every connection, also while
// it sends a request and while the answer may take up to the first-byte
// timeout (which the transport enforces) to begin. So from a Write until
// the next byte received, Reads get idle+firstByte instead; and a Write
// extends the Read pending meanwhile.
type idleConn struct {
	net.Conn
	idle, firstByte time.Duration
	awaiting        atomic.Bool // sent something, received nothing since
}

// answerDeadline is the read deadline while an answer is awaited.
func (c *idleConn) answerDeadline(now time.Time) time.Time {
	if c.firstByte <= 0 {
		return time.Time{} // no first-byte limit: none meanwhile
	}
	return now.Add(c.idle + c.firstByte)
}

func (c *idleConn) Read(p []byte) (int, error) {
	now := time.Now()
	deadline := now.Add(c.idle)
	if c.awaiting.Load() {
		deadline = c.answerDeadline(now)
	}
	if err := c.Conn.SetReadDeadline(deadline); err != nil {
		return 0, err
	}
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.awaiting.Store(false)
	}
	return n, c.check("receive", err)
}

func (c *idleConn) Write(p []byte) (int, error) {
	c.awaiting.Store(true)
	now := time.Now()
	if err := c.Conn.SetWriteDeadline(now.Add(c.idle)); err != nil {
		return 0, err
	}
	if err := c.Conn.SetReadDeadline(c.answerDeadline(now)); err != nil {
		return 0, err
	}
	n, err := c.Conn.Write(p)
	return n, c.check("send", err)
}

func (c *idleConn) check(op string, err error) error {
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		return &Error{Op: op, Idle: c.idle, Err: err}
	}
	return err
}

// Error is an idle timeout: a connection made no progress for Idle.
type Error struct {
	Op   string // "receive" or "send"
	Idle time.Duration
	Err  error // the underlying *net.OpError
}

func (e *Error) Error() string {
	if e.Op == "send" {
		return fmt.Sprintf("could not send anything for %v (idle timeout)", e.Idle)
	}
	return fmt.Sprintf("nothing received for %v (idle timeout)", e.Idle)
}

// Unwrap returns the underlying error.
func (e *Error) Unwrap() error { return e.Err }

// Timeout reports true: the error is a timeout.
func (e *Error) Timeout() bool { return true }

// Temporary reports true: a new connection may do better.
func (e *Error) Temporary() bool { return true }
