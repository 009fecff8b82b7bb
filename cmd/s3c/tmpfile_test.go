package main

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// Both ways of writing a file, nameless (Linux) and named: invisible or
// 0600 until commit, then in place with the mode given; discard leaves
// nothing.
func TestOutFile(t *testing.T) {
	for name, create := range map[string]func(string) (*outFile, error){"createOut": createOut, "createNamed": createNamed} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "dst")
			o, err := create(dst)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := o.WriteAt([]byte("world"), 6); err != nil {
				t.Fatal(err)
			}
			if _, err := o.Write([]byte("hello ")); err != nil {
				t.Fatal(err)
			}
			entries, _ := os.ReadDir(dir)
			if name == "createOut" && runtime.GOOS == "linux" && len(entries) > 0 {
				t.Fatalf("a file without a name was expected, found %v", entries)
			}
			for _, e := range entries {
				if st, _ := e.Info(); st.Mode().Perm() != 0o600 {
					t.Fatalf("%s is %v while written", e.Name(), st.Mode().Perm())
				}
			}
			if err := o.commit(0o640); err != nil {
				t.Fatal(err)
			}
			o.discard() // after commit: nothing
			if got, _ := os.ReadFile(dst); string(got) != "hello world" {
				t.Fatalf("dst holds %q", got)
			}
			if st, _ := os.Stat(dst); st.Mode().Perm() != 0o640 {
				t.Fatalf("dst is %v", st.Mode().Perm())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("files beside dst: %v", entries)
			}
			o, err = create(dst)
			if err != nil {
				t.Fatal(err)
			}
			o.Write([]byte("not this"))
			o.discard()
			if got, _ := os.ReadFile(dst); string(got) != "hello world" {
				t.Fatalf("a discarded file changed dst: %q", got)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("files left by discard: %v", entries)
			}
			_, err = create(filepath.Join(dir, "missing", "x"))
			if err == nil || err.Error() != filepath.Join(dir, "missing", "x")+": no such file or directory" || strings.Contains(err.Error(), ".tmp") {
				t.Fatalf("create in a missing directory: %v", err)
			}
		})
	}
}

// A stale temporary file of an earlier, killed get is removed by the next
// get to the same name (a fresh one is left alone), and a recursive get
// of many files into one directory scans it once, not once per file.
func TestRemoveStaleScansOnce(t *testing.T) {
	dir := t.TempDir()
	stale := filepath.Join(dir, ".a[1].s3c-0123456789ab.tmp")
	fresh := filepath.Join(dir, ".b.s3c-0123456789ab.tmp")
	other := filepath.Join(dir, ".a[1].s3c-0123456789ab.tmp.keep")
	for _, p := range []string{stale, fresh, other} {
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	old := time.Now().Add(-2 * staleAge)
	os.Chtimes(stale, old, old)
	os.Chtimes(other, old, old)
	before := staleDirScans.Load()
	for i := range 200 {
		o, err := createOut(filepath.Join(dir, fmt.Sprintf("f%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		o.discard()
	}
	for _, name := range []string{"a[1]", "b"} {
		o, err := createOut(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		o.discard()
	}
	if n := staleDirScans.Load() - before; n != 1 {
		t.Errorf("%d scans of the directory for 202 gets, want 1", n)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Errorf("stale temporary file still there: %v", err)
	}
	for _, p := range []string{fresh, other} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v, want it kept", filepath.Base(p), err)
		}
	}
}
