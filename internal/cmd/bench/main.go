// Command bench measures s3c against plain aws-sdk-go-v2 on the same S3
// server in the same run, and prints one report: throughput and peak
// memory of uploads and downloads per object size, encrypted and plain
// side by side with their ratios; the operation rate for many 4 KiB
// objects; the in-memory cipher against crypto/cipher's AES-GCM; and
// whether each performance target is met. `make bench` runs it with a
// MinIO (or the server named by S3C_TEST_ENDPOINT).
//
// Each large-object measurement runs in a child process of its own, so
// that its peak RSS (VmHWM) is its own.
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
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/manager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/keyring/branch"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

type result struct {
	Seconds float64 `json:"seconds"`
	MaxRSS  int64   `json:"max_rss_kib"`
	Ops     int     `json:"ops,omitempty"`
	CPU     float64 `json:"cpu_seconds,omitempty"` // the client's CPU time over the small objects' loop
}

const defaultSizes = "64M,256M,1G,4G"

func main() {
	child := flag.String("child", "", "internal: run one operation and report")
	sizes := flag.String("sizes", defaultSizes, "object sizes, comma-separated (K, M, G suffixes)")
	runs := flag.Int("runs", 3, "runs per measurement (median reported)")
	small := flag.Int("small", 2000, "number of 4 KiB objects (0: skip)")
	workers := flag.Int("workers", 32, "workers for the small objects")
	cipherRows := flag.Bool("cipher", true, "run the in-memory cipher microbenchmarks")
	scratch := flag.String("dir", defaultScratch(), "where the source file and downloads go (a tmpfs keeps the local disk out of the figures)")
	size := flag.Int64("size", 0, "internal: object size")
	file := flag.String("file", "", "internal: source file")
	flag.Parse()
	log.SetFlags(0)
	if *child != "" {
		res, err := runChild(*child, *size, *file, *small, *workers)
		if err != nil {
			log.Fatalf("%s: %v", *child, err)
		}
		if res.MaxRSS == 0 { // else the row measured another process
			res.MaxRSS = peakRSS()
		}
		json.NewEncoder(os.Stdout).Encode(res)
		return
	}
	log.SetPrefix("bench: ")
	if err := runParent(config{*sizes, *runs, *small, *workers, *cipherRows, *scratch}); err != nil {
		log.Fatal(err)
	}
}

type config struct {
	sizes   string
	runs    int
	small   int
	workers int
	cipher  bool
	scratch string
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
	if err == nil && n <= 0 {
		err = fmt.Errorf("not positive")
	}
	return n * mult, err
}

