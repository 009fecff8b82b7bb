// Command bench measures s3c against plain aws-sdk-go-v2 on the same S3
// server in the same run: throughput and peak memory of uploads and
// downloads per object size, encrypted and plain side by side, and the
// operation rate for many small objects. `make bench` runs it with a MinIO.
//
// Each large-object measurement runs in a child process of its own, so
// that its peak RSS is its own.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
)

type result struct {
	Seconds float64 `json:"seconds"`
	MaxRSS  int64   `json:"max_rss_kib"`
	Ops     int     `json:"ops,omitempty"`
}

func main() {
	child := flag.String("child", "", "internal: run one operation and report")
	sizes := flag.String("sizes", "64M,256M,1G,4G", "object sizes")
	runs := flag.Int("runs", 3, "runs per measurement (median reported)")
	small := flag.Int("small", 2000, "number of 4 KiB objects")
	workers := flag.Int("workers", 32, "workers for the small objects")
	scratch := flag.String("dir", defaultScratch(), "where the source file and downloads go (a tmpfs keeps the local disk out of the figures)")
	size := flag.Int64("size", 0, "internal: object size")
	file := flag.String("file", "", "internal: source file")
	key := flag.String("key", "", "internal: object key")
	flag.Parse()
	log.SetFlags(0)
	if *child != "" {
		res, err := runChild(*child, *size, *file, *key, *small, *workers)
		if err != nil {
			log.Fatalf("%s: %v", *child, err)
		}
		res.MaxRSS = maxRSS()
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	if err := runParent(*sizes, *runs, *small, *workers, *scratch); err != nil {
		log.Fatal(err)
	}
}

func maxRSS() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Maxrss // KiB on Linux
}

