package filemode

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// The umask read without setting it is the one set, by either method.
func TestUmask(t *testing.T) {
	old := syscall.Umask(0o027)
	defer syscall.Umask(old)
	if m := Umask(); m != 0o027 {
		t.Fatalf("Umask() = %v, want 027", m)
	}
	// A file shows only the bits that matter for 0666.
	if m, ok := probeUmask(); !ok || m != 0o026 {
		t.Fatalf("probeUmask() = %v %v, want 026", m, ok)
	}
	if New() != 0o640 {
		t.Fatalf("New() = %v", New())
	}
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, nil, 0o600)
	os.Chmod(p, 0o604)
	if For(p) != 0o604 || For(p+"x") != 0o640 {
		t.Fatalf("For: %v %v", For(p), For(p+"x"))
	}
}
