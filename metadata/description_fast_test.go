package metadata

import (
	"encoding/json"
	"maps"
	"strings"
	"testing"
)

// decodeDescriptionJSON is DecodeDescription without its fast path.
func decodeDescriptionJSON(s string) (map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errNotObject
	}
	out := map[string]string{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		k := tok.(string)
		if tok, err = dec.Token(); err != nil {
			return nil, err
		}
		v, ok := tok.(string)
		if !ok {
			return nil, errNotObject
		}
		if _, dup := out[k]; dup {
			return nil, errNotObject
		}
		out[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, errNotObject
	}
	return out, nil
}

var errNotObject = &FormatError{Key: "test", Reason: "not an object"}

var descriptionSeeds = []string{
	`{}`, ` { } `, `{"a":"b"}`, `{"s3c:key-id":"aes:427c1e6c78e3e8e7"}`, "{\"a\" :\t\"b\" ,\n\"c\":\"\"}\r\n",
	`{"a":"b","a":"c"}`, `{"a":"b"} x`, `{"a":"b"}{}`, `{"a":1}`, `{"a":"\u0041"}`, `{"a":"\"q\""}`,
	`{"a":"é"}`, "{\"a\":\"\x7f\"}", "{\"a\":\"\x01\"}", `{"a":"b",}`, `{"a" "b"}`, `{"a":"b"`, `{`, ``, `[]`, `"x"`,
	`{"kms_cmk_id":"arn:aws:kms:us-east-1:123:key/x","aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`, "{\"a\":\"\xff\"}",
}

// The fast path accepts only what encoding/json reads the same way.
func FuzzDecodeDescriptionFastPath(f *testing.F) {
	for _, s := range descriptionSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fast, ok := decodeSimpleDescription(s)
		want, err := decodeDescriptionJSON(s)
		if ok && (err != nil || !maps.Equal(fast, want)) {
			t.Fatalf("%q: fast path %v, encoding/json %v, %v", s, fast, want, err)
		}
		got, gerr := DecodeDescription(s)
		if (gerr == nil) != (err == nil) || !maps.Equal(got, want) {
			t.Fatalf("%q: DecodeDescription %v, %v; encoding/json %v, %v", s, got, gerr, want, err)
		}
	})
}

// The common descriptions take the fast path.
func TestDecodeDescriptionFastPathTaken(t *testing.T) {
	for _, s := range []string{`{}`, `{"s3c:key-id":"aes:427c1e6c78e3e8e7"}`, `{"kms_cmk_id":"arn:aws:kms:us-east-1:123:key/x","aws:x-amz-cek-alg":"AES/GCM/NoPadding"}`} {
		if _, ok := decodeSimpleDescription(s); !ok {
			t.Errorf("%s: not taken", s)
		}
	}
}
