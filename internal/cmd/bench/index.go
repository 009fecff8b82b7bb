package main

// The rows of the chunk index (issue 16): GetObject of an indexed object
// streamed chunk by chunk, `s3c get … -` of one, and a 1 MiB
// authenticated range of one, with the targets they are held to.

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/s3crypto"
)

const (
	wantStream    = 0.95     // indexed GetObject and `s3c get … -` ÷ faster plain get
	wantStreamRSS = 64 << 10 // KiB, peak RSS of an indexed GetObject
	wantChunks    = 2        // chunks read for a 1 MiB range of the largest object
	rangeLen      = 1 << 20  // the authenticated range row's length
)

// keyS3CAES is the object the CLI row reads: written by the raw AES
// keyring (the CLI's --aes-key), with its chunk index.
func keyS3CAES(size int64) string { return fmt.Sprintf("s3c-aes-%d", size) }

// indexGetOps are the indexed get rows of a size's table.
func indexGetOps() []op {
	return []op{
		{"get-s3c-getobject", "get s3c GetObject (indexed, streamed)", "s3crypto Client.GetObject of an object with a chunk index, streamed to a file: each 1 MiB chunk released once its MAC verifies, no temp file (the read path is checked)", true},
		{"get-s3c-cli", "get s3c CLI `s3c get … -`", "the s3c binary: `s3c get --aes-key K s3://… -` of an indexed object (raw AES keyring), stdout to a file; peak RSS: the s3c process's ru_maxrss (an upper bound: Linux carries the forking process's peak into it)", true},
	}
}

// runIndexChild does one of the index rows' operations; ok is false for
// an operation that is not one of them.
func runIndexChild(ctx context.Context, cs *clientSet, op string, size int64, file string) (r result, ok bool, err error) {
	bucket := cs.bucket
	dir := os.Getenv("S3C_BENCH_DIR")
	get := func(key string) *s3.GetObjectInput { return &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(key)} }
	switch op {
	case "get-s3c-getobject":
		start := time.Now()
		err = getToFile(dir, size, func(w *os.File) error {
			out, err := cs.kms.GetObject(ctx, get(keyS3C(size)))
			if err != nil {
				return err
			}
			defer out.Body.Close()
			if info, _ := s3crypto.GetObjectInfo(out.ResultMetadata); info.ReadPath != core.ReadIndexStream {
				return fmt.Errorf("read path %q, want %q", info.ReadPath, core.ReadIndexStream)
			}
			_, err = io.Copy(w, out.Body)
			return err
		})
		return result{Seconds: time.Since(start).Seconds()}, true, err
	case "put-s3c-aes":
		f, err := os.Open(file)
		if err != nil {
			return r, true, err
		}
		defer f.Close()
		_, err = s3crypto.NewUploader(cs.aes).Upload(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: aws.String(keyS3CAES(size)),
			Body: io.NewSectionReader(f, 0, size), ContentLength: aws.Int64(size)})
		return r, true, err
	case "get-s3c-cli":
		return runCLIGet(ctx, cs, size, dir)
	case "get-s3c-range":
		return runRange(ctx, cs, size, file)
	}
	return r, false, nil
}

// runCLIGet times `s3c get --aes-key K s3://bucket/key -` into a file.
func runCLIGet(ctx context.Context, cs *clientSet, size int64, dir string) (result, bool, error) {
	keyFile, err := aesKeyFile(dir)
	if err != nil {
		return result{}, true, err
	}
	var r result
	err = getToFile(dir, size, func(w *os.File) error {
		cmd := cliCommand(ctx, "get", "--aes-key", keyFile, "s3://"+cs.bucket+"/"+keyS3CAES(size), "-")
		cmd.Stdout = w
		start := time.Now()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("s3c get: %v", err)
		}
		r.Seconds = time.Since(start).Seconds()
		r.MaxRSS = processRSS(cmd.ProcessState)
		return nil
	})
	return r, true, err
}

// aesKeyFile writes the raw AES keyring's key (see clients: 32 zero
// bytes) into dir as s3c keygen writes keys, and returns its path.
func aesKeyFile(dir string) (string, error) {
	keyFile := filepath.Join(dir, "aes.key")
	return keyFile, os.WriteFile(keyFile, []byte(base64.StdEncoding.EncodeToString(make([]byte, 32))+"\n"), 0o600)
}

// cliCommand is the s3c binary run with args against the bench's S3.
func cliCommand(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, os.Getenv("S3C_BENCH_CLI"), args...)
	cmd.Stderr = os.Stderr
	// Without AWS_CA_BUNDLE: the SDK parses that file (~150 certificates,
	// ~8 ms here) when it loads its configuration even for an http://
	// endpoint, and the plain rows' client, built in process, reads no
	// configuration at all. Some machines (this one's sandbox) set it for
	// every process.
	cmd.Env = append(withoutEnv(os.Environ(), "AWS_CA_BUNDLE"),
		"AWS_ENDPOINT_URL_S3="+os.Getenv("S3C_TEST_ENDPOINT"),
		"AWS_ACCESS_KEY_ID="+os.Getenv("S3C_TEST_ACCESS_KEY"),
		"AWS_SECRET_ACCESS_KEY="+os.Getenv("S3C_TEST_SECRET_KEY"),
		"AWS_REGION="+os.Getenv("S3C_TEST_REGION"),
		"AWS_EC2_METADATA_DISABLED=true")
	return cmd
}

// rangeRecorder counts the chunks of the object that GETs fetch, from
// their Range headers.
type rangeRecorder struct {
	base interface {
		Do(*http.Request) (*http.Response, error)
	}
	key    string
	size   int64
	mu     sync.Mutex
	chunks int64
	gets   int
}