func human(n int64) string {
	switch {
	case n >= 1<<30 && n%(1<<30) == 0:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func mib(kib int64) string { return fmt.Sprintf("%.0f MiB", float64(kib)/1024) }

func defaultScratch() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() {
		return "/dev/shm"
	}
	return os.TempDir()
}

// where describes a directory for the header.
func where(dir string) string {
	s := dir
	if k := fsKind(dir); k != "" {
		s += " (" + k
		if free := freeSpace(dir); free >= 0 {
			s += ", " + human(free) + " free"
		}
		s += ")"
	}
	return s
}

// chooseScratch returns scratch if it has room for the source file and
// one download of the largest size, else the disk temp dir.
func chooseScratch(scratch string, largest int64) (string, error) {
	need := 2*largest + 64<<20
	free := freeSpace(scratch)
	if free < 0 || free >= need {
		return scratch, nil
	}
	alt := os.TempDir()
	log.Printf("WARNING: %s has %s free, the source file and a download of %s need %s: using %s instead; its speed is now part of the figures",
		scratch, human(free), human(largest), human(need), alt)
	if f := freeSpace(alt); f >= 0 && f < need {
		return "", fmt.Errorf("%s has only %s free too; pass -dir or smaller -sizes", alt, human(f))
	}
	return alt, nil
}

// op is one measured operation: a row of a size's table.
type op struct {
	name, label, what string
	s3c               bool // an encrypted row, compared with the faster plain one
}

// The large-object operations and what they are.
func largeOps(httpPlain bool) (puts, gets []op) {
	signed := "payload signed (SHA-256 of the body) over http"
	if !httpPlain {
		signed = "UNSIGNED-PAYLOAD, as the SDK does over https"
	}
	unsigned := "UNSIGNED-PAYLOAD"
	dlSettings := fmt.Sprintf("%s ranges, %d at once", human(s3crypto.DefaultDownloadPartSize), s3crypto.DefaultConcurrency)
	ulSettings := fmt.Sprintf("%s parts, %d at once", human(s3crypto.DefaultPartSize), s3crypto.DefaultConcurrency)
	puts = []op{
		{"put-plain", "put plain PutObject", "one PutObject from the file, SDK defaults: " + signed, false},
		{"put-manager", "put plain manager", fmt.Sprintf("feature/s3/manager Uploader, SDK defaults: %s parts, %d at once, %s",
			human(manager.DefaultUploadPartSize), manager.DefaultUploadConcurrency, signed), false},
		{"put-manager-s3c-settings", "put plain manager, s3c settings", "manager Uploader set like s3crypto.Uploader: " + ulSettings + ", " + unsigned, false},
		{"put-s3c", "put s3c Uploader", "s3crypto.Uploader, defaults: " + ulSettings + ", " + unsigned + "; KMS keyring, V3 format", true},
	}
	gets = []op{
		{"get-plain", "get plain GetObject", "one GetObject streamed to a file (the object the default manager stored)", false},
		{"get-plain-downloader", "get plain manager Downloader, s3c settings", "manager Downloader set like s3crypto.Downloader: " + dlSettings + ", to a file", false},
		{"get-s3c-downloader", "get s3c Downloader", "s3crypto.Downloader, defaults: " + dlSettings + ", to a file; authenticated when DownloadUnauthenticated returns", true},
	}
	gets = append(gets, indexGetOps()...)
	return puts, gets
}

type sizeResult struct {
	size int64
	res  map[string]result
}

func runParent(cfg config) error {
	var sizes []int64
	var largest, total int64
	for _, s := range strings.Split(cfg.sizes, ",") {
		n, err := parseSize(strings.TrimSpace(s))
		if err != nil {
			return fmt.Errorf("size %q: %v", s, err)
		}
		sizes = append(sizes, n)
		largest, total = max(largest, n), total+n
	}
	cfg.runs = max(cfg.runs, 1)
	scratch, err := chooseScratch(cfg.scratch, largest)
	if err != nil {
		return err
	}

	// A rough forecast: 8 transfers per size and run at ~250 MB/s each
	// (loopback MinIO, client and server sharing the CPUs), plus about a
	// second per child process, the small objects and the cipher rows.
	const assumedMBps = 250
	large := float64(total*8*int64(cfg.runs))/1e6/assumedMBps + float64(8*cfg.runs*len(sizes))*0.7
	smallEst := float64(cfg.small*(8+3*smallGetRounds)*cfg.runs)/700 + float64((8+3*smallGetRounds)*cfg.runs)*0.7
	cipherEst := 0.0
	if cfg.cipher {
		cipherEst = float64(6*cfg.runs) * 1.5
	}
	fmt.Printf("s3c bench, %s, %s/%s, %d CPUs (S3 server, KMS and client share them)\n", time.Now().Format("2006-01-02 15:04"), runtime.Version(), runtime.GOARCH, runtime.NumCPU())
	var hs []string
	for _, s := range sizes {
		hs = append(hs, human(s))
	}
	fmt.Printf("sizes: %s (-sizes; default %s); runs per cell: %d (-runs), interleaved; %d objects of 4 KiB with %d workers (-small, -workers)\n",
		strings.Join(hs, ", "), defaultSizes, cfg.runs, cfg.small, cfg.workers)
	fmt.Printf("estimated duration: ~%s (assumes ~%d MB/s per transfer; progress on stderr)\n",
		(time.Duration(large+smallEst+cipherEst+5) * time.Second).Round(time.Second), assumedMBps)

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
	s3client := srv.Client()
	bucket := fmt.Sprintf("s3c-bench-%d", time.Now().UnixNano())
	if _, err := s3client.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: &bucket}); err != nil {
		return err
	}
	defer emptyAndDelete(s3client, bucket)
	if err := branch.CreateBranchKeyWithID(ctx, benchKeystore(s3client, bucket), materials.NewKMS(kms.Client(ctx), "alias/bench"), benchBranchKey); err != nil {
		return err
	}
	env := append(os.Environ(), srv.Env()...)
	env = append(env, "S3C_BENCH_BUCKET="+bucket, "S3C_BENCH_KMS="+kms.URL())
	cliDir, err := os.MkdirTemp("", "s3c-bench-cli-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cliDir)
	cli, err := buildCLI(cliDir)
	if err != nil {
		return err
	}
	env = append(env, "S3C_BENCH_CLI="+cli)
	httpPlain := strings.HasPrefix(srv.Endpoint, "http://")

	dir, err := os.MkdirTemp(scratch, "s3c-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmp := os.TempDir()
	if f := freeSpace(tmp); f >= 0 && f < 5*largest {
		log.Printf("WARNING: %s has %s free; GetObject spools up to %s there, and a local MinIO keeps its data there (4 objects of each size at a time)", tmp, human(f), human(largest))
	}

	fmt.Printf("S3: %s (S3C_TEST_ENDPOINT, or MinIO %s started for the run); KMS: the local kmstest server\n", srv.Endpoint, miniotest.Version)
	fmt.Printf("source file and downloads: %s\n", where(dir))
	fmt.Printf("s3c GetObject spools ciphertext to os.TempDir(), the library's default: %s\n", where(tmp))
	fmt.Printf("MB/s: plaintext bytes per second, median of the runs. Peak RSS: VmHWM of the child process that did the one transfer (client only), worst run.\n")
	fmt.Printf("ratio: s3c MB/s ÷ the FASTER plain row of the same direction (put: the two manager rows; get: GetObject and the manager Downloader)\n\n")
	puts, gets := largeOps(httpPlain)
	fmt.Println("| operation | what it is |\n|---|---|")
	for _, o := range append(append([]op{}, puts...), gets...) {
		fmt.Printf("| %s | %s |\n", o.label, o.what)
	}
	fmt.Println()

	if err := writeSource(filepath.Join(dir, "source"), largest); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	// KMS calls made by each operation's children, over all runs.
	kmsCallsOf := map[string]int{}
	kmsCalls := func() int {
		return kms.Calls("GenerateDataKey") + kms.Calls("Decrypt") + kms.Calls("Encrypt") + kms.Calls("ReEncrypt")
	}
	once := func(op string, size int64) (result, error) {
		args := []string{"-child", op, "-size", strconv.FormatInt(size, 10), "-file", filepath.Join(dir, "source"),
			"-small", strconv.Itoa(cfg.small), "-workers", strconv.Itoa(cfg.workers)}
		cmd := exec.Command(self, args...)
		cmd.Env = append(env, "S3C_BENCH_DIR="+dir)
		cmd.Stderr = os.Stderr
		calls := kmsCalls()
		out, err := cmd.Output()
		kmsCallsOf[op] += kmsCalls() - calls
		if err != nil {
			return result{}, fmt.Errorf("%s %s: %v", op, human(size), err)
		}
		var r result
		err = json.Unmarshal(out, &r)
		return r, err
	}
	// measure runs each operation runs times, interleaved so that drift in
	// the machine's speed touches every operation alike, and returns the
	// median time and the worst peak RSS of each. Each round starts one
	// operation further down the list, so that no operation always
	// follows the same one (and, say, always runs while the page cache
	// writes back the gigabyte its predecessor wrote).
	measure := func(ops []op, size int64) (map[string]result, error) {
		all := map[string][]result{}
		for run := range cfg.runs {
			for k := range ops {
				o := ops[(k+run)%len(ops)]
				r, err := once(o.name, size)
				if err != nil {
					return nil, err
				}
				all[o.name] = append(all[o.name], r)
			}
		}
		res := map[string]result{}
		for name, rs := range all {
			sort.Slice(rs, func(i, j int) bool { return rs[i].Seconds < rs[j].Seconds })
			med := rs[len(rs)/2]
			for _, r := range rs {
				med.MaxRSS = max(med.MaxRSS, r.MaxRSS)
			}
			res[name] = med
		}
		return res, nil
	}

	started := time.Now()
	var done int64
	var results []sizeResult
	for _, size := range sizes {
		res, err := measure(puts, size)
		if err != nil {
			return err
		}
		if err := measureIndexSetup(once, size); err != nil {
			return err
		}
		g, err := measure(append(gets, op{name: "get-s3c-range"}), size)
		if err != nil {
			return err
		}
		for k, v := range g {
			res[k] = v
		}
		results = append(results, sizeResult{size, res})
		printSize(size, res, puts, gets)
		printRange(size, res["get-s3c-range"])
		for _, k := range []string{keyPlain(size), keyManager(size), keyTuned(size), keyS3C(size), keyS3CAES(size)} {
			s3client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: &k})
			s3client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k + s3crypto.IndexSuffix)})
		}
		done += size
		if rest := total - done; rest > 0 {
			el := time.Since(started)
			left := time.Duration(float64(el)*float64(rest)/float64(done)) + time.Duration(smallEst+cipherEst)*time.Second
			log.Printf("%s done, %s so far; about %s left", human(size), el.Round(time.Second), left.Round(time.Second))
		}
	}
	os.Remove(filepath.Join(dir, "source"))

	var smallRes map[string]float64
	if cfg.small > 0 {
		smallRes = map[string]float64{}
		log.Printf("small objects")
		fmt.Printf("### %d objects of 4 KiB, %d workers (ops/s, median of runs: %d)\n\n", cfg.small, cfg.workers, cfg.runs)
		fmt.Printf("plain: PutObject/GetObject with the payload signed as s3c does (%s); s3c: Client.PutObject/GetObject, V3 format\n\n",
			map[bool]string{true: "UNSIGNED-PAYLOAD over http", false: "https"}[httpPlain])
		fmt.Println("| op | plain | s3c, raw AES keyring | ratio | s3c, KMS keyring (a KMS call per object, same CPUs) | ratio | KMS calls per run | s3c, branch keys under the KMS key | ratio | KMS calls per run |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
		for _, d := range []string{"put", "get"} {
			var ops []op
			for _, k := range []string{"plain", "aes", "kms", "branch"} {
				ops = append(ops, op{name: "small-" + d + "-" + k})
			}
			res, err := measure(ops, 4096)
			if err != nil {
				return err
			}
			rate := func(o op) float64 { return float64(res[o.name].Ops) / res[o.name].Seconds }
			p, a, k, b := rate(ops[0]), rate(ops[1]), rate(ops[2]), rate(ops[3])
			smallRes[d+"-aes"], smallRes[d+"-kms"], smallRes[d+"-branch"] = a/p, k/p, b/p
			perRun := func(o op) int { return kmsCallsOf[o.name] / cfg.runs }
			fmt.Printf("| %s | %.0f | %.0f | **%.2f** | %.0f | %.2f | %d | %.0f | **%.2f** | %d |\n", d, p, a, a/p, k, k/p, perRun(ops[2]), b, b/p, perRun(ops[3]))
		}
		fmt.Println()
		if err := printSmallGets(once, cfg); err != nil {
			return err
		}
		if err := printSmallCopies(once, cfg); err != nil {
			return err
		}
	}

	var cres []cipherResult
	if cfg.cipher {
		log.Printf("cipher microbenchmarks")
		cres, err = runCipher(cfg.runs)
		if err != nil {
			return err
		}
		printCipher(cres, cfg.runs)
	}
	printTargets(results, smallRes, cres, cfg)
	return nil
}

