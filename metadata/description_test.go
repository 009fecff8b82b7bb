package metadata

import (
	"maps"
	"math/rand/v2"
	"mime"
	"strings"
	"testing"
	"unicode/utf8"
)

// Only a value made of encoded words, as S3 and MinIO return non-ASCII
// metadata, is RFC 2047 decoded; encoded words inside other text are the
// caller's own characters.
func TestS3ValueDecodesOnlyEncodedWords(t *testing.T) {
	for _, v := range []string{
		`{"k":"=?utf-8?q?x?="}`,
		`{"k":"=?UTF-8?B?w6k=?="}`,
		`=?utf-8?q?x?= and more`,
		`text =?utf-8?q?x?=`,
		`=?utf-8?q?x?==?utf-8?q?y?=`,
		`=?utf-8?q?a b?=`,
		`=?x-unknown?q?x?=`,
		`=?utf-8?b?not base64!?=`,
	} {
		if got := decodeS3Value(v); got != v {
			t.Errorf("decodeS3Value(%q) = %q, want it unchanged", v, got)
		}
	}
	orig := `{"k":"` + strings.Repeat("é日x", 40) + `"}`
	for _, stored := range []string{
		mime.BEncoding.Encode("UTF-8", orig), // MinIO: several words, space separated
		mime.QEncoding.Encode("UTF-8", orig),
		strings.ReplaceAll(mime.BEncoding.Encode("UTF-8", orig), " ", "\t"),
	} {
		if !strings.Contains(stored, "?= =?") && !strings.Contains(stored, "?=\t=?") {
			t.Fatalf("expected several encoded words: %q", stored)
		}
		if got := decodeS3Value(stored); got != orig {
			t.Errorf("decodeS3Value(%q) = %q, want %q", stored, got, orig)
		}
	}
}

// checkDescriptionRoundTrip stores d as an envelope's description would be
// stored in object metadata and reads it back.
func checkDescriptionRoundTrip(t *testing.T, d map[string]string) {
	t.Helper()
	e := sampleV2(WrapKMSContext)
	e.Description = d
	meta, err := e.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode(meta)
	if err != nil {
		t.Fatalf("%q: %v", d, err)
	}
	if !maps.Equal(got.Description, d) && !(len(got.Description) == 0 && len(d) == 0) {
		t.Fatalf("description %q read back as %q", d, got.Description)
	}
}

var trickyValues = []string{
	"=?utf-8?q?x?=", "=?UTF-8?B?w6k=?=", "=?utf-8?q?x?= =?utf-8?q?y?=", " =?utf-8?q?x?= ",
	"=?iso-8859-1?q?=E9?=", "=?", "?=", "é", "Ã©", "日本語", "😀", "\x00\n\t\"\\", "",
}

// Whatever strings a description holds, it reads back as written.
func TestDescriptionRoundTripsEveryString(t *testing.T) {
	for _, v := range trickyValues {
		checkDescriptionRoundTrip(t, map[string]string{"k": v, v + "key": "v"})
	}
	alphabet := []rune("=?_ \tqQbB-uUtTfF8xé日😀{}\":\\,\x00\x7f")
	r := rand.New(rand.NewPCG(1, 2))
	for range 2000 {
		d := map[string]string{}
		for range r.IntN(3) + 1 {
			var k, v strings.Builder
			for range r.IntN(30) {
				k.WriteRune(alphabet[r.IntN(len(alphabet))])
			}
			for range r.IntN(60) {
				v.WriteRune(alphabet[r.IntN(len(alphabet))])
			}
			d[k.String()] = v.String()
		}
		checkDescriptionRoundTrip(t, d)
	}
}

func FuzzDescriptionRoundTrip(f *testing.F) {
	for _, v := range trickyValues {
		f.Add("k", v)
	}
	f.Fuzz(func(t *testing.T, k, v string) {
		if !utf8.ValidString(k) || !utf8.ValidString(v) {
			return // JSON strings are Unicode text
		}
		checkDescriptionRoundTrip(t, map[string]string{k: v})
	})
}
