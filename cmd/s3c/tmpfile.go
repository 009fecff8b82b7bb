package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// outFile is the file a download writes, put in place at dst only once
// the object is authenticated (commit). Until then it has no name (Linux,
// O_TMPFILE: a crash leaves nothing behind) or, where that cannot be, a
// temporary name beside dst, ".NAME.s3c-*.tmp", mode 0600. Errors name
// dst, never the temporary name.
type outFile struct {
	f    *os.File
	dst  string
	temp string // the temporary name; "" while the file has none
	link func(temp string) error

	// mtime, if not zero, is the modification time commit gives the file.
	mtime time.Time
	// noClobber makes commit link the file in place only where no file
	// is (errExists otherwise), rather than replace what is there.
	noClobber bool
}

// errExists is a destination that --no-clobber keeps: it exists.
var errExists = errors.New("exists")

// Write and WriteAt write to the file; their errors name dst.
func (o *outFile) Write(p []byte) (int, error) {
	n, err := o.f.Write(p)
	return n, o.err(err)
}

func (o *outFile) WriteAt(p []byte, off int64) (int, error) {
	n, err := o.f.WriteAt(p, off)
	return n, o.err(err)
}

func (o *outFile) err(err error) error {
	if err == nil {
		return nil
	}
	return destError(o.dst, err)
}

// createNamed creates the file under a temporary name beside dst, and
// locks it while it is in use.
func createNamed(dst string) (*outFile, error) {
	f, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".s3c-*.tmp")
	if err != nil {
		return nil, destError(dst, err)
	}
	lock(f)
	tempFiles.Store(f.Name(), struct{}{})
	return &outFile{f: f, dst: dst, temp: f.Name()}, nil
}

// staleAge is how long a temporary file must have been left alone
// before it may be taken for stale: longer than any gap between its
// creation and its lock.
const staleAge = time.Minute

// removeStale removes the temporary files of earlier gets to dst that
// were killed before they could clean up (a crash, SIGKILL): those no
// process holds a lock on and that have not changed for staleAge.
func removeStale(dst string) {
	prefix := "." + filepath.Base(dst) + ".s3c-"
	dir := filepath.Dir(dst)
	for _, name := range tempCandidates(dir) {
		if !strings.HasPrefix(name, prefix) || !strings.HasSuffix(name, ".tmp") || len(name) < len(prefix)+len(".tmp") {
			continue
		}
		name = filepath.Join(dir, name)
		st, err := os.Lstat(name)
		if err == nil && st.Mode().IsRegular() && time.Since(st.ModTime()) > staleAge && unlocked(name) {
			os.Remove(name)
		}
	}
}

// staleScans holds, per directory, the s3c temporary files (".*.s3c-*.tmp")
// the first download into it in this process found there. A stale file
// is one left by an earlier process, so one scan per directory finds them
// all; a recursive get of many files into one directory then reads the
// directory once rather than once per file.
var staleScans sync.Map // directory → *staleScan

type staleScan struct {
	once  sync.Once
	names []string
}

// staleDirScans counts directory scans, for tests.
var staleDirScans atomic.Int64

func tempCandidates(dir string) []string {
	v, _ := staleScans.LoadOrStore(dir, &staleScan{})
	s := v.(*staleScan)
	s.once.Do(func() {
		staleDirScans.Add(1)
		d, err := os.Open(dir)
		if err != nil {
			return
		}
		defer d.Close()
		for {
			names, err := d.Readdirnames(1024)
			for _, n := range names {
				if isDownloadTemp(n) {
					s.names = append(s.names, n)
				}
			}
			if err != nil {
				return
			}
		}
	})
	return s.names
}

// commit gives the file its mode (and mtime, if set), flushes it to disk
// and puts it in place at dst, replacing what is there; with noClobber,
// only if nothing is there (else errExists, dst untouched): the link that
// puts it in place fails if dst exists, so a file created meanwhile is
// kept whatever the timing.
func (o *outFile) commit(mode os.FileMode) error {
	if err := o.f.Chmod(mode); err != nil {
		return o.err(err)
	}
	if err := o.f.Sync(); err != nil {
		return o.err(err)
	}
	if o.temp == "" {
		// Link the nameless file under a temporary name, then rename that
		// over dst: a link cannot replace a file. The name exists only
		// for this instant, holding authenticated plaintext.
		for i := 0; ; i++ {
			temp := tempName(o.dst)
			err := o.link(temp)
			if errors.Is(err, fs.ErrExist) && i < 10 {
				continue
			}
			if err != nil {
				return o.err(err)
			}
			o.temp = temp
			tempFiles.Store(temp, struct{}{})
			break
		}
	}
	if err := o.f.Close(); err != nil {
		return o.err(err)
	}
	if !o.mtime.IsZero() {
		if err := os.Chtimes(o.temp, time.Time{}, o.mtime); err != nil {
			return o.err(err)
		}
	}
	if o.noClobber {
		if err := os.Link(o.temp, o.dst); err != nil {
			o.f = nil // closed: discard removes the temporary name
			if errors.Is(err, fs.ErrExist) {
				return errExists
			}
			return o.err(err)
		}
		os.Remove(o.temp)
	} else if err := os.Rename(o.temp, o.dst); err != nil {
		return o.err(err)
	}
	tempFiles.Delete(o.temp)
	o.temp, o.f = "", nil
	return nil
}

// discard removes the file, unless it was committed.
func (o *outFile) discard() {
	if o.f != nil {
		o.f.Close()
	}
	if o.temp != "" {
		os.Remove(o.temp)
		tempFiles.Delete(o.temp)
	}
}

func tempName(dst string) string {
	var b [6]byte
	rand.Read(b[:])
	return filepath.Join(filepath.Dir(dst), "."+filepath.Base(dst)+".s3c-"+hex.EncodeToString(b[:])+".tmp")
}

// destError reports a failure to write dst as "dst: reason", whichever
// file (a temporary one) the system call named.
func destError(dst string, err error) error {
	var (
		pe *fs.PathError
		le *os.LinkError
		se *os.SyscallError
	)
	for {
		switch {
		case errors.As(err, &pe):
			err = pe.Err
		case errors.As(err, &le):
			err = le.Err
		case errors.As(err, &se):
			err = se.Err
		default:
			return &writeError{dst, err}
		}
	}
}

// writeError is a failure to write a destination file.
type writeError struct {
	dst string
	err error
}

func (e *writeError) Error() string { return e.dst + ": " + e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// tempFiles are the temporary files being written, removed by the
// deferred clean-up of their download or, when a second signal exits at
// once, by removeTempFiles.
var tempFiles sync.Map // name → struct{}

func removeTempFiles() {
	tempFiles.Range(func(name, _ any) bool {
		os.Remove(name.(string))
		return true
	})
}
