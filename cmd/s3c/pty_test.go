//go:build linux || darwin

package main

import (
	"bytes"
	"io"
	"os/exec"
	"strings"
	"testing"

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
