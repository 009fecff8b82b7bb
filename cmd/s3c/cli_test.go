package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/vectors"
)

func randomBytes(n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

func TestKeygen(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.ok("keygen", "aes", "master.key")
	if !strings.HasPrefix(r.stdout, "aes:") || len(strings.TrimSpace(r.stdout)) != 20 {
		t.Fatalf("keygen aes printed %q", r.stdout)
	}
	st, _ := os.Stat(c.path("master.key"))
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	before := c.read("master.key")
	c.fails(1, "already exists", "keygen", "aes", "master.key")
	if !bytes.Equal(before, c.read("master.key")) {
		t.Fatal("keygen overwrote a key")
	}
	r = c.ok("keygen", "rsa", "id.pem", "--bits", "2048", "--json")
	var out map[string]string
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || !strings.HasPrefix(out["key_ref"], "rsa:") {
		t.Fatalf("keygen rsa --json: %q", r.stdout)
	}
	if st, _ := os.Stat(c.path("id.pem")); st.Mode().Perm() != 0o600 {
		t.Fatalf("private key mode %v", st.Mode().Perm())
	}
	if !strings.Contains(string(c.read("id.pem.pub")), "BEGIN PUBLIC KEY") {
		t.Fatal("no public key beside the private key")
	}
	c.fails(1, "already exists", "keygen", "rsa", "id.pem", "--bits", "2048")
	c.fails(2, "want aes or rsa", "keygen", "dsa", "x.key")
	c.fails(2, "--bits", "keygen", "aes", "y.key", "--bits", "2048")
	c.fails(2, "--bits", "keygen", "rsa", "z.pem", "--bits", "1024")
}

// Every key kind, both formats, both envelope placements.
func TestPutGetHead(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.ok("keygen", "rsa", "r.pem", "--bits", "2048")
	data := randomBytes(3<<20 + 7)
	c.write("data.bin", data)
	keys := map[string][2][]string{
		"kms": {{"--kms-key-id", "alias/cli"}, {"--kms-key-id", "alias/cli"}},
		"aes": {{"--aes-key", "a.key"}, {"--aes-key", "a.key"}},
		"rsa": {{"--rsa-key", "r.pem.pub"}, {"--rsa-key", "r.pem"}}, // the public key is enough to put
	}
	for name, k := range keys {
		for _, format := range []string{"v3", "v2"} {
			for _, inst := range []bool{false, true} {
				obj := c.url(name + "/" + format + "/" + map[bool]string{false: "meta", true: "inst"}[inst])
				put := append([]string{"put", "--format", format}, k[0]...)
				if inst {
					put = append(put, "--instruction-file")
				}
				r := c.ok(append(put, "data.bin", obj)...)
				if !strings.Contains(r.stderr, "put "+obj) {
					t.Fatalf("put summary %q", r.stderr)
				}
				get := append([]string{"get", "--format", format}, k[1]...)
				os.Remove(c.path("out.bin"))
				c.ok(append(get, obj, "out.bin")...)
				if !bytes.Equal(c.read("out.bin"), data) {
					t.Fatalf("%s: plaintext differs", obj)
				}
				var h objectReport
				if err := json.Unmarshal([]byte(c.ok("head", "--json", obj).stdout), &h); err != nil {
					t.Fatal(err)
				}
				wantLoc := map[bool]string{false: "metadata", true: "instruction-file"}[inst]
				if !h.Encrypted || h.Format != strings.ToUpper(format) || *h.PlaintextSize != int64(len(data)) || h.StoredSize != int64(len(data)+16) || h.EnvelopeLocation != wantLoc {
					t.Fatalf("%s: head %+v", obj, h)
				}
				if h.KeyRef == "" {
					t.Fatalf("%s: head names no key", obj)
				}
			}
		}
	}
	text := c.ok("head", c.url("kms/v3/meta")).stdout
	for _, want := range []string{"format:", "V3", "key commitment", "kms+context", "master key:          " + kmsARN, "aws:x-amz-cek-alg", "plaintext size:", "3145735", "stored size:", "3145751", "envelope:", "object metadata"} {
		if !strings.Contains(text, want) {
			t.Fatalf("head output lacks %q:\n%s", want, text)
		}
	}
	// Without --format v2, a V2 object is refused, with a hint.
	r := c.fails(1, "commitment", "get", "--aes-key", "a.key", c.url("aes/v2/meta"), "x.bin")
	if !strings.Contains(r.stderr, "--format v2") {
		t.Fatalf("no hint: %s", r.stderr)
	}
	// A get into a directory takes the key's name.
	os.Mkdir(c.path("dl"), 0o755)
	c.ok("get", "--aes-key", "a.key", c.url("aes/v3/meta"), "dl")
	if !bytes.Equal(c.read("dl/meta"), data) {
		t.Fatal("get into a directory")
	}
}

func TestPipes(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	data := randomBytes(9<<20 + 3) // more than one part, of unknown length
	r := c.runIn(data, "put", "--aes-key", "a.key", "-", c.url("piped"))
	if r.code != 0 {
		t.Fatalf("put from stdin: %s", r.stderr)
	}
	for _, extra := range [][]string{nil, {"--stream"}} {
		r = c.run(append(append([]string{"get", "--aes-key", "a.key"}, extra...), c.url("piped"), "-")...)
		if r.code != 0 || r.stdout != string(data) {
			t.Fatalf("get %v to stdout: exit %d, %d bytes: %s", extra, r.code, len(r.stdout), r.stderr)
		}
	}
	r = c.ok("get", "--aes-key", "a.key", "--range", "100-199", c.url("piped"), "-")
	if r.stdout != string(data[100:200]) {
		t.Fatal("ranged get")
	}
	r = c.ok("get", "--aes-key", "a.key", "--range", "-5", c.url("piped"), "-")
	if r.stdout != string(data[len(data)-5:]) {
		t.Fatal("suffix range")
	}
	c.fails(2, "--range", "get", "--aes-key", "a.key", "--range", "x-y", c.url("piped"), "-")
	c.fails(2, "full object key", "put", "--aes-key", "a.key", "-", c.url("dir/"))
}

func TestCpRecursive(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	files := map[string][]byte{
		"tree/a.txt":           []byte("alpha"),
		"tree/empty":           {},
		"tree/sub/b.bin":       randomBytes(70000),
		"tree/sub/deep/c.bin":  randomBytes(6<<20 + 1),
		"tree/sub/deep/d.json": []byte(`{"x":1}`),
	}
	for name, data := range files {
		c.write(name, data)
	}
	r := c.ok("cp", "-r", "--jobs", "3", "--aes-key", "a.key", "--instruction-file", "tree", c.url("backup"))
	if !strings.Contains(r.stderr, "cp: 5 objects") || !strings.Contains(r.stderr, "0 failed") {
		t.Fatalf("summary: %q", r.stderr)
	}
	ls := c.ok("ls", "-r", c.url("backup/")).stdout
	if strings.Contains(ls, ".instruction") || strings.Count(ls, "\n") != 5 {
		t.Fatalf("ls -r:\n%s", ls)
	}
	r = c.ok("cp", "-r", "--aes-key", "a.key", c.url("backup"), "restored", "--json")
	var sum map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || sum["objects"] != float64(5) || sum["failed"] != float64(0) {
		t.Fatalf("cp --json: %q", r.stdout)
	}
	for name, data := range files {
		got := c.read(filepath.Join("restored", strings.TrimPrefix(name, "tree/")))
		if !bytes.Equal(got, data) {
			t.Fatalf("%s differs after the round trip", name)
		}
	}
	// Single objects, either way, and into a prefix.
	c.ok("cp", "--aes-key", "a.key", "tree/a.txt", c.url("single/"))
	c.ok("cp", "--aes-key", "a.key", c.url("single/a.txt"), "copy.txt")
	if string(c.read("copy.txt")) != "alpha" {
		t.Fatal("cp single")
	}
	c.fails(2, "one of source and destination", "cp", "--aes-key", "a.key", "tree/a.txt", "other.txt")
	c.fails(2, "directory", "cp", "--aes-key", "a.key", "tree", c.url("x/"))
}

// S3 to S3 decrypts and encrypts again: with a new key first, objects move
// to it.
func TestCpRekey(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "old.key")
	newRef := strings.TrimSpace(c.ok("keygen", "aes", "new.key").stdout)
	c.write("f", []byte("rotate me"))
	c.ok("put", "--aes-key", "old.key", "f", c.url("f"))
	c.ok("cp", "--aes-key", "new.key", "--aes-key", "old.key", c.url("f"), c.url("f2"))
	var h objectReport
	json.Unmarshal([]byte(c.ok("head", "--json", c.url("f2")).stdout), &h)
	if h.KeyRef != newRef {
		t.Fatalf("re-keyed object names %s, want %s", h.KeyRef, newRef)
	}
	// The object names a key that was not given: not the object's fault.
	c.fails(1, "s3://"+c.bucket+"/f2 is wrapped by local AES key "+newRef+", which is not among the keys given", "get", "--aes-key", "old.key", c.url("f2"), "-")
	if r := c.ok("get", "--aes-key", "new.key", c.url("f2"), "-"); r.stdout != "rotate me" {
		t.Fatal("re-keyed object")
	}
}

