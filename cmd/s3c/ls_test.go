package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/internal/faultproxy"
)

// dateRE matches the date column of ls.
var dateRE = regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d `)

// undated replaces ls's dates by a placeholder of the same width.
func undated(s string) string { return dateRE.ReplaceAllString(s, "yyyy-mm-dd hh:mm:ss ") }

// viaProxy points c's S3 requests at a faultproxy in front of the test
// MinIO, which logs every request.
func (c *cli) viaProxy() *faultproxy.Proxy {
	c.t.Helper()
	proxy, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(proxy.Close)
	c.setenv("AWS_ENDPOINT_URL_S3=" + proxy.URL())
	return proxy
}

// countRequests counts the requests with method and, if query is not
// empty, a query string containing it.
func countRequests(reqs []string, method, query string) int {
	n := 0
	for _, r := range reqs {
		m, target, _ := strings.Cut(r, " ")
		_, q, _ := strings.Cut(target, "?")
		if m == method && strings.Contains(q, query) {
			n++
		}
	}
	return n
}

// putMany stores n tiny objects prefix00000… with the plain client, 64
// at a time. The bucket is removed with them at the end of the test, by
// MinIO's force delete (the bucket's own clean-up deletes one at a time).
func putMany(t *testing.T, bucket, prefix string, n int, body string) {
	t.Helper()
	raw := minio.Client(func(o *s3.Options) {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) { tr.MaxIdleConnsPerHost = 64 })
	})
	t.Cleanup(func() {
		raw.DeleteBucket(context.Background(), &s3.DeleteBucketInput{Bucket: &bucket}, func(o *s3.Options) {
			o.APIOptions = append(o.APIOptions, smithyhttp.AddHeaderValue("X-Minio-Force-Delete", "true"))
		})
	})
	keys := make(chan string)
	errs := make(chan error, 64)
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for k := range keys {
				if _, err := raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &k, Body: strings.NewReader(body)}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := range n {
		select {
		case keys <- fmt.Sprintf("%s%05d", prefix, i):
		case err := <-errs:
			close(keys)
			wg.Wait()
			t.Fatal(err)
		}
	}
	close(keys)
	wg.Wait()
	select {
	case err := <-errs:
		t.Fatal(err)
	default:
	}
}

// ls of 20,000 objects makes no HEAD request, and prints the first page
// while the second ListObjectsV2 request is held.
func TestLsStreamsWithoutHeads(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	const n = 20000
	start := time.Now()
	putMany(t, c.bucket, "many/", n, "twenty bytes of data") // 20 bytes: 4 if encrypted
	t.Logf("put %d objects in %v", n, time.Since(start))
	start = time.Now()
	proxy := c.viaProxy()
	stall := proxy.Add(&faultproxy.Rule{Method: "GET", Times: 1, Kind: faultproxy.StallRequest, Match: func(_, target string) bool {
		return strings.Contains(target, "list-type=2") && strings.Contains(target, "continuation-token=")
	}})

	cmd := exec.Command(binary, "ls", "-r", c.url("many/"))
	cmd.Dir, cmd.Env = c.dir, c.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	br := bufio.NewReader(stdout)
	first := make(chan string, 1)
	go func() {
		l, _ := br.ReadString('\n')
		first <- l
	}()
	select {
	case l := <-first:
		if want := "yyyy-mm-dd hh:mm:ss             4 many/00000\n"; undated(l) != want {
			t.Fatalf("first line %q, want %q", l, want)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no line printed while the second page was held")
	}
	select {
	case <-stall.Hit():
	case <-time.After(15 * time.Second):
		t.Fatal("the second page was never asked for")
	}
	stall.Release() // its connection is reset: the SDK retries
	rest, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("ls: %v\n%s", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
	if len(lines) != n-1 || undated(lines[n-2]+"\n") != fmt.Sprintf("yyyy-mm-dd hh:mm:ss             4 many/%05d\n", n-1) {
		t.Fatalf("%d more lines, the last %q", len(lines), lines[len(lines)-1])
	}
	t.Logf("listed in %v", time.Since(start))
	reqs := proxy.Requests()
	if h := countRequests(reqs, "HEAD", ""); h != 0 {
		t.Fatalf("%d HEAD requests for ls without -l", h)
	}
	// 20 pages of 1,000 (MinIO may add an empty one), one sent twice
	// (the one held, then reset).
	if l := countRequests(reqs, "GET", "list-type=2"); l < n/1000+1 || l > n/1000+2 || len(reqs) != l {
		t.Fatalf("%d list requests, %d requests in all:\n%s", l, len(reqs), strings.Join(reqs, "\n"))
	}
}

// -l sends one HEAD per object, and shows format and key reference in
// aligned columns.
func TestLsLong(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ref := strings.TrimSpace(c.ok("keygen", "aes", "a.key").stdout)
	c.write("f", randomBytes(1000))
	c.ok("put", "--aes-key", "a.key", "f", c.url("l/enc"))
	c.ok("put", "--kms-key-id", "alias/cli", "f", c.url("l/sub/kms"))
	raw := minio.Client()
	raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("l/plain"), Body: strings.NewReader("plain text, 21 bytes.")})
	proxy := c.viaProxy()
	out := c.ok("ls", "-l", c.url("l/")).stdout
	want := "yyyy-mm-dd hh:mm:ss          1000 V3 " + ref + " l/enc\n" +
		"yyyy-mm-dd hh:mm:ss            21 -  " + fmt.Sprintf("%-20s", "-") + " l/plain\n" +
		"                              PRE    " + strings.Repeat(" ", 20) + " l/sub/\n"
	if undated(out) != want {
		t.Fatalf("ls -l:\n%s\nwant:\n%s", undated(out), want)
	}
	if h := countRequests(proxy.Requests(), "HEAD", ""); h != 2 {
		t.Fatalf("%d HEAD requests for ls -l of 2 objects", h)
	}
	// Without -l: the size is derived (the plain object's is 16 short).
	out = c.ok("ls", c.url("l/")).stdout
	want = "yyyy-mm-dd hh:mm:ss          1000 l/enc\n" +
		"yyyy-mm-dd hh:mm:ss             5 l/plain\n" +
		"                              PRE l/sub/\n"
	if undated(out) != want {
		t.Fatalf("ls:\n%s\nwant:\n%s", undated(out), want)
	}
	if h := countRequests(proxy.Requests(), "HEAD", ""); h != 2 {
		t.Fatalf("ls without -l sent %d HEAD requests", h-2)
	}
	var reports []map[string]any
	if err := json.Unmarshal([]byte(c.ok("ls", "-rl", "--json", c.url("l/")).stdout), &reports); err != nil || len(reports) != 3 {
		t.Fatalf("ls -rl --json: %v, %v", err, reports)
	}
	if r := reports[2]; r["key"] != "l/sub/kms" || r["plaintext_size"] != float64(1000) || r["encrypted"] != true || r["key_ref"] != kmsARN || r["format"] != "V3" {
		t.Fatalf("ls -rl --json: %v", r)
	}
	if r := reports[1]; r["key"] != "l/plain" || r["plaintext_size"] != float64(21) || r["encrypted"] != false {
		t.Fatalf("ls -rl --json: %v", r)
	}
	c.fails(2, "--jobs 0: want 1 or more", "ls", "-l", "--jobs", "0", c.url("l/"))
}

// Objects and sub-prefixes come out merged in key order, the keys in one
// column whatever the sizes.
func TestLsColumns(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	raw := minio.Client()
	for key, size := range map[string]int{"a": 1016, "b/x": 1, "c": 5, "d/y": 1, "e": 12345678 + 16, "f": 16} {
		if _, err := raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(key), Body: bytes.NewReader(make([]byte, size))}); err != nil {
			t.Fatal(err)
		}
	}
	want := "yyyy-mm-dd hh:mm:ss          1000 a\n" +
		"                              PRE b/\n" +
		"yyyy-mm-dd hh:mm:ss             5 c\n" +
		"                              PRE d/\n" +
		"yyyy-mm-dd hh:mm:ss      12345678 e\n" +
		"yyyy-mm-dd hh:mm:ss             0 f\n"
	if out := c.ok("ls", c.url("")).stdout; undated(out) != want {
		t.Fatalf("ls:\n%s\nwant:\n%s", undated(out), want)
	}
	if !dateRE.MatchString(c.ok("ls", c.url("a")).stdout) {
		t.Fatal("no date")
	}
	// JSON: one array, prefixes as entries, the size named derived.
	var got []map[string]any
	if err := json.Unmarshal([]byte(c.ok("ls", "--json", c.url("")).stdout), &got); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got {
		if p, ok := e["prefix"]; ok {
			names = append(names, "PRE "+p.(string))
			if len(e) != 2 || e["bucket"] != c.bucket {
				t.Fatalf("prefix entry %v", e)
			}
			continue
		}
		names = append(names, e["key"].(string))
		if _, ok := e["plaintext_size"]; ok {
			t.Fatalf("a derived size given as plaintext_size: %v", e)
		}
		if _, ok := e["encrypted"]; ok {
			t.Fatalf("ls without -l cannot know whether %v is encrypted", e)
		}
	}
	if want := []string{"a", "PRE b/", "c", "PRE d/", "e", "f"}; !slices.Equal(names, want) {
		t.Fatalf("ls --json: %v, want %v", names, want)
	}
	if e := got[0]; e["derived_plaintext_size"] != float64(1000) || e["stored_size"] != float64(1016) || e["etag"] == "" || e["last_modified"] == nil {
		t.Fatalf("ls --json: %v", e)
	}
}

// s3c ls with no argument lists the buckets.
func TestLsBuckets(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	out := c.ok("ls").stdout
	if !regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ` + regexp.QuoteMeta(c.bucket) + `$`).MatchString(out) {
		t.Fatalf("ls:\n%s", out)
	}
	var buckets []map[string]any
	if err := json.Unmarshal([]byte(c.ok("ls", "--json").stdout), &buckets); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, b := range buckets {
		if b["bucket"] == c.bucket && b["creation_date"] != nil {
			found = true
		}
	}
	if !found {
		t.Fatalf("ls --json: %v", buckets)
	}
	c.fails(2, "give an s3://bucket", "ls", "-r")
}

