package metadata

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// fields is metadata with keys normalized and empty values dropped.
type fields map[string]string

func normalizeKey(k string) string {
	k = strings.ToLower(strings.TrimSpace(k))
	return strings.TrimPrefix(k, "x-amz-meta-")
}

// normalize lower-cases keys, drops S3's x-amz-meta- prefix and empty
// values. An envelope key given twice (differing in case or prefix) is an
// error: which one would win would depend on map order.
func normalize(meta map[string]string) (fields, error) {
	f := make(fields, len(meta))
	seen := map[string]bool{}
	for k, v := range meta {
		nk := normalizeKey(k)
		if IsReservedKey(nk) {
			if seen[nk] {
				return nil, formatErr(nk, "given twice (keys differing only in case or prefix)", ErrConflictingMarkers)
			}
			seen[nk] = true
		}
		if v = strings.TrimSpace(v); v != "" {
			f[nk] = v
		}
	}
	return f, nil
}

func (f fields) has(k string) bool { _, ok := f[k]; return ok }

func (f fields) bytes(k string) ([]byte, error) {
	v, ok := f[k]
	if !ok {
		return nil, formatErr(k, "missing", nil)
	}
	b, err := base64.StdEncoding.Strict().DecodeString(v)
	if err != nil {
		return nil, formatErr(k, "not padded standard base64", err)
	}
	return b, nil
}

func (f fields) description(k string, fromHeaders bool) (map[string]string, error) {
	v, ok := f[k]
	if !ok {
		return map[string]string{}, nil
	}
	if fromHeaders {
		v = decodeS3Value(v)
	}
	d, err := DecodeDescription(v)
	if err != nil {
		return nil, formatErr(k, "invalid JSON map of strings", err)
	}
	return d, nil
}

func (f fields) plaintextLength() (int64, error) {
	v, ok := f[KeyPlaintextLength]
	if !ok {
		return -1, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 || v[0] == '+' {
		return 0, formatErr(KeyPlaintextLength, "not a non-negative decimal integer", nil)
	}
	return n, nil
}

var v3ObjectKeys = []string{KeyV3ContentAlg, KeyV3Commitment, KeyV3MessageID}

// Decode reads the envelope from an object's user metadata, as returned in
// GetObjectOutput.Metadata (or raw headers: the x-amz-meta- prefix and case
// are ignored). When the metadata holds no envelope marker, the error wraps
// ErrNoEnvelope: the envelope may be in an instruction file (see
// DecodeInstructionFile), or the object is not encrypted.
func Decode(meta map[string]string) (*Envelope, error) {
	f, err := normalize(meta)
	if err != nil {
		return nil, err
	}
	var markers []string
	for _, k := range []string{KeyV1EncryptedKey, KeyV2EncryptedKey, KeyV3EncryptedKey} {
		if f.has(k) {
			markers = append(markers, k)
		}
	}
	if len(markers) > 1 {
		return nil, formatErr("", "both "+strings.Join(markers, " and ")+" are present", ErrConflictingMarkers)
	}
	switch {
	case f.has(KeyV3EncryptedKey):
		return decodeV3(f, f, ObjectMetadata)
	case f.has(KeyV2EncryptedKey):
		return decodeV12(f, V2, ObjectMetadata)
	case f.has(KeyV1EncryptedKey):
		return decodeV12(f, V1, ObjectMetadata)
	}
	for _, k := range v3ObjectKeys {
		if f.has(k) {
			return nil, fmt.Errorf("%w: V3 key commitment without %s: the key must be in an instruction file", ErrNoEnvelope, KeyV3EncryptedKey)
		}
	}
	return nil, ErrNoEnvelope
}

// DecodeInstructionFile reads an envelope kept in an instruction file.
// meta is the object's own user metadata (for V3 it holds x-amz-c, x-amz-d
// and x-amz-i), file the instruction file's body.
func DecodeInstructionFile(meta map[string]string, file []byte) (*Envelope, error) {
	obj, err := normalize(meta)
	if err != nil {
		return nil, err
	}
	for _, k := range []string{KeyV1EncryptedKey, KeyV2EncryptedKey, KeyV3EncryptedKey} {
		if obj.has(k) {
			return nil, formatErr(k, "object metadata holds an envelope and an instruction file is given too", ErrConflictingMarkers)
		}
	}
	inst, err := parseInstructionFile(file)
	if err != nil {
		return nil, err
	}
	v3 := false
	for _, k := range v3ObjectKeys {
		if inst.has(k) {
			return nil, formatErr(k, "instruction file holds a key that may only be in object metadata (tampered instruction file?)", ErrConflictingMarkers)
		}
		v3 = v3 || obj.has(k)
	}
	var markers []string
	for _, k := range []string{KeyV1EncryptedKey, KeyV2EncryptedKey, KeyV3EncryptedKey} {
		if inst.has(k) {
			markers = append(markers, k)
		}
	}
	switch {
	case len(markers) > 1:
		return nil, formatErr("", "instruction file has both "+strings.Join(markers, " and "), ErrConflictingMarkers)
	case len(markers) == 0:
		return nil, formatErr("", "instruction file holds no encrypted data key", nil)
	case v3 != (markers[0] == KeyV3EncryptedKey):
		if v3 {
			return nil, formatErr(markers[0], "object metadata is V3 but the instruction file is not", ErrConflictingMarkers)
		}
		return nil, formatErr(KeyV3EncryptedKey, "V3 instruction file but object metadata lacks x-amz-c, x-amz-d and x-amz-i", nil)
	case v3:
		return decodeV3(obj, inst, InstructionFile)
	case markers[0] == KeyV2EncryptedKey:
		return decodeV12(inst, V2, InstructionFile)
	default:
		return decodeV12(inst, V1, InstructionFile)
	}
}

// parseInstructionFile reads a flat JSON object. Values are strings; like
// AWS's Go readers it also takes numbers (x-amz-tag-len written as 128),
// and treats null and "" as absent. A member given twice is an error,
// where encoding/json would silently keep the last.
func parseInstructionFile(file []byte) (fields, error) {
	if len(file) > MaxInstruction {
		return nil, formatErr("", fmt.Sprintf("instruction file is %d bytes, more than %d", len(file), MaxInstruction), nil)
	}
	notObject := func(err error) error { return formatErr("", "instruction file is not a JSON object", err) }
	dec := json.NewDecoder(bytes.NewReader(file))
	dec.UseNumber()
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, notObject(err)
	}
	m := map[string]string{}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, notObject(err)
		}
		k := t.(string) // object keys are always strings
		if _, dup := m[k]; dup {
			return nil, formatErr(normalizeKey(k), "given twice in the instruction file", ErrConflictingMarkers)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			return nil, notObject(err)
		}
		switch v := v.(type) {
		case nil:
			m[k] = ""
		case string:
			m[k] = v
		case json.Number:
			m[k] = v.String()
		default:
			return nil, formatErr(normalizeKey(k), "instruction file value is not a string", nil)
		}
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, notObject(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, formatErr("", "trailing data after the instruction file's JSON object", nil)
	}
	return normalize(m)
}

