// Package faultproxy is a TCP proxy for tests that sits in front of an
// HTTP/1.1 server (the test MinIO, the KMS test server) on 127.0.0.1 and
// breaks chosen exchanges the way networks do: a connection reset after
// some bytes of the request or of the response, a response that never
// arrives although the server acted on the request, or a stall that keeps
// the connection open and sends nothing more.
//
// Bytes pass through untouched (signatures stay valid). The proxy reads
// just enough of the client's side to find where each request starts, so
// a Rule matches requests, not connections, keep-alive or not. Clients do
// not pipeline, so the response bytes after a request belong to it.
package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// Kind is what a fault does.
type Kind int

const (
	// ResetRequest forwards After bytes of the request (head and body)
	// to the server, then resets both connections.
	ResetRequest Kind = iota + 1
	// ResetResponse forwards After bytes of the response to the client,
	// then resets both connections.
	ResetResponse
	// DropResponse forwards the whole request, lets the server answer,
	// and resets the client's connection as the answer begins: the
	// server acted, the client never hears of it.
	DropResponse
	// StallRequest forwards After bytes of the request, then nothing
	// more, holding both connections open until the proxy is closed or
	// the rule's Release is called.
	StallRequest
	// StallResponse forwards After bytes of the response, then stalls
	// likewise.
	StallResponse
)

