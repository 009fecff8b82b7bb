package main

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
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