func (c *rangeRecorder) Do(req *http.Request) (*http.Response, error) {
	if req.Method == http.MethodGet && strings.HasSuffix(req.URL.Path, "/"+c.key) {
		a, b := int64(0), c.size+15 // a GET without Range: the whole object, tag included
		if h := req.Header.Get("Range"); h != "" {
			from, to, _ := strings.Cut(strings.TrimPrefix(h, "bytes="), "-")
			a, _ = strconv.ParseInt(from, 10, 64)
			b, _ = strconv.ParseInt(to, 10, 64)
		}
		c.mu.Lock()
		c.chunks += b/core.DefaultIndexChunk - a/core.DefaultIndexChunk + 1
		c.gets++
		c.mu.Unlock()
	}
	return c.base.Do(req)
}

// runRange reads 1 MiB of the indexed object that straddles a chunk
// boundary near its middle, authenticated, checks it against the source
// file and reports the chunks fetched in Ops.
func runRange(ctx context.Context, cs *clientSet, size int64, file string) (result, bool, error) {
	a := max(size/2/core.DefaultIndexChunk*core.DefaultIndexChunk-rangeLen/2, 0)
	n := min(int64(rangeLen), size-a)
	rec := &rangeRecorder{key: keyS3C(size), size: size}
	start := time.Now()
	out, err := cs.kms.GetObject(ctx, &s3.GetObjectInput{Bucket: &cs.bucket, Key: aws.String(keyS3C(size)),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", a, a+n-1))}, func(o *s3.Options) {
		rec.base = o.HTTPClient
		o.HTTPClient = rec
	})
	if err != nil {
		return result{}, true, err
	}
	got, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		return result{}, true, err
	}
	sec := time.Since(start).Seconds()
	if info, _ := s3crypto.GetObjectInfo(out.ResultMetadata); info.ReadPath != core.ReadIndexRange {
		return result{}, true, fmt.Errorf("range read path %q, want %q", info.ReadPath, core.ReadIndexRange)
	}
	f, err := os.Open(file)
	if err != nil {
		return result{}, true, err
	}
	defer f.Close()
	want := make([]byte, n)
	if _, err := f.ReadAt(want, a); err != nil {
		return result{}, true, err
	}
	if !bytes.Equal(got, want) {
		return result{}, true, fmt.Errorf("range %d+%d: the bytes differ from the source", a, n)
	}
	return result{Seconds: sec, Ops: int(rec.chunks)}, true, nil
}

// measureIndexSetup stores the object the CLI row reads (raw AES
// keyring, indexed), in a child of its own, unmeasured.
func measureIndexSetup(once func(string, int64) (result, error), size int64) error {
	_, err := once("put-s3c-aes", size)
	return err
}

// printRange prints the authenticated range row of a size.
func printRange(size int64, r result) {
	fmt.Printf("Authenticated 1 MiB range across a chunk boundary (GetObject with Range, indexed object): %.1f ms, %d chunks of %s read, peak RSS %s\n\n",
		r.Seconds*1000, r.Ops, human(core.DefaultIndexChunk), mib(r.MaxRSS))
}

// indexTargets are the index rows' targets: each size's worst ratio.
func indexTargets(results []sizeResult) []target {
	if len(results) == 0 {
		return nil
	}
	var ts []target
	for _, row := range []struct{ name, what string }{
		{"get-s3c-getobject", "download: s3c GetObject, indexed object streamed ÷ faster plain get"},
		{"get-s3c-cli", "download: `s3c get … -`, indexed object ÷ faster plain get"},
	} {
		w, at := 0.0, ""
		for i, r := range results {
			_, best := bestPlain(r.size, r.res, "get-plain", "get-plain-downloader")
			if v := mbps(r.size, r.res[row.name]) / best; i == 0 || v < w {
				w, at = v, human(r.size)
			}
		}
		ts = append(ts, ratioTarget(row.what, wantStream, w, at))
	}
	peak, at := int64(0), ""
	largest := results[0]
	for _, r := range results {
		if m := r.res["get-s3c-getobject"].MaxRSS; m > peak {
			peak, at = m, human(r.size)
		}
		if r.size > largest.size {
			largest = r
		}
	}
	t := target{what: "peak RSS, s3c GetObject indexed, streamed", wanted: "≤ " + mib(wantStreamRSS), measured: mib(peak) + " (" + at + ")", verdict: "PASS"}
	if peak > wantStreamRSS {
		t.verdict = "SHORT by " + mib(peak-wantStreamRSS)
	}
	ts = append(ts, t)
	rr := largest.res["get-s3c-range"]
	t = target{what: "1 MiB authenticated range of the largest object (" + human(largest.size) + "): chunks read",
		wanted: fmt.Sprintf("≤ %d", wantChunks), measured: strconv.Itoa(rr.Ops), verdict: "PASS"}
	if rr.Ops > wantChunks || rr.Ops == 0 {
		t.verdict = fmt.Sprintf("SHORT by %d", rr.Ops-wantChunks)
	}
	return append(ts, t)
}

// buildCLI builds the s3c binary for the CLI row into dir.
func buildCLI(dir string) (string, error) {
	bin := filepath.Join(dir, "s3c")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/s3c/s3c/cmd/s3c").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building s3c for the CLI row: %v\n%s", err, out)
	}
	return bin, nil
}

// withoutEnv returns env without the variable named name.
func withoutEnv(env []string, name string) []string {
	return slices.DeleteFunc(env, func(kv string) bool { return strings.HasPrefix(kv, name+"=") })
}
