package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"log"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Issue 16's other small-object figure: the CLI's cost per file, as
// `s3c cp -r` of the 4 KiB objects from S3 to a directory against a
// plain download of the same number of objects to files in process,
// with as many at once as cp -r's default --jobs.

const copyJobs = 4

// smallDownloads gets the n 4 KiB objects under prefix into files of a
// new directory in dir, copyJobs at a time: the plain baseline of cp -r.
func smallDownloads(ctx context.Context, c *s3.Client, prefix, bucket, dir string, n int) (result, error) {
	out, err := os.MkdirTemp(dir, "cpr-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(out)
	res, err := timedOps(n, copyJobs, func(i int) error {
		o, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: aws.String(fmt.Sprintf("%s%05d", prefix, i))})
		if err != nil {
			return err
		}
		defer o.Body.Close()
		f, err := os.Create(filepath.Join(out, fmt.Sprintf("%05d", i)))
		if err != nil {
			return err
		}
		if _, err := io.Copy(f, o.Body); err != nil {
			f.Close()
			return err
		}
		return f.Close()
	})
	if err != nil {
		return result{}, err
	}
	return res, checkFiles(out, n)
}

// runCLICopy times `s3c cp -r --jobs 4 --aes-key K s3://bucket/prefix DIR`.
func runCLICopy(ctx context.Context, bucket, prefix, dir string, n int) (result, error) {
	keyFile, err := aesKeyFile(dir)
	if err != nil {
		return result{}, err
	}
	out, err := os.MkdirTemp(dir, "cpr-")
	if err != nil {
		return result{}, err
	}
	defer os.RemoveAll(out)
	cmd := cliCommand(ctx, "cp", "-r", "--quiet", "--jobs", fmt.Sprint(copyJobs), "--aes-key", keyFile, "s3://"+bucket+"/"+prefix, out)
	start := time.Now()
	if err := cmd.Run(); err != nil {
		return result{}, fmt.Errorf("s3c cp -r: %v", err)
	}
	res := result{Seconds: time.Since(start).Seconds(), Ops: n, MaxRSS: processRSS(cmd.ProcessState)}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		res.CPU = float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
	}
	return res, checkFiles(out, n)
}

// checkFiles checks that dir holds n files of 4 KiB.
func checkFiles(dir string, n int) error {
	got := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if fi.Size() != 4096 {
			return fmt.Errorf("%s: %d bytes, want 4096", path, fi.Size())
		}
		got++
		return nil
	})
	if err == nil && got != n {
		err = fmt.Errorf("%d files downloaded, want %d", got, n)
	}
	return err
}

// printSmallCopies measures the cp -r rows in pairs run back to back,
// alternating which goes first (measureRounds), and prints the medians.
func printSmallCopies(once func(op string, size int64) (result, error), cfg config) error {
	log.Printf("cp -r of the 4 KiB objects, plain and s3c, in pairs")
	pairs := max(cfg.runs, 3)
	rate, cpu, ratio, err := measureRounds(once, []string{"small-cpr-plain", "small-cpr-cli"}, pairs)
	if err != nil {
		return err
	}
	fmt.Printf("### cp -r of %d objects of 4 KiB from S3 to a directory (issue 16), %d at once, %d pairs\n\n", cfg.small, copyJobs, pairs)
	fmt.Println("plain: GetObject of the plain objects, each written to a new file, in this process. s3c: the s3c binary, `s3c cp -r --jobs 4 --aes-key K s3://…/ DIR` of the raw AES rows' objects (process start, listing, and per file: authenticated download into a nameless file, fsync, link and rename, mtime).")
	fmt.Println("ratio: median over the pairs of s3c files/s ÷ plain. client CPU: per file, the s3c process's or this process's.")
	fmt.Println()
	fmt.Println("| row | files/s | client CPU µs/file |\n|---|--:|--:|")
	fmt.Printf("| plain | %.0f | %.0f |\n", median(rate["small-cpr-plain"]), median(cpu["small-cpr-plain"]))
	fmt.Printf("| s3c cp -r | %.0f | %.0f |\n\n", median(rate["small-cpr-cli"]), median(cpu["small-cpr-cli"]))
	fmt.Printf("ratio: **%.2f** (the issue names no target: it asks to close the gap)\n\n", median(ratio["small-cpr-cli"]))
	return nil
}