// A missing bucket is an error; a missing prefix lists nothing.
func TestLsMissing(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	for _, args := range [][]string{{"ls", "s3://no-such-bucket-s3c-ls"}, {"ls", "-r", "--json", "s3://no-such-bucket-s3c-ls/"}} {
		r := c.run(args...)
		if r.code != 1 || r.stderr != "s3c: no such bucket s3://no-such-bucket-s3c-ls\n" || r.stdout != "" {
			t.Fatalf("s3c %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), r.code, r.stdout, r.stderr)
		}
	}
	r := c.run("ls", "s3://no-such-bucket-s3c-ls/p/")
	if r.code != 1 || r.stderr != "s3c: no such bucket s3://no-such-bucket-s3c-ls (for s3://no-such-bucket-s3c-ls/p/)\n" {
		t.Fatalf("ls of a prefix in no bucket: exit %d, %q", r.code, r.stderr)
	}
	if r := c.ok("ls", "-r", c.url("nothing/here/")); r.stdout != "" || r.stderr != "" {
		t.Fatalf("ls of a missing prefix: %q %q", r.stdout, r.stderr)
	}
	if r := c.ok("ls", "--json", c.url("nothing/")); r.stdout != "[]\n" {
		t.Fatalf("ls --json of a missing prefix: %q", r.stdout)
	}
}

// A live instruction file or chunk index is hidden; one whose object is
// gone (an orphan) is listed, so that it can be removed.
func TestLsOrphans(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("data"))
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "f", c.url("o/live"))
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "f", c.url("o/gone"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("o/x"))
	raw := minio.Client()
	bg := context.Background()
	if _, err := raw.DeleteObject(bg, &s3.DeleteObjectInput{Bucket: &c.bucket, Key: aws.String("o/gone")}); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"o/x.s3c-index", "o/y.s3c-index"} {
		if _, err := raw.PutObject(bg, &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(k), Body: strings.NewReader("idx"), Metadata: map[string]string{"s3c-index": "1"}}); err != nil {
			t.Fatal(err)
		}
	}
	var keys []string
	for _, l := range strings.Split(strings.TrimSuffix(c.ok("ls", "-r", c.url("o/")).stdout, "\n"), "\n") {
		keys = append(keys, l[strings.LastIndexByte(l, ' ')+1:])
	}
	if want := []string{"o/gone.instruction", "o/live", "o/x", "o/y.s3c-index"}; !slices.Equal(keys, want) {
		t.Fatalf("ls -r: %q, want %q", keys, want)
	}
}

