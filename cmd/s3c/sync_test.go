package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
)

// keys lists the bucket's keys under prefix, sorted, straight from S3
// (instruction files included).
func (c *cli) keys(prefix string) []string {
	c.t.Helper()
	var keys []string
	p := s3.NewListObjectsV2Paginator(minio.Client(), &s3.ListObjectsV2Input{Bucket: &c.bucket, Prefix: &prefix})
	for p.HasMorePages() {
		page, err := p.NextPage(context.Background())
		if err != nil {
			c.t.Fatal(err)
		}
		for _, o := range page.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
	}
	slices.Sort(keys)
	return keys
}

// runWith runs with stdin read from r (a pipe the test writes).
func (c *cli) runWith(r *os.File, args ...string) result {
	cmd := exec.Command(binary, args...)
	cmd.Dir, cmd.Env, cmd.Stdin = c.dir, c.env, r
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		code = -1
	}
	return result{stdout.String(), stderr.String(), code}
}

func (c *cli) headRaw(key string) *s3.HeadObjectOutput {
	c.t.Helper()
	h, err := minio.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.bucket, Key: &key})
	if err != nil {
		c.t.Fatalf("head %s: %v", key, err)
	}
	return h
}

func (c *cli) mtime(name string) time.Time {
	c.t.Helper()
	st, err := os.Stat(c.path(name))
	if err != nil {
		c.t.Fatal(err)
	}
	return st.ModTime()
}

func (c *cli) touch(name string, t time.Time) {
	c.t.Helper()
	if err := os.Chtimes(c.path(name), time.Time{}, t); err != nil {
		c.t.Fatal(err)
	}
}

// sortedLines is out's lines, sorted (lines of parallel work come in any
// order).
func sortedLines(out string) []string {
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if out == "" {
		lines = nil
	}
	slices.Sort(lines)
	return lines
}

