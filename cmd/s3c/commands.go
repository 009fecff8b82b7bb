package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/s3c/s3c/s3crypto"
)

func (a *app) putCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "put [flags] <file|-> s3://bucket/key",
		Short: "Encrypt a file (or stdin) and upload it",
		Long: `Encrypt a file, or stdin for "-", under a fresh data key and upload it.
Large and unknown-length input is sent as a multipart upload in constant
memory; a failed upload is aborted. A key ending in "/" takes the file's name.
A file's modification time is recorded in the object's metadata ("mtime", as
rclone does): get gives it back, sync compares it. --dry-run prints what would
be uploaded and sends nothing.`,
		Example: `  s3c put --kms-key-id alias/app report.pdf s3://bucket/reports/
  s3c put --aes-key master.key --context team=blue data.csv s3://bucket/data.csv
  tar c dir | s3c put --rsa-key backup.pem.pub - s3://bucket/backup.tar
  s3c put --dry-run --aes-key master.key data.csv s3://bucket/data.csv`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			dst, err := parseLocation(args[1])
			if err != nil {
				return err
			}
			if !dst.s3 {
				return usagef("destination %q is not an s3:// URL", args[1])
			}
			if dst.key == "" || strings.HasSuffix(dst.key, "/") {
				if args[0] == "-" {
					return usagef("uploading stdin needs a full object key, not %q", args[1])
				}
				dst.key += filepath.Base(args[0])
			}
			if args[0] != "-" {
				st, err := os.Stat(args[0])
				if err != nil {
					return err
				}
				if st.IsDir() {
					return usagef("%s is a directory; use cp -r", args[0])
				}
			}
			if a.dryRun {
				if err := a.needWriteKey(); err != nil {
					return err
				}
				fmt.Fprintf(a.stdout, "(dry run) upload: %s to %s\n", args[0], dst)
				return nil
			}
			c, err := a.client(cmd.Context(), true)
			if err != nil {
				return err
			}
			pr := a.newProgress(0, 1)
			b := pr.start(dst.String(), -1)
			out, err := a.upload(cmd.Context(), c, args[0], dst, b)
			b.done()
			pr.wait()
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]any{"bucket": dst.bucket, "key": dst.key, "size": out.Size, "key_ref": out.KeyRef, "etag": trimETag(out.ETag), "parts": out.Parts})
			}
			a.say("put %s: %s, key %s", dst, humanBytes(out.Size), out.KeyRef)
			return nil
		},
	}
	a.keyFlags(c.Flags(), writeKeys)
	a.objectFlags(c.Flags())
	a.jsonFlag(c.Flags())
	a.dryRunFlag(c.Flags())
	return c
}