// The sibling check looks at this page and the one before, and HEADs the
// object only when it is further back.
func TestLsSiblingsAcrossPages(t *testing.T) {
	c := newCLI(t)
	c.ok("keygen", "aes", "k.key")
	raw, inst, put := c.instructionWorld("k.key")
	ctx := context.Background()
	// Pages of 3: [d/a d/a-0 d/a-1] [d/a-2 d/a-3 d/a-4]
	// [d/a.instruction d/c d/c-0] [d/c-1 d/c.instruction d/e.instruction]
	put(inst, "d/a")
	for i := range 5 {
		put(raw, fmt.Sprintf("d/a-%d", i))
	}
	put(inst, "d/c")
	put(raw, "d/c-0")
	put(raw, "d/c-1")
	put(inst, "d/e")
	if _, err := raw.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &c.bucket, Key: aws.String("d/e")}); err != nil {
		t.Fatal(err)
	}
	proxy, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	var stdout, stderr bytes.Buffer
	a := &app{stdout: &stdout, stderr: &stderr, s3client: minio.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(proxy.URL()) })}
	defer func(n int32) { lsPageSize = n }(lsPageSize)
	lsPageSize = 3
	out := a.newLsPrinter(c.bucket, false)
	if err := a.lsObjects(ctx, c.bucket, "d/", &lsOptions{recursive: true, jobs: 1}, out); err != nil {
		t.Fatal(err)
	}
	out.end()
	var keys []string
	for _, l := range strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n") {
		keys = append(keys, l[strings.LastIndexByte(l, ' ')+1:])
	}
	want := []string{"d/a", "d/a-0", "d/a-1", "d/a-2", "d/a-3", "d/a-4", "d/c", "d/c-0", "d/c-1", "d/e.instruction"}
	if !slices.Equal(keys, want) {
		t.Fatalf("listed %q\nwant %q", keys, want)
	}
	heads := map[string]int{}
	for _, r := range proxy.Requests() {
		if m, target, _ := strings.Cut(r, " "); m == "HEAD" {
			path, _, _ := strings.Cut(target, "?")
			heads[strings.TrimPrefix(path, "/"+c.bucket+"/")]++
		}
	}
	// d/a is three pages back: HEADed; d/c is on the page before: not.
	if heads["d/a"] != 1 || heads["d/c"] != 0 || heads["d/e"] != 1 {
		t.Fatalf("HEAD requests: %v", heads)
	}
}

