// Package miniotest gives tests a real S3 server: the endpoint named by
// S3C_TEST_ENDPOINT if set, otherwise a MinIO of the pinned release,
// built once from the Go module proxy into a cache directory and started
// on 127.0.0.1 with a free port and a temporary data directory.
//
// Environment:
//
//	S3C_TEST_ENDPOINT    use this S3 endpoint instead of starting MinIO
//	S3C_TEST_ACCESS_KEY  its credentials (default minioadmin/minioadmin)
//	S3C_TEST_SECRET_KEY
//	S3C_TEST_REGION      its region (default us-east-1)
//	S3C_CACHE_DIR        where the MinIO binary is cached (default: the
//	                     user cache directory, then s3c)
package miniotest

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Module and Version pin the MinIO server the tests run against; the
// docker-compose.yml builds the same one.
const (
	Module  = "github.com/minio/minio"
	Version = "v0.0.0-20260212201848-7aac2a2c5b7c"
)

// sseKey is MinIO's built-in KMS key for SSE-S3 in tests (name:base64).
const sseKey = "s3c-test-sse:cz1V8bXJ5Qn2rLm4Tk9Wp0YaHd3GfE6iOuSxZc7BvNg="

// Server is a running S3 endpoint.
type Server struct {
	Endpoint  string // http://127.0.0.1:port, or https:// (StartTLS)
	AccessKey string
	SecretKey string
	Region    string
	// RootCAs trusts the server's certificate when StartTLS made it; nil
	// otherwise (plain http, or an external endpoint).
	RootCAs *x509.CertPool
	// CertFile is the PEM file of that certificate (for AWS_CA_BUNDLE, for
	// a subprocess); "" when RootCAs is nil.
	CertFile string

	cmd     *exec.Cmd
	dataDir string
	exited  chan struct{}
	logs    *strings.Builder
}

// CacheDir is where the MinIO binary is kept between runs.
func CacheDir() (string, error) {
	if d := os.Getenv("S3C_CACHE_DIR"); d != "" {
		return d, nil
	}
	d, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "s3c"), nil
}

