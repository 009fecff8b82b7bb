package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/internal/faultproxy"
	"github.com/s3c/s3c/s3crypto"
)

// objectPutter is a plain or an encryption client.
type objectPutter interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
}

// instructionWorld returns the plain client, an encryption client that
// stores envelopes in instruction files under keyFile, and put, which
// stores a one-byte object through either.
func (c *cli) instructionWorld(keyFile string) (raw *s3.Client, inst *s3crypto.Client, put func(objectPutter, string)) {
	c.t.Helper()
	raw = minio.Client()
	inst, err := s3crypto.New(raw, c.aesKeyring(keyFile), func(o *s3crypto.Options) { o.InstructionFile = true })
	if err != nil {
		c.t.Fatal(err)
	}
	put = func(cl objectPutter, key string) {
		c.t.Helper()
		if _, err := cl.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: &key, Body: bytes.NewReader([]byte("x"))}); err != nil {
			c.t.Fatal(err)
		}
	}
	return raw, inst, put
}

// The streamed listing hands over pages as they come and still leaves
// out instruction files whose object is on an earlier page (here several
// pages earlier: keys "a-N" sort between "a" and "a.instruction"), while
// a user's own X.instruction with no X stays an object.
func TestListStreamPages(t *testing.T) {
	c := newCLI(t)
	c.ok("keygen", "aes", "k.key")
	raw, inst, put := c.instructionWorld("k.key")
	ctx := context.Background()
	put(inst, "d/a")
	put(inst, "d/b")
	var want []string
	for i := range 7 {
		k := fmt.Sprintf("d/a-%d", i)
		put(raw, k)
		want = append(want, k)
	}
	put(raw, "d/zz.instruction")
	want = append(want, "d/a", "d/b", "d/zz.instruction")
	slices.Sort(want)

	a := &app{stdout: io.Discard, stderr: io.Discard, s3client: raw}
	defer func(n int32) { listPageSize = n }(listPageSize)
	listPageSize = 3
	var got []string
	pages := 0
	if err := a.listStream(ctx, c.bucket, "d/", "", func(p []listed) bool {
		pages++
		for _, o := range p {
			got = append(got, o.key)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) || pages != 5 {
		t.Fatalf("%d pages, keys %q\nwant %q", pages, got, want)
	}
	got = nil
	if err := a.listStream(ctx, c.bucket, "d/", "d/a-6", func(p []listed) bool {
		for _, o := range p {
			got = append(got, o.key)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"d/b", "d/zz.instruction"}; !slices.Equal(got, want) {
		t.Fatalf("after d/a-6: %q, want %q", got, want)
	}
}

type verifySummary struct {
	Seen              int `json:"seen"`
	Verified          int `json:"verified"`
	NotEncrypted      int `json:"not_encrypted"`
	Failed            int `json:"failed"`
	IntegrityFailures int `json:"integrity_failures"`
	Failures          []struct {
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"failures"`
}

func lastVerifyJSON(t *testing.T, stdout string) verifySummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s verifySummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last stdout line is not the JSON summary: %q (%v)", lines[len(lines)-1], err)
	}
	return s
}

// rawRewrite replaces an object's stored bytes by f(bytes), keeping its
// metadata (the envelope), as an attacker or a broken disk would.
func (c *cli) rawRewrite(key string, f func([]byte) []byte) {
	c.t.Helper()
	raw := minio.Client()
	ctx := context.Background()
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: &key})
	if err != nil {
		c.t.Fatal(err)
	}
	data, err := io.ReadAll(out.Body)
	out.Body.Close()
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.bucket, Key: &key, Body: bytes.NewReader(f(data)), Metadata: out.Metadata}); err != nil {
		c.t.Fatal(err)
	}
}

// verify authenticates every object: all good → exit 0; a flipped
// ciphertext byte and a truncated object among 20 are integrity failures,
// named, exit 3; an object under a key not given is a plain failure.
func TestVerify(t *testing.T) {
	c := newCLI(t)
	rewrapWorld(c)
	r := c.ok("verify", "-r", "--json", "--aes-key", "old.key", c.url("p/"))
	if s := lastVerifyJSON(t, r.stdout); s.Seen != 20 || s.Verified != 16 || s.NotEncrypted != 4 || s.Failed != 0 || s.IntegrityFailures != 0 {
		t.Fatalf("summary %+v", s)
	}
	if want := "verify: 20 seen, 16 verified, 4 not encrypted, 0 failed, 0 integrity failures\n"; r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	if !strings.Contains(r.stdout, "verified "+c.url("p/obj-03")+" (103 bytes, ") {
		t.Fatalf("stdout:\n%s", r.stdout)
	}

	c.rawRewrite("p/obj-05", func(b []byte) []byte { b[7] ^= 1; return b })  // metadata envelope
	c.rawRewrite("p/obj-12", func(b []byte) []byte { return b[:len(b)-20] }) // instruction file
	c.ok("keygen", "aes", "other.key")
	c.write("f", []byte("other"))
	c.ok("put", "--aes-key", "other.key", "f", c.url("p/other"))

	r = c.run("verify", "-r", "--json", "--aes-key", "old.key", c.url("p/"))
	if r.code != exitIntegrity {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	s := lastVerifyJSON(t, r.stdout)
	if s.Seen != 21 || s.Verified != 14 || s.NotEncrypted != 4 || s.Failed != 3 || s.IntegrityFailures != 2 {
		t.Fatalf("summary %+v", s)
	}
	var failed []string
	for _, f := range s.Failures {
		failed = append(failed, f.Key)
	}
	slices.Sort(failed)
	if want := []string{"p/obj-05", "p/obj-12", "p/other"}; !slices.Equal(failed, want) {
		t.Fatalf("failures %q, want %q", failed, want)
	}
	for _, k := range []string{"p/obj-05", "p/obj-12", "p/other"} {
		if !strings.Contains(r.stderr, "s3c: "+c.url(k)+": ") {
			t.Errorf("stderr does not name %s:\n%s", k, r.stderr)
		}
	}
	if !strings.HasSuffix(r.stderr, "verify: 21 seen, 14 verified, 4 not encrypted, 3 failed, 2 integrity failures\ns3c: 3 of 21 objects failed\n") {
		t.Fatalf("stderr:\n%s", r.stderr)
	}
	// Only the unreadable one: exit 1.
	r = c.run("verify", "--aes-key", "old.key", c.url("p/other"))
	if r.code != exitError {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	// --dry-run reads no body: the tampered objects pass.
	r = c.ok("verify", "-r", "--dry-run", "--json", c.url("p/"))
	if s := lastVerifyJSON(t, r.stdout); s.Verified != 17 || s.Failed != 0 {
		t.Fatalf("--dry-run summary %+v", s)
	}
}

type encryptSummary struct {
	Seen             int `json:"seen"`
	Encrypted        int `json:"encrypted"`
	AlreadyEncrypted int `json:"already_encrypted"`
	Failed           int `json:"failed"`
	Failures         []struct {
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"failures"`
}

func lastEncryptJSON(t *testing.T, stdout string) encryptSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s encryptSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last stdout line is not the JSON summary: %q (%v)", lines[len(lines)-1], err)
	}
	return s
}

// encrypt converts the plaintext objects in place, keeping their
// properties; encrypted objects (metadata or instruction file) are
// skipped; a second run finds everything encrypted.
func TestEncrypt(t *testing.T) {
	c := newCLI(t)
	keys, before := rewrapWorld(c) // obj-16..19 are plaintext
	raw := minio.Client()
	bg := context.Background()
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	if _, err := raw.PutObject(bg, &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("p/obj-19"), Body: strings.NewReader("keep everything"),
		Metadata: map[string]string{"owner": "alice"}, ContentType: aws.String("text/x-kept"), CacheControl: aws.String("max-age=60"),
		ContentDisposition: aws.String("attachment; filename=\"k.txt\""), ContentEncoding: aws.String("identity"), ContentLanguage: aws.String("de-CH"),
		Expires: &expires, StorageClass: types.StorageClassReducedRedundancy, Tagging: aws.String("project=s3c&note=a%20b%2Bc")}); err != nil {
		t.Fatal(err)
	}

	dry := c.ok("encrypt", "-r", "--dry-run", "--json", "--aes-key", "new.key", c.url("p/"))
	if s := lastEncryptJSON(t, dry.stdout); s.Seen != 20 || s.Encrypted != 4 || s.AlreadyEncrypted != 16 {
		t.Fatalf("--dry-run summary %+v", s)
	}
	r := c.ok("encrypt", "-r", "--json", "--aes-key", "new.key", c.url("p/"))
	if s := lastEncryptJSON(t, r.stdout); s.Seen != 20 || s.Encrypted != 4 || s.AlreadyEncrypted != 16 || s.Failed != 0 {
		t.Fatalf("summary %+v", s)
	}
	if want := "encrypt: 20 seen, 4 encrypted, 16 already encrypted, 0 failed\n"; r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	after := c.etags(keys)
	for i, k := range keys {
		if i < 16 && after[k] != before[k] {
			t.Errorf("%s: an encrypted object was rewritten", k)
		}
	}
	for _, k := range keys[16:19] {
		if got := c.ok("get", "--aes-key", "new.key", c.url(k), "-").stdout; len(got) != 100+slices.Index(keys, k) {
			t.Errorf("%s: %d bytes", k, len(got))
		}
	}
	if got := c.ok("get", "--aes-key", "new.key", c.url("p/obj-19"), "-").stdout; got != "keep everything" {
		t.Fatalf("p/obj-19: %q", got)
	}
	h, err := raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &c.bucket, Key: aws.String("p/obj-19")})
	if err != nil {
		t.Fatal(err)
	}
	if h.Metadata["x-amz-c"] == "" {
		t.Fatalf("no envelope in %v", h.Metadata)
	}
	for name, got := range map[string]string{
		"Content-Type": aws.ToString(h.ContentType), "Cache-Control": aws.ToString(h.CacheControl),
		"Content-Disposition": aws.ToString(h.ContentDisposition), "Content-Encoding": aws.ToString(h.ContentEncoding),
		"Content-Language": aws.ToString(h.ContentLanguage), "owner": h.Metadata["owner"], "storage class": string(h.StorageClass),
	} {
		want := map[string]string{"Content-Type": "text/x-kept", "Cache-Control": "max-age=60", "Content-Disposition": "attachment; filename=\"k.txt\"",
			"Content-Encoding": "identity", "Content-Language": "de-CH", "owner": "alice", "storage class": "REDUCED_REDUNDANCY"}[name]
		if got != want {
			t.Errorf("%s is %q, want %q", name, got, want)
		}
	}
	if h.Expires == nil || !h.Expires.Equal(expires) {
		t.Errorf("Expires %v", h.Expires)
	}
	tags, err := raw.GetObjectTagging(bg, &s3.GetObjectTaggingInput{Bucket: &c.bucket, Key: aws.String("p/obj-19")})
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, tg := range tags.TagSet {
		got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
	}
	if len(got) != 2 || got["project"] != "s3c" || got["note"] != "a b+c" {
		t.Errorf("tags %v", got)
	}

	r = c.ok("encrypt", "-r", "-q", "--json", "--aes-key", "new.key", c.url("p/"))
	if s := lastEncryptJSON(t, r.stdout); s.Encrypted != 0 || s.AlreadyEncrypted != 20 {
		t.Fatalf("second run: %+v", s)
	}
	// The instruction file itself, named directly, is skipped.
	r = c.ok("encrypt", "--json", "--aes-key", "new.key", c.url("p/obj-10.instruction"))
	if s := lastEncryptJSON(t, r.stdout); s.AlreadyEncrypted != 1 {
		t.Fatalf("instruction file: %+v", s)
	}
}