func wantLines(t *testing.T, what, out string, want ...string) {
	t.Helper()
	if got := sortedLines(out); !slices.Equal(got, want) {
		t.Fatalf("%s:\n%s\nwant:\n%s", what, strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func wantStderr(t *testing.T, what string, r result, want string) {
	t.Helper()
	if r.stderr != want {
		t.Fatalf("%s: stderr %q, want %q", what, r.stderr, want)
	}
}

// sync up and down: a second run copies nothing; a touched file is copied
// alone; mtimes survive the round trip; --exact-timestamps.
func TestSyncBothWays(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	files := map[string][]byte{
		"src/a.txt":     []byte("alpha"),
		"src/empty":     {},
		"src/sub/b.bin": randomBytes(70000),
		"src/tiny":      []byte("0123456789"), // stored as 26 bytes
	}
	for name, data := range files {
		c.write(name, data)
	}
	// Times in the past, with nanoseconds, as files have.
	base := time.Now().Add(-time.Hour).Truncate(time.Second)
	for i, name := range []string{"src/a.txt", "src/empty", "src/sub/b.bin", "src/tiny"} {
		c.touch(name, base.Add(time.Duration(i)*time.Second+123456789))
	}
	up := func(extra ...string) result {
		return c.ok(append(append([]string{"sync", "--aes-key", "a.key"}, extra...), "src", c.url("p"))...)
	}
	r := c.ok("sync", "--dry-run", "--aes-key", "a.key", "src", c.url("p"))
	if r.stdout != "(dry run) upload: src/a.txt to "+c.url("p/a.txt")+"\n"+
		"(dry run) upload: src/empty to "+c.url("p/empty")+"\n"+
		"(dry run) upload: src/sub/b.bin to "+c.url("p/sub/b.bin")+"\n"+
		"(dry run) upload: src/tiny to "+c.url("p/tiny")+"\n" {
		t.Fatalf("sync --dry-run:\n%s", r.stdout)
	}
	wantStderr(t, "sync --dry-run", r, "(dry run) sync: 4 to copy, 0 to delete, 0 up to date\n")
	if k := c.keys("p/"); len(k) != 0 {
		t.Fatalf("--dry-run wrote %v", k)
	}
	r = up()
	wantLines(t, "sync up", r.stdout,
		"upload: src/a.txt to "+c.url("p/a.txt"),
		"upload: src/empty to "+c.url("p/empty"),
		"upload: src/sub/b.bin to "+c.url("p/sub/b.bin"),
		"upload: src/tiny to "+c.url("p/tiny"))
	wantStderr(t, "sync up", r, "sync: 4 copied (68.4 KiB), 0 deleted, 0 up to date, 0 failed\n")
	if got, want := c.headRaw("p/a.txt").Metadata["mtime"], formatMtime(c.mtime("src/a.txt")); got != want || !strings.HasSuffix(got, ".123456789") {
		t.Fatalf("recorded mtime %q, want %q", got, want)
	}
	r = up()
	if r.stdout != "" {
		t.Fatalf("second sync copied:\n%s", r.stdout)
	}
	wantStderr(t, "second sync", r, "sync: nothing to do, 4 up to date\n")

	// A touched file, same size and content: copied, alone.
	c.touch("src/a.txt", time.Now().Add(time.Minute))
	r = up()
	if r.stdout != "upload: src/a.txt to "+c.url("p/a.txt")+"\n" {
		t.Fatalf("after a touch:\n%s", r.stdout)
	}
	// A file set back in time: the same for the default comparison (older
	// than the object), not for --exact-timestamps.
	c.touch("src/tiny", base)
	if r = up(); r.stdout != "" {
		t.Fatalf("a file set back in time was copied:\n%s", r.stdout)
	}
	if r = up("--exact-timestamps"); r.stdout != "upload: src/tiny to "+c.url("p/tiny")+"\n" {
		t.Fatalf("--exact-timestamps:\n%s", r.stdout)
	}
	if r = up("--exact-timestamps"); r.stdout != "" {
		t.Fatalf("second --exact-timestamps:\n%s", r.stdout)
	}

	// Down: the files and their mtimes come back.
	down := func(extra ...string) result {
		return c.ok(append(append([]string{"sync", "--aes-key", "a.key"}, extra...), c.url("p/"), "dst")...)
	}
	r = down()
	wantLines(t, "sync down", r.stdout,
		"download: "+c.url("p/a.txt")+" to dst/a.txt",
		"download: "+c.url("p/empty")+" to dst/empty",
		"download: "+c.url("p/sub/b.bin")+" to dst/sub/b.bin",
		"download: "+c.url("p/tiny")+" to dst/tiny")
	for name, data := range files {
		rel := strings.TrimPrefix(name, "src/")
		if got := c.read("dst/" + rel); !bytes.Equal(got, data) {
			t.Fatalf("%s differs", rel)
		}
		if got, want := c.mtime("dst/"+rel), c.mtime(name); !got.Equal(want) {
			t.Fatalf("%s: mtime %v, want %v", rel, got, want)
		}
	}
	if r = down(); r.stdout != "" || r.stderr != "sync: nothing to do, 4 up to date\n" {
		t.Fatalf("second sync down:\n%s%s", r.stdout, r.stderr)
	}
	if r = down("--exact-timestamps"); r.stdout != "" {
		t.Fatalf("sync down --exact-timestamps:\n%s", r.stdout)
	}
	// The object replaced (same size, another file) since the file was
	// downloaded: downloaded alone.
	c.touch("dst/a.txt", base)
	c.write("other", []byte("ALPHA"))
	c.touch("other", time.Now().Add(2*time.Minute))
	c.ok("put", "--aes-key", "a.key", "other", c.url("p/a.txt"))
	if r = down(); r.stdout != "download: "+c.url("p/a.txt")+" to dst/a.txt\n" || string(c.read("dst/a.txt")) != "ALPHA" {
		t.Fatalf("after a new object:\n%s", r.stdout)
	}
	// An object without a recorded time (from stdin) gets its
	// LastModified, and is then up to date.
	c.runIn([]byte("from stdin"), "put", "--aes-key", "a.key", "-", c.url("p/stdin.txt"))
	if r = down(); r.stdout != "download: "+c.url("p/stdin.txt")+" to dst/stdin.txt\n" {
		t.Fatalf("object without mtime:\n%s", r.stdout)
	}
	if got, want := c.mtime("dst/stdin.txt"), aws.ToTime(c.headRaw("p/stdin.txt").LastModified); !got.Equal(want) {
		t.Fatalf("mtime %v, want LastModified %v", got, want)
	}
	if r = down(); r.stdout != "" {
		t.Fatalf("sync down after an object without mtime:\n%s", r.stdout)
	}
	if r = down("--exact-timestamps"); r.stdout != "" {
		t.Fatalf("sync down --exact-timestamps after an object without mtime:\n%s", r.stdout)
	}
	// get restores the mtime too.
	c.ok("get", "--aes-key", "a.key", c.url("p/sub/b.bin"), "b.bin")
	if !c.mtime("b.bin").Equal(c.mtime("src/sub/b.bin")) {
		t.Fatal("get did not restore the mtime")
	}
	// S3 to S3: copied once, then up to date.
	if r = c.ok("sync", "--aes-key", "a.key", c.url("p"), c.url("q")); strings.Count(r.stdout, "copy: ") != 5 {
		t.Fatalf("sync s3 to s3:\n%s", r.stdout)
	}
	if r = c.ok("sync", "--aes-key", "a.key", c.url("p"), c.url("q")); r.stdout != "" {
		t.Fatalf("second sync s3 to s3:\n%s", r.stdout)
	}
	c.fails(2, "one of source and destination", "sync", "src", "dst")
	c.fails(2, "not a directory", "sync", "--aes-key", "a.key", "src/a.txt", c.url("p"))
}

// --delete removes exactly what the destination has and the source does
// not: objects with their instruction files, never a user's own
// X.instruction, never an excluded path; files likewise.
func TestSyncDelete(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("src/a.txt", []byte("alpha"))
	c.write("src/keep.instruction", []byte("a user's own file"))
	c.ok("sync", "--aes-key", "a.key", "src", c.url("p"))
	c.write("x", []byte("extra"))
	c.ok("put", "--aes-key", "a.key", "x", c.url("p/extra1"))
	c.ok("put", "--aes-key", "a.key", "x", c.url("p/keep"))
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "x", c.url("p/sub/extra2"))
	c.ok("put", "--aes-key", "a.key", "x", c.url("p/logs/x.log"))
	before := c.keys("p/")
	want := []string{"p/a.txt", "p/extra1", "p/keep", "p/keep.instruction", "p/logs/x.log", "p/sub/extra2", "p/sub/extra2.instruction"}
	if !slices.Equal(before, want) {
		t.Fatalf("keys %v", before)
	}
	r := c.ok("sync", "--delete", "--dry-run", "--exclude", "logs/*", "--aes-key", "a.key", "src", c.url("p"))
	if r.stdout != "(dry run) delete: "+c.url("p/extra1")+"\n"+
		"(dry run) delete: "+c.url("p/keep")+"\n"+
		"(dry run) delete: "+c.url("p/sub/extra2")+"\n" {
		t.Fatalf("sync --delete --dry-run:\n%s", r.stdout)
	}
	if !slices.Equal(c.keys("p/"), want) {
		t.Fatalf("--dry-run changed the bucket: %v", c.keys("p/"))
	}
	r = c.ok("sync", "--delete", "--exclude", "logs/*", "--aes-key", "a.key", "src", c.url("p"))
	wantLines(t, "sync --delete", r.stdout, "delete: "+c.url("p/extra1"), "delete: "+c.url("p/keep"), "delete: "+c.url("p/sub/extra2"))
	wantStderr(t, "sync --delete", r, "sync: 0 copied (0 bytes), 3 deleted, 2 up to date, 0 failed\n")
	if got := c.keys("p/"); !slices.Equal(got, []string{"p/a.txt", "p/keep.instruction", "p/logs/x.log"}) {
		t.Fatalf("after --delete: %v", got)
	}
	if r = c.ok("sync", "--delete", "--exclude", "logs/*", "--aes-key", "a.key", "src", c.url("p")); r.stdout != "" {
		t.Fatalf("second sync --delete:\n%s", r.stdout)
	}

	// Down, --delete removes local files with no object; excluded ones stay.
	c.write("dst/stale.txt", []byte("stale"))
	c.write("dst/notes/mine.txt", []byte("mine"))
	r = c.ok("sync", "--delete", "--exclude", "notes/*", "--aes-key", "a.key", c.url("p"), "dst")
	wantLines(t, "sync down --delete", r.stdout,
		"delete: dst/stale.txt",
		"download: "+c.url("p/a.txt")+" to dst/a.txt",
		"download: "+c.url("p/keep.instruction")+" to dst/keep.instruction",
		"download: "+c.url("p/logs/x.log")+" to dst/logs/x.log")
	if _, err := os.Stat(c.path("dst/stale.txt")); err == nil {
		t.Fatal("dst/stale.txt not deleted")
	}
	if string(c.read("dst/notes/mine.txt")) != "mine" || string(c.read("dst/keep.instruction")) != "a user's own file" {
		t.Fatal("an excluded or synced file is wrong")
	}
}

// --exclude/--include on cp -r, sync and rm -r; rm -r --dry-run, then rm -r.
func TestFilterAndRmRecursive(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	for _, name := range []string{"t/a.txt", "t/b.log", "t/keep.log", "t/sub/c.txt", "t/sub/d.log"} {
		c.write(name, []byte(name))
	}
	c.ok("cp", "-r", "--exclude", "*.log", "--include", "keep.log", "--aes-key", "a.key", "t", c.url("cp"))
	if got := c.keys("cp/"); !slices.Equal(got, []string{"cp/a.txt", "cp/keep.log", "cp/sub/c.txt"}) {
		t.Fatalf("cp -r --exclude --include: %v", got)
	}
	c.fails(2, "cp -r", "cp", "--exclude", "*.log", "--aes-key", "a.key", "t/a.txt", c.url("x"))
	r := c.ok("cp", "-r", "--dry-run", "--exclude", "sub/*", "--aes-key", "a.key", c.url("cp"), "back")
	if r.stdout != "(dry run) download: "+c.url("cp/a.txt")+" to back/a.txt\n(dry run) download: "+c.url("cp/keep.log")+" to back/keep.log\n" {
		t.Fatalf("cp -r --dry-run:\n%s", r.stdout)
	}
	if _, err := os.Stat(c.path("back")); err == nil {
		t.Fatal("cp -r --dry-run wrote")
	}
	c.ok("sync", "--exclude", "*", "--include", "sub/*", "--aes-key", "a.key", "t", c.url("sy"))
	if got := c.keys("sy/"); !slices.Equal(got, []string{"sy/sub/c.txt", "sy/sub/d.log"}) {
		t.Fatalf("sync --exclude --include: %v", got)
	}

	// rm -r, with an instruction file that goes with its object and a
	// user's own X.instruction that rm -r keeps when excluded.
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "t/a.txt", c.url("cp/sub/inst"))
	c.ok("put", "--aes-key", "a.key", "t/a.txt", c.url("cp/mine"))
	c.ok("put", "--aes-key", "a.key", "t/a.txt", c.url("cp/mine.instruction"))
	before := c.keys("cp/")
	r = c.ok("rm", "-r", "--dry-run", "--exclude", "*.instruction", c.url("cp"))
	if r.stdout != "(dry run) delete: "+c.url("cp/a.txt")+"\n"+
		"(dry run) delete: "+c.url("cp/keep.log")+"\n"+
		"(dry run) delete: "+c.url("cp/mine")+"\n"+
		"(dry run) delete: "+c.url("cp/sub/c.txt")+"\n"+
		"(dry run) delete: "+c.url("cp/sub/inst")+"\n" {
		t.Fatalf("rm -r --dry-run:\n%s", r.stdout)
	}
	wantStderr(t, "rm -r --dry-run", r, "(dry run) would remove 5 objects\n")
	if !slices.Equal(c.keys("cp/"), before) {
		t.Fatal("rm -r --dry-run deleted")
	}
	r = c.ok("rm", "-r", "--exclude", "*.instruction", c.url("cp/"))
	wantLines(t, "rm -r", r.stdout, "delete: "+c.url("cp/a.txt"), "delete: "+c.url("cp/keep.log"), "delete: "+c.url("cp/mine"),
		"delete: "+c.url("cp/sub/c.txt"), "delete: "+c.url("cp/sub/inst"))
	wantStderr(t, "rm -r", r, "removed 5 objects\n")
	if got := c.keys("cp/"); !slices.Equal(got, []string{"cp/mine.instruction"}) {
		t.Fatalf("after rm -r: %v", got)
	}
	c.fails(2, "rm -r removes every object under a prefix", "rm", c.url("sy/"))
	c.fails(2, "rm -r", "rm", "--exclude", "x", c.url("sy/sub/c.txt"))
	r = c.ok("rm", "--dry-run", c.url("sy/sub/c.txt"))
	if r.stdout != "(dry run) delete: "+c.url("sy/sub/c.txt")+"\n" || !c.exists("sy/sub/c.txt") {
		t.Fatalf("rm --dry-run: %q", r.stdout)
	}
	if r = c.ok("rm", "-r", c.url("nothing/")); r.stderr != "removed 0 objects\n" {
		t.Fatalf("rm -r of nothing: %q", r.stderr)
	}
}

// --dry-run on put, get, cp, mb and rb: the line, and nothing changed.
func TestDryRun(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("data"))
	r := c.ok("put", "--dry-run", "--aes-key", "a.key", "f", c.url("k"))
	if r.stdout != "(dry run) upload: f to "+c.url("k")+"\n" || c.exists("k") {
		t.Fatalf("put --dry-run: %q", r.stdout)
	}
	c.fails(2, "a master key is needed", "put", "--dry-run", "f", c.url("k"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("k"))
	r = c.ok("get", "--dry-run", c.url("k"), "out")
	if r.stdout != "(dry run) download: "+c.url("k")+" to out\n" {
		t.Fatalf("get --dry-run: %q", r.stdout)
	}
	if _, err := os.Stat(c.path("out")); err == nil {
		t.Fatal("get --dry-run wrote")
	}
	c.fails(1, "k2", "get", "--dry-run", c.url("k2"), "out")
	r = c.ok("cp", "--dry-run", "--aes-key", "a.key", c.url("k"), c.url("k3"))
	if r.stdout != "(dry run) copy: "+c.url("k")+" to "+c.url("k3")+"\n" || c.exists("k3") {
		t.Fatalf("cp --dry-run: %q", r.stdout)
	}
	bucket := "s3c-dry-run-never-made"
	r = c.ok("mb", "--dry-run", "s3://"+bucket)
	if r.stdout != "(dry run) make bucket: s3://"+bucket+"\n" {
		t.Fatalf("mb --dry-run: %q", r.stdout)
	}
	if _, err := minio.Client().HeadBucket(context.Background(), &s3.HeadBucketInput{Bucket: &bucket}); err == nil {
		t.Fatal("mb --dry-run made the bucket")
	}
	c.fails(1, "not empty", "rb", "--dry-run", "s3://"+c.bucket)
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "f", c.url("i"))
	r = c.ok("rb", "--force", "--dry-run", "s3://"+c.bucket)
	if r.stdout != "(dry run) delete: "+c.url("i")+"\n(dry run) delete: "+c.url("k")+"\n(dry run) remove bucket: s3://"+c.bucket+"\n" {
		t.Fatalf("rb --force --dry-run: %q", r.stdout)
	}
	if !c.exists("k") || !c.exists("i.instruction") {
		t.Fatal("rb --dry-run deleted")
	}
}