// Binary returns the path of the pinned MinIO binary, building it with
// `go install` the first time (a few minutes; later runs reuse it).
// Concurrent callers, in this process or others, build it once.
func Binary(logf func(format string, args ...any)) (string, error) {
	cache, err := CacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "minio-"+Version)
	bin := filepath.Join(dir, "minio")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	unlock, err := lockFile(filepath.Join(dir, ".lock"))
	if err != nil {
		return "", err
	}
	defer unlock()
	if _, err := os.Stat(bin); err == nil {
		return bin, nil // built by someone else while we waited
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	if logf != nil {
		logf("building %s@%s into %s (first run only, a few minutes)", Module, Version, dir)
	}
	cmd := exec.Command("go", "install", Module+"@"+Version)
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOFLAGS=-buildvcs=false", "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install %s@%s: %v\n%s", Module, Version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "minio"), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// Start returns the server named by S3C_TEST_ENDPOINT, or starts MinIO.
func Start(logf func(format string, args ...any)) (*Server, error) {
	if ep := os.Getenv("S3C_TEST_ENDPOINT"); ep != "" {
		return &Server{
			Endpoint:  ep,
			AccessKey: envOr("S3C_TEST_ACCESS_KEY", "minioadmin"),
			SecretKey: envOr("S3C_TEST_SECRET_KEY", "minioadmin"),
			Region:    envOr("S3C_TEST_REGION", "us-east-1"),
		}, nil
	}
	bin, err := Binary(logf)
	if err != nil {
		return nil, err
	}
	return launchRetrying(bin, false)
}

// StartTLS starts a MinIO of the pinned release that serves HTTPS on
// 127.0.0.1 with a fresh self-signed certificate, trusted by
// Server.RootCAs and Server.HTTPClient: for what S3 allows only over TLS,
// such as SSE-C. It always starts a new server, whatever
// S3C_TEST_ENDPOINT says.
func StartTLS(logf func(format string, args ...any)) (*Server, error) {
	bin, err := Binary(logf)
	if err != nil {
		return nil, err
	}
	return launchRetrying(bin, true)
}

// launchRetrying launches MinIO, trying again if a free port was taken
// meanwhile.
func launchRetrying(bin string, tls bool) (*Server, error) {
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		s, err := launch(bin, tls)
		if err == nil {
			return s, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// HTTPClient returns an HTTP client for s, trusting its certificate.
func (s *Server) HTTPClient() *http.Client {
	return &http.Client{Transport: s.Transport()}
}

// Transport returns an HTTP transport for s, trusting its certificate.
func (s *Server) Transport() *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if s.RootCAs != nil {
		tr.TLSClientConfig = &tls.Config{RootCAs: s.RootCAs}
	}
	return tr
}

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func launch(bin string, withTLS bool) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	consolePort, err := freePort()
	if err != nil {
		return nil, err
	}
	dataDir, err := os.MkdirTemp("", "s3c-minio-")
	if err != nil {
		return nil, err
	}
	s := &Server{
		Endpoint:  fmt.Sprintf("http://127.0.0.1:%d", port),
		AccessKey: "minioadmin",
		SecretKey: "minioadmin",
		Region:    "us-east-1",
		dataDir:   dataDir,
		exited:    make(chan struct{}),
		logs:      new(strings.Builder),
	}
	args := []string{"server", "--quiet",
		"--address", fmt.Sprintf("127.0.0.1:%d", port),
		"--console-address", fmt.Sprintf("127.0.0.1:%d", consolePort)}
	if withTLS {
		certs := filepath.Join(dataDir, "certs")
		if s.RootCAs, err = selfSigned(certs); err != nil {
			os.RemoveAll(dataDir)
			return nil, err
		}
		s.CertFile = filepath.Join(certs, "public.crt")
		s.Endpoint = fmt.Sprintf("https://127.0.0.1:%d", port)
		args = append(args, "--certs-dir", certs)
	}
	s.cmd = exec.Command(bin, append(args, filepath.Join(dataDir, "data"))...)
	s.cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey, "MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off", "MINIO_UPDATE=off", "MINIO_CI_CD=on",
		// A static key for server-side encryption (SSE-S3), so tests can
		// check that it composes with client-side encryption.
		"MINIO_KMS_SECRET_KEY="+sseKey)
	s.cmd.Stdout = &lockedWriter{b: s.logs}
	s.cmd.Stderr = s.cmd.Stdout
	if err := s.cmd.Start(); err != nil {
		os.RemoveAll(dataDir)
		return nil, err
	}
	go func() { s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(60 * time.Second); err != nil {
		s.Stop()
		return nil, fmt.Errorf("minio did not start: %v\n%s", err, s.logs.String())
	}
	return s, nil
}

func (s *Server) waitReady(timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := s.HTTPClient()
	client.Timeout = time.Second
	for time.Now().Before(deadline) {
		select {
		case <-s.exited:
			return errors.New("minio exited")
		default:
		}
		resp, err := client.Get(s.Endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return errors.New("timed out waiting for /minio/health/ready")
}

// Stop ends a MinIO this package started and removes its data; for an
// external endpoint it does nothing.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(os.Interrupt)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	os.RemoveAll(s.dataDir)
}

// Env returns the environment variables that point tests at s.
func (s *Server) Env() []string {
	return []string{
		"S3C_TEST_ENDPOINT=" + s.Endpoint,
		"S3C_TEST_ACCESS_KEY=" + s.AccessKey,
		"S3C_TEST_SECRET_KEY=" + s.SecretKey,
		"S3C_TEST_REGION=" + s.Region,
	}
}

// Config returns an aws.Config for s: static credentials, region, and
// nothing read from the environment or shared files.
func (s *Server) Config() aws.Config {
	return aws.Config{
		Region:           s.Region,
		Credentials:      credentials.NewStaticCredentialsProvider(s.AccessKey, s.SecretKey, ""),
		BaseEndpoint:     aws.String(s.Endpoint),
		RetryMaxAttempts: 3,
	}
}

// Client returns an S3 client for s, with path-style addressing.
func (s *Server) Client(optFns ...func(*s3.Options)) *s3.Client {
	return s3.NewFromConfig(s.Config(), append([]func(*s3.Options){func(o *s3.Options) {
		o.UsePathStyle = true
		if s.RootCAs != nil {
			o.HTTPClient = s.HTTPClient()
		}
	}}, optFns...)...)
}

// NewBucket creates a bucket with a unique name and returns it; the
// bucket and its objects are removed at the end of the test.
func (s *Server) NewBucket(t testing.TB) string {
	b := make([]byte, 6)
	rand.Read(b)
	name := "s3c-test-" + hex.EncodeToString(b)
	ctx := context.Background()
	c := s.Client()
	if _, err := c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &name}); err != nil {
		t.Fatalf("create bucket %s: %v", name, err)
	}
	t.Cleanup(func() { s.emptyAndDelete(name) })
	return name
}

func (s *Server) emptyAndDelete(bucket string) {
	ctx := context.Background()
	c := s.Client()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		for _, o := range page.Contents {
			c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: o.Key})
		}
	}
	c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
}

type lockedWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.b.Len() > 1<<20 {
		return len(p), nil
	}
	return w.b.Write(p)
}
