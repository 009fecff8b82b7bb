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
		if code := cmd.ProcessState.ExitCode(); code != 1 {
			t.Fatalf("%v: interrupted: exit %d (%v)\n%q", tc.args, code, err, screen.String())
		}
	}
	c.noTempFiles()
}