// --no-clobber: a destination that exists is kept and said skipped, exit
// 0, on get and cp either way and cp -r.
func TestNoClobber(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("new"))
	c.write("old", []byte("old"))
	c.ok("put", "--aes-key", "a.key", "old", c.url("k"))
	etag := aws.ToString(c.headRaw("k").ETag)

	r := c.ok("get", "--no-clobber", "--aes-key", "a.key", c.url("k"), "f")
	wantStderr(t, "get --no-clobber", r, "skipped f: exists\n")
	if string(c.read("f")) != "new" {
		t.Fatal("get --no-clobber replaced f")
	}
	r = c.ok("cp", "--no-clobber", "--aes-key", "a.key", c.url("k"), "f")
	wantStderr(t, "cp --no-clobber down", r, "skipped f: exists\n")
	r = c.ok("cp", "--no-clobber", "--aes-key", "a.key", "f", c.url("k"))
	wantStderr(t, "cp --no-clobber up", r, "skipped "+c.url("k")+": exists\n")
	if aws.ToString(c.headRaw("k").ETag) != etag {
		t.Fatal("cp --no-clobber replaced the object")
	}
	// A link at the destination is a destination that exists.
	if err := os.Symlink("nowhere", c.path("link")); err != nil {
		t.Fatal(err)
	}
	c.ok("get", "--no-clobber", "--aes-key", "a.key", c.url("k"), "link")
	if dest, _ := os.Readlink(c.path("link")); dest != "nowhere" {
		t.Fatal("the link was replaced")
	}
	// Where nothing is, the copy is made.
	c.ok("get", "--no-clobber", "--aes-key", "a.key", c.url("k"), "g")
	if string(c.read("g")) != "old" {
		t.Fatal("get --no-clobber to a new file")
	}
	c.write("t/k", []byte("tree k"))
	c.write("t/n", []byte("tree n"))
	r = c.ok("cp", "-r", "--no-clobber", "--aes-key", "a.key", "t", c.url(""))
	if !strings.Contains(r.stderr, "skipped "+c.url("k")+": exists\n") || !strings.Contains(r.stderr, "cp: 1 objects, 6 bytes copied, 1 skipped (exist), 0 failed\n") {
		t.Fatalf("cp -r --no-clobber: %q", r.stderr)
	}
	r = c.ok("cp", "--no-clobber", "--dry-run", "--aes-key", "a.key", "t/k", c.url("k"))
	if r.stdout != "" || r.stderr != "skipped "+c.url("k")+": exists\n" {
		t.Fatalf("cp --no-clobber --dry-run: %q %q", r.stdout, r.stderr)
	}
	c.fails(2, "stdout", "get", "--no-clobber", "--aes-key", "a.key", c.url("k"), "-")
	if c.noTempFiles(); aws.ToString(c.headRaw("k").ETag) != etag {
		t.Fatal("the object changed")
	}
}