// An object overwritten between encrypt's read and its write is not
// clobbered: the If-Match write fails, the failure is named, exit 1.
func TestEncryptConcurrentOverwrite(t *testing.T) {
	c := newCLI(t)
	c.ok("keygen", "aes", "k.key")
	raw := minio.Client()
	bg := context.Background()
	for _, k := range []string{"small", "big"} {
		body := strings.Repeat("plain ", 10)
		if k == "big" {
			body = strings.Repeat("plain ", 2<<20) // 12 MiB: multipart
		}
		if _, err := raw.PutObject(bg, &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(k), Body: strings.NewReader(body)}); err != nil {
			t.Fatal(err)
		}
	}
	proxy := c.faultProxy()
	for _, tc := range []struct{ key, method, path string }{
		{"small", "PUT", "/" + c.bucket + "/small"},
		{"big", "POST", "/" + c.bucket + "/big?uploadId="}, // CompleteMultipartUpload
	} {
		var once sync.Once
		overwritten := false
		proxy.Add(&faultproxy.Rule{Method: tc.method, Kind: faultproxy.ResetResponse,
			Match: func(method, target string) bool {
				if !strings.HasPrefix(target, tc.path) || (tc.method == "PUT" && strings.Contains(target, "uploadId")) {
					return false
				}
				once.Do(func() {
					if _, err := raw.PutObject(bg, &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(tc.key), Body: strings.NewReader("newer"),
						Metadata: map[string]string{"writer": "other"}}); err != nil {
						t.Error(err)
					}
					overwritten = true
				})
				return false
			}})
		r := c.run("encrypt", "--json", "--aes-key", "k.key", c.url(tc.key))
		proxy.Clear()
		if !overwritten {
			t.Fatalf("%s: the write never came", tc.key)
		}
		if r.code != exitError || !strings.Contains(r.stderr, "s3c: "+c.url(tc.key)+": the object changed while it was being encrypted; it was not overwritten") {
			t.Fatalf("%s: exit %d\n%s", tc.key, r.code, r.stderr)
		}
		out, err := raw.GetObject(bg, &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String(tc.key)})
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(out.Body)
		out.Body.Close()
		if string(data) != "newer" || out.Metadata["writer"] != "other" {
			t.Fatalf("%s: the newer object was clobbered: %q %v", tc.key, data, out.Metadata)
		}
	}
	if ups, err := raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &c.bucket}); err != nil || len(ups.Uploads) != 0 {
		t.Errorf("uploads left open: %v, %v", ups, err)
	}
}

