package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// runTo runs s3c with stdout going to the file f.
func (c *cli) runTo(f *os.File, args ...string) result {
	c.t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env = c.dir, c.env
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = f, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running s3c %v: %v", args, err)
	}
	return result{"", stderr.String(), code}
}

// A get to a symbolic link writes through it: the link stays, its target
// gets the plaintext (and keeps its mode). A link to nothing, a FIFO or a
// device is refused, untouched.
func TestGetThroughSymlink(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	data := randomBytes(50000)
	c.write("f", data)
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))

	c.write("real/target", []byte("old"))
	os.Chmod(c.path("real/target"), 0o640)
	if err := os.Symlink(filepath.Join("real", "target"), c.path("link")); err != nil {
		t.Fatal(err)
	}
	c.ok("get", "--aes-key", "a.key", c.url("obj"), "link")
	if st, err := os.Lstat(c.path("link")); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	if !bytes.Equal(c.read("real/target"), data) {
		t.Fatal("the link's target does not hold the plaintext")
	}
	if st, _ := os.Stat(c.path("real/target")); st.Mode().Perm() != 0o640 {
		t.Fatalf("the target's mode became %v", st.Mode().Perm())
	}
	// Through cp too, and a link to a link.
	os.Symlink("link", c.path("link2"))
	os.WriteFile(c.path("real/target"), nil, 0o640)
	c.ok("cp", "--aes-key", "a.key", c.url("obj"), "link2")
	if !bytes.Equal(c.read("real/target"), data) {
		t.Fatal("cp through two links")
	}

	os.Symlink("nowhere", c.path("dangling"))
	c.fails(1, "dangling is a symbolic link to a file that does not exist", "get", "--aes-key", "a.key", c.url("obj"), "dangling")
	if _, err := os.Stat(c.path("nowhere")); err == nil {
		t.Fatal("a dangling link's target was created")
	}
	if err := syscall.Mkfifo(c.path("fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	c.fails(1, "fifo is not a regular file", "get", "--aes-key", "a.key", c.url("obj"), "fifo")
	if st, _ := os.Lstat(c.path("fifo")); st.Mode()&os.ModeNamedPipe == 0 {
		t.Fatal("the FIFO was replaced")
	}
	c.fails(1, "/dev/null is not a regular file", "get", "--aes-key", "a.key", c.url("obj"), "/dev/null")
	if st, _ := os.Stat("/dev/null"); st.Mode()&os.ModeCharDevice == 0 {
		t.Fatal("/dev/null was replaced")
	}
	c.noTempFiles()
}

// A path that names stdout (/dev/fd/1, /proc/self/fd/1, or the file
// stdout is redirected to) gets the plaintext through stdout, whatever
// stdout is; nothing is renamed over it.
func TestGetToStdoutPath(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	data := randomBytes(70000)
	c.write("f", data)
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))
	for _, dst := range []string{"/dev/fd/1", "/proc/self/fd/1"} {
		r := c.ok("get", "--aes-key", "a.key", c.url("obj"), dst) // a pipe
		if r.stdout != string(data) || r.stderr != "" {
			t.Fatalf("get to %s (a pipe): %d bytes, stderr %q", dst, len(r.stdout), r.stderr)
		}
		out, err := os.Create(c.path("out"))
		if err != nil {
			t.Fatal(err)
		}
		r = c.runTo(out, "get", "--aes-key", "a.key", c.url("obj"), dst) // a file
		out.Close()
		if r.code != 0 || !bytes.Equal(c.read("out"), data) {
			t.Fatalf("get to %s (a file): exit %d: %s", dst, r.code, r.stderr)
		}
	}
	// cp to /dev/stdout is cp to -: the plaintext alone on stdout.
	if r := c.ok("cp", "--json", "--aes-key", "a.key", c.url("obj"), "/dev/stdout"); r.stdout != string(data) || r.stderr != "" {
		t.Fatalf("cp to /dev/stdout: %d bytes, stderr %q", len(r.stdout), r.stderr)
	}
	// The destination is the very file stdout goes to.
	out, _ := os.Create(c.path("same"))
	r := c.runTo(out, "get", "--json", "--aes-key", "a.key", c.url("obj"), "same")
	out.Close()
	if r.code != 0 || !bytes.Equal(c.read("same"), data) {
		t.Fatalf("get to the file stdout is: exit %d: %s", r.code, r.stderr)
	}
	c.noTempFiles()
}

// "/dev/stdout" itself is stdout, never looked up (as root, a rename
// over it would replace the system's link).
func TestResolveDevStdout(t *testing.T) {
	a := &app{stdout: new(bytes.Buffer)}
	for _, dst := range []string{"-", "/dev/stdout"} {
		if _, toStdout, err := a.resolveDest(dst); err != nil || !toStdout {
			t.Fatalf("resolveDest(%q): stdout %v, %v", dst, toStdout, err)
		}
	}
}

// A new file's mode is 0666 less the umask, as cp makes it; a file
// replaced keeps its mode.
func TestGetFileMode(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("secret"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))
	for umask, want := range map[string]os.FileMode{"077": 0o600, "027": 0o640, "022": 0o644, "002": 0o664} {
		for _, args := range [][]string{
			{"get", "--aes-key", "a.key", c.url("obj"), "new-get-" + umask},
			{"cp", "--aes-key", "a.key", c.url("obj"), "new-cp-" + umask},
		} {
			cmd := exec.Command("sh", append([]string{"-c", "umask " + umask + ` && exec "$0" "$@"`, binary}, args...)...)
			cmd.Dir, cmd.Env = c.dir, c.env
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("umask %s; s3c %v: %v: %s", umask, args, err, out)
			}
			if st, _ := os.Stat(c.path(args[len(args)-1])); st.Mode().Perm() != want {
				t.Fatalf("umask %s: %s is %v, want %v", umask, args[0], st.Mode().Perm(), want)
			}
		}
	}
	c.write("kept", []byte("old"))
	os.Chmod(c.path("kept"), 0o604)
	c.ok("get", "--aes-key", "a.key", c.url("obj"), "kept")
	if st, _ := os.Stat(c.path("kept")); st.Mode().Perm() != 0o604 || string(c.read("kept")) != "secret" {
		t.Fatalf("an existing file became %v", st.Mode().Perm())
	}
}

// A failure to write the destination names it, never a temporary file.
func TestGetErrorNamesDestination(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("x"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))
	r := c.fails(1, "s3c: nodir/x.csv: no such file or directory", "get", "--aes-key", "a.key", c.url("obj"), "nodir/x.csv")
	if strings.Contains(r.stderr, ".tmp") || strings.Contains(r.stderr, "s3c-") {
		t.Fatalf("the error names a temporary file: %s", r.stderr)
	}
}