func TestLs(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", randomBytes(1000))
	c.ok("put", "--aes-key", "a.key", "f", c.url("docs/enc"))
	c.ok("put", "--kms-key-id", "alias/cli", "--instruction-file", "f", c.url("docs/kms"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("top"))
	raw := minio.Client()
	raw.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("docs/plain"), Body: strings.NewReader("plain")})

	out := c.ok("ls", c.url("")).stdout
	if !strings.Contains(out, "PRE") || !strings.Contains(out, "docs/") || !strings.Contains(out, "top") || strings.Contains(out, "docs/enc") {
		t.Fatalf("ls (one level):\n%s", out)
	}
	out = c.ok("ls", "-rl", c.url("docs/")).stdout
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 {
		t.Fatalf("ls -rl docs/:\n%s", out)
	}
	for _, l := range lines {
		f := strings.Fields(l)
		switch f[len(f)-1] {
		case "docs/enc":
			if f[2] != "1000" || f[3] != "V3" || !strings.HasPrefix(f[4], "aes:") {
				t.Fatalf("line %q", l)
			}
		case "docs/kms":
			if f[2] != "1000" || f[4] != kmsARN {
				t.Fatalf("line %q", l)
			}
		case "docs/plain":
			if f[2] != "5" || f[3] != "-" {
				t.Fatalf("line %q", l)
			}
		}
	}
	var reports []objectReport
	if err := json.Unmarshal([]byte(c.ok("ls", "-r", "--json", c.url("")).stdout), &reports); err != nil || len(reports) != 4 {
		t.Fatalf("ls --json: %v, %d objects", err, len(reports))
	}
}