func (k Kind) String() string {
	switch k {
	case ResetRequest:
		return "reset-request"
	case ResetResponse:
		return "reset-response"
	case DropResponse:
		return "drop-response"
	case StallRequest:
		return "stall-request"
	case StallResponse:
		return "stall-response"
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Rule breaks the requests it matches.
type Rule struct {
	// Method matches the request method ("" any).
	Method string
	// Path matches when the request target (path and query, as sent)
	// contains it ("" any).
	Path string
	// Match, if set, must also return true: it sees the method and the
	// request target.
	Match func(method, target string) bool
	// Times is how many matching requests are broken; 0 means all.
	Times int
	// Kind and After say what happens to them.
	Kind  Kind
	After int64

	hits    atomic.Int64
	release chan struct{}
	once    sync.Once
	hit     chan struct{} // closed at the first hit
	hitOnce sync.Once
}

// Hits returns how many requests the rule has broken so far.
func (r *Rule) Hits() int { return int(r.hits.Load()) }

// Hit returns a channel that is closed when the rule first breaks a
// request: a test can wait for the fault to be under way.
func (r *Rule) Hit() <-chan struct{} { return r.hit }

// Release ends the stalls of this rule: their connections are reset.
func (r *Rule) Release() { r.once.Do(func() { close(r.release) }) }

func (r *Rule) matches(method, target string) bool {
	if r.Method != "" && !strings.EqualFold(r.Method, method) {
		return false
	}
	if r.Path != "" && !strings.Contains(target, r.Path) {
		return false
	}
	return r.Match == nil || r.Match(method, target)
}

// Proxy forwards 127.0.0.1 connections to one target address.
type Proxy struct {
	ln     net.Listener
	target string
	closed chan struct{}

	mu    sync.Mutex
	rules []*Rule
	conns map[net.Conn]struct{}
	log   []string // "METHOD target" of every request seen
	wg    sync.WaitGroup
}

// Start listens on a free 127.0.0.1 port and forwards to target, given
// as host:port or as a URL (http://127.0.0.1:9000).
func Start(target string) (*Proxy, error) {
	if u, err := url.Parse(target); err == nil && u.Host != "" {
		target = u.Host
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{ln: ln, target: target, closed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URL is http:// and the proxy's address: the endpoint to give clients.
func (p *Proxy) URL() string { return "http://" + p.Addr() }

// Add installs a rule and returns it, to read its Hits later. Rules are
// tried in the order added; the first that matches a request applies.
func (p *Proxy) Add(r *Rule) *Rule {
	if r.Kind < ResetRequest || r.Kind > StallResponse {
		panic(fmt.Sprintf("faultproxy: rule with kind %v", r.Kind))
	}
	r.release, r.hit = make(chan struct{}), make(chan struct{})
	p.mu.Lock()
	p.rules = append(p.rules, r)
	p.mu.Unlock()
	return r
}

// Clear removes every rule and releases their stalls.
func (p *Proxy) Clear() {
	p.mu.Lock()
	rules := p.rules
	p.rules = nil
	p.mu.Unlock()
	for _, r := range rules {
		r.Release()
	}
}

// Requests returns "METHOD target" for every request seen so far.
func (p *Proxy) Requests() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.log...)
}

// Close stops listening, resets every connection and waits for the
// proxy's goroutines.
func (p *Proxy) Close() {
	select {
	case <-p.closed:
		return
	default:
	}
	close(p.closed)
	p.ln.Close()
	p.Clear()
	p.mu.Lock()
	for c := range p.conns {
		reset(c)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.wg.Add(1)
		go p.handle(c)
	}
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	select {
	case <-p.closed:
		return false
	default:
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
}

// pick finds the rule for a request, counting the hit.
func (p *Proxy) pick(method, target string) *Rule {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.log = append(p.log, method+" "+target)
	for _, r := range p.rules {
		if !r.matches(method, target) {
			continue
		}
		if r.Times > 0 && r.hits.Load() >= int64(r.Times) {
			continue
		}
		r.hits.Add(1)
		r.hitOnce.Do(func() { close(r.hit) })
		return r
	}
	return nil
}

// exchange is the request in flight on a connection and its fault.
type exchange struct {
	rule *Rule
	sent atomic.Int64 // response bytes forwarded
}

func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func (p *Proxy) handle(client net.Conn) {
	defer p.wg.Done()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		reset(client)
		return
	}
	if !p.track(client) || !p.track(server) {
		reset(client)
		reset(server)
		return
	}
	defer p.untrack(client)
	defer p.untrack(server)
	var cur atomic.Pointer[exchange]
	var kill sync.Once
	resetBoth := func() { kill.Do(func() { reset(client); reset(server) }) }
	stall := func(r *Rule) {
		select {
		case <-r.release:
		case <-p.closed:
		}
		resetBoth()
	}
	done := make(chan struct{})
	go func() { // server → client
		defer close(done)
		buf := make([]byte, 32<<10)
		for {
			n, err := server.Read(buf)
			if n > 0 {
				chunk := buf[:n]
				ex := cur.Load()
				if ex != nil && ex.rule != nil {
					r := ex.rule
					switch r.Kind {
					case DropResponse:
						// An interim answer (100 Continue) goes through:
						// the request is only then sent whole.
						if i := bytes.Index(chunk, []byte("\r\n\r\n")); bytes.HasPrefix(chunk, []byte("HTTP/1.1 1")) && i >= 0 {
							if _, werr := client.Write(chunk[:i+4]); werr != nil {
								resetBoth()
								return
							}
							if rest := chunk[i+4:]; len(rest) == 0 {
								continue
							}
						}
						resetBoth()
						return
					case ResetResponse, StallResponse:
						left := r.After - ex.sent.Load()
						if int64(len(chunk)) >= left {
							client.Write(chunk[:max(left, 0)])
							ex.sent.Add(max(left, 0))
							if r.Kind == StallResponse {
								stall(r)
							} else {
								resetBoth()
							}
							return
						}
					}
					ex.sent.Add(int64(len(chunk)))
				}
				if _, werr := client.Write(chunk); werr != nil {
					resetBoth()
					return
				}
			}
			if err != nil {
				// The server closed: let the client see the end.
				if tc, ok := client.(*net.TCPConn); ok {
					tc.CloseWrite()
				}
				return
			}
		}
	}()
	// client → server: find each request's head and body.
	br := bufio.NewReaderSize(client, 32<<10)
	for {
		head, method, target, framing, err := readHead(br)
		if err != nil {
			break
		}
		r := p.pick(method, target)
		ex := &exchange{rule: r}
		cur.Store(ex)
		w := &faultWriter{w: server, rule: r}
		if r != nil && (r.Kind == ResetRequest || r.Kind == StallRequest) {
			w.limit = r.After
		} else {
			w.limit = -1
		}
		if err := w.write(head); err == nil {
			err = framing.copy(w, br)
		}
		if w.tripped {
			if r.Kind == StallRequest {
				stall(r)
			} else {
				resetBoth()
			}
			break
		}
		if err != nil {
			break
		}
	}
	if tc, ok := server.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	<-done
	resetBoth()
}

// faultWriter forwards request bytes up to limit (-1: no limit).
type faultWriter struct {
	w       io.Writer
	rule    *Rule
	limit   int64
	n       int64
	tripped bool
}

var errTripped = errors.New("faultproxy: fault")

func (f *faultWriter) write(p []byte) error {
	if f.limit >= 0 && f.n+int64(len(p)) >= f.limit {
		k := f.limit - f.n
		f.w.Write(p[:k])
		f.n += k
		f.tripped = true
		return errTripped
	}
	_, err := f.w.Write(p)
	f.n += int64(len(p))
	return err
}

func (f *faultWriter) Write(p []byte) (int, error) {
	if err := f.write(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// framing says how a request's body ends.
type framing struct {
	length  int64 // Content-Length, or -1
	chunked bool
}

// readHead reads one request head, verbatim.
func readHead(br *bufio.Reader) (head []byte, method, target string, fr framing, err error) {
	var buf bytes.Buffer
	fr.length = 0
	first := true
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return nil, "", "", fr, err
		}
		buf.Write(line)
		s := strings.TrimRight(string(line), "\r\n")
		if first {
			if s == "" {
				continue // tolerated before a request line
			}
			parts := strings.Fields(s)
			if len(parts) < 2 {
				return nil, "", "", fr, fmt.Errorf("faultproxy: bad request line %q", s)
			}
			method, target, first = parts[0], parts[1], false
			continue
		}
		if s == "" {
			return buf.Bytes(), method, target, fr, nil
		}
		k, v, _ := strings.Cut(s, ":")
		v = strings.TrimSpace(v)
		switch strings.ToLower(strings.TrimSpace(k)) {
		case "content-length":
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return nil, "", "", fr, fmt.Errorf("faultproxy: bad Content-Length %q", v)
			}
			fr.length = n
		case "transfer-encoding":
			fr.chunked = strings.Contains(strings.ToLower(v), "chunked")
		}
	}
}

// copy forwards the body.
func (fr framing) copy(w *faultWriter, br *bufio.Reader) error {
	if !fr.chunked {
		_, err := io.CopyN(w, br, fr.length)
		return err
	}
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if err := w.write(line); err != nil {
			return err
		}
		sz := strings.TrimSpace(strings.TrimRight(string(line), "\r\n"))
		if i := strings.IndexByte(sz, ';'); i >= 0 {
			sz = sz[:i]
		}
		n, err := strconv.ParseInt(sz, 16, 64)
		if err != nil {
			return fmt.Errorf("faultproxy: bad chunk size %q", sz)
		}
		if n == 0 {
			// Trailers, up to a blank line.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if err := w.write(line); err != nil {
					return err
				}
				if strings.TrimRight(string(line), "\r\n") == "" {
					return nil
				}
			}
		}
		if _, err := io.CopyN(w, br, n+2); err != nil {
			return err
		}
	}
}