// manifestKeys are awkward keys for manifests: a space, a '+', a comma,
// unicode.
var manifestKeys = []string{"m/a b", "m/a+b", "m/x,y", "m/ünï cødé/ß", "m/plain 1", "m/plain+2"}

// manifestWorld stores manifestKeys: the first four encrypted under
// old.key, the last two plaintext.
func manifestWorld(c *cli) {
	c.t.Helper()
	c.ok("keygen", "aes", "old.key")
	c.ok("keygen", "aes", "new.key")
	enc, err := s3crypto.New(minio.Client(), c.aesKeyring("old.key"))
	if err != nil {
		c.t.Fatal(err)
	}
	for i, k := range manifestKeys {
		in := &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(k), Body: strings.NewReader("body of " + k)}
		if i < 4 {
			_, err = enc.PutObject(context.Background(), in)
		} else {
			_, err = minio.Client().PutObject(context.Background(), in)
		}
		if err != nil {
			c.t.Fatal(err)
		}
	}
}

// batchCSV is an S3 Batch Operations manifest of keys: bucket,key with
// the key form-encoded ('+' for a space).
func (c *cli) batchCSV(keys []string) []byte {
	var b bytes.Buffer
	for _, k := range keys {
		fmt.Fprintf(&b, "%s,%s\n", c.bucket, url.QueryEscape(k))
	}
	return b.Bytes()
}