func mbps(size int64, r result) float64 { return float64(size) / 1e6 / r.Seconds }

// bestPlain returns the faster plain row of the direction and its MB/s.
func bestPlain(size int64, res map[string]result, names ...string) (string, float64) {
	var best string
	var v float64
	for _, n := range names {
		if m := mbps(size, res[n]); m > v {
			best, v = n, m
		}
	}
	return best, v
}

func printSize(size int64, res map[string]result, puts, gets []op) {
	_, bestPut := bestPlain(size, res, "put-manager", "put-manager-s3c-settings")
	_, bestGet := bestPlain(size, res, "get-plain", "get-plain-downloader")
	fmt.Printf("### %s\n\n| operation | MB/s | peak RSS | ratio: s3c ÷ faster plain |\n|---|--:|--:|--:|\n", human(size))
	row := func(o op, base float64) {
		ratio := ""
		if o.s3c {
			ratio = fmt.Sprintf("**%.2f**", mbps(size, res[o.name])/base)
		}
		fmt.Printf("| %s | %.0f | %s | %s |\n", o.label, mbps(size, res[o.name]), mib(res[o.name].MaxRSS), ratio)
	}
	for _, o := range puts {
		row(o, bestPut)
	}
	for _, o := range gets {
		row(o, bestGet)
	}
	fmt.Println()
}

