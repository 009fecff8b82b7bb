package main

import (
	"bytes"
	"context"
	"fmt"
	"io/fs"
	"log"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
)

// The CLI is tested as people and scripts use it: the binary, built once,
// run as a subprocess against a real MinIO and the KMS test server.
var (
	buildFlags []string // for go build of the binary under test

	minio  *miniotest.Server
	kmsSrv *kmstest.Server
	kmsARN string
	binary string
)

func TestMain(m *testing.M) {
	os.Exit(testMain(m))
}

func testMain(m *testing.M) int {
	var err error
	if minio, err = miniotest.Start(log.Printf); err != nil {
		fmt.Fprintln(os.Stderr, "starting the test S3 server:", err)
		return 1
	}
	defer minio.Stop()
	// The CLI signs KMS requests with the same credentials as S3.
	if kmsSrv, err = kmstest.Start(kmstest.Options{AccessKeyID: minio.AccessKey, SecretAccessKey: minio.SecretKey}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer kmsSrv.Close()
	_, kmsARN = kmsSrv.CreateKey("alias/cli")
	dir, err := os.MkdirTemp("", "s3c-cli-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	binary = filepath.Join(dir, "s3c")
	build := append(append([]string{"build"}, buildFlags...), "-o", binary, ".")
	if out, err := exec.Command("go", build...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building s3c: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// cli runs the binary in a test's world: its own working directory, an
// environment with only the test servers, and no user AWS config.
type cli struct {
	t      *testing.T
	dir    string
	bucket string
	env    []string
}

func newCLI(t *testing.T) *cli {
	t.Helper()
	dir := t.TempDir()
	c := &cli{t: t, dir: dir, bucket: minio.NewBucket(t)}
	c.env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"AWS_CONFIG_FILE=" + filepath.Join(dir, "no-config"),
		"AWS_SHARED_CREDENTIALS_FILE=" + filepath.Join(dir, "no-credentials"),
		"AWS_ACCESS_KEY_ID=" + minio.AccessKey,
		"AWS_SECRET_ACCESS_KEY=" + minio.SecretKey,
		"AWS_REGION=" + minio.Region,
		"AWS_ENDPOINT_URL_S3=" + minio.Endpoint,
		"AWS_ENDPOINT_URL_KMS=" + kmsSrv.URL(),
		"AWS_EC2_METADATA_DISABLED=true",
		// A safety net: a request that would leave for AWS goes to a port
		// where nothing listens (loopback addresses are never proxied).
		"HTTP_PROXY=http://127.0.0.1:1",
		"HTTPS_PROXY=http://127.0.0.1:1",
		"NO_PROXY=" + hostOf(minio.Endpoint) + "," + hostOf(kmsSrv.URL()),
	}
	return c
}

func hostOf(rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// setenv sets variables (k=v) in the test's environment, or removes
// them (a bare k).
func (c *cli) setenv(vars ...string) {
	for _, kv := range vars {
		k, _, _ := strings.Cut(kv, "=")
		c.env = slices.DeleteFunc(c.env, func(e string) bool { return strings.HasPrefix(e, k+"=") })
		if strings.Contains(kv, "=") {
			c.env = append(c.env, kv)
		}
	}
}

type result struct {
	stdout, stderr string
	code           int
}

func (c *cli) runIn(stdin []byte, args ...string) result {
	c.t.Helper()
	cmd := exec.CommandContext(context.Background(), binary, args...)
	cmd.Dir = c.dir
	cmd.Env = c.env
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		c.t.Fatalf("running s3c %v: %v", args, err)
	}
	return result{stdout.String(), stderr.String(), code}
}

func (c *cli) run(args ...string) result {
	c.t.Helper()
	return c.runIn(nil, args...)
}

// ok runs and requires exit code 0.
func (c *cli) ok(args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != 0 {
		c.t.Fatalf("s3c %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	return r
}

// fails runs and requires the exit code and a one-line error naming want:
// exactly one line on stderr, or for a usage error (2) that line and
// where to read the usage.
func (c *cli) fails(code int, want string, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	c.failed(r, code, want, args...)
	return r
}

func (c *cli) failed(r result, code int, want string, args ...string) {
	c.t.Helper()
	if r.code != code {
		c.t.Fatalf("s3c %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), r.code, code, r.stderr)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if !strings.HasPrefix(lines[0], "s3c: ") || !strings.Contains(lines[0], want) {
		c.t.Fatalf("s3c %s: first stderr line %q, want it to mention %q", strings.Join(args, " "), lines[0], want)
	}
	switch {
	case code == exitUsage && (len(lines) != 2 || !strings.HasPrefix(lines[1], "Run 's3c")):
		c.t.Fatalf("s3c %s: a usage error should be the error and a hint, got:\n%s", strings.Join(args, " "), r.stderr)
	case code != exitUsage && len(lines) != 1:
		c.t.Fatalf("s3c %s: an error should be one line, got:\n%s", strings.Join(args, " "), r.stderr)
	}
}

// tempFilesIn lists what a get may leave behind in dir: .NAME.s3c-*.tmp.
func tempFilesIn(t *testing.T, dir string) []string {
	t.Helper()
	var found []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if strings.Contains(d.Name(), ".s3c-") && strings.HasSuffix(d.Name(), ".tmp") {
			found = append(found, p)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func (c *cli) noTempFiles() {
	c.t.Helper()
	if left := tempFilesIn(c.t, c.dir); len(left) > 0 {
		c.t.Fatalf("temporary files left behind: %v", left)
	}
}

func (c *cli) path(name string) string { return filepath.Join(c.dir, name) }

func (c *cli) write(name string, data []byte) string {
	c.t.Helper()
	p := c.path(name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		c.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		c.t.Fatal(err)
	}
	return p
}

func (c *cli) read(name string) []byte {
	c.t.Helper()
	b, err := os.ReadFile(c.path(name))
	if err != nil {
		c.t.Fatal(err)
	}
	return b
}

func (c *cli) url(key string) string { return "s3://" + c.bucket + "/" + key }
