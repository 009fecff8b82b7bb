package main

import (
	"os"
	"slices"
	"strings"
	"testing"
)

// listedFlags returns the long names of the flags "s3c CMD --help" lists
// under "Flags:" (the command's own; global flags are listed apart).
func listedFlags(help string) []string {
	var names []string
	in := false
	for _, line := range strings.Split(help, "\n") {
		switch {
		case line == "Flags:":
			in = true
			continue
		case line == "" || !strings.HasPrefix(line, " "):
			in = false
		}
		if !in {
			continue
		}
		for _, f := range strings.Fields(line) {
			if strings.HasPrefix(f, "--") {
				names = append(names, strings.TrimPrefix(f, "--"))
				break
			}
		}
	}
	slices.Sort(names)
	return names
}

// Every command lists exactly the flags it uses: put the writing key
// flags, get the reading ones, cp both, and the commands that use no
// key none.
func TestFlagsPerCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	keys := []string{"kms-key-id", "aes-key", "rsa-key", "pkcs11-key"}
	write := append(slices.Clone(keys), "context", "format", "instruction-file", "keystore", "branch-key")
	read := append(slices.Clone(keys), "allow-kms-key", "context", "format", "legacy", "keystore")
	bulk := []string{"recursive", "jobs", "shard", "shard-count", "manifest", "report", "checkpoint", "rate", "dry-run", "json"}
	object := []string{"content-type", "metadata", "storage-class", "sse", "sse-kms-key-id", "sse-c-key"}
	root := []string{"kms-key-id", "aes-key", "rsa-key", "json"}
	for _, tc := range []struct {
		cmd  string
		want []string
	}{
		{"put", append(append(slices.Clone(write), object...), "json", "dry-run")},
		{"get", append(slices.Clone(read), "json", "stream", "range", "temp-dir", "dry-run", "no-clobber", "sse-c-key")},
		{"cp", append(append(append(slices.Clone(write), read...), object...), "recursive", "jobs", "json", "temp-dir", "dry-run", "no-clobber", "exclude", "include", "sse-c-copy-source-key")},
		{"sync", append(append(append(slices.Clone(write), read...), object...), "jobs", "json", "temp-dir", "dry-run", "delete", "exact-timestamps", "exclude", "include")},
		{"ls", []string{"recursive", "long", "jobs", "json", "exclude", "include"}},
		{"head", []string{"json", "sse-c-key"}},
		{"rm", []string{"recursive", "jobs", "dry-run", "exclude", "include", "sse-c-key"}},
		{"keygen", []string{"bits", "type", "json", "public-key"}},
		{"uploads", []string{"abort", "older-than", "json"}},
		{"rewrap", append(append(slices.Clone(keys), bulk...), "keystore", "branch-key", "allow-kms-key", "instruction-file")},
		{"verify", append(slices.Clone(bulk), "kms-key-id", "aes-key", "rsa-key", "pkcs11-key", "allow-kms-key")},
		{"index", append(slices.Clone(bulk), "kms-key-id", "aes-key", "rsa-key", "pkcs11-key", "allow-kms-key", "all")},
		{"encrypt", append(slices.Clone(bulk), "kms-key-id", "aes-key", "rsa-key", "pkcs11-key", "context", "format", "instruction-file")},
		{"keystore create", root},
		{"keystore rotate", append(slices.Clone(root), "branch-key")},
		{"keystore rewrap", root},
		{"keystore ls", []string{"json"}},
		{"mb", []string{"json", "dry-run"}},
		{"rb", []string{"force", "json", "dry-run"}},
	} {
		want := append(slices.Clone(tc.want), "help")
		slices.Sort(want)
		want = slices.Compact(want)
		got := listedFlags(c.ok(append(strings.Fields(tc.cmd), "--help")...).stdout)
		if !slices.Equal(got, want) {
			t.Errorf("s3c %s --help lists %v\nwant %v", tc.cmd, got, want)
		}
	}
	// keygen talks to neither S3 nor KMS: no global flags either.
	if help := c.ok("keygen", "--help").stdout; strings.Contains(help, "Global Flags:") || strings.Contains(help, "--region") {
		t.Errorf("s3c keygen --help lists global flags:\n%s", help)
	}
}

// A flag of another command is cobra's "unknown flag", a usage error,
// not silently accepted.
func TestFlagOfAnotherCommand(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("data"))
	for _, tc := range []struct {
		flag string
		args []string
	}{
		{"--allow-kms-key", []string{"put", "--aes-key", "a.key", "--allow-kms-key", kmsARN, "f", c.url("x")}},
		{"--legacy", []string{"put", "--aes-key", "a.key", "--legacy", "f", c.url("x")}},
		{"--instruction-file", []string{"get", "--aes-key", "a.key", "--instruction-file", c.url("x"), "out"}},
		{"--branch-key", []string{"get", "--aes-key", "a.key", "--branch-key", "b", c.url("x"), "out"}},
		{"--aes-key", []string{"head", "--aes-key", "a.key", c.url("x")}},
		{"--region", []string{"keygen", "--region", "eu-west-1", "aes", "k.key"}},
		{"--quiet", []string{"keygen", "-q", "aes", "k.key"}},
	} {
		r := c.run(tc.args...)
		if want := "s3c: unknown flag: " + tc.flag + "\nRun 's3c " + tc.args[0] + " --help' for usage.\n"; r.code != 2 || r.stderr != want {
			t.Errorf("s3c %s: exit %d, stderr %q; want 2, %q", strings.Join(tc.args, " "), r.code, r.stderr, want)
		}
	}
	if _, err := os.Stat(c.path("k.key")); err == nil {
		t.Error("keygen with a global flag made the key")
	}
}
