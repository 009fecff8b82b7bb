package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

type rewrapSummary struct {
	Seen         int `json:"seen"`
	Rewrapped    int `json:"rewrapped"`
	Current      int `json:"current"`
	NotEncrypted int `json:"not_encrypted"`
	Failed       int `json:"failed"`
	Failures     []struct {
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"failures"`
}

// lastJSON decodes the last line of stdout as the summary.
func lastJSON(t *testing.T, stdout string) rewrapSummary {
	t.Helper()
	lines := strings.Split(strings.TrimSpace(stdout), "\n")
	var s rewrapSummary
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &s); err != nil {
		t.Fatalf("last stdout line is not the JSON summary: %q (%v)", lines[len(lines)-1], err)
	}
	return s
}

// aesKeyring reads a key file the test made with keygen.
func (c *cli) aesKeyring(name string) *materials.AESKeyring {
	c.t.Helper()
	data, err := os.ReadFile(c.path(name))
	if err != nil {
		c.t.Fatal(err)
	}
	key, err := materials.ParseAESKey(data)
	if err != nil {
		c.t.Fatal(err)
	}
	kr, err := materials.NewAES(key)
	if err != nil {
		c.t.Fatal(err)
	}
	return kr
}

// rewrapWorld stores 20 objects under p/: 8 with the envelope in
// metadata, 8 in instruction files (all under old.key) and 4 not
// encrypted, and returns their keys and ETags.
func rewrapWorld(c *cli) (keys []string, etags map[string]string) {
	c.t.Helper()
	c.ok("keygen", "aes", "old.key")
	c.ok("keygen", "aes", "new.key")
	old := c.aesKeyring("old.key")
	raw := minio.Client()
	meta, err := s3crypto.New(raw, old)
	if err != nil {
		c.t.Fatal(err)
	}
	inst, err := s3crypto.New(raw, old, func(o *s3crypto.Options) { o.InstructionFile = true })
	if err != nil {
		c.t.Fatal(err)
	}
	ctx := context.Background()
	for i := range 20 {
		key := fmt.Sprintf("p/obj-%02d", i)
		body := bytes.NewReader([]byte(strings.Repeat("x", 100+i)))
		in := &s3.PutObjectInput{Bucket: &c.bucket, Key: &key, Body: body}
		switch {
		case i < 8:
			_, err = meta.PutObject(ctx, in)
		case i < 16:
			_, err = inst.PutObject(ctx, in)
		default:
			_, err = raw.PutObject(ctx, in)
		}
		if err != nil {
			c.t.Fatal(err)
		}
		keys = append(keys, key)
	}
	return keys, c.etags(keys)
}

// etags returns what tells whether each object (and one instruction
// file) was rewritten.
func (c *cli) etags(keys []string) map[string]string {
	c.t.Helper()
	m := map[string]string{}
	for _, k := range append(slices.Clone(keys), "p/obj-10.instruction") {
		h, err := minio.Client().HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &c.bucket, Key: aws.String(k)})
		if err != nil {
			c.t.Fatal(err)
		}
		// A self-copy of the same bytes keeps the ETag: the envelope and
		// Last-Modified tell a rewrite.
		m[k] = aws.ToString(h.ETag) + " " + h.Metadata["x-amz-3"] + " " + aws.ToTime(h.LastModified).String()
	}
	return m
}

// s3c rewrap -r over a prefix of mixed objects: exact counts, every
// encrypted object readable with the new key alone, instruction-file
// objects untouched; a second run finds all current and writes nothing.
func TestRewrapPrefix(t *testing.T) {
	c := newCLI(t)
	keys, before := rewrapWorld(c)

	dry := c.ok("rewrap", "-r", "--dry-run", "--json", "--aes-key", "new.key", "--aes-key", "old.key", c.url("p/"))
	if s := lastJSON(t, dry.stdout); s.Seen != 20 || s.Rewrapped != 16 || s.NotEncrypted != 4 || s.Failed != 0 {
		t.Fatalf("--dry-run summary %+v", s)
	}
	if got := c.etags(keys); !mapsEqual(got, before) {
		t.Fatal("--dry-run wrote something")
	}

	r := c.ok("rewrap", "-r", "--json", "--aes-key", "new.key", "--aes-key", "old.key", c.url("p/"))
	s := lastJSON(t, r.stdout)
	if s.Seen != 20 || s.Rewrapped != 16 || s.Current != 0 || s.NotEncrypted != 4 || s.Failed != 0 || len(s.Failures) != 0 {
		t.Fatalf("summary %+v", s)
	}
	if want := "rewrap: 20 seen, 16 rewrapped, 0 current, 4 not encrypted, 0 failed\n"; r.stderr != want {
		t.Fatalf("stderr %q, want %q", r.stderr, want)
	}
	if n := strings.Count(r.stdout, "\n"); n != 21 {
		t.Errorf("%d stdout lines, want one per object and the JSON summary:\n%s", n, r.stdout)
	}
	after := c.etags(keys)
	for i, k := range keys {
		switch {
		case i >= 8 && i < 16 && after[k] != before[k]:
			t.Errorf("%s: an instruction-file object was rewritten", k)
		case i < 8 && after[k] == before[k]:
			t.Errorf("%s: a metadata object was not rewritten", k)
		case i >= 16 && after[k] != before[k]:
			t.Errorf("%s: an unencrypted object was rewritten", k)
		}
	}
	if after["p/obj-10.instruction"] == before["p/obj-10.instruction"] {
		t.Error("the instruction file was not rewritten")
	}
	for _, k := range keys[:16] {
		got := c.ok("get", "--aes-key", "new.key", c.url(k), "-").stdout
		if len(got) != 100+slices.Index(keys, k) {
			t.Fatalf("%s with the new key: %d bytes", k, len(got))
		}
	}
	c.fails(1, "", "get", "--aes-key", "old.key", c.url(keys[0]), "-")

	r = c.ok("rewrap", "-r", "-q", "--json", "--aes-key", "new.key", "--aes-key", "old.key", c.url("p/"))
	if s := lastJSON(t, r.stdout); s.Seen != 20 || s.Current != 16 || s.NotEncrypted != 4 || s.Rewrapped != 0 {
		t.Fatalf("second run: %+v", s)
	}
	if strings.Count(r.stdout, "\n") != 1 || r.stderr != "" {
		t.Errorf("-q printed more than the JSON summary: %q %q", r.stdout, r.stderr)
	}
	if got := c.etags(keys); !mapsEqual(got, after) {
		t.Fatal("the second run wrote something")
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// Three shard processes cover the prefix exactly once, by --shard and
// by JOB_COMPLETION_INDEX with S3C_SHARD_COUNT; the rule is FNV-1a 64 of
// the key mod N.
func TestRewrapShards(t *testing.T) {
	c := newCLI(t)
	keys, _ := rewrapWorld(c)
	seen := map[string]int{}
	total := 0
	for i := range 3 {
		var r result
		if i == 1 {
			c.setenv("JOB_COMPLETION_INDEX=1", "S3C_SHARD_COUNT=3")
			r = c.ok("rewrap", "-r", "--json", "--aes-key", "new.key", "--aes-key", "old.key", c.url("p/"))
			c.setenv("JOB_COMPLETION_INDEX", "S3C_SHARD_COUNT")
		} else {
			r = c.ok("rewrap", "-r", "--json", "--shard", fmt.Sprintf("%d/3", i), "--aes-key", "new.key", "--aes-key", "old.key", c.url("p/"))
		}
		s := lastJSON(t, r.stdout)
		total += s.Seen
		for _, line := range strings.Split(r.stdout, "\n") {
			f := strings.Fields(line)
			for _, w := range f {
				if k, ok := strings.CutPrefix(w, c.url("")); ok {
					seen[k]++
					if got := shardOf(k, 3); got != uint64(i) {
						t.Errorf("%s processed by shard %d, its shard is %d", k, i, got)
					}
				}
			}
		}
	}
	if total != 20 || len(seen) != 20 {
		t.Fatalf("shards saw %d objects, %d distinct; want 20", total, len(seen))
	}
	for _, k := range keys {
		if seen[k] != 1 {
			t.Errorf("%s seen %d times", k, seen[k])
		}
	}
	// The whole prefix is now current.
	r := c.ok("rewrap", "-r", "--json", "--aes-key", "new.key", c.url("p/"))
	if s := lastJSON(t, r.stdout); s.Current != 16 || s.NotEncrypted != 4 {
		t.Fatalf("after the shards: %+v", s)
	}

	c.setenv("AWS_BATCH_JOB_ARRAY_INDEX=0")
	c.fails(2, "AWS_BATCH_JOB_ARRAY_INDEX is set but the number of shards is not", "rewrap", "-r", "--aes-key", "new.key", c.url("p/"))
	c.setenv("AWS_BATCH_JOB_ARRAY_INDEX")
	c.fails(2, `--shard "3/3"`, "rewrap", "-r", "--shard", "3/3", "--aes-key", "new.key", c.url("p/"))
}

// A failure is counted and named, and makes the exit code 1.
func TestRewrapFailure(t *testing.T) {
	c := newCLI(t)
	rewrapWorld(c)
	c.ok("keygen", "aes", "other.key")
	r := c.run("rewrap", "-r", "--json", "--aes-key", "new.key", "--aes-key", "other.key", c.url("p/"))
	if r.code != 1 {
		t.Fatalf("exit %d, want 1\n%s", r.code, r.stderr)
	}
	s := lastJSON(t, r.stdout)
	if s.Failed != 16 || len(s.Failures) != 16 || s.NotEncrypted != 4 || s.Failures[0].Reason == "" {
		t.Fatalf("summary %+v", s)
	}
	if !strings.Contains(r.stderr, "rewrap: 20 seen, 0 rewrapped, 0 current, 4 not encrypted, 16 failed\n") {
		t.Fatalf("stderr: %s", r.stderr)
	}
}

// An object whose V3 key commitment was altered is not rewrapped: the
// failure is an integrity failure, exit 3, as for cp -r.
func TestRewrapIntegrityFailure(t *testing.T) {
	c := newCLI(t)
	rewrapWorld(c)
	raw := minio.Client()
	ctx := context.Background()
	h, err := raw.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &c.bucket, Key: aws.String("p/obj-03")})
	if err != nil {
		t.Fatal(err)
	}
	meta := h.Metadata
	meta["x-amz-d"] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
	if _, err := raw.CopyObject(ctx, &s3.CopyObjectInput{Bucket: &c.bucket, Key: aws.String("p/obj-03"),
		CopySource: aws.String(c.bucket + "/p/obj-03"), Metadata: meta, MetadataDirective: "REPLACE"}); err != nil {
		t.Fatal(err)
	}
	r := c.run("rewrap", "-r", "--json", "--aes-key", "new.key", "--aes-key", "old.key", c.url("p/"))
	if r.code != exitIntegrity {
		t.Fatalf("exit %d, want 3\n%s", r.code, r.stderr)
	}
	s := lastJSON(t, r.stdout)
	if s.Failed != 1 || s.Rewrapped != 15 || s.Failures[0].Key != "p/obj-03" {
		t.Fatalf("summary %+v", s)
	}
}

// KMS to KMS from the command line: one ReEncrypt per object, no
// Decrypt, GenerateDataKey or Encrypt.
func TestRewrapKMS(t *testing.T) {
	c := newCLI(t)
	kmsSrv.CreateKey("alias/cli-rewrap-new")
	c.write("f", []byte("some data"))
	for _, k := range []string{"k/a", "k/b"} {
		c.ok("put", "--kms-key-id", "alias/cli", "f", c.url(k))
	}
	calls := map[string]int{}
	for _, op := range []string{"ReEncrypt", "Decrypt", "GenerateDataKey", "Encrypt"} {
		calls[op] = kmsSrv.Calls(op)
	}
	r := c.ok("rewrap", "-r", "--json", "--kms-key-id", "alias/cli-rewrap-new", "--kms-key-id", "alias/cli", c.url("k/"))
	if s := lastJSON(t, r.stdout); s.Rewrapped != 2 {
		t.Fatalf("summary %+v", s)
	}
	for op, want := range map[string]int{"ReEncrypt": 2, "Decrypt": 0, "GenerateDataKey": 0, "Encrypt": 0} {
		if got := kmsSrv.Calls(op) - calls[op]; got != want {
			t.Errorf("KMS %s: %d calls, want %d", op, got, want)
		}
	}
	if got := c.ok("get", "--kms-key-id", "alias/cli-rewrap-new", c.url("k/a"), "-").stdout; got != "some data" {
		t.Fatalf("get with the new key: %q", got)
	}
}

// The new key may be an RSA public key: it only wraps; its private key
// reads the objects afterwards.
func TestRewrapToRSAPublicKey(t *testing.T) {
	c := newCLI(t)
	keys, _ := rewrapWorld(c)
	c.ok("keygen", "rsa", "id.pem", "--bits", "2048")
	r := c.ok("rewrap", "-r", "--json", "--rsa-key", "id.pem.pub", "--aes-key", "old.key", c.url("p/"))
	if s := lastJSON(t, r.stdout); s.Rewrapped != 16 || s.NotEncrypted != 4 {
		t.Fatalf("summary %+v", s)
	}
	if got := c.ok("get", "--rsa-key", "id.pem", c.url(keys[9]), "-").stdout; len(got) != 109 {
		t.Fatalf("get with the private key: %d bytes", len(got))
	}
	r = c.ok("rewrap", "-r", "--json", "--rsa-key", "id.pem.pub", c.url("p/"))
	if s := lastJSON(t, r.stdout); s.Current != 16 {
		t.Fatalf("second run with the public key alone: %+v", s)
	}
	c.fails(2, "--aes-key #2", "rewrap", "-r", "--aes-key", "old.key", "--aes-key", "missing.key", c.url("p/"))
}