func TestRm(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("x"))
	c.ok("put", "--aes-key", "a.key", "--instruction-file", "f", c.url("gone"))
	c.ok("rm", c.url("gone"))
	raw := minio.Client()
	for _, k := range []string{"gone", "gone.instruction"} {
		if _, err := raw.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.bucket, Key: &k}); err == nil {
			t.Fatalf("%s still exists", k)
		}
	}
}

// A tampered object: exit 3, the destination untouched, no temporary file.
func TestTamperedGet(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", randomBytes(2<<20))
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))
	ctx := context.Background()
	raw := minio.Client()
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &c.bucket, Key: aws.String("obj")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	body[len(body)/2] ^= 1
	raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("obj"), Body: bytes.NewReader(body), Metadata: out.Metadata})

	c.write("dest", []byte("precious"))
	before, _ := os.ReadDir(c.dir)
	c.fails(3, "authentication", "get", "--aes-key", "a.key", c.url("obj"), "dest")
	if string(c.read("dest")) != "precious" {
		t.Fatal("the destination was changed")
	}
	after, _ := os.ReadDir(c.dir)
	if len(after) != len(before) {
		t.Fatalf("files left behind: %d before, %d after", len(before), len(after))
	}
	r := c.fails(3, "authentication", "get", "--aes-key", "a.key", c.url("obj"), "-")
	if r.stdout != "" {
		t.Fatalf("%d bytes written to stdout", len(r.stdout))
	}
	r = c.run("get", "--aes-key", "a.key", "--stream", c.url("obj"), "-")
	if r.code != 3 {
		t.Fatalf("--stream of a tampered object: exit %d", r.code)
	}
}

