package main

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"

	"golang.org/x/sys/unix"
)

// createOut creates the file a download to dst writes: on Linux a file
// without a name (O_TMPFILE) in dst's directory, so that a crash leaves
// nothing; where the file system or kernel has no O_TMPFILE, or /proc
// is missing, a file under a temporary name.
func createOut(dst string) (*outFile, error) {
	removeStale(dst)
	fd, err := unix.Open(filepath.Dir(dst), unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if errors.Is(err, unix.EOPNOTSUPP) || errors.Is(err, unix.EISDIR) || errors.Is(err, unix.EINVAL) {
		return createNamed(dst)
	}
	if err != nil {
		return nil, destError(dst, err)
	}
	// Named after dst, so that errors name it.
	f := os.NewFile(uintptr(fd), dst)
	proc := "/proc/self/fd/" + strconv.Itoa(fd)
	if _, err := os.Lstat(proc); err != nil {
		f.Close()
		return createNamed(dst)
	}
	return &outFile{f: f, dst: dst, link: func(temp string) error {
		err := unix.Linkat(unix.AT_FDCWD, proc, unix.AT_FDCWD, temp, unix.AT_SYMLINK_FOLLOW)
		if err != nil {
			return &os.LinkError{Op: "link", Old: proc, New: temp, Err: err}
		}
		return nil
	}}, nil
}
