package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The man pages come from the real command tree: one per command, with
// its flags; the hidden gen-docs command has none and is not listed.
func TestGenDocs(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("gen-docs", "--man", "man")
	put, err := os.ReadFile(c.path("man/s3c-put.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`.TH "S3C-PUT" "1"`, `s3c put [flags] <file|-> s3://bucket/key`, `\fB--kms-key-id\fP`, `\fB--content-type\fP`,
		`\fB--metadata\fP`, `\fB--storage-class\fP`, `\fB--sse\fP`, `\fB--sse-kms-key-id\fP`, `\fB--sse-c-key\fP`, `\fB--endpoint-url\fP`} {
		if !strings.Contains(string(put), want) {
			t.Errorf("s3c-put.1 lacks %q", want)
		}
	}
	root, err := os.ReadFile(c.path("man/s3c.1"))
	if err != nil || !strings.Contains(string(root), `.TH "S3C" "1"`) || !strings.Contains(string(root), "s3c-put(1)") {
		t.Errorf("s3c.1: %v\n%.500s", err, root)
	}
	if strings.Contains(string(root), "Auto generated") {
		t.Error("s3c.1 carries cobra's history section")
	}
	pages, _ := filepath.Glob(c.path("man/*.1"))
	for _, p := range pages {
		if strings.Contains(p, "gen-docs") {
			t.Errorf("a page for the hidden command: %s", p)
		}
	}
	if strings.Contains(c.ok("--help").stdout, "gen-docs") {
		t.Error("s3c --help lists gen-docs")
	}
	c.fails(2, "--man DIR is needed", "gen-docs")
}

// make install puts the binary in GOBIN and the man pages and completion
// scripts under PREFIX, saying where; make man writes ./man.
func TestMakeInstall(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("make"); err != nil {
		t.Fatal("make is needed:", err)
	}
	prefix := t.TempDir()
	cmd := exec.Command("make", "-C", "../..", "install", "PREFIX="+prefix, "GOBIN="+filepath.Join(prefix, "bin"))
	cmd.Env = append(os.Environ(), "MAKEFLAGS=")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("make install: %v\n%s", err, out)
	}
	for _, f := range []string{"bin/s3c", "share/man/man1/s3c.1", "share/man/man1/s3c-put.1", "share/man/man1/s3c-get.1",
		"share/bash-completion/completions/s3c", "share/zsh/site-functions/_s3c", "share/fish/vendor_completions.d/s3c.fish"} {
		p := filepath.Join(prefix, f)
		st, err := os.Stat(p)
		if err != nil || st.Size() == 0 {
			t.Errorf("make install: %s missing or empty (%v)", f, err)
			continue
		}
		if f != "bin/s3c" && !strings.Contains(string(out), filepath.Dir(p)) {
			t.Errorf("make install does not say where %s went:\n%s", f, out)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(prefix, "share/bash-completion/completions/s3c")); !strings.Contains(string(b), "__start_s3c") {
		t.Error("not a bash completion script for s3c")
	}
	dry, err := exec.Command("make", "-C", "../..", "-n", "man").CombinedOutput()
	if err != nil || !strings.Contains(string(dry), "bin/s3c gen-docs --man man") {
		t.Errorf("make -n man: %v\n%s", err, dry)
	}
}