func TestErrorsAndExitCodes(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.ok("keygen", "aes", "b.key")
	c.write("f", []byte("secret"))
	c.ok("put", "--aes-key", "a.key", "--context", "team=blue", "f", c.url("obj"))
	c.fails(1, "s3://"+c.bucket+"/obj is wrapped by local AES key", "get", "--aes-key", "b.key", "--context", "team=blue", c.url("obj"), "-")
	c.fails(1, "s3://"+c.bucket+"/obj has encryption context keys [team], but the request gave none: give the pairs the object was written with, with --context k=v", "get", "--aes-key", "a.key", c.url("obj"), "-")
	c.fails(1, "has encryption context keys [team], but the request gave [team2]", "get", "--aes-key", "a.key", "--context", "team2=blue", c.url("obj"), "-")
	if r := c.ok("get", "--aes-key", "a.key", "--context", "team=blue", c.url("obj"), "-"); r.stdout != "secret" {
		t.Fatal("get with the context")
	}
	c.fails(1, "s3://"+c.bucket+"/missing", "get", "--aes-key", "a.key", c.url("missing"), "-")
	c.fails(1, "no such bucket s3://no-such-bucket-s3c", "put", "--aes-key", "a.key", "f", "s3://no-such-bucket-s3c/x")
	c.fails(2, "master key is needed", "put", "f", c.url("nokey"))
	c.fails(2, "not an s3://", "put", "--aes-key", "a.key", "f", "/tmp/x")
	c.fails(2, "accepts 2 arg", "get", "--aes-key", "a.key", c.url("obj"))
	c.fails(2, "--format", "put", "--aes-key", "a.key", "--format", "v4", "f", c.url("x"))
	c.fails(2, "key=value", "put", "--aes-key", "a.key", "--context", "novalue", "f", c.url("x"))
	c.fails(2, "unknown command", "frobnicate")
	c.fails(2, "--aes-key: cannot read the key file (no such file or directory)", "put", "--aes-key", "no-such.key", "f", c.url("x"))
	// KMS unreachable.
	bad := *c
	bad.env = append(append([]string{}, c.env...), "AWS_ENDPOINT_URL_KMS=http://127.0.0.1:1", "AWS_MAX_ATTEMPTS=1")
	bad.fails(1, "alias/cli", "put", "--kms-key-id", "alias/cli", "f", c.url("k"))
	// Key material never appears in output.
	key := strings.TrimSpace(string(c.read("a.key")))
	r := c.run("get", "--aes-key", "b.key", c.url("obj"), "-")
	if strings.Contains(r.stderr+r.stdout, key) {
		t.Fatal("key material in the output")
	}
}

func TestKMSDiscovery(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.write("f", []byte("kms"))
	c.ok("put", "--kms-key-id", "alias/cli", "f", c.url("k"))
	if r := c.ok("get", c.url("k"), "-"); r.stdout != "kms" {
		t.Fatal("discovery get")
	}
	if r := c.ok("get", "--allow-kms-key", kmsARN, c.url("k"), "-"); r.stdout != "kms" {
		t.Fatal("allow-listed discovery get")
	}
	// An allow-list without the object's key: with one key KMS enforces
	// it, with several s3c refuses before asking KMS.
	_, other := kmsSrv.CreateKey("")
	_, another := kmsSrv.CreateKey("")
	c.fails(1, "is wrapped by KMS key "+kmsARN+", which is not in --allow-kms-key", "get", "--allow-kms-key", other, c.url("k"), "-")
	c.fails(1, "is wrapped by KMS key "+kmsARN+", which is not in --allow-kms-key", "get", "--allow-kms-key", other, "--allow-kms-key", another, c.url("k"), "-")
}