// An object created while cp --no-clobber uploads (after its first look)
// is kept: the write is conditional, as a single PUT and as a multipart
// upload (checked when it completes, which is then aborted).
func TestNoClobberConcurrentObject(t *testing.T) {
	t.Parallel()
	for name, size := range map[string]int{"single": 2 << 20, "multipart": 20 << 20} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			c := newCLI(t)
			c.ok("keygen", "aes", "a.key")
			pr, pw, err := os.Pipe()
			if err != nil {
				t.Fatal(err)
			}
			defer pr.Close()
			done := make(chan result, 1)
			go func() {
				cmd := []string{"cp", "--no-clobber", "--aes-key", "a.key", "-", c.url("k")}
				done <- c.runWith(pr, cmd...)
			}()
			// The pipe holds 64 KiB: once 1 MiB is written, s3c has
			// looked at the destination and is reading.
			data := randomBytes(size)
			if _, err := pw.Write(data[:1<<20]); err != nil {
				t.Fatal(err)
			}
			theirs := []byte("created meanwhile")
			if _, err := minio.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("k"), Body: bytes.NewReader(theirs)}); err != nil {
				t.Fatal(err)
			}
			pw.Write(data[1<<20:])
			pw.Close()
			r := <-done
			if r.code != 0 || r.stderr != "skipped "+c.url("k")+": exists\n" {
				t.Fatalf("exit %d, stderr %q", r.code, r.stderr)
			}
			out, err := minio.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String("k")})
			if err != nil {
				t.Fatal(err)
			}
			var got bytes.Buffer
			got.ReadFrom(out.Body)
			out.Body.Close()
			if !bytes.Equal(got.Bytes(), theirs) {
				t.Fatal("the object created meanwhile was replaced")
			}
			if ups, err := minio.Client().ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &c.bucket}); err != nil || len(ups.Uploads) != 0 {
				t.Fatalf("uploads left open: %v %v", ups, err)
			}
		})
	}
}

