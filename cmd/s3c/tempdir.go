package main

import (
	"errors"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/pflag"
)

// spoolHelp is what get and cp --help say about the spool.
const spoolHelp = `An object read whole before it is written (get to stdout, cp from S3 to S3) is
authenticated first: up to 8 MiB in memory; a larger one with a chunk index
(put writes one, s3c index adds one; s3c head shows the read path) chunk by
chunk, each chunk passed on once its MAC verifies, with no temporary file; any
other as ciphertext (never plaintext) in an unlinked temporary file in
--temp-dir (default $TMPDIR, else /tmp), which needs room for the whole object.
On a small tmpfs give --temp-dir a roomier directory, or run s3c index on the
object (get --stream needs no spool but is unauthenticated until the end).`

// tempDirFlag adds --temp-dir (get, cp).
func (a *app) tempDirFlag(fs *pflag.FlagSet) {
	fs.StringVar(&a.tempDir, "temp-dir", "", "directory for the encrypted spool of large objects read whole (default $TMPDIR, else /tmp)")
}

// checkTempDir checks --temp-dir names a directory: a usage error if not.
func (a *app) checkTempDir() error {
	if a.tempDir == "" {
		return nil
	}
	st, err := os.Stat(a.tempDir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return usagef("--temp-dir %s: no such directory", a.tempDir)
	case err != nil:
		return usagef("--temp-dir: %v", err)
	case !st.IsDir():
		return usagef("--temp-dir %s is not a directory", a.tempDir)
	}
	return nil
}

// spoolHint explains a failure to create or write the spool file: where
// it was, and what to do.
func (a *app) spoolHint(err error) string {
	var pe *fs.PathError
	if !errors.As(err, &pe) || !strings.Contains(pe.Path, "s3c-spool-") {
		return ""
	}
	dir := a.tempDir
	if dir == "" {
		dir = os.TempDir()
	}
	return " (spooling the encrypted object to " + dir + " before writing it: give another directory with --temp-dir, or use --stream)"
}
