//go:build linux || darwin

package main

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"
)

// Under a terminal, put and cp -r draw progress bars on stderr.
func TestProgressBarOnTerminal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("tree/one", randomBytes(24<<20))
	c.write("tree/two", randomBytes(8<<20))

	for _, args := range [][]string{
		{"put", "--aes-key", "a.key", "tree/one", c.url("one")},
		{"cp", "-r", "--aes-key", "a.key", "tree", c.url("tree")},
	} {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 120})
		cmd := exec.Command(binary, args...)
		cmd.Dir, cmd.Env = c.dir, c.env
		var stdout bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, tty
		var screen bytes.Buffer
		done := make(chan struct{})
		go func() { io.Copy(&screen, ptmx); close(done) }()
		err = cmd.Run()
		tty.Close()
		<-done
		ptmx.Close()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, screen.String())
		}
		out := screen.String()
		// A bar: the object, bytes done of total, a rate, an ETA.
		for _, want := range []string{"MiB", "/s", "ETA", "["} {
			if !strings.Contains(out, want) {
				t.Fatalf("%v: terminal output lacks %q:\n%q", args, want, out)
			}
		}
		if args[0] == "cp" && !strings.Contains(out, "total") {
			t.Fatalf("cp -r shows no total bar:\n%q", out)
		}
	}
}

// stallingS3 is a proxy on 127.0.0.1 in front of MinIO that passes HEADs
// and listings but holds every other GET (an object's body) until the
// client goes away: a download that never progresses.
func stallingS3(t *testing.T) string {
	t.Helper()
	target, err := url.Parse(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // signed by the client
	}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet && !r.URL.Query().Has("list-type") {
			<-r.Context().Done()
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
	})
	return srv.URL
}

// Download bars show the object's size (and cp -r's total bar the sizes
// of all) as soon as they are known, before any byte has arrived.
func TestProgressTotalOfDownloads(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("tree/one", randomBytes(24<<20))
	c.write("tree/two", randomBytes(8<<20))
	c.ok("cp", "-r", "--aes-key", "a.key", "tree", c.url("tree"))
	stalled := *c
	stalled.setenv("AWS_ENDPOINT_URL_S3=" + stallingS3(t))

	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"get", "--aes-key", "a.key", c.url("tree/one"), "one"}, []string{"/ 24.0 MiB"}},
		{[]string{"cp", "--aes-key", "a.key", c.url("tree/two"), "two"}, []string{"/ 8.0 MiB"}},
		{[]string{"cp", "-r", "--aes-key", "a.key", c.url("tree"), "restore"}, []string{"total", "/ 32.0 MiB"}},
	} {
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatal(err)
		}
		pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 120})
		cmd := exec.Command(binary, tc.args...)
		cmd.Dir, cmd.Env = stalled.dir, stalled.env
		cmd.Stderr = tty
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		tty.Close()
		var screen lockedBuffer
		copied := make(chan struct{})
		go func() { io.Copy(&screen, ptmx); close(copied) }()
		shown := func() bool {
			for _, w := range tc.want {
				if !strings.Contains(screen.String(), w) {
					return false
				}
			}
			return true
		}
		for end := time.Now().Add(10 * time.Second); !shown() && time.Now().Before(end); {
			time.Sleep(50 * time.Millisecond)
		}
		cmd.Process.Signal(os.Interrupt)
		err = cmd.Wait()
		<-copied
		ptmx.Close()
		if !shown() {
			t.Fatalf("%v: the bars do not show %q before any byte arrives:\n%q", tc.args, tc.want, screen.String())
		}
		if code := cmd.ProcessState.ExitCode(); code != 130 {
			t.Fatalf("%v: interrupted: exit %d (%v)\n%q", tc.args, code, err, screen.String())
		}
	}
	c.noTempFiles()
}