// A file created while a download is written is kept: the download is
// linked in place, which fails where a file is.
func TestOutFileNoClobber(t *testing.T) {
	for name, create := range map[string]func(string) (*outFile, error){"createOut": createOut, "createNamed": createNamed} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			dst := filepath.Join(dir, "dst")
			o, err := create(dst)
			if err != nil {
				t.Fatal(err)
			}
			defer o.discard()
			o.Write([]byte("ours"))
			if err := os.WriteFile(dst, []byte("theirs"), 0o644); err != nil {
				t.Fatal(err)
			}
			o.noClobber = true
			o.mtime = time.Unix(1733150000, 123456789)
			if err := o.commit(0o644); err != errExists {
				t.Fatalf("commit: %v", err)
			}
			o.discard()
			if got, _ := os.ReadFile(dst); string(got) != "theirs" {
				t.Fatalf("dst holds %q", got)
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("files left: %v", entries)
			}
			os.Remove(dst)
			o, err = create(dst)
			if err != nil {
				t.Fatal(err)
			}
			o.Write([]byte("ours"))
			o.noClobber = true
			o.mtime = time.Unix(1733150000, 123456789)
			if err := o.commit(0o644); err != nil {
				t.Fatal(err)
			}
			st, _ := os.Stat(dst)
			if got, _ := os.ReadFile(dst); string(got) != "ours" || !st.ModTime().Equal(o.mtime) {
				t.Fatalf("dst holds %q, mtime %v", got, st.ModTime())
			}
			if entries, _ := os.ReadDir(dir); len(entries) != 1 {
				t.Fatalf("files left: %v", entries)
			}
		})
	}
}

