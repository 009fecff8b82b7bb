package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
)

// The CLI is tested as people and scripts use it: the binary, built once,
// run as a subprocess against a real MinIO and the KMS test server.
var (
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
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
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
	}
	return c
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

// fails runs and requires the exit code and a one-line error naming want.
func (c *cli) fails(code int, want string, args ...string) result {
	c.t.Helper()
	r := c.run(args...)
	if r.code != code {
		c.t.Fatalf("s3c %s: exit %d, want %d\nstderr: %s", strings.Join(args, " "), r.code, code, r.stderr)
	}
	first := strings.SplitN(r.stderr, "\n", 2)[0]
	if !strings.HasPrefix(first, "s3c: ") || !strings.Contains(first, want) {
		c.t.Fatalf("s3c %s: first stderr line %q, want it to mention %q", strings.Join(args, " "), first, want)
	}
	return r
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