func (c *cli) rawPutBytes(key string, data []byte) {
	c.t.Helper()
	if _, err := minio.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String(key), Body: bytes.NewReader(data)}); err != nil {
		c.t.Fatal(err)
	}
}

func gzipped(t *testing.T, data string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(data))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// --manifest takes the objects from an S3 Batch Operations CSV (local
// or in S3) or an S3 Inventory manifest.json with gzip CSV files; keys
// are URL-decoded; shards split manifest rows too.
func TestManifest(t *testing.T) {
	c := newCLI(t)
	manifestWorld(c)
	enc := manifestKeys[:4]
	c.write("batch.csv", c.batchCSV(enc))

	r := c.ok("verify", "--manifest", "batch.csv", "--json", "--aes-key", "old.key")
	if s := lastVerifyJSON(t, r.stdout); s.Seen != 4 || s.Verified != 4 {
		t.Fatalf("verify --manifest: %+v\n%s", s, r.stderr)
	}
	for _, k := range enc {
		if !strings.Contains(r.stdout, "verified "+c.url(k)+" (") {
			t.Errorf("%q not verified:\n%s", k, r.stdout)
		}
	}
	// Shards split the rows.
	total := 0
	for i := range 2 {
		r := c.ok("verify", "--manifest", "batch.csv", "--shard", fmt.Sprintf("%d/2", i), "--json", "--aes-key", "old.key")
		total += lastVerifyJSON(t, r.stdout).Verified
	}
	if total != 4 {
		t.Fatalf("shards verified %d, want 4", total)
	}

	// From S3, with a version column left empty.
	c.rawPutBytes("manifests/batch.csv", append(c.batchCSV(enc[:2]), []byte(c.bucket+","+url.QueryEscape(enc[2])+",\n")...))
	r = c.ok("rewrap", "--manifest", c.url("manifests/batch.csv"), "--json", "--aes-key", "new.key", "--aes-key", "old.key")
	if s := lastJSON(t, r.stdout); s.Seen != 3 || s.Rewrapped != 3 {
		t.Fatalf("rewrap --manifest s3://: %+v\n%s", s, r.stderr)
	}

	// An S3 Inventory: manifest.json naming two gzip CSV files.
	row := func(k, latest, marker string) string {
		return fmt.Sprintf("%q,%q,\"\",%q,%q,\"12\"\n", c.bucket, url.QueryEscape(k), latest, marker)
	}
	c.rawPutBytes("inv/data/1.csv.gz", gzipped(t, row(manifestKeys[3], "true", "false")+row(manifestKeys[4], "true", "false")+row("m/gone", "true", "true")))
	c.rawPutBytes("inv/data/2.csv.gz", gzipped(t, row("m/old version", "false", "false")+row(manifestKeys[5], "true", "false")))
	manifest := fmt.Sprintf(`{"sourceBucket":%q,"destinationBucket":"arn:aws:s3:::%s","version":"2016-11-30","fileFormat":"CSV",
"fileSchema":"Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size","files":[{"key":"inv/data/1.csv.gz","size":1,"MD5checksum":"x"},{"key":"inv/data/2.csv.gz","size":1,"MD5checksum":"x"}]}`, c.bucket, c.bucket)
	c.rawPutBytes("inv/manifest.json", []byte(manifest))
	r = c.ok("encrypt", "--manifest", c.url("inv/manifest.json"), "--json", "--aes-key", "new.key")
	if s := lastEncryptJSON(t, r.stdout); s.Seen != 3 || s.Encrypted != 2 || s.AlreadyEncrypted != 1 {
		t.Fatalf("encrypt --manifest inventory: %+v\n%s", s, r.stderr)
	}
	for _, k := range manifestKeys[4:] {
		if got := c.ok("get", "--aes-key", "new.key", c.url(k), "-").stdout; got != "body of "+k {
			t.Errorf("%q: %q", k, got)
		}
	}
	// A local manifest.json works too (its files are in its destination bucket).
	c.write("manifest.json", []byte(manifest))
	r = c.ok("verify", "--manifest", "manifest.json", "--json", "--aes-key", "new.key", "--aes-key", "old.key")
	if s := lastVerifyJSON(t, r.stdout); s.Seen != 3 || s.Verified != 3 {
		t.Fatalf("verify --manifest manifest.json: %+v\n%s", s, r.stderr)
	}

	c.write("orc.json", []byte(strings.Replace(manifest, `"CSV"`, `"ORC"`, 1)))
	c.fails(1, "s3c: --manifest orc.json: an inventory in ORC: only CSV inventories are supported", "verify", "--manifest", "orc.json", "--aes-key", "old.key")
	c.fails(2, "--manifest names the objects: give no s3:// URL and no -r", "verify", "--manifest", "batch.csv", "--aes-key", "old.key", c.url("m/"))
	c.write("bad.csv", []byte(c.bucket+",m/%zz\n"))
	c.fails(1, "s3c: --manifest bad.csv: line 1: the key is not URL-encoded", "verify", "--manifest", "bad.csv", "--aes-key", "old.key")
}