func (a *app) getCommand() *cobra.Command {
	var stream bool
	var rng string
	c := &cobra.Command{
		Use:   "get [flags] s3://bucket/key <file|->",
		Short: "Download an object and decrypt it",
		Long: `Download an object and decrypt it into a file, or to stdout for "-" (or for
/dev/stdout, or any path naming the file stdout is).
A file is written where no one sees it (on Linux a file without a name; elsewhere
".NAME.s3c-*.tmp" beside it, mode 0600) and put in place only after the whole
object is authenticated: on failure the destination is left untouched, and on
Linux a crash leaves nothing behind. A symbolic link is written through (its
target gets the plaintext); a destination that exists and is not a regular file
(a device, a pipe) is refused. A new file gets mode 0666 less the umask, as cp
makes it; an existing file keeps its mode. The file gets the modification time
recorded when the object was uploaded from a file, else the object's
LastModified. --no-clobber keeps a destination that exists, even one created
during the download (the file is linked in place only where none is), and says
it skipped it. --dry-run looks the object up, prints what would be downloaded
and writes nothing.
To stdout, only authenticated bytes are written, unless --stream asks for
plaintext as it is decrypted (the exit code still reports a failed check).
--range a-b fetches bytes a to b of the plaintext, which cannot be authenticated.
` + spoolHelp + `
Only the keys given are trusted. With no key flag at all, a KMS-wrapped object is
decrypted with the KMS key it names (discovery); --allow-kms-key ARN limits
discovery to these keys, and adds it beside other key flags.`,
		Example: `  s3c get --kms-key-id alias/app s3://bucket/report.pdf report.pdf
  s3c get --aes-key new.key --aes-key old.key s3://bucket/data.csv -
  s3c get --aes-key master.key --stream s3://bucket/big.log - | grep ERROR
  s3c get --aes-key master.key --temp-dir /var/tmp s3://bucket/big.tar - | tar x
  s3c get --aes-key master.key --range 0-1023 s3://bucket/big.bin head.bin
  s3c get --rsa-key backup.pem s3://bucket/backup.tar - | tar x
  s3c get --no-clobber --aes-key master.key s3://bucket/data.csv data.csv
  s3c get --dry-run s3://bucket/data.csv data.csv`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			src, err := parseObject(args[0])
			if err != nil {
				return err
			}
			dst := args[1]
			if dst != "-" {
				if st, err := os.Stat(dst); (err == nil && st.IsDir()) || strings.HasSuffix(dst, string(os.PathSeparator)) {
					dst = filepath.Join(dst, path.Base(src.key))
				}
			}
			if rng != "" && !validRange(rng) {
				return usagef("--range %q: want a-b (a ≤ b), a- or -n (bytes of plaintext)", rng)
			}
			if stream && dst != "-" && dst != "/dev/stdout" && !a.isStdout(dst) {
				return usagef("--stream applies to stdout (-) only: a file is put in place once authenticated")
			}
			toStdout := dst == "-" || dst == "/dev/stdout" || a.isStdout(dst)
			if a.noClobber && toStdout {
				return usagef("--no-clobber keeps files; stdout is none")
			}
			if a.dryRun {
				job := copyJob{src: src, dst: location{path: dst}}
				if toStdout {
					job.dst.path = "-"
				}
				return a.planCopies(cmd.Context(), []copyJob{job})
			}
			c, err := a.client(cmd.Context(), false)
			if err != nil {
				return err
			}
			pr := a.newProgress(0, 1)
			b := pr.start(src.String(), -1)
			res, err := a.download(cmd.Context(), c, src, dst, stream, rng, b)
			b.done()
			pr.wait()
			if errors.Is(err, errExists) {
				a.say("skipped %s: exists", dst)
				return nil
			}
			if err != nil {
				return err
			}
			if a.json && !res.stdout {
				return a.printJSON(map[string]any{"bucket": src.bucket, "key": src.key, "file": dst, "size": res.size, "key_ref": keyRefOf(res.info)})
			}
			if !res.stdout {
				a.say("get %s: %s to %s, key %s", src, humanBytes(res.size), dst, keyRefOf(res.info))
			}
			return nil
		},
	}
	a.keyFlags(c.Flags(), readKeys)
	a.jsonFlag(c.Flags())
	c.Flags().BoolVar(&stream, "stream", false, "write plaintext to stdout before the object is authenticated")
	c.Flags().StringVar(&rng, "range", "", "only bytes a-b of the plaintext (unauthenticated)")
	a.tempDirFlag(c.Flags())
	a.dryRunFlag(c.Flags())
	a.noClobberFlag(c.Flags())
	a.sseReadFlags(c.Flags())
	return c
}

func validRange(r string) bool {
	a, b, ok := strings.Cut(r, "-")
	digits := func(s string) bool {
		for _, c := range s {
			if c < '0' || c > '9' {
				return false
			}
		}
		return true
	}
	if !ok || (a == "" && b == "") || !digits(a) || !digits(b) || strings.Contains(b, "-") {
		return false
	}
	if a != "" && b != "" {
		first, err1 := strconv.ParseUint(a, 10, 63)
		last, err2 := strconv.ParseUint(b, 10, 63)
		return err1 == nil && err2 == nil && first <= last
	}
	return true
}

func keyRefOf(info *s3crypto.ObjectInfo) string {
	if info == nil {
		return ""
	}
	return info.KeyRef
}

func trimETag(s *string) string {
	if s == nil {
		return ""
	}
	return strings.Trim(*s, `"`)
}

func (a *app) printJSON(v any) error {
	enc := json.NewEncoder(a.stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