func parseSize(s string) (int64, error) {
	mult := int64(1)
	switch {
	case strings.HasSuffix(s, "G"):
		mult, s = 1<<30, strings.TrimSuffix(s, "G")
	case strings.HasSuffix(s, "M"):
		mult, s = 1<<20, strings.TrimSuffix(s, "M")
	case strings.HasSuffix(s, "K"):
		mult, s = 1<<10, strings.TrimSuffix(s, "K")
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

func human(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

// world is what parent and children share, passed through the environment.
type world struct {
	minio  *miniotest.Server
	bucket string
	kmsURL string
}

func defaultScratch() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

func runParent(sizeList string, runs, small, workers int, scratch string) error {
	srv, err := miniotest.Start(log.Printf)
	if err != nil {
		return err
	}
	defer srv.Stop()
	kms, err := kmstest.Start(kmstest.Options{AccessKeyID: "AKIDBENCH", SecretAccessKey: "bench-secret"})
	if err != nil {
		return err
	}
	defer kms.Close()
	kms.ImportKey("11111111-2222-3333-4444-555555555555", make([]byte, 32), "alias/bench")
	ctx := context.Background()
	bucket := fmt.Sprintf("s3c-bench-%d", time.Now().UnixNano())
	if _, err := srv.Client().CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return err
	}
	env := append(os.Environ(), srv.Env()...)
	env = append(env, "S3C_BENCH_BUCKET="+bucket, "S3C_BENCH_KMS="+kms.URL())

	var sizes []int64
	var largest int64
	for _, s := range strings.Split(sizeList, ",") {
		n, err := parseSize(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("size %q: %v", s, err)
		}
		sizes = append(sizes, n)
		largest = max(largest, n)
	}
	dir, err := os.MkdirTemp(scratch, "s3c-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	src := filepath.Join(dir, "source")
	if err := writeSource(src, largest); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	once := func(op string, size int64) (result, error) {
		args := []string{"-child", op, "-size", strconv.FormatInt(size, 10), "-file", src,
			"-key", fmt.Sprintf("%s-%d", strings.SplitN(op, "-", 2)[1], size)}
		cmd := exec.Command(self, args...)
		cmd.Env = append(env, "S3C_BENCH_DIR="+dir)
		cmd.Stderr = os.Stderr
		out, err := cmd.Output()
		if err != nil {
			return result{}, fmt.Errorf("%s %s: %v", op, human(size), err)
		}
		var r result
		err = json.Unmarshal(out, &r)
		return r, err
	}
	// measure runs each operation runs times, interleaved so that drift in
	// the machine's speed touches every operation alike, and returns the
	// median time and the worst peak RSS of each.
	measure := func(ops []string, size int64) (map[string]result, error) {
		all := map[string][]result{}
		for i := 0; i < runs; i++ {
			for _, op := range ops {
				r, err := once(op, size)
				if err != nil {
					return nil, err
				}
				all[op] = append(all[op], r)
			}
		}
		res := map[string]result{}
		for op, rs := range all {
			sort.Slice(rs, func(i, j int) bool { return rs[i].Seconds < rs[j].Seconds })
			med := rs[len(rs)/2]
			for _, r := range rs {
				med.MaxRSS = max(med.MaxRSS, r.MaxRSS)
			}
			res[op] = med
		}
		return res, nil
	}
	mbps := func(size int64, r result) float64 { return float64(size) / 1e6 / r.Seconds }
	_ = measure

	fmt.Printf("s3c bench: MinIO %s on loopback, %d runs per cell, interleaved (median MB/s of plaintext; peak RSS is the worst run)\n", miniotest.Version, runs)
	fmt.Printf("source file and downloads in %s\n", scratch)
	fmt.Printf("plain = aws-sdk-go-v2 (PutObject / feature/s3/manager Uploader, GetObject); s3c = encrypted (V3, KMS keyring)\n\n")
	fmt.Println("| size | put plain PutObject | put plain manager | put s3c | s3c/manager | get plain | get s3c Downloader | ratio | get s3c GetObject | ratio | RSS put manager / s3c | RSS get plain / s3c Downloader / s3c GetObject |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|")
	for _, size := range sizes {
		puts, err := measure([]string{"put-plain", "put-manager", "put-s3c"}, size)
		if err != nil {
			return err
		}
		gets, err := measure([]string{"get-plain", "get-s3c-downloader", "get-s3c-getobject"}, size)
		if err != nil {
			return err
		}
		res := puts
		for k, v := range gets {
			res[k] = v
		}
		m := func(op string) float64 { return mbps(size, res[op]) }
		fmt.Printf("| %s | %.0f | %.0f | %.0f | **%.2f** | %.0f | %.0f | **%.2f** | %.0f | %.2f | %d / %d MiB | %d / %d / %d MiB |\n",
			human(size), m("put-plain"), m("put-manager"), m("put-s3c"), m("put-s3c")/m("put-manager"),
			m("get-plain"), m("get-s3c-downloader"), m("get-s3c-downloader")/m("get-plain"),
			m("get-s3c-getobject"), m("get-s3c-getobject")/m("get-plain"),
			res["put-manager"].MaxRSS>>10, res["put-s3c"].MaxRSS>>10,
			res["get-plain"].MaxRSS>>10, res["get-s3c-downloader"].MaxRSS>>10, res["get-s3c-getobject"].MaxRSS>>10)
	}
	fmt.Println()
	if small > 0 {
		fmt.Printf("| %d objects of 4 KiB, %d workers | plain ops/s | s3c, raw AES key | ratio | s3c, KMS (server on the same 2 cores) | ratio |\n|---|---|---|---|---|---|\n", small, workers)
		for _, dir := range []string{"put", "get"} {
			ops := []string{"small-" + dir + "-plain", "small-" + dir + "-aes", "small-" + dir + "-kms"}
			res, err := measure(ops, 4096)
			if err != nil {
				return err
			}
			rate := func(op string) float64 { return float64(res[op].Ops) / res[op].Seconds }
			p, a, k := rate(ops[0]), rate(ops[1]), rate(ops[2])
			fmt.Printf("| %s | %.0f | %.0f | **%.2f** | %.0f | %.2f |\n", dir, p, a, a/p, k, k/p)
		}
	}
	_ = aws.String
	return nil
}

// writeSource writes n bytes of incompressible data.
func writeSource(path string, n int64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	p := newPattern(n)
	buf := make([]byte, 4<<20)
	for {
		k, err := p.Read(buf)
		if k > 0 {
			if _, err := f.Write(buf[:k]); err != nil {
				return err
			}
		}
		if err != nil {
			break
		}
	}
	return f.Sync()
}