// --report writes one CSV line per object as it finishes: bucket, key,
// result, reason (CSV-quoted where needed).
func TestReport(t *testing.T) {
	c := newCLI(t)
	keys, _ := rewrapWorld(c)
	c.rawPutBytes("p/obj,\"q\"", []byte("plain"))
	c.rawRewrite("p/obj-05", func(b []byte) []byte { b[7] ^= 1; return b })
	r := c.run("verify", "-r", "-q", "--jobs", "1", "--report", "rep.csv", "--aes-key", "old.key", c.url("p/"))
	if r.code != exitIntegrity {
		t.Fatalf("exit %d\n%s", r.code, r.stderr)
	}
	var want strings.Builder
	fmt.Fprintf(&want, "%s,\"p/obj,\"\"q\"\"\",not_encrypted,\n", c.bucket)
	for i, k := range keys {
		switch {
		case k == "p/obj-05":
			fmt.Fprintf(&want, "%s,%s,failed,ciphertext failed authentication (object altered or truncated)\n", c.bucket, k)
		case i < 16:
			fmt.Fprintf(&want, "%s,%s,verified,\n", c.bucket, k)
		default:
			fmt.Fprintf(&want, "%s,%s,not_encrypted,\n", c.bucket, k)
		}
	}
	if got := string(c.read("rep.csv")); got != want.String() {
		t.Fatalf("report:\n%s\nwant:\n%s", got, want.String())
	}
}

