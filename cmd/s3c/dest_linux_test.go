package main

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/s3c/s3c/internal/faultproxy"
)

// openIn returns the sizes of the files under dir that process pid has
// open, named or not (an O_TMPFILE file shows as "dir/#123 (deleted)").
func openIn(pid int, dir string) []int64 {
	fds, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/fd/*")
	var sizes []int64
	for _, fd := range fds {
		target, err := os.Readlink(fd)
		if err != nil || !strings.HasPrefix(target, dir+"/") {
			continue
		}
		if st, err := os.Stat(fd); err == nil && st.Mode().IsRegular() {
			sizes = append(sizes, st.Size())
		}
	}
	return sizes
}

func names(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && p != dir {
			out = append(out, p)
		}
		return nil
	})
	return out
}

// A get killed (SIGKILL, as by a crash) while half the object's
// plaintext is on disk leaves nothing behind: the file it writes has no
// name until the object is authenticated.
func TestGetKilledLeavesNothing(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("big", randomBytes(64<<20))
	c.ok("put", "--aes-key", "a.key", "big", c.url("big"))
	os.Remove(c.path("big"))
	proxy, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	// The first range stalls after 8 MiB; the second, bytes 32 MiB to the
	// end, arrives whole and is written.
	c.setenv("AWS_ENDPOINT_URL_S3=" + proxy.URL())
	before := names(t, c.dir)
	for _, args := range [][]string{
		{"get", "--quiet", "--aes-key", "a.key", c.url("big"), "out"},
		{"cp", "--quiet", "--aes-key", "a.key", c.url("big"), "out"},
	} {
		proxy.Clear()
		proxy.Add(&faultproxy.Rule{Method: "GET", Path: "/" + c.bucket + "/big", Times: 1, Kind: faultproxy.StallResponse, After: 8 << 20})
		p := c.start(nil, args...)
		waitFor(t, 15*time.Second, "the plaintext on disk", func() bool {
			return slices.ContainsFunc(openIn(p.cmd.Process.Pid, c.dir), func(n int64) bool { return n == 64<<20 })
		})
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.wait(10 * time.Second)
		if after := names(t, c.dir); !slices.Equal(after, before) {
			t.Fatalf("s3c %s killed: files left: %v (before: %v)", args[0], after, before)
		}
	}
}

// A get removes the temporary files that earlier gets to the same file
// left when killed (no lock held on them, unchanged for a while), and no
// other.
func TestGetRemovesStaleTemp(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("x"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))
	old := time.Now().Add(-2 * time.Hour)
	for _, name := range []string{".out.s3c-111.tmp", ".out.s3c-222.tmp", ".out.s3c-333.tmp", ".other.s3c-444.tmp"} {
		c.write(name, []byte("left behind"))
		if name != ".out.s3c-333.tmp" {
			os.Chtimes(c.path(name), old, old)
		}
	}
	held, err := os.Open(c.path(".out.s3c-222.tmp"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if err := unix.Flock(int(held.Fd()), unix.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	c.ok("get", "--aes-key", "a.key", c.url("obj"), "out")
	for name, want := range map[string]bool{".out.s3c-111.tmp": false, ".out.s3c-222.tmp": true, ".out.s3c-333.tmp": true, ".other.s3c-444.tmp": true} {
		if _, err := os.Stat(c.path(name)); (err == nil) != want {
			t.Errorf("%s: exists %v, want %v", name, err == nil, want)
		}
	}
}