// --exclude and --include match keys relative to the prefix's directory,
// sub-prefixes too.
func TestLsFilters(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	raw := minio.Client()
	for _, k := range []string{"p/a.log", "p/keep.log", "p/b.txt", "p/tmp/x", "p/sub/y.log", "p/sub/z"} {
		if _, err := raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(k), Body: strings.NewReader("0123456789abcdef!")}); err != nil {
			t.Fatal(err)
		}
	}
	keysOf := func(out string) []string {
		var keys []string
		for _, l := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if l != "" {
				keys = append(keys, l[strings.LastIndexByte(l, ' ')+1:])
			}
		}
		return keys
	}
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-r", "--exclude", "*.log", "--include", "keep.log", c.url("p/")}, []string{"p/b.txt", "p/keep.log", "p/sub/z", "p/tmp/x"}},
		{[]string{"-r", "--exclude", "*", "--include", "sub/*", c.url("p/")}, []string{"p/sub/y.log", "p/sub/z"}},
		{[]string{"-r", "--exclude", "sub/*", c.url("p/s")}, nil}, // relative to p/: sub/y.log
		{[]string{"--exclude", "tmp/*", "--exclude", "*.txt", c.url("p/")}, []string{"p/a.log", "p/keep.log", "p/sub/"}},
		{[]string{"--exclude", "*.log", c.url("p/")}, []string{"p/b.txt", "p/sub/", "p/tmp/"}},
	} {
		if got := keysOf(c.ok(append([]string{"ls"}, tc.args...)...).stdout); !slices.Equal(got, tc.want) {
			t.Errorf("ls %s: %q, want %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
