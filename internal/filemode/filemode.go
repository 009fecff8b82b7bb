// Package filemode decides the permission bits of the files s3c and its
// libraries write decrypted objects to. The rule is cp's: a new file gets
// 0666 less the process's umask; an existing file keeps its mode.
package filemode

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// For returns the permission bits for a file written at path: those of
// the regular file already there, else New().
func For(path string) os.FileMode {
	if st, err := os.Stat(path); err == nil && st.Mode().IsRegular() {
		return st.Mode().Perm()
	}
	return New()
}

// New returns 0666 less the process's umask.
func New() os.FileMode { return 0o666 &^ Umask() }

// Umask returns the process's umask without changing it (umask(2) can
// only be read by setting it, which would race with files being created
// meanwhile). On Linux it is read from /proc/self/status; elsewhere, or
// without /proc, from the mode a new 0666 file gets. If neither works it
// is taken as 077: files only their owner can read.
func Umask() os.FileMode {
	if m, ok := procUmask(); ok {
		return m
	}
	if m, ok := probeUmask(); ok {
		return m
	}
	return 0o077
}

func procUmask() (os.FileMode, bool) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, false
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "Umask:"); ok {
			m, err := strconv.ParseUint(strings.TrimSpace(v), 8, 32)
			if err != nil {
				return 0, false
			}
			return os.FileMode(m) & os.ModePerm, true
		}
	}
	return 0, false
}

// probeUmask creates an empty file with mode 0666 and sees what it got:
// the umask's bits that bear on such a file.
func probeUmask() (os.FileMode, bool) {
	var b [8]byte
	rand.Read(b[:])
	name := filepath.Join(os.TempDir(), ".s3c-umask-"+hex.EncodeToString(b[:]))
	f, err := os.OpenFile(name, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o666)
	if err != nil {
		return 0, false
	}
	defer os.Remove(name)
	st, err := f.Stat()
	f.Close()
	if err != nil {
		return 0, false
	}
	return 0o666 &^ st.Mode().Perm(), true
}
