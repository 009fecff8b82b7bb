package metadata

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"regexp"
	"sort"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// EncodeDescription returns the JSON of an encryption context or material
// description: keys sorted, no spaces, and every non-ASCII character
// escaped as \uXXXX, so the value is plain ASCII in an HTTP header and
// every reader's JSON parser yields the same strings. Being ASCII and a
// JSON object, it is never taken for RFC 2047 encoded words on read, so
// every description round-trips, whatever its strings hold.
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
	if m, ok := decodeSimpleDescription(s); ok {
		return m, nil
	}
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

// decodeSimpleDescription parses, without encoding/json, the form every
// description takes in practice: one object of strings of printable
// ASCII without escapes, no duplicate key, nothing after it but
// whitespace. For anything else it returns false and DecodeDescription
// decides, with its errors; where it returns true, the result is the one
// encoding/json gives. It runs for every object read, and the general
// decoder costs a small object's get more than its decryption.
func decodeSimpleDescription(s string) (map[string]string, bool) {
	i := 0
	space := func() {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
			i++
		}
	}
	str := func() (string, bool) {
		if i >= len(s) || s[i] != '"' {
			return "", false
		}
		for j := i + 1; j < len(s); j++ {
			switch c := s[j]; {
			case c == '"':
				v := s[i+1 : j]
				i = j + 1
				return v, true
			case c < 0x20 || c == '\\' || c >= 0x80:
				return "", false
			}
		}
		return "", false
	}
	space()
	if i >= len(s) || s[i] != '{' {
		return nil, false
	}
	i++
	out := make(map[string]string)
	space()
	if i < len(s) && s[i] == '}' {
		i++
	} else {
		for {
			space()
			k, ok := str()
			if !ok {
				return nil, false
			}
			space()
			if i >= len(s) || s[i] != ':' {
				return nil, false
			}
			i++
			space()
			v, ok := str()
			if !ok {
				return nil, false
			}
			if _, dup := out[k]; dup {
				return nil, false
			}
			out[k] = v
			space()
			if i < len(s) && s[i] == ',' {
				i++
				continue
			}
			if i < len(s) && s[i] == '}' {
				i++
				break
			}
			return nil, false
		}
	}
	space()
	return out, i == len(s)
}

// encodedWords matches a value that is entirely RFC 2047 encoded words
// separated by spaces or tabs: what S3 and MinIO return for a metadata
// value that held non-ASCII characters (MinIO splits long values into
// several words, S3 may too).
var encodedWords = regexp.MustCompile(`^=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=(?:[ \t]+=\?[^?\s]+\?[bBqQ]\?[^?\s]*\?=)*$`)

// decodeS3Value undoes what S3 and MinIO do to a user-metadata value that
// held non-ASCII characters: they return it RFC 2047 encoded. MinIO
// encodes the original UTF-8; S3 encodes the original UTF-8 bytes each
// taken as one Latin-1 character, which is undone too when the result is
// valid UTF-8. Only a value that consists of encoded words is decoded:
// anything else, such as the JSON that EncodeDescription writes, which
// starts with '{', is returned as it is, even if encoded words occur
// inside it.
func decodeS3Value(v string) string {
	if !strings.HasPrefix(v, "=?") || !encodedWords.MatchString(v) {
		return v
	}
	dec := new(mime.WordDecoder)
	dec.CharsetReader = func(charset string, input io.Reader) (io.Reader, error) {
		return nil, fmt.Errorf("unsupported charset %q", charset)
	}
	d, err := dec.DecodeHeader(v)
	if err != nil {
		return v
	}
	var raw bytes.Buffer
	for _, r := range d {
		if r > 0xff {
			return d // not Latin-1 mojibake: MinIO's encoding of UTF-8
		}
		raw.WriteByte(byte(r))
	}
	if utf8.Valid(raw.Bytes()) {
		return raw.String()
	}
	return d
}