// Not a terminal: no progress bar, only the one-line summary.
func TestNoProgressWithoutTerminal(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("big", randomBytes(20<<20))
	r := c.ok("put", "--aes-key", "a.key", "big", c.url("big"))
	if strings.Count(r.stderr, "\n") != 1 || strings.ContainsAny(r.stderr, "\r\x1b") {
		t.Fatalf("stderr without a terminal: %q", r.stderr)
	}
	r = c.ok("put", "--quiet", "--aes-key", "a.key", "big", c.url("big2"))
	if r.stderr != "" || r.stdout != "" {
		t.Fatalf("--quiet printed %q %q", r.stdout, r.stderr)
	}
}

// tamper flips a bit in the middle of a stored object.
func tamper(t *testing.T, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	raw := minio.Client()
	out, err := raw.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(out.Body)
	out.Body.Close()
	body[len(body)/2] ^= 1
	if _, err := raw.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(body), Metadata: out.Metadata}); err != nil {
		t.Fatal(err)
	}
}

func (c *cli) exists(key string) bool {
	_, err := minio.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.bucket, Key: &key})
	return err == nil
}

var importLegacyKey sync.Once

// A legacy object (AES-CBC, written by aws-sdk-go's V1 client, the key
// wrapped with KMS without context binding) is read only with --legacy.
func TestLegacy(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	vs, err := vectors.Load()
	if err != nil {
		t.Fatal(err)
	}
	var v *vectors.Vector
	for _, x := range vs {
		if x.Legacy() && x.OK() && x.PlaintextLength == 1000 {
			v = x
		}
	}
	if v == nil {
		t.Fatal("no legacy CBC vector of 1000 bytes")
	}
	importLegacyKey.Do(func() { kmsSrv.ImportKey(v.KMSKeyID, v.KeyMaterial(), v.KMSKeyAlias) })
	kmsSrv.RegisterCiphertext(v.EncryptedKey(), v.KMSKeyID, v.KMSContext, v.DataKey())
	_, err = minio.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("legacy"),
		Body: bytes.NewReader(v.Body), Metadata: v.Metadata})
	if err != nil {
		t.Fatal(err)
	}
	// Refused, with the way out in the one line; nothing written.
	c.fails(1, "--legacy", "get", c.url("legacy"), "out")
	c.fails(1, "--legacy", "get", "--format", "v2", c.url("legacy"), "-")
	if _, err := os.Stat(c.path("out")); err == nil {
		t.Fatal("a refused legacy object was written")
	}
	c.noTempFiles()
	// Read with --legacy, by KMS discovery or with the key named.
	c.ok("get", "--legacy", c.url("legacy"), "out")
	if err := v.CheckPlaintext(c.read("out")); err != nil {
		t.Fatal(err)
	}
	r := c.ok("get", "--legacy", "--kms-key-id", v.KMSKeyAlias, c.url("legacy"), "-")
	if err := v.CheckPlaintext([]byte(r.stdout)); err != nil {
		t.Fatal(err)
	}
	if h := c.ok("head", c.url("legacy")).stdout; !strings.Contains(h, "legacy, no integrity protection") {
		t.Fatalf("head of a legacy object:\n%s", h)
	}
}

// AWS_ENDPOINT_URL alone points both S3 and KMS at custom endpoints.
func TestBareEndpointURL(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.setenv("AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_KMS", "AWS_ENDPOINT_URL="+minio.Endpoint)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("bare endpoint"))
	c.ok("put", "--aes-key", "a.key", "f", c.url("f"))
	if r := c.ok("get", "--aes-key", "a.key", c.url("f"), "-"); r.stdout != "bare endpoint" {
		t.Fatalf("get: %q", r.stdout)
	}
	if out := c.ok("ls", c.url("")).stdout; !strings.Contains(out, " f\n") {
		t.Fatalf("ls:\n%s", out)
	}
	// KMS too: S3 named on its own, KMS by the bare variable.
	k := *c
	k.setenv("AWS_ENDPOINT_URL="+kmsSrv.URL(), "AWS_ENDPOINT_URL_S3="+minio.Endpoint)
	k.ok("put", "--kms-key-id", "alias/cli", "f", c.url("k"))
	if r := k.ok("get", c.url("k"), "-"); r.stdout != "bare endpoint" {
		t.Fatalf("get of a KMS object: %q", r.stdout)
	}
}