// decodeV3 reads a V3 envelope: obj has the object-only keys, wrap the
// others (the same map unless an instruction file is used).
func decodeV3(obj, wrap fields, st Storage) (*Envelope, error) {
	e := &Envelope{Format: V3, Storage: st, PlaintextLength: -1}
	var ok bool
	if e.ContentAlg, ok = obj[KeyV3ContentAlg]; !ok {
		return nil, formatErr(KeyV3ContentAlg, "missing", nil)
	}
	w, ok := wrap[KeyV3WrapAlg]
	if !ok {
		return nil, formatErr(KeyV3WrapAlg, "missing", nil)
	}
	if e.WrapAlg, ok = wrapFromV3[w]; !ok {
		if !IsCustomWrap(w) {
			return nil, formatErr(KeyV3WrapAlg, fmt.Sprintf("unknown compressed wrapping algorithm %q", w), ErrUnsupportedAlgorithm)
		}
		e.WrapAlg = w // a custom name, stored verbatim
	}
	var err error
	if e.EncryptedKey, err = wrap.bytes(KeyV3EncryptedKey); err != nil {
		return nil, err
	}
	if e.Commitment, err = obj.bytes(KeyV3Commitment); err != nil {
		return nil, err
	}
	if e.MessageID, err = obj.bytes(KeyV3MessageID); err != nil {
		return nil, err
	}
	if e.Description, err = wrap.description(e.descriptionKey(), st == ObjectMetadata); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// decodeV12 reads a V1 or V2 envelope from one map.
func decodeV12(f fields, format Format, st Storage) (*Envelope, error) {
	e := &Envelope{Format: format, Storage: st}
	var err error
	if e.EncryptedKey, err = f.bytes(e.keyName()); err != nil {
		return nil, err
	}
	if e.IV, err = f.bytes(KeyIV); err != nil {
		return nil, err
	}
	// A missing x-amz-cek-alg means CBC, as Java reads it.
	e.ContentAlg = ContentAESCBC
	if v, ok := f[KeyContentAlg]; ok {
		e.ContentAlg = v
	}
	if format == V1 {
		// V1 names no wrap; Java infers it from the key's length.
		e.WrapAlg = WrapAESECB
		if len(e.EncryptedKey) > 48 {
			e.WrapAlg = WrapRSAPKCS1
		}
		if v, ok := f[KeyWrapAlg]; ok {
			e.WrapAlg = v
		}
	} else if e.WrapAlg = f[KeyWrapAlg]; e.WrapAlg == "" {
		return nil, formatErr(KeyWrapAlg, "missing", nil)
	}
	if e.ContentAlg == ContentAESGCM {
		// Required, as Java's readers (the reference) require it.
		switch v, ok := f[KeyTagLen]; {
		case !ok:
			return nil, formatErr(KeyTagLen, "missing (AES-GCM objects record their tag length)", nil)
		case v != strconv.Itoa(GCMTagBits):
			return nil, formatErr(KeyTagLen, fmt.Sprintf("tag length %q, only 128 is defined", v), ErrUnsupportedAlgorithm)
		}
	}
	if e.Description, err = f.description(KeyMatDesc, st == ObjectMetadata); err != nil {
		return nil, err
	}
	if e.PlaintextLength, err = f.plaintextLength(); err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	if v, ok := f[KeyTagLen]; ok && e.ContentAlg == ContentAESCBC {
		return nil, formatErr(KeyTagLen, fmt.Sprintf("present (%q) on an AES-CBC object, which has no tag", v), nil)
	}
	return e, nil
}
