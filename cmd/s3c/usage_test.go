package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// --version takes the version and the VCS revision from the build
// information: "(devel)" (or the module's version) and, for a build that
// recorded it, the revision; a release build sets the version with
// -ldflags.
func TestVersion(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	shape := regexp.MustCompile(`^s3c (\(devel\)|v[0-9]\S*)( \(rev [0-9a-f]{12}(, [0-9TZ:-]+)?(, modified)?\))?, go1\.\S+\n$`)
	out := c.ok("--version").stdout
	if !shape.MatchString(out) {
		t.Fatalf("--version printed %q", out)
	}
	if strings.Contains(out, "0.1.0-dev") {
		t.Fatalf("--version printed the old fixed version: %q", out)
	}
	info, err := exec.Command("go", "version", "-m", binary).Output()
	if err != nil {
		t.Fatal(err)
	}
	if m := regexp.MustCompile(`vcs\.revision=([0-9a-f]+)`).FindSubmatch(info); m != nil && !strings.Contains(out, "rev "+string(m[1][:12])) {
		t.Fatalf("--version printed %q; the build recorded revision %s", out, m[1])
	}

	release := filepath.Join(t.TempDir(), "s3c")
	if out, err := exec.Command("go", "build", "-ldflags", "-X main.version=v9.8.7", "-o", release, ".").CombinedOutput(); err != nil {
		t.Fatalf("building with -ldflags: %v\n%s", err, out)
	}
	out2, err := exec.Command(release, "--version").Output()
	if err != nil || !strings.HasPrefix(string(out2), "s3c v9.8.7") || !shape.Match(out2) {
		t.Fatalf("a release build's --version printed %q (%v)", out2, err)
	}
}

func TestVersionAndHelp(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	help := c.ok("--help").stdout
	for _, want := range []string{"Exit codes:", "0  success", "1  error", "2  usage error", "3  integrity failure", "130, 143, 129  interrupted", "SIGHUP"} {
		if !strings.Contains(help, want) {
			t.Fatalf("s3c --help lacks %q:\n%s", want, help)
		}
	}
	// Every command's help has examples; the RSA ones use the public key
	// file that keygen writes: FILE.pub beside FILE, a .pem.
	rsaPub := regexp.MustCompile(`--rsa-key (\S+)\.pub\b`)
	for _, cmd := range []string{"put", "get", "cp", "ls", "head", "rm", "keygen", "help"} {
		out := c.ok(cmd, "--help").stdout
		if !strings.Contains(out, "Examples:\n  s3c "+cmd) {
			t.Fatalf("s3c %s --help has no example:\n%s", cmd, out)
		}
		help += out
	}
	if c.ok("help", "put").stdout != c.ok("put", "--help").stdout {
		t.Fatal(`"s3c help put" and "s3c put --help" differ`)
	}
	for _, m := range rsaPub.FindAllStringSubmatch(help, -1) {
		if !strings.HasSuffix(m[1], ".pem") {
			t.Fatalf("example %q: keygen rsa FILE.pem writes FILE.pem.pub", m[0])
		}
	}
	if !strings.Contains(help, "keygen rsa backup.pem") || !strings.Contains(help, "--rsa-key backup.pem.pub") {
		t.Fatal("the RSA examples should use keygen rsa backup.pem and its backup.pem.pub")
	}
}

// Usage errors exit 2, and are found before any key file is read, any
// source opened or any request made (a missing key file, also a usage
// error, would give another message).
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("x"))
	os.Mkdir(c.path("dir"), 0o755)
	c.fails(2, "--path-style", "--path-style", "--virtual-hosted-style", "ls", c.url(""))
	c.fails(2, "--path-style", "get", "--path-style", "--virtual-hosted-style", "--aes-key", "a.key", c.url("x"), "-")
	for _, args := range [][]string{
		{"put", "--aes-key", "missing.key", "--format", "v4", "f", c.url("x")},
		{"get", "--aes-key", "missing.key", "--format", "v4", c.url("x"), "-"},
		{"cp", "--aes-key", "missing.key", "--format", "v4", "f", c.url("x")},
		{"put", "--kms-key-id", "alias/cli", "--format", "v4", "missing-file", c.url("x")},
	} {
		c.fails(2, "--format", args...)
	}
	for _, args := range [][]string{
		{"put", "--aes-key", "missing.key", "--context", "novalue", "f", c.url("x")},
		{"put", "--aes-key", "a.key", "--context", "novalue", "missing-file", c.url("x")},
		{"get", "--aes-key", "missing.key", "--context", "novalue", c.url("x"), "-"},
		{"cp", "-r", "--aes-key", "a.key", "--context", "novalue", "missing-dir", c.url("x/")},
		{"put", "--aes-key", "a.key", "--context", "k=v", "--context", "=v", "f", c.url("x")},
	} {
		c.fails(2, "--context", args...)
	}
	c.fails(2, "key \"k\" given twice", "put", "--aes-key", "missing.key", "--context", "k=1", "--context", "k=2", "f", c.url("x"))
	c.fails(2, "help topic", "help", "nosuch")
	c.fails(2, "unknown command", "nosuch")
	c.fails(2, "unknown flag", "put", "--nosuch", "f", c.url("x"))
	c.fails(2, "directory", "put", "--aes-key", "a.key", "dir", c.url("x"))
	c.fails(2, "directory", "put", "--aes-key", "missing.key", "dir", c.url("dir/"))
	c.fails(2, "directory", "cp", "--aes-key", "a.key", "dir", c.url("x"))
	// Nothing was stored by any of them.
	if out := c.ok("ls", "-r", c.url("")).stdout; out != "" {
		t.Fatalf("objects after usage errors:\n%s", out)
	}
}