func TestJSONPutGet(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ref := strings.TrimSpace(c.ok("keygen", "aes", "a.key").stdout)
	data := randomBytes(12345)
	c.write("f", data)
	r := c.ok("put", "--json", "--aes-key", "a.key", "f", c.url("dir/"))
	var put struct {
		Bucket, Key, ETag string
		Size              int64
		KeyRef            string `json:"key_ref"`
		Parts             *int
	}
	if err := json.Unmarshal([]byte(r.stdout), &put); err != nil {
		t.Fatalf("put --json: %v: %q", err, r.stdout)
	}
	if put.Bucket != c.bucket || put.Key != "dir/f" || put.Size != int64(len(data)) || put.KeyRef != ref || put.ETag == "" || put.Parts == nil || r.stderr != "" {
		t.Fatalf("put --json: %+v, stderr %q", put, r.stderr)
	}
	r = c.ok("get", "--json", "--aes-key", "a.key", c.url("dir/f"), "out")
	var get struct {
		Bucket, Key, File string
		Size              int64
		KeyRef            string `json:"key_ref"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &get); err != nil {
		t.Fatalf("get --json: %v: %q", err, r.stdout)
	}
	if get.Bucket != c.bucket || get.Key != "dir/f" || get.File != "out" || get.Size != int64(len(data)) || get.KeyRef != ref || r.stderr != "" {
		t.Fatalf("get --json: %+v, stderr %q", get, r.stderr)
	}
	if !bytes.Equal(c.read("out"), data) {
		t.Fatal("get --json: plaintext differs")
	}
	r = c.ok("cp", "--json", "--aes-key", "a.key", c.url("dir/f"), "copied")
	var cp struct {
		Source, Destination string
		Bytes               int64
	}
	if err := json.Unmarshal([]byte(r.stdout), &cp); err != nil || cp.Source != c.url("dir/f") || cp.Destination != "copied" || cp.Bytes != int64(len(data)) {
		t.Fatalf("cp --json: %v: %q", err, r.stdout)
	}
}

// A get to a file that fails leaves the destination as it was and no
// temporary file: the wrong key, a missing object.
func TestGetToFileFailures(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.ok("keygen", "aes", "b.key")
	c.write("f", randomBytes(100000))
	c.ok("put", "--aes-key", "a.key", "f", c.url("obj"))
	c.write("dest", []byte("precious"))
	os.Mkdir(c.path("sub"), 0o755)
	for _, dst := range []string{"dest", "sub/new"} {
		c.fails(1, c.url("obj")+" is wrapped by local AES key", "get", "--aes-key", "b.key", c.url("obj"), dst)
		c.fails(1, c.url("missing"), "get", "--aes-key", "a.key", c.url("missing"), dst)
	}
	c.fails(1, c.url("missing"), "cp", "--aes-key", "a.key", c.url("missing"), "dest")
	if string(c.read("dest")) != "precious" {
		t.Fatal("the destination was changed")
	}
	if _, err := os.Stat(c.path("sub/new")); err == nil {
		t.Fatal("a failed get created its destination")
	}
	c.noTempFiles()
}

func TestHeadMissing(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	r := c.fails(1, c.url("missing"), "head", c.url("missing"))
	if r.stdout != "" {
		t.Fatalf("head of a missing object printed %q", r.stdout)
	}
	c.fails(1, c.url("missing"), "head", "--json", c.url("missing"))
}

// A cp -r with failures copies what it can, names each failure, prints
// its summary and exits 1, or 3 if a failure was an integrity failure.
func TestCpRecursiveFailures(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	for _, name := range []string{"a", "b", "c"} {
		c.write("tree/"+name, randomBytes(5000))
	}
	c.ok("cp", "-r", "--aes-key", "a.key", "tree", c.url("t"))
	minio.Client().PutObject(context.Background(), &s3.PutObjectInput{Bucket: &c.bucket, Key: aws.String("t/plain"), Body: strings.NewReader("not encrypted")})

	r := c.run("cp", "-r", "--aes-key", "a.key", c.url("t"), "out1")
	if r.code != 1 || !strings.Contains(r.stderr, "s3c: "+c.url("t/plain")+": ") || !strings.Contains(r.stderr, "cp: 3 objects") || !strings.Contains(r.stderr, "1 failed") {
		t.Fatalf("cp -r with an unencrypted object: exit %d\n%s", r.code, r.stderr)
	}
	if !bytes.Equal(c.read("out1/a"), c.read("tree/a")) {
		t.Fatal("the other objects were not copied")
	}
	tamper(t, c.bucket, "t/b")
	r = c.run("cp", "-r", "--aes-key", "a.key", c.url("t"), "out2")
	if r.code != 3 || !strings.Contains(r.stderr, "s3c: "+c.url("t/b")+": ") || !strings.Contains(r.stderr, "cp: 2 objects") || !strings.Contains(r.stderr, "2 failed") {
		t.Fatalf("cp -r with a tampered object: exit %d\n%s", r.code, r.stderr)
	}
	if _, err := os.Stat(c.path("out2/b")); err == nil {
		t.Fatal("a tampered object was written")
	}
	r = c.run("cp", "-r", "--json", "--aes-key", "a.key", c.url("t"), "out3")
	var sum struct {
		Objects, Failed int
		Errors          []string
	}
	if err := json.Unmarshal([]byte(r.stdout), &sum); err != nil || r.code != 3 || sum.Objects != 2 || sum.Failed != 2 || len(sum.Errors) != 2 {
		t.Fatalf("cp -r --json: exit %d, %q", r.code, r.stdout)
	}
	c.noTempFiles()
}

func TestRSAWrongKey(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ref := strings.TrimSpace(c.ok("keygen", "rsa", "one.pem", "--bits", "2048").stdout)
	c.ok("keygen", "rsa", "two.pem", "--bits", "2048")
	c.write("f", []byte("for one only"))
	c.ok("put", "--rsa-key", "one.pem.pub", "f", c.url("obj"))
	r := c.fails(1, c.url("obj")+" is wrapped by local RSA key", "get", "--rsa-key", "two.pem", c.url("obj"), "-")
	if !strings.Contains(r.stderr, ref) || strings.Contains(r.stderr, "BEGIN") {
		t.Fatalf("the error should name the object's key %s and no key material: %s", ref, r.stderr)
	}
	c.fails(2, "--rsa-key holds only a public key; reading needs the private key", "get", "--rsa-key", "one.pem.pub", c.url("obj"), "-")
	if r := c.ok("get", "--rsa-key", "two.pem", "--rsa-key", "one.pem", c.url("obj"), "-"); r.stdout != "for one only" {
		t.Fatal("get with the right key among others")
	}
}

// keygen rsa FILE refuses when FILE.pub exists, and writes nothing.
func TestKeygenExistingPub(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.write("k.pem.pub", []byte("someone else's"))
	c.fails(1, "k.pem.pub already exists", "keygen", "rsa", "k.pem", "--bits", "2048")
	if _, err := os.Stat(c.path("k.pem")); err == nil {
		t.Fatal("keygen wrote the private key beside someone else's public key")
	}
	if string(c.read("k.pem.pub")) != "someone else's" {
		t.Fatal("keygen overwrote FILE.pub")
	}
}

// cp -r of a single file is a plain cp: the key is the destination's,
// not DEST/.
func TestCpRecursiveFile(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("one.txt", []byte("one"))
	r := c.ok("cp", "-r", "--aes-key", "a.key", "one.txt", c.url("x"))
	if !c.exists("x") || c.exists("x/.") || !strings.HasPrefix(r.stderr, "cp one.txt to "+c.url("x")+":") {
		t.Fatalf("cp -r FILE s3://b/x: x %v, x/. %v, stderr %q", c.exists("x"), c.exists("x/."), r.stderr)
	}
	c.ok("cp", "-r", "--aes-key", "a.key", "one.txt", c.url("dir/"))
	if !c.exists("dir/one.txt") {
		t.Fatal("cp -r FILE s3://b/dir/ should make dir/one.txt")
	}
	if r := c.ok("get", "--aes-key", "a.key", c.url("x"), "-"); r.stdout != "one" {
		t.Fatalf("got %q", r.stdout)
	}
}