func readCheckpoint(t *testing.T, path string) checkpointState {
	t.Helper()
	var s checkpointState
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &s)
	}
	if err != nil {
		return checkpointState{}
	}
	return s
}

// A run killed (SIGKILL) mid-way resumes from its checkpoint where it
// stopped: the objects before the low-water mark are not touched again;
// the checkpoint then says complete, and a run without it finds all
// current. A checkpoint of another command, input or shard is refused.
func TestCheckpointResume(t *testing.T) {
	c := newCLI(t)
	keys, _ := rewrapWorld(c)
	proxy := c.faultProxy()
	stall := proxy.Add(&faultproxy.Rule{Method: "HEAD", Kind: faultproxy.StallRequest, Match: func(_, target string) bool {
		rest, ok := strings.CutPrefix(target, "/"+c.bucket+"/p/obj-12")
		return ok && (rest == "" || rest[0] == '?')
	}})
	flags := []string{"--aes-key", "new.key", "--aes-key", "old.key"}
	run1 := c.start(nil, append([]string{"rewrap", "-r", "--jobs", "1", "--checkpoint", "ck.json", "--checkpoint-interval", "20ms",
		"--report", "rep.csv"}, append(flags, c.url("p/"))...)...)
	select {
	case <-stall.Hit():
	case <-run1.done:
		t.Fatalf("the run ended before p/obj-12: %s", run1.stderr.String())
	}
	waitFor(t, 10*time.Second, "the checkpoint at p/obj-11", func() bool { return readCheckpoint(t, c.path("ck.json")).After == "p/obj-11" })
	run1.cmd.Process.Kill()
	<-run1.done
	stall.Release()
	proxy.Clear()
	ck := readCheckpoint(t, c.path("ck.json"))
	if ck.Complete || ck.Command != "rewrap" || ck.Input != c.url("p/") || ck.Shard != "" {
		t.Fatalf("checkpoint %+v", ck)
	}
	mid := c.etags(keys)

	r := c.ok(append([]string{"rewrap", "-r", "--json", "--checkpoint", "ck.json", "--report", "rep.csv"}, append(flags, c.url("p/"))...)...)
	if s := lastJSON(t, r.stdout); s.Seen != 8 || s.Rewrapped != 4 || s.NotEncrypted != 4 || s.Current != 0 {
		t.Fatalf("resumed run: %+v\n%s", s, r.stdout)
	}
	after := c.etags(keys)
	for _, k := range keys[:12] {
		if after[k] != mid[k] {
			t.Errorf("%s, before the mark, was processed again", k)
		}
	}
	if ck := readCheckpoint(t, c.path("ck.json")); !ck.Complete || ck.After != "p/obj-19" {
		t.Fatalf("checkpoint after the resumed run: %+v", ck)
	}
	lines := strings.Split(strings.TrimSpace(string(c.read("rep.csv"))), "\n")
	seen := map[string]int{}
	for _, l := range lines {
		seen[strings.Split(l, ",")[1]]++
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("%s in the report %d times", k, seen[k])
		}
	}
	if len(lines) != 20 {
		t.Errorf("report of %d lines:\n%s", len(lines), strings.Join(lines, "\n"))
	}

	r = c.ok(append([]string{"rewrap", "-r", "--json", "--checkpoint", "ck.json"}, append(flags, c.url("p/"))...)...)
	if s := lastJSON(t, r.stdout); s.Seen != 0 || !strings.Contains(r.stderr, "the run it records is complete; nothing to do") {
		t.Fatalf("run over a complete checkpoint: %+v %s", s, r.stderr)
	}
	r = c.ok(append([]string{"rewrap", "-r", "--json"}, append(flags, c.url("p/"))...)...)
	if s := lastJSON(t, r.stdout); s.Current != 16 || s.NotEncrypted != 4 || s.Rewrapped != 0 {
		t.Fatalf("second full run: %+v", s)
	}

	c.fails(2, `--checkpoint ck.json was made by "rewrap" over `+c.url("p/")+`; this run is "rewrap" over `+c.url("p/")+` shard 0/2`,
		append([]string{"rewrap", "-r", "--shard", "0/2", "--checkpoint", "ck.json"}, append(flags, c.url("p/"))...)...)
	c.fails(2, `this run is "verify"`, "verify", "-r", "--checkpoint", "ck.json", "--aes-key", "new.key", c.url("p/"))
	c.fails(2, `over `+c.url("q/"), append([]string{"rewrap", "-r", "--checkpoint", "ck.json"}, append(flags, c.url("q/"))...)...)

	// In S3.
	r = c.ok("verify", "-r", "--json", "--checkpoint", c.url("ck/verify.json"), "--aes-key", "new.key", c.url("p/"))
	if s := lastVerifyJSON(t, r.stdout); s.Verified != 16 {
		t.Fatalf("verify: %+v", s)
	}
	out, err := minio.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String("ck/verify.json")})
	if err != nil {
		t.Fatal(err)
	}
	var s3ck checkpointState
	err = json.NewDecoder(out.Body).Decode(&s3ck)
	out.Body.Close()
	if err != nil || !s3ck.Complete || s3ck.After != "p/obj-19" || s3ck.Command != "verify" {
		t.Fatalf("checkpoint in S3: %+v %v", s3ck, err)
	}
}