// runOnTerminal runs the binary with stderr on a pseudo-terminal and
// returns what the terminal showed.
func runOnTerminal(t *testing.T, c *cli, stdin io.Reader, args ...string) string {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		t.Fatal(err)
	}
	pty.Setsize(ptmx, &pty.Winsize{Rows: 30, Cols: 120})
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	cmd.Stdin, cmd.Stderr = stdin, tty
	var screen bytes.Buffer
	done := make(chan struct{})
	go func() { io.Copy(&screen, ptmx); close(done) }()
	err = cmd.Run()
	tty.Close()
	<-done
	ptmx.Close()
	if err != nil {
		t.Fatalf("%v: %v\n%q", args, err, screen.String())
	}
	return screen.String()
}

var counterRE = regexp.MustCompile(`([0-9.]+) (b|KiB|MiB|GiB) / ([0-9.]+) (b|KiB|MiB|GiB)`)

// counters returns the bytes-done and total figures a terminal showed,
// in bytes, rounded as shown.
func shownCounters(screen string) (pairs [][2]float64) {
	unit := map[string]float64{"b": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30}
	for _, m := range counterRE.FindAllStringSubmatch(screen, -1) {
		done, _ := strconv.ParseFloat(m[1], 64)
		total, _ := strconv.ParseFloat(m[3], 64)
		pairs = append(pairs, [2]float64{done * unit[m[2]], total * unit[m[4]]})
	}
	return pairs
}

// Upload bars count each byte once: never more done than the total,
// which is the file's size, and the last count shown is the size. From
// stdin, a bar of unknown total shows the bytes done, with no total and
// no ETA.
func TestProgressUploadCountsEachByteOnce(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("tree/one", randomBytes(24<<20))
	c.write("tree/two", randomBytes(8<<20))
	check := func(args []string, screen string, total float64) {
		t.Helper()
		pairs := shownCounters(screen)
		if len(pairs) == 0 {
			t.Fatalf("%v: no counters shown:\n%q", args, screen)
		}
		maxDone := 0.0
		for _, p := range pairs {
			if p[0] > p[1] {
				t.Fatalf("%v: %.0f bytes done of %.0f:\n%q", args, p[0], p[1], screen)
			}
			maxDone = max(maxDone, p[0])
		}
		if last := pairs[len(pairs)-1]; last[1] != total || maxDone != total {
			t.Fatalf("%v: counts end at %.0f of %.0f, the most shown is %.0f; want %.0f:\n%q", args, last[0], last[1], maxDone, total, screen)
		}
	}
	args := []string{"put", "--aes-key", "a.key", "tree/one", c.url("one")}
	check(args, runOnTerminal(t, c, nil, args...), 24<<20)
	args = []string{"cp", "-r", "--aes-key", "a.key", "tree", c.url("tree")}
	screen := runOnTerminal(t, c, nil, args...)
	check(args, screen[strings.LastIndex(screen, "total"):], 32<<20)

	// stdin redirected from a file: its size is known.
	f, err := os.Open(filepath.Join(c.dir, "tree/one"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	args = []string{"put", "--aes-key", "a.key", "-", c.url("stdin-file")}
	check(args, runOnTerminal(t, c, f, args...), 24<<20)

	// A pipe: no total.
	args = []string{"put", "--aes-key", "a.key", "-", c.url("stdin-pipe")}
	screen = runOnTerminal(t, c, struct{ io.Reader }{bytes.NewReader(randomBytes(24 << 20))}, args...)
	for _, p := range shownCounters(screen) {
		if p[0] > 24<<20 || p[1] > 24<<20 {
			t.Fatalf("%v: counts beyond the stream's 24 MiB:\n%q", args, screen)
		}
	}
	for _, bad := range []string{"/ 0.0 b", "-1s"} {
		if strings.Contains(screen, bad) {
			t.Fatalf("%v: a stream's bar shows %q:\n%q", args, bad, screen)
		}
	}
	if !strings.Contains(screen, "MiB") {
		t.Fatalf("%v: a stream's bar shows no count:\n%q", args, screen)
	}
}