// Shell completion is cobra's, enabled, and named in --help.
func TestCompletion(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	if out := c.ok("completion", "bash").stdout; !strings.Contains(out, "bash completion") || !strings.Contains(out, "__start_s3c") {
		t.Fatalf("s3c completion bash printed no script:\n%.300s", out)
	}
	for _, shell := range []string{"zsh", "fish", "powershell"} {
		if out := c.ok("completion", shell).stdout; !strings.Contains(out, "s3c") {
			t.Fatalf("s3c completion %s printed no script", shell)
		}
	}
	help := c.ok("--help").stdout
	if !strings.Contains(help, "s3c completion bash|zsh|fish|powershell") || !strings.Contains(help, "completion  Generate") {
		t.Fatalf("--help does not mention completion:\n%s", help)
	}
	// Completion of commands and flags works from the script's hook.
	out := c.ok("__complete", "r").stdout
	for _, want := range []string{"rb\t", "rewrap\t", "rm\t"} {
		if !strings.Contains(out, want) {
			t.Fatalf("completing %q lacks %q:\n%s", "r", want, out)
		}
	}
	c.fails(2, `unknown command "tcsh" for "s3c completion"`, "completion", "tcsh")
	c.fails(2, "no shell given", "completion")
}

// Mistakes in the command line are usage errors (exit 2), found before
// anything is read or sent: an empty or backward --range, --jobs below
// 1, --stream to a file, a key written to "-".
func TestUsageMistakes(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("data"))
	c.ok("put", "-q", "--aes-key", "a.key", "f", c.url("obj"))
	c.fails(2, `--range "10-5": want a-b (a ≤ b), a- or -n`, "get", "--aes-key", "a.key", "--range", "10-5", c.url("obj"), "-")
	c.ok("get", "-q", "--aes-key", "a.key", "--range", "1-1", c.url("obj"), "-")
	for _, n := range []string{"0", "-1"} {
		for _, args := range [][]string{
			{"cp", "-r", "--jobs", n, "--aes-key", "a.key", c.url(""), "out"},
			{"ls", "--jobs", n, c.url("")},
			{"ls", "-l", "--jobs", n, c.url("")},
			{"rm", "-r", "--jobs", n, c.url("")},
			{"sync", "--jobs", n, "--aes-key", "a.key", c.dir, c.url("")},
			{"verify", "-r", "--jobs", n, "--aes-key", "a.key", c.url("")},
			{"rewrap", "-r", "--jobs", n, "--aes-key", "a.key", c.url("")},
			{"encrypt", "-r", "--jobs", n, "--aes-key", "a.key", c.url("")},
		} {
			r := c.run(args...)
			if want := "s3c: --jobs " + n + ": want 1 or more\nRun 's3c " + args[0] + " --help' for usage.\n"; r.code != 2 || r.stderr != want {
				t.Fatalf("s3c %s: exit %d, stderr %q; want 2, %q", strings.Join(args, " "), r.code, r.stderr, want)
			}
		}
	}
	c.fails(2, "--stream applies to stdout (-) only", "get", "--aes-key", "a.key", "--stream", c.url("obj"), "out")
	if _, err := os.Stat(filepath.Join(c.dir, "out")); err == nil {
		t.Fatal("get --stream to a file wrote it")
	}
	c.ok("get", "--aes-key", "a.key", "--stream", c.url("obj"), "/dev/stdout")
	for _, kind := range []string{"aes", "rsa"} {
		r := c.run("keygen", kind, "-")
		if want := "s3c: keygen writes a key file; give a path, not -\nRun 's3c keygen --help' for usage.\n"; r.code != 2 || r.stderr != want {
			t.Fatalf("keygen %s -: exit %d, stderr %q; want 2, %q", kind, r.code, r.stderr, want)
		}
		if _, err := os.Stat(filepath.Join(c.dir, "-")); err == nil {
			t.Fatalf("keygen %s - made a file named -", kind)
		}
	}
}