// A manifest run's checkpoint records the row: a run resumed from row 2
// processes rows 3 and 4 only.
func TestCheckpointManifestRow(t *testing.T) {
	c := newCLI(t)
	manifestWorld(c)
	c.write("batch.csv", c.batchCSV(manifestKeys[:4]))
	c.write("ck.json", []byte(`{"command":"verify","input":"manifest:batch.csv","after":"","row":2,"complete":false}`))
	r := c.ok("verify", "--manifest", "batch.csv", "--checkpoint", "ck.json", "--json", "--aes-key", "old.key")
	if s := lastVerifyJSON(t, r.stdout); s.Seen != 2 || s.Verified != 2 ||
		!strings.Contains(r.stdout, c.url(manifestKeys[2])) || !strings.Contains(r.stdout, c.url(manifestKeys[3])) {
		t.Fatalf("resumed from row 2: %+v\n%s", s, r.stdout)
	}
	if ck := readCheckpoint(t, c.path("ck.json")); !ck.Complete || ck.Row != 4 {
		t.Fatalf("checkpoint %+v", ck)
	}
}

// --rate N starts at most N objects a second.
func TestRate(t *testing.T) {
	c := newCLI(t)
	rewrapWorld(c)
	start := time.Now()
	r := c.ok("verify", "-r", "--dry-run", "--json", "--rate", "20", c.url("p/"))
	if s := lastVerifyJSON(t, r.stdout); s.Seen != 20 {
		t.Fatalf("summary %+v", s)
	}
	// 20 objects at 20/s: the last starts 0.95 s after the first.
	if d := time.Since(start); d < 950*time.Millisecond {
		t.Fatalf("20 objects at --rate 20 took %v", d)
	}
	c.fails(2, "--rate must not be negative", "verify", "-r", "--rate", "-1", c.url("p/"))
}

