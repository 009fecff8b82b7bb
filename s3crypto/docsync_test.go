package s3crypto

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// The aliases of the core's types repeat the types' fields in their doc
// comments (users cannot browse an internal package); the copies must
// match the definitions.
func TestAliasDocsMatchCore(t *testing.T) {
	var src strings.Builder
	files, _ := filepath.Glob("../internal/core/*.go")
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		src.Write(b)
	}
	block := regexp.MustCompile(`(?s)\t// Its fields:\n\t//\n((?:\t//[^\n]*\n)+)\t([A-Za-z]+) = core\.`)
	checked := 0
	for _, f := range []string{"core.go", "miniocrypto/core.go"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range block.FindAllStringSubmatch(string(b), -1) {
			var doc []string
			for l := range strings.SplitSeq(strings.TrimSuffix(m[1], "\n"), "\n") {
				doc = append(doc, strings.TrimPrefix(strings.TrimPrefix(l, "\t//"), "\t"))
			}
			def := regexp.MustCompile(`(?s)\ntype ` + m[2] + ` struct \{\n.*?\n\}\n`).FindString(src.String())
			if strings.Join(doc, "\n") != strings.TrimSpace(def) {
				t.Errorf("%s: the doc of %s does not repeat core's definition:\n%s\nwant:\n%s", f, m[2], strings.Join(doc, "\n"), def)
			}
			checked++
		}
	}
	if checked != 11 {
		t.Fatalf("checked %d alias docs, want 11", checked)
	}
}
