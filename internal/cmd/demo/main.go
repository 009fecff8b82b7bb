// Command demo shows s3c end to end on a fresh machine: it starts a local
// MinIO (as the tests do), makes an AES master key, uploads a file
// encrypted, shows what S3 stores, downloads and verifies it, and stops
// MinIO. `make demo` runs it.
package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"io"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/miniotest"
)

func main() {
	bin := flag.String("s3c", "bin/s3c", "the s3c binary")
	flag.Parse()
	log.SetFlags(0)
	if err := demo(*bin); err != nil {
		log.Fatalf("demo failed: %v", err)
	}
}

func step(format string, args ...any) { fmt.Printf("\n▸ "+format+"\n", args...) }

func demo(bin string) error {
	bin, err := filepath.Abs(bin)
	if err != nil {
		return err
	}
	ctx := context.Background()
	step("Starting MinIO %s on 127.0.0.1 (the first run builds it: a few minutes)", miniotest.Version)
	srv, err := miniotest.Start(func(f string, a ...any) { fmt.Printf("  "+f+"\n", a...) })
	if err != nil {
		return err
	}
	defer func() {
		step("Stopping MinIO")
		srv.Stop()
	}()
	fmt.Printf("  listening on %s\n", srv.Endpoint)
	raw := srv.Client()
	bucket := "s3c-demo"
	if _, err := raw.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil && !strings.Contains(err.Error(), "BucketAlreadyOwnedByYou") {
		return err
	}

	dir, err := os.MkdirTemp("", "s3c-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env := append(os.Environ(),
		"AWS_ACCESS_KEY_ID="+srv.AccessKey, "AWS_SECRET_ACCESS_KEY="+srv.SecretKey,
		"AWS_REGION="+srv.Region, "AWS_ENDPOINT_URL_S3="+srv.Endpoint,
		"AWS_CONFIG_FILE="+filepath.Join(dir, "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(dir, "none"))
	s3c := func(args ...string) (string, error) {
		fmt.Printf("  $ s3c %s\n", strings.Join(args, " "))
		cmd := exec.Command(bin, args...)
		cmd.Dir, cmd.Env = dir, env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		for _, l := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
			if l != "" {
				fmt.Printf("    %s\n", l)
			}
		}
		return out.String(), err
	}

	step("Generating a local AES-256 master key")
	if _, err := s3c("keygen", "aes", "demo.key"); err != nil {
		return err
	}

	step("Writing a sample file")
	sample := bytes.Repeat([]byte("Quarterly numbers, strictly confidential. "), 25000)
	if err := os.WriteFile(filepath.Join(dir, "report.txt"), sample, 0o644); err != nil {
		return err
	}
	sum := sha256.Sum256(sample)
	fmt.Printf("  report.txt: %d bytes, sha256 %s…\n", len(sample), hex.EncodeToString(sum[:8]))

	step("Uploading it encrypted")
	url := "s3://" + bucket + "/reports/report.txt"
	if _, err := s3c("put", "--aes-key", "demo.key", "--context", "department=finance", "report.txt", url); err != nil {
		return err
	}

	step("What s3c sees: the envelope, never the key")
	if _, err := s3c("head", url); err != nil {
		return err
	}

	step("What S3 stores, read with a plain S3 client")
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String("reports/report.txt")})
	if err != nil {
		return err
	}
	stored, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return err
	}
	fmt.Printf("  %d bytes (plaintext + 16-byte GCM tag), starting %s…\n", len(stored), hex.EncodeToString(stored[:24]))
	if bytes.Contains(stored, []byte("confidential")) {
		return fmt.Errorf("the stored object contains the plaintext")
	}
	fmt.Println("  the word \"confidential\" appears nowhere in it")
	keys := make([]string, 0, len(out.Metadata))
	for k := range out.Metadata {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := out.Metadata[k]
		if len(v) > 60 {
			v = v[:57] + "..."
		}
		fmt.Printf("  x-amz-meta-%-8s %s\n", k+":", v)
	}

	step("Downloading and decrypting it")
	if _, err := s3c("get", "--aes-key", "demo.key", "--context", "department=finance", url, "restored.txt"); err != nil {
		return err
	}
	restored, err := os.ReadFile(filepath.Join(dir, "restored.txt"))
	if err != nil {
		return err
	}
	if !bytes.Equal(restored, sample) {
		return fmt.Errorf("restored.txt differs from report.txt")
	}
	rsum := sha256.Sum256(restored)
	fmt.Printf("  restored.txt: sha256 %s… — identical to the original\n", hex.EncodeToString(rsum[:8]))

	step("Tampering with one byte of the stored object, then downloading again")
	stored[len(stored)/2] ^= 1
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String("reports/report.txt"), Body: bytes.NewReader(stored), Metadata: out.Metadata}); err != nil {
		return err
	}
	if _, err := s3c("get", "--aes-key", "demo.key", "--context", "department=finance", url, "tampered.txt"); err == nil {
		return fmt.Errorf("a tampered object was accepted")
	} else if ee, ok := err.(*exec.ExitError); ok {
		fmt.Printf("  exit code %d (integrity failure); tampered.txt was not created\n", ee.ExitCode())
	}
	if _, err := os.Stat(filepath.Join(dir, "tampered.txt")); err == nil {
		return fmt.Errorf("tampered.txt was written")
	}
	return nil
}