// Throttling (S3 503 SlowDown, KMS ThrottlingException, the SDK's retry
// quota spent) retries the object's operation, up to bulkRetries times;
// other errors are not retried.
func TestRetryThrottled(t *testing.T) {
	defer func(f func(int) time.Duration) { bulkBackoff = f }(bulkBackoff)
	var waits []time.Duration
	bulkBackoff = func(n int) time.Duration { waits = append(waits, time.Second<<n); return 0 }
	slow := &smithy.GenericAPIError{Code: "SlowDown", Message: "Please reduce your request rate."}
	kms := &smithy.GenericAPIError{Code: "ThrottlingException"}
	for _, tc := range []struct {
		name  string
		errs  []error
		calls int
		ok    bool
	}{
		{"slowdown twice", []error{slow, fmt.Errorf("op: %w", slow)}, 3, true},
		{"kms", []error{kms}, 2, true},
		{"quota", []error{ratelimit.QuotaExceededError{}}, 2, true},
		{"503 (SDK)", []error{fmt.Errorf("op: %w", &awshttp.ResponseError{ResponseError: &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: errors.New("x")}})}, 2, true},
		{"503", []error{&smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: 503}}, Err: errors.New("x")}}, 2, true},
		{"other", []error{errors.New("access denied")}, 1, false},
		{"always", slices.Repeat([]error{slow}, 10), bulkRetries + 1, false},
	} {
		waits = nil
		calls := 0
		o := retryThrottled(context.Background(), func() bulkOutcome {
			calls++
			if calls <= len(tc.errs) {
				return bulkOutcome{err: tc.errs[calls-1]}
			}
			return bulkOutcome{result: "ok"}
		})
		if calls != tc.calls || (o.err == nil) != tc.ok {
			t.Errorf("%s: %d calls, err %v", tc.name, calls, o.err)
		}
		if len(waits) != calls-1 {
			t.Errorf("%s: %d waits for %d calls", tc.name, len(waits), calls)
		}
	}
	for n := range 8 {
		if d := bulkBackoffDefault(n); d <= 0 || d > min(time.Second<<n, bulkMaxBackoff) {
			t.Errorf("backoff %d: %v", n, d)
		}
	}
}

// Instruction files are not objects to process: encrypt named one
// without the marker (as AWS SDK for Go v1 wrote them) skips it instead
// of encrypting its object's key away, and manifest rows naming
// instruction files, marked or not, are left out.
func TestInstructionFilesInInput(t *testing.T) {
	c := newCLI(t)
	rewrapWorld(c) // p/obj-08..15 keep their envelope in p/obj-NN.instruction
	raw := minio.Client()
	bg := context.Background()
	if _, err := raw.CopyObject(bg, &s3.CopyObjectInput{Bucket: &c.bucket, Key: aws.String("p/obj-10.instruction"),
		CopySource: aws.String(c.bucket + "/p/obj-10.instruction"), MetadataDirective: types.MetadataDirectiveReplace, Metadata: map[string]string{}}); err != nil {
		t.Fatal(err)
	}
	h, err := raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &c.bucket, Key: aws.String("p/obj-10.instruction")})
	if err != nil || s3crypto.IsInstructionFile(h.Metadata) {
		t.Fatalf("the marker is still there: %v %v", h.Metadata, err)
	}
	r := c.ok("encrypt", "--json", "--aes-key", "new.key", c.url("p/obj-10.instruction"))
	if s := lastEncryptJSON(t, r.stdout); s.AlreadyEncrypted != 1 || s.Encrypted != 0 {
		t.Fatalf("encrypt of an unmarked instruction file: %+v", s)
	}
	if got := c.ok("get", "--aes-key", "old.key", c.url("p/obj-10"), "-").stdout; len(got) != 110 {
		t.Fatalf("p/obj-10 after: %d bytes", len(got))
	}
	c.write("m.csv", c.batchCSV([]string{"p/obj-09", "p/obj-09.instruction", "p/obj-10.instruction", "p/obj-10"}))
	r = c.ok("verify", "--manifest", "m.csv", "--json", "--aes-key", "old.key")
	if s := lastVerifyJSON(t, r.stdout); s.Seen != 2 || s.Verified != 2 {
		t.Fatalf("verify over a manifest with instruction files: %+v\n%s", s, r.stdout)
	}
	r = c.ok("encrypt", "--manifest", "m.csv", "--json", "--aes-key", "new.key")
	if s := lastEncryptJSON(t, r.stdout); s.Seen != 2 || s.AlreadyEncrypted != 2 {
		t.Fatalf("encrypt over a manifest with instruction files: %+v\n%s", s, r.stdout)
	}
}

// A bulk run's per-object failure is one plain line, as a single
// command's error is: no SDK chain, no request ID.
func TestBulkFailurePlainLine(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "k.key")
	c.write("batch.csv", c.batchCSV([]string{"gone"}))
	r := c.run("verify", "--manifest", "batch.csv", "--aes-key", "k.key")
	want := "s3c: " + c.url("gone") + ": no such object " + c.url("gone") + "\n"
	if r.code != 1 || !strings.HasPrefix(r.stderr, want) || strings.Contains(r.stderr, "RequestID") {
		t.Fatalf("exit %d, stderr:\n%s\nwant it to start with %q", r.code, r.stderr, want)
	}
}
