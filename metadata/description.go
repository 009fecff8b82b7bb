package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// EncodeDescription returns the JSON of an encryption context or material
// description: keys sorted, no spaces, and every non-ASCII character
// escaped as \uXXXX, so the value is plain ASCII in an HTTP header and
// every reader's JSON parser yields the same strings.
func EncodeDescription(d map[string]string) string {
	keys := make([]string, 0, len(d))
	for k := range d {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		writeJSONString(&b, k)
		b.WriteByte(':')
		writeJSONString(&b, d[k])
	}
	b.WriteByte('}')
	return b.String()
}

func writeJSONString(b *strings.Builder, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r >= 0x20 && r < 0x7f:
			b.WriteRune(r)
		default:
			units := []rune{r}
			if r > 0xffff {
				hi, lo := utf16.EncodeRune(r)
				units = []rune{hi, lo}
			}
			for _, u := range units {
				b.WriteString(`\u`)
				b.WriteByte(hex[u>>12&0xf])
				b.WriteByte(hex[u>>8&0xf])
				b.WriteByte(hex[u>>4&0xf])
				b.WriteByte(hex[u&0xf])
			}
		}
	}
	b.WriteByte('"')
}

// DecodeDescription parses the JSON of an encryption context or material
// description: one object whose values are all strings. Duplicate keys are
// an error, since readers that keep the first and readers that keep the
// last would disagree about what the object says.
func DecodeDescription(s string) (map[string]string, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	tok, err := dec.Token()
	if err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := make(map[string]string)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		k := tok.(string) // object keys are always strings
		tok, err = dec.Token()
		if err != nil {
			return nil, fmt.Errorf("not JSON: %w", err)
		}
		v, ok := tok.(string)
		if !ok {
			return nil, fmt.Errorf("value of %q is not a string", k)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("duplicate key %q", k)
		}
		out[k] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, fmt.Errorf("not JSON: %w", err)
	}
	if _, err := dec.Token(); err == nil {
		return nil, errors.New("trailing data after the JSON object")
	}
	return out, nil
}

// decodeS3Value undoes what S3 does to a user-metadata value that held
// non-ASCII characters: it returns it RFC 2047 encoded, and the encoded
// text is the original UTF-8 bytes each taken as one Latin-1 character.
// Plain ASCII passes through unchanged. The result is the original string
// when it can be recovered, else the MIME-decoded value.
func decodeS3Value(v string) string {
	if strings.Contains(v, "=?") {
		dec := new(mime.WordDecoder)
		dec.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
			return nil, fmt.Errorf("unsupported charset %q", charset)
		}
		if d, err := dec.DecodeHeader(v); err == nil {
			v = d
		}
	}
	ascii := true
	for i := 0; i < len(v); i++ {
		if v[i] >= utf8.RuneSelf {
			ascii = false
			break
		}
	}
	if ascii {
		return v
	}
	var raw bytes.Buffer
	for _, r := range v {
		if r > 0xff {
			return v // not Latin-1 mojibake: keep as is
		}
		raw.WriteByte(byte(r))
	}
	if utf8.Valid(raw.Bytes()) {
		return raw.String()
	}
	return v
}
