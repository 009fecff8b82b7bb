package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/s3c/s3c/internal/faultproxy"
)

// cp -r from S3 of small objects, on its workers, under faults: a body
// reset once is resumed; objects whose every GET is reset, dropped or
// stalled fail on their own line, within a bound; the others arrive
// whole, and nothing is left of the failed ones (no partial file, no
// temporary file).
func TestCopyDownFaults(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	names := []string{"ok1", "ok2", "ok3", "ok4", "once", "reset", "drop", "stall"}
	data := map[string][]byte{}
	for _, n := range names {
		data[n] = make([]byte, 4096)
		rand.Read(data[n])
		c.write("src/"+n, data[n])
		c.ok("put", "-q", "--aes-key", "a.key", "src/"+n, c.url("d/"+n))
	}
	p := c.faultProxy()
	once := p.Add(&faultproxy.Rule{Method: "GET", Path: "/d/once", Kind: faultproxy.ResetResponse, After: 2000, Times: 1})
	p.Add(&faultproxy.Rule{Method: "GET", Path: "/d/reset", Kind: faultproxy.ResetResponse, After: 2000})
	p.Add(&faultproxy.Rule{Method: "GET", Path: "/d/drop", Kind: faultproxy.DropResponse})
	p.Add(&faultproxy.Rule{Method: "GET", Path: "/d/stall", Kind: faultproxy.StallResponse, After: 2000})

	start := time.Now()
	r := c.runBounded(60*time.Second, "--idle-timeout", "1s", "--first-byte-timeout", "1s", "cp", "-r", "-q", "--aes-key", "a.key", c.url("d"), "out")
	t.Logf("cp -r under faults: %v, exit %d\n%s", time.Since(start).Round(time.Millisecond), r.code, r.stderr)
	if r.code != exitError {
		t.Fatalf("exit %d, want %d\n%s", r.code, exitError, r.stderr)
	}
	for _, n := range []string{"reset", "drop", "stall"} {
		if !strings.Contains(r.stderr, "s3c: "+c.url("d/"+n)+": ") {
			t.Errorf("no line for %s in:\n%s", n, r.stderr)
		}
	}
	if !strings.HasSuffix(r.stderr, "\ns3c: 3 of 8 objects failed\n") {
		t.Errorf("stderr does not end with the count of failures:\n%s", r.stderr)
	}
	if once.Hits() != 1 {
		t.Errorf("the one-time reset fired %d times", once.Hits())
	}
	entries, err := os.ReadDir(c.path("out"))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries {
		got = append(got, e.Name())
	}
	if want := []string{"ok1", "ok2", "ok3", "ok4", "once"}; !slices.Equal(got, want) {
		t.Fatalf("out holds %v, want %v", got, want)
	}
	for _, n := range got {
		if !bytes.Equal(c.read("out/"+n), data[n]) {
			t.Errorf("out/%s differs from what was put", n)
		}
	}
	c.noTempFiles()
}
