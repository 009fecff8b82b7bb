// Command devenv starts and stops a local playground for s3c: MinIO and
// the KMS test server, in the background, with a bucket, and prints the
// environment to paste into a shell. Their process ids, logs and MinIO's
// data live in a state directory. make dev and make dev-stop run it.
//
//	go run ./internal/cmd/devenv start [-state .dev] [-s3-port 9000] [-kms-port 4566]
//	go run ./internal/cmd/devenv stop [-state .dev]
//
// For trying s3c only: the credentials are MinIO's defaults and the KMS
// test server keeps its keys in memory, so what is encrypted under its
// KMS key cannot be read once it stops (local AES and RSA keys are not
// affected).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/miniotest"
)

const (
	accessKey = "minioadmin"
	secretKey = "minioadmin"
	region    = "us-east-1"
	bucket    = "s3c-dev"
	kmsAlias  = "alias/s3c-dev"
)

func main() {
	log.SetFlags(0)
	log.SetPrefix("devenv: ")
	if len(os.Args) < 2 || (os.Args[1] != "start" && os.Args[1] != "stop") {
		fmt.Fprintln(os.Stderr, "usage: devenv start|stop [-state DIR] [-s3-port N] [-kms-port N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	state := fs.String("state", ".dev", "directory for pids, logs and MinIO's data")
	s3Port := fs.Int("s3-port", 9000, "MinIO's port on 127.0.0.1")
	kmsPort := fs.Int("kms-port", 4566, "the KMS test server's port on 127.0.0.1")
	fs.Parse(os.Args[2:])
	dir, err := filepath.Abs(*state)
	if err != nil {
		log.Fatal(err)
	}
	if os.Args[1] == "stop" {
		if err := stop(dir); err != nil {
			log.Fatal(err)
		}
		return
	}
	if err := start(dir, *s3Port, *kmsPort); err != nil {
		log.Fatal(err)
	}
}

func start(dir string, s3Port, kmsPort int) (err error) {
	for _, name := range []string{"minio", "kms"} {
		if pid, ok := running(dir, name); ok {
			return fmt.Errorf("%s is running already (pid %d): make dev-stop first", name, pid)
		}
	}
	for _, port := range []int{s3Port, kmsPort} {
		if ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)); err != nil {
			return fmt.Errorf("port %d is taken (%v): choose others with DEV_S3_PORT and DEV_KMS_PORT", port, err)
		} else {
			ln.Close()
		}
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o700); err != nil {
		return err
	}
	minioBin, err := miniotest.Binary(log.Printf)
	if err != nil {
		return err
	}
	kmsBin := filepath.Join(dir, "kmsserver")
	build := exec.Command("go", "build", "-o", kmsBin, "github.com/s3c/s3c/internal/cmd/kmsserver")
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building the KMS test server: %v\n%s", err, out)
	}

	defer func() {
		if err != nil { // stop what was started
			stop(dir)
		}
	}()
	s3URL := fmt.Sprintf("http://127.0.0.1:%d", s3Port)
	kmsURL := fmt.Sprintf("http://127.0.0.1:%d", kmsPort)
	if err := spawn(dir, "minio", minioBin, []string{"server", "--quiet",
		"--address", fmt.Sprintf("127.0.0.1:%d", s3Port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", s3Port+1),
		filepath.Join(dir, "data")},
		"MINIO_ROOT_USER="+accessKey, "MINIO_ROOT_PASSWORD="+secretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off"); err != nil {
		return err
	}
	if err := spawn(dir, "kms", kmsBin, []string{"-listen", fmt.Sprintf("127.0.0.1:%d", kmsPort),
		"-access-key", accessKey, "-secret-key", secretKey, "-key", kmsAlias}); err != nil {
		return err
	}
	if err := waitHTTP(s3URL+"/minio/health/ready", 60*time.Second); err != nil {
		return fmt.Errorf("MinIO did not start (see %s): %v", filepath.Join(dir, "minio.log"), err)
	}
	if err := waitHTTP(kmsURL, 10*time.Second); err != nil {
		return fmt.Errorf("the KMS test server did not start (see %s): %v", filepath.Join(dir, "kms.log"), err)
	}
	if err := makeBucket(s3URL); err != nil {
		return err
	}
	fmt.Printf(`MinIO on %s (data in %s), KMS test server on %s, bucket s3://%s.
Paste into your shell:

export AWS_ACCESS_KEY_ID=%s
export AWS_SECRET_ACCESS_KEY=%s
export AWS_REGION=%s
export AWS_ENDPOINT_URL_S3=%s
export AWS_ENDPOINT_URL_KMS=%s

Then, for example:
  s3c keygen aes dev.key
  s3c put --aes-key dev.key README.md s3://%s/README.md
  s3c put --kms-key-id %s README.md s3://%s/README.kms.md
  s3c ls s3://%s/
make dev-stop stops both. The KMS test server keeps its key in memory: what is
encrypted under %s cannot be read once it stops.
`, s3URL, filepath.Join(dir, "data"), kmsURL, bucket, accessKey, secretKey, region, s3URL, kmsURL,
		bucket, kmsAlias, bucket, bucket, kmsAlias)
	return nil
}

