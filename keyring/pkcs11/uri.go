package pkcs11

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"time"
)

// uri is a parsed RFC 7512 PKCS#11 URI naming one key: the token that
// holds it, the key's label or id, the module to load and where the PIN
// comes from. The PIN itself is never kept here, only read on demand.
type uri struct {
	token      string // CKA_LABEL of the token (its CK_TOKEN_INFO label)
	serial     string // token serial number, optional
	object     string // CKA_LABEL of the key
	id         []byte // CKA_ID of the key
	hasID      bool
	modulePath string
	pinSource  string // a file path (from pin-source=file:… or a path)
	pinValue   string // pin-value: secret, never printed
	hasPIN     bool
	timeout    time.Duration // x-s3c-timeout; 0 if not given
}

// errURI is the error for a malformed URI. It names the attribute, never
// its value (which may be a PIN).
func errURI(format string, args ...any) error {
	return fmt.Errorf("PKCS#11 URI: "+format, args...)
}

// parseURI parses "pkcs11:path-attrs?query-attrs". Path attributes are
// separated by ';', query attributes by '&'; values are percent-decoded.
// Known path attributes: token, serial, object, id, type (ignored: the
// keyring finds the key objects itself), manufacturer, model,
// library-manufacturer, library-description, library-version, slot-*
// (accepted and ignored). Query attributes: module-path, pin-source,
// pin-value, and x-s3c-timeout (s3c's own: the bound on each token call,
// see Options.Timeout). Unknown attributes are refused, except other
// vendor ones (x-…), which are ignored.
func parseURI(s string) (*uri, error) {
	rest, ok := strings.CutPrefix(s, "pkcs11:")
	if !ok {
		return nil, errURI(`must start with "pkcs11:"`)
	}
	path, query, _ := strings.Cut(rest, "?")
	u := &uri{}
	seen := map[string]bool{}
	if path != "" {
		for _, attr := range strings.Split(path, ";") {
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return nil, errURI("a path attribute is not name=value")
			}
			if seen[name] {
				return nil, errURI("attribute %s given twice", safeName(name))
			}
			seen[name] = true
			v, err := pctDecode(raw)
			if err != nil {
				return nil, errURI("attribute %s: %v", safeName(name), err)
			}
			switch name {
			case "token":
				u.token = string(v)
			case "serial":
				u.serial = string(v)
			case "object":
				u.object = string(v)
			case "id":
				u.id, u.hasID = v, true
			case "type", "manufacturer", "model", "library-manufacturer", "library-description",
				"library-version", "slot-manufacturer", "slot-description", "slot-id":
			default:
				if !strings.HasPrefix(name, "x-") {
					return nil, errURI("unknown path attribute %s", safeName(name))
				}
			}
		}
	}
	if query != "" {
		for _, attr := range strings.Split(query, "&") {
			name, raw, ok := strings.Cut(attr, "=")
			if !ok || name == "" {
				return nil, errURI("a query attribute is not name=value")
			}
			if seen["?"+name] {
				return nil, errURI("attribute %s given twice", safeName(name))
			}
			seen["?"+name] = true
			v, err := pctDecode(raw)
			if err != nil {
				return nil, errURI("attribute %s: %v", safeName(name), err)
			}
			switch name {
			case "module-path":
				u.modulePath = string(v)
			case "pin-source":
				src := string(v)
				if p, ok := strings.CutPrefix(src, "file:"); ok {
					src = p
				} else if strings.Contains(src, ":") && !strings.HasPrefix(src, "/") {
					return nil, errURI("pin-source: only file: sources are supported")
				}
				if src == "" {
					return nil, errURI("pin-source is empty")
				}
				u.pinSource = src
				u.hasPIN = true
			case "pin-value":
				u.pinValue = string(v)
				u.hasPIN = true
			case "x-s3c-timeout":
				d, err := time.ParseDuration(string(v))
				if err != nil || d <= 0 {
					return nil, errURI("x-s3c-timeout: want a positive Go duration such as 10s or 1m")
				}
				u.timeout = d
			case "module-name":
				return nil, errURI("module-name is not supported: give module-path")
			default:
				if !strings.HasPrefix(name, "x-") {
					return nil, errURI("unknown query attribute %s", safeName(name))
				}
			}
		}
	}
	if u.pinSource != "" && u.pinValue != "" {
		return nil, errURI("give pin-source or pin-value, not both")
	}
	if u.token == "" && u.serial == "" {
		return nil, errURI("no token: add token=LABEL")
	}
	if u.object == "" && !u.hasID {
		return nil, errURI("no key: add object=LABEL or id=%%XX…")
	}
	if u.modulePath == "" {
		return nil, errURI("no module: add ?module-path=/path/to/the/vendor/pkcs11.so")
	}
	return u, nil
}

// safeName returns an attribute name for an error message, cut short and
// stripped of anything that is not a name character, so that a value
// mistaken for a name is not printed.
func safeName(s string) string {
	if len(s) > 32 {
		s = s[:32]
	}
	for _, r := range s {
		if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return "(malformed name)"
		}
	}
	return s
}

// pctDecode undoes percent-encoding. '+' is not special in PKCS#11 URIs.
func pctDecode(s string) ([]byte, error) {
	out := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] != '%' {
			out = append(out, s[i])
			continue
		}
		if i+2 >= len(s) || unhex(s[i+1]) < 0 || unhex(s[i+2]) < 0 {
			return nil, errors.New("bad percent-encoding")
		}
		out = append(out, byte(unhex(s[i+1])<<4|unhex(s[i+2])))
		i += 2
	}
	return out, nil
}

func unhex(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// pctEncode percent-encodes every byte outside RFC 3986's unreserved
// characters (and a few harmless ones), as RFC 7512 path values need.
func pctEncode(b []byte) string {
	const hexDigits = "0123456789ABCDEF"
	var sb strings.Builder
	for _, c := range b {
		if c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("-._~:[]@!$'()*+,", c) >= 0 {
			sb.WriteByte(c)
			continue
		}
		sb.WriteByte('%')
		sb.WriteByte(hexDigits[c>>4])
		sb.WriteByte(hexDigits[c&15])
	}
	return sb.String()
}

// ref is the key's name for messages and descriptions: its token and its
// label or id, never the module path or the PIN.
func (u *uri) ref() string {
	var sb strings.Builder
	sb.WriteString("pkcs11:")
	if u.token != "" {
		sb.WriteString("token=" + pctEncode([]byte(u.token)))
	} else {
		sb.WriteString("serial=" + pctEncode([]byte(u.serial)))
	}
	if u.object != "" {
		sb.WriteString(";object=" + pctEncode([]byte(u.object)))
	}
	if u.hasID {
		sb.WriteString(";id=")
		for _, c := range u.id {
			sb.WriteString(fmt.Sprintf("%%%02X", c))
		}
	}
	return sb.String()
}

// pin returns the PIN: pin-value, or the first line of the pin-source
// file. Errors name the file, never its content.
func (u *uri) pin() (string, error) {
	if u.pinValue != "" || u.pinSource == "" {
		return u.pinValue, nil
	}
	b, err := os.ReadFile(u.pinSource)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			return "", fmt.Errorf("PKCS#11 PIN file %s: %v", u.pinSource, pe.Err)
		}
		return "", fmt.Errorf("PKCS#11 PIN file %s: cannot read it", u.pinSource)
	}
	line, _, _ := strings.Cut(string(b), "\n")
	clear(b)
	return strings.TrimSuffix(line, "\r"), nil
}