func printCipher(cres []cipherResult, runs int) {
	fmt.Printf("### In-memory cipher, %s message (MB/s, median of runs: %d, each a testing.Benchmark in the parent process)\n\n", human(cipherMsg), runs)
	fmt.Println("ratio: median over the runs of the row ÷ crypto/cipher measured in the same run.")
	fmt.Println()
	fmt.Println("| path | what it is | MB/s | ratio to crypto/cipher |\n|---|---|--:|--:|")
	for _, r := range cres {
		ratio := ""
		if r.base != "" {
			ratio = fmt.Sprintf("**%.2f**", r.ratio)
		}
		fmt.Printf("| %s | %s | %.0f | %s |\n", r.name, r.what, r.mbps, ratio)
	}
	fmt.Println()
}

// emptyAndDelete removes the bench's bucket and whatever is left in it.
func emptyAndDelete(c *s3.Client, bucket string) {
	ctx := context.Background()
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: &bucket})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			return
		}
		var ids []types.ObjectIdentifier
		for _, o := range page.Contents {
			ids = append(ids, types.ObjectIdentifier{Key: o.Key})
		}
		if len(ids) > 0 {
			c.DeleteObjects(ctx, &s3.DeleteObjectsInput{Bucket: &bucket, Delete: &types.Delete{Objects: ids, Quiet: aws.Bool(true)}})
		}
	}
	c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: &bucket})
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
	return f.Close()
}