func TestParseMtime(t *testing.T) {
	for in, want := range map[string]time.Time{
		"1733150000.123456789": time.Unix(1733150000, 123456789),
		"1733150000.5":         time.Unix(1733150000, 500000000),
		"1733150000":           time.Unix(1733150000, 0),
	} {
		if got, ok := parseMtime(in); !ok || !got.Equal(want) {
			t.Errorf("parseMtime(%q) = %v, %v", in, got, ok)
		}
	}
	for _, in := range []string{"", "x", "1.2.3", "1.1234567890", ".5", "1.-5"} {
		if _, ok := parseMtime(in); ok {
			t.Errorf("parseMtime(%q) accepted", in)
		}
	}
	if s := formatMtime(time.Unix(1733150000, 123)); s != "1733150000.000000123" {
		t.Errorf("formatMtime: %q", s)
	}
}

// rm -r and sync --delete: an object that cannot be deleted is reported on
// its own line, the others are deleted, and the exit code is 1.
func TestRmRecursiveFailure(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("x"))
	for _, k := range []string{"p/a", "p/bad", "p/c", "q/bad"} {
		c.ok("put", "--aes-key", "a.key", "f", c.url(k))
	}
	proxy := c.faultProxy()
	proxy.Add(&faultproxy.Rule{Method: "DELETE", Kind: faultproxy.ResetRequest, Path: "/bad"})
	r := c.run("rm", "-r", c.url("p"))
	if r.code != exitError {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "s3c: "+c.url("p/bad")+": ") || lines[1] != "removed 2 objects, 1 failed" || lines[2] != "s3c: 1 of 3 objects failed" {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	wantLines(t, "rm -r", r.stdout, "delete: "+c.url("p/a"), "delete: "+c.url("p/c"))
	if got := c.keys("p/"); !slices.Equal(got, []string{"p/bad"}) {
		t.Fatalf("left: %v", got)
	}
	if err := os.Mkdir(c.path("empty"), 0o755); err != nil {
		t.Fatal(err)
	}
	r = c.run("sync", "--delete", "--aes-key", "a.key", "empty", c.url("q"))
	if r.code != exitError || !strings.HasPrefix(r.stderr, "s3c: "+c.url("q/bad")+": ") ||
		!strings.HasSuffix(r.stderr, "sync: 0 copied (0 bytes), 0 deleted, 0 up to date, 1 failed\ns3c: 1 of 1 objects failed\n") {
		t.Fatalf("sync --delete: exit %d\n%s", r.code, r.stderr)
	}
}

