package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func lastLine(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return lines[len(lines)-1]
}

func TestKeystoreCLI(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	_, arnB := kmsSrv.CreateKey("alias/cli-ks-b-" + c.bucket)
	ks := c.url("ks/")
	c.ok("keygen", "aes", "old.key")

	id := lastLine(c.ok("keystore", "create", ks, "--kms-key-id", "alias/cli").stdout)
	if len(id) != 32 {
		t.Fatalf("create printed %q", id)
	}
	data := randomBytes(1000)
	c.write("in.bin", data)
	c.ok("put", "--keystore", ks, "--branch-key", id, "--kms-key-id", "alias/cli", "in.bin", c.url("a"))
	// A plain-AES object too: get with --keystore still reads it.
	c.ok("put", "--aes-key", "old.key", "in.bin", c.url("plain"))

	var h objectReport
	if err := json.Unmarshal([]byte(c.ok("head", "--json", c.url("a")).stdout), &h); err != nil {
		t.Fatal(err)
	}
	if h.KeyRef != "branch:"+id+"/1" || h.WrapAlgorithm != "AES/GCM" {
		t.Fatalf("head: %+v", h)
	}

	if v := lastLine(c.ok("keystore", "rotate", ks, "--branch-key", id, "--kms-key-id", "alias/cli").stdout); v != "2" {
		t.Fatalf("rotate printed %q", v)
	}
	// Environment instead of flags.
	c.setenv("S3C_KEYSTORE="+ks, "S3C_BRANCH_KEY="+id)
	c.ok("put", "--kms-key-id", "alias/cli", "in.bin", c.url("b"))
	c.setenv("S3C_KEYSTORE", "S3C_BRANCH_KEY")
	if err := json.Unmarshal([]byte(c.ok("head", "--json", c.url("b")).stdout), &h); err != nil || h.KeyRef != "branch:"+id+"/2" {
		t.Fatalf("head after rotate: %+v %v", h, err)
	}

	// Root rewrap to another KMS key; then reads need only the new one.
	r := c.ok("keystore", "rewrap", ks, "--kms-key-id", arnB, "--kms-key-id", "alias/cli")
	if !strings.Contains(r.stdout, "rewrapped 2 branch key versions") {
		t.Fatalf("rewrap: %q", r.stdout)
	}
	for _, k := range []string{"a", "b"} {
		c.ok("get", "--keystore", ks, "--kms-key-id", arnB, c.url(k), "out-"+k)
		if !bytes.Equal(c.read("out-"+k), data) {
			t.Fatalf("%s differs", k)
		}
	}
	c.ok("get", "--keystore", ks, "--kms-key-id", arnB, "--aes-key", "old.key", c.url("plain"), "out-plain")

	var infos []struct {
		ID       string `json:"id"`
		Active   string `json:"active"`
		Versions []struct {
			Version string `json:"version"`
			RootRef string `json:"rootKey"`
		} `json:"versions"`
	}
	if err := json.Unmarshal([]byte(c.ok("keystore", "ls", ks, "--json").stdout), &infos); err != nil {
		t.Fatal(err)
	}
	if len(infos) != 1 || infos[0].ID != id || infos[0].Active != "2" || len(infos[0].Versions) != 2 || infos[0].Versions[0].RootRef != arnB {
		t.Fatalf("ls: %+v", infos)
	}
	if out := c.ok("keystore", "ls", ks).stdout; !strings.HasPrefix(out, id+"\tactive 2\tversions 1,2\troot "+arnB) {
		t.Fatalf("ls: %q", out)
	}

	// Usage errors.
	c.fails(exitUsage, "--branch-key", "put", "--keystore", ks, "--kms-key-id", arnB, "in.bin", c.url("c"))
	c.fails(exitUsage, "rotate needs --branch-key", "keystore", "rotate", ks, "--kms-key-id", arnB)
	c.fails(exitUsage, "root key", "keystore", "create", ks)
	c.fails(1, "not found", "keystore", "rotate", ks, "--branch-key", "0123", "--kms-key-id", arnB)
}

