package s3crypto

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
)

// faultTally counts what a series of uploads through faults left behind.
type faultTally struct {
	trials, succeeded, failed int
	orphans                   int // multipart uploads left open, unreported
	reported                  int // multipart uploads left open, named in the error
	undecryptable             int // objects stored that do not read back
	falseSuccess              int // success reported, object not there or wrong
	falseFailure              int // failure reported, the right object stored and readable
}

func (t faultTally) String() string {
	return fmt.Sprintf("%d uploads: %d succeeded, %d failed; %d orphaned multipart uploads (and %d left open and named in the error), %d undecryptable objects, %d successes without the object, %d failures with the object stored",
		t.trials, t.succeeded, t.failed, t.orphans, t.reported, t.undecryptable, t.falseSuccess, t.falseFailure)
}

// faultRule draws a fault on one kind of request of a multipart upload.
func faultRule(r *rand.Rand, key string) *faultproxy.Rule {
	type target struct {
		method, path string
	}
	targets := []target{
		{"POST", "?uploads"},                      // CreateMultipartUpload
		{"PUT", "partNumber=1&"},                  // UploadPart
		{"PUT", "partNumber=2&"},                  //
		{"PUT", "partNumber=3&"},                  //
		{"POST", "?uploadId="},                    // CompleteMultipartUpload
		{"DELETE", "uploadId="},                   // AbortMultipartUpload
		{"PUT", "/" + key + ".instruction"},       // the instruction file
		{"DELETE", "/" + key + "?x-id=DeleteObj"}, // a compensating delete
	}
	kinds := []faultproxy.Kind{faultproxy.DropResponse, faultproxy.ResetRequest, faultproxy.ResetResponse}
	tg := targets[r.IntN(len(targets))]
	return &faultproxy.Rule{Method: tg.method, Path: tg.path, Kind: kinds[r.IntN(len(kinds))],
		After: int64(r.IntN(2000)), Times: 1 + r.IntN(4)}
}

// runFaultSeries uploads trials objects of size bytes, each through one
// to three random faults, and tallies what is left.
func runFaultSeries(t *testing.T, seed uint64, trials int, size int64) faultTally {
	f := newFaultEnv(t)
	// The SDK's retries as they are (3 attempts), with short pauses.
	f.s3opts = append(f.s3opts, func(o *s3.Options) {
		o.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = 3
			so.Backoff = retry.NewExponentialJitterBackoff(100 * time.Millisecond)
		})
	})
	r := rand.New(rand.NewPCG(seed, 0))
	var tally faultTally
	for i := range trials {
		inst := r.IntN(2) == 0
		c := f.client(f.keyrings["aes"], func(o *Options) { o.InstructionFile = inst })
		plain := f.env.client(f.keyrings["aes"])
		key := fmt.Sprintf("series-%d", i)
		f.proxy.Clear()
		var rules []string
		for range 1 + r.IntN(3) {
			rule := f.proxy.Add(faultRule(r, key))
			rules = append(rules, fmt.Sprintf("%s %s %v×%d", rule.Method, rule.Path, rule.Kind, rule.Times))
		}
		data := randomBytes(int(size))
		in := &s3.PutObjectInput{Bucket: &f.bucket, Key: &key, Body: bytes.NewReader(data)}
		if r.IntN(2) == 0 {
			in.Body, in.ContentLength = struct{ *bytes.Reader }{bytes.NewReader(data)}, aws.Int64(size)
		}
		_, err := NewUploader(c, func(u *Uploader) { u.PartSize = testPart; u.Concurrency = 2 }).Upload(bg, in)
		f.proxy.Clear()
		tally.trials++
		if err == nil {
			tally.succeeded++
		} else {
			tally.failed++
		}
		orphans := 0
		for _, id := range f.openUploads(key) {
			if err != nil && strings.Contains(err.Error(), "multipart upload "+id+" ") {
				tally.reported++
			} else {
				orphans++
			}
		}
		tally.orphans += orphans
		stored := f.exists(key)
		var readable bool
		if stored {
			got, _, gerr := f.get(plain, key)
			readable = gerr == nil && bytes.Equal(got, data)
			if !readable {
				tally.undecryptable++
			}
		}
		switch {
		case err == nil && !readable:
			tally.falseSuccess++
		case err != nil && readable:
			tally.falseFailure++
		}
		if orphans > 0 || (stored && !readable) || (err == nil && !readable) || (err != nil && readable) {
			t.Logf("trial %d (instruction file %v, faults %v): err %v; %d orphans, stored %v, readable %v", i, inst, rules, err, orphans, stored, readable)
		}
	}
	return tally
}

// Fixed series of uploads through random faults leave no orphaned
// upload, no object that cannot be read, no success without its object
// and no failure with it stored. S3C_FAULT_TRIALS, S3C_FAULT_SIZE and
// S3C_FAULT_SEED run a longer series:
//
//	S3C_FAULT_TRIALS=30 S3C_FAULT_SIZE=20971520 S3C_FAULT_SEED=1 go test -run TestFaultSeries -v ./s3crypto
func TestFaultSeries(t *testing.T) {
	t.Parallel()
	trials, size, seeds := 10, int64(2*testPart+100), []uint64{4, 9}
	if n, err := strconv.Atoi(os.Getenv("S3C_FAULT_TRIALS")); err == nil {
		trials = n
	}
	if n, err := strconv.ParseInt(os.Getenv("S3C_FAULT_SIZE"), 10, 64); err == nil {
		size = n
	}
	if n, err := strconv.ParseUint(os.Getenv("S3C_FAULT_SEED"), 10, 64); err == nil {
		seeds = []uint64{n}
	}
	for _, seed := range seeds {
		tally := runFaultSeries(t, seed, trials, size)
		t.Logf("seed %d: %v", seed, tally)
		if tally.orphans > 0 || tally.undecryptable > 0 || tally.falseSuccess > 0 || tally.falseFailure > 0 {
			t.Errorf("seed %d, after faults: %v", seed, tally)
		}
	}
}