// A source directory given as a symbolic link is walked (WalkDir would
// not follow it: the tree would seem empty and --delete empty the
// destination); a destination that is a file is refused.
func TestSyncLinkedDirectory(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("src/a.txt", []byte("alpha"))
	c.write("src/sub/b.txt", []byte("beta"))
	if err := os.Symlink("src", c.path("link")); err != nil {
		t.Fatal(err)
	}
	r := c.ok("sync", "--aes-key", "a.key", "link", c.url("p"))
	wantLines(t, "sync from a link", r.stdout, "upload: link/a.txt to "+c.url("p/a.txt"), "upload: link/sub/b.txt to "+c.url("p/sub/b.txt"))
	if r = c.ok("sync", "--delete", "--aes-key", "a.key", "link", c.url("p")); r.stdout != "" {
		t.Fatalf("second sync --delete from a link:\n%s", r.stdout)
	}
	if got := c.keys("p/"); !slices.Equal(got, []string{"p/a.txt", "p/sub/b.txt"}) {
		t.Fatalf("keys %v", got)
	}
	c.ok("cp", "-r", "--aes-key", "a.key", "link", c.url("cp"))
	if got := c.keys("cp/"); !slices.Equal(got, []string{"cp/a.txt", "cp/sub/b.txt"}) {
		t.Fatalf("cp -r from a link: %v", got)
	}
	c.fails(2, "not a directory", "sync", "--aes-key", "a.key", c.url("p"), "src/a.txt")
}

// SIGINT during a sync stops it: exit 130, nothing half-written, nothing
// deleted after the signal.
func TestSyncSignal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("src/a.txt", []byte("alpha"))
	c.ok("put", "--aes-key", "a.key", "src/a.txt", c.url("p/extra"))
	proxy := c.faultProxy()
	stall := proxy.Add(&faultproxy.Rule{Method: "PUT", Kind: faultproxy.StallRequest, Path: "/p/a.txt"})
	p := c.start(nil, "sync", "--delete", "--aes-key", "a.key", "src", c.url("p"))
	select {
	case <-stall.Hit():
	case <-time.After(10 * time.Second):
		t.Fatal("the upload never came")
	}
	p.cmd.Process.Signal(syscall.SIGINT)
	r := p.wait(10 * time.Second)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.code != 130 || !strings.Contains(lines[len(lines)-1], "interrupted by SIGINT") {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	if got := c.keys("p/"); !slices.Equal(got, []string{"p/extra"}) {
		t.Fatalf("keys after SIGINT: %v", got)
	}
}