// Two rotations at once: one wins, the other fails cleanly (exit 1) or
// runs after it; the store ends with the last winner's version active,
// and every version before it still reads. A loser may have stored a
// version of its own that is never made active (branch.Rotate says so),
// so the active version is the winner's, not a count of the winners.
func TestKeystoreConcurrentRotate(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ks := c.url("ks")
	id := lastLine(c.ok("keystore", "create", ks, "--kms-key-id", "alias/cli").stdout)
	var wg sync.WaitGroup
	res := make([]result, 2)
	for i := range res {
		wg.Go(func() { res[i] = c.run("keystore", "rotate", ks, "--branch-key", id, "--kms-key-id", "alias/cli") })
	}
	wg.Wait()
	wins, active := 0, ""
	for _, r := range res {
		switch r.code {
		case 0:
			wins++
			// "branch key ID: version N is now active"
			if _, after, ok := strings.Cut(r.stderr, ": version "); ok {
				if v, _, ok := strings.Cut(after, " "); ok && v > active {
					active = v
				}
			}
		case 1:
			if !strings.Contains(r.stderr, "rotated by another writer at the same time") {
				t.Fatalf("loser: %q", r.stderr)
			}
		default:
			t.Fatalf("exit %d: %s", r.code, r.stderr)
		}
	}
	if wins == 0 {
		t.Fatal("no rotation won")
	}
	out := c.ok("keystore", "ls", ks).stdout
	if active == "" || !strings.Contains(out, "\tactive "+active+"\t") {
		t.Fatalf("ls after %d wins: %q", wins, out)
	}
	c.write("in", []byte("x"))
	c.ok("put", "--keystore", ks, "--branch-key", id, "--kms-key-id", "alias/cli", "in", c.url("o"))
	c.ok("get", "--keystore", ks, "--kms-key-id", "alias/cli", c.url("o"), "out")
}

// rewrap takes --keystore and --branch-key as put does: the first key
// flag is then the key store's root, and objects move onto the branch
// key without their data moving.
func TestRewrapOntoBranchKey(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	ks := c.url("ks/")
	c.ok("keygen", "aes", "old.key")
	id := lastLine(c.ok("keystore", "create", ks, "--kms-key-id", "alias/cli").stdout)
	data := randomBytes(3000)
	c.write("in.bin", data)
	c.ok("put", "--aes-key", "old.key", "in.bin", c.url("obj"))

	r := c.ok("rewrap", "--json", "--keystore", ks, "--branch-key", id, "--kms-key-id", "alias/cli", "--aes-key", "old.key", c.url("obj"))
	if !strings.Contains(lastLine(r.stdout), `"rewrapped":1`) {
		t.Fatalf("rewrap: %q", r.stdout)
	}
	var h objectReport
	if err := json.Unmarshal([]byte(c.ok("head", "--json", c.url("obj")).stdout), &h); err != nil || h.KeyRef != "branch:"+id+"/1" {
		t.Fatalf("head after rewrap: %+v %v", h, err)
	}
	// The branch key alone reads it; the old key alone no longer does.
	c.ok("get", "--keystore", ks, "--kms-key-id", "alias/cli", c.url("obj"), "out")
	if !bytes.Equal(c.read("out"), data) {
		t.Fatal("plaintext differs after the rewrap")
	}
	c.fails(1, "", "get", "--aes-key", "old.key", c.url("obj"), "-")
	// A second run finds it current.
	r = c.ok("rewrap", "--json", "--keystore", ks, "--branch-key", id, "--kms-key-id", "alias/cli", "--aes-key", "old.key", c.url("obj"))
	if !strings.Contains(lastLine(r.stdout), `"current":1`) {
		t.Fatalf("second rewrap: %q", r.stdout)
	}
}