// spawn starts a server in its own session, its output in DIR/NAME.log,
// its pid in DIR/NAME.pid: it outlives this process.
func spawn(dir, name, bin string, args []string, env ...string) error {
	logf, err := os.OpenFile(filepath.Join(dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", name, err)
	}
	pid := cmd.Process.Pid
	cmd.Process.Release()
	return os.WriteFile(filepath.Join(dir, name+".pid"), []byte(strconv.Itoa(pid)+"\n"), 0o600)
}

// running reads DIR/NAME.pid and reports whether that process is alive.
func running(dir, name string) (int, bool) {
	b, err := os.ReadFile(filepath.Join(dir, name+".pid"))
	if err != nil {
		return 0, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, false
	}
	// A pid may have been reused since: on Linux, check it is still ours.
	if cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
		prog := map[string]string{"minio": "minio", "kms": "kmsserver"}[name]
		argv0, _, _ := strings.Cut(string(cmdline), "\x00")
		if filepath.Base(argv0) != prog {
			return 0, false
		}
	}
	return pid, syscall.Kill(pid, 0) == nil
}

// stop ends the servers start began, by the pids it wrote, and removes
// the pid files; MinIO's data stays (rm -r the state directory to drop it).
func stop(dir string) error {
	stopped := 0
	for _, name := range []string{"kms", "minio"} {
		pidFile := filepath.Join(dir, name+".pid")
		pid, ok := running(dir, name)
		if ok {
			syscall.Kill(pid, syscall.SIGTERM)
			for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
				if syscall.Kill(pid, 0) != nil {
					break
				}
			}
			if syscall.Kill(pid, 0) == nil {
				syscall.Kill(pid, syscall.SIGKILL)
			}
			fmt.Printf("stopped %s (pid %d)\n", name, pid)
			stopped++
		}
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
	}
	if stopped == 0 {
		fmt.Println("nothing was running")
	} else {
		fmt.Printf("MinIO's data stays in %s (remove it to start afresh)\n", filepath.Join(dir, "data"))
	}
	return nil
}

func waitHTTP(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	var err error
	for end := time.Now().Add(timeout); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		var resp *http.Response
		if resp, err = client.Get(url); err == nil {
			resp.Body.Close()
			if resp.StatusCode < 500 {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
	}
	return err
}

func makeBucket(endpoint string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := s3.New(s3.Options{Region: region, BaseEndpoint: aws.String(endpoint), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(accessKey, secretKey, "")})
	_, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(bucket)})
	var owned interface{ ErrorCode() string }
	if errors.As(err, &owned) && (owned.ErrorCode() == "BucketAlreadyOwnedByYou" || owned.ErrorCode() == "BucketAlreadyExists") {
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the bucket %s: %w", bucket, err)
	}
	return nil
}
