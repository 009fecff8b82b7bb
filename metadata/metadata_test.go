package metadata

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"mime"
	"reflect"
	"strings"
	"testing"

	"github.com/s3c/s3c/internal/vectors"
)

func loadVectors(t testing.TB) []*vectors.Vector {
	t.Helper()
	vs, err := vectors.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 29 {
		t.Fatalf("loaded %d vectors, want 29", len(vs))
	}
	return vs
}

func decodeVector(v *vectors.Vector) (*Envelope, error) {
	e, err := Decode(v.Metadata)
	if errors.Is(err, ErrNoEnvelope) && v.Instruction != nil {
		return DecodeInstructionFile(v.Metadata, v.Instruction)
	}
	return e, err
}

func TestDecodeVectors(t *testing.T) {
	envelopeErrors := map[string]func(error) bool{
		"s3ec4-v2-kms-17-iv-16-bytes":           keyErr(KeyIV),
		"s3ec4-v3-kms-17-conflicting-markers":   func(err error) bool { return errors.Is(err, ErrConflictingMarkers) },
		"s3ec4-v3-kms-17-commitment-not-base64": keyErr(KeyV3Commitment),
		"s3ec4-v3-kms-17-commitment-missing":    keyErr(KeyV3Commitment),
	}
	for _, v := range loadVectors(t) {
		t.Run(v.Name, func(t *testing.T) {
			e, err := decodeVector(v)
			if check, ok := envelopeErrors[v.Name]; ok {
				if err == nil || !check(err) {
					t.Fatalf("decode: got %v, want the envelope refused", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			if e.Format.String() != v.Format {
				t.Errorf("format %s, want %s", e.Format, v.Format)
			}
			if !bytes.Equal(e.EncryptedKey, v.EncryptedKey()) {
				t.Errorf("encrypted key differs")
			}
			wantStorage := ObjectMetadata
			if v.EnvelopeStorage == "instruction-file" {
				wantStorage = InstructionFile
			}
			if e.Storage != wantStorage {
				t.Errorf("storage %v, want %v", e.Storage, wantStorage)
			}
			wantWrap := map[string]string{"12": WrapKMSContext}[v.WrapAlg]
			if wantWrap == "" {
				wantWrap = v.WrapAlg
			}
			if e.WrapAlg != wantWrap || e.ContentAlg != v.ContentSuite {
				t.Errorf("algorithms %s/%s, want %s/%s", e.ContentAlg, e.WrapAlg, v.ContentSuite, wantWrap)
			}
			if v.Name != "s3ec4-v2-kms-17-cek-alg-mismatch" && !maps.Equal(e.Description, v.KMSContext) {
				t.Errorf("description %v, want %v", e.Description, v.KMSContext)
			}
		})
	}
}

func keyErr(key string) func(error) bool {
	return func(err error) bool {
		var fe *FormatError
		return errors.As(err, &fe) && fe.Key == key
	}
}

func sampleV3(wrap string) *Envelope {
	desc := map[string]string{"purpose": "tést ✓ 日本 😀"}
	if wrap == WrapKMSContext {
		desc[ContextContentAlg] = ContentCommittingGCM
	}
	return &Envelope{
		Format: V3, ContentAlg: ContentCommittingGCM, WrapAlg: wrap,
		EncryptedKey: bytes.Repeat([]byte{1}, 60),
		MessageID:    bytes.Repeat([]byte{2}, 28),
		Commitment:   bytes.Repeat([]byte{3}, 28),
		Description:  desc, PlaintextLength: -1,
	}
}

func sampleV2(wrap string) *Envelope {
	return &Envelope{
		Format: V2, ContentAlg: ContentAESGCM, WrapAlg: wrap,
		EncryptedKey: bytes.Repeat([]byte{1}, 60),
		IV:           bytes.Repeat([]byte{2}, 12),
		Description:  map[string]string{"a": "b"}, PlaintextLength: 1234,
	}
}

func TestRoundTrip(t *testing.T) {
	envs := []*Envelope{
		sampleV3(WrapKMSContext), sampleV3(WrapAESGCM), sampleV3(WrapRSAOAEP),
		sampleV2(WrapKMSContext), sampleV2(WrapAESGCM), sampleV2(WrapRSAOAEP),
		{Format: V1, ContentAlg: ContentAESCBC, WrapAlg: WrapAESECB, EncryptedKey: make([]byte, 48), IV: make([]byte, 16), Description: map[string]string{}, PlaintextLength: -1},
		{Format: V2, ContentAlg: ContentAESCBC, WrapAlg: WrapKMS, EncryptedKey: make([]byte, 98), IV: make([]byte, 16), Description: map[string]string{ContextKMSKeyID: "k"}, PlaintextLength: 5},
	}
	for _, e := range envs {
		meta, err := e.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range meta {
			if k != strings.ToLower(k) || v == "" {
				t.Errorf("%s %s: key %q value %q: keys must be lower case, values non-empty", e.Format, e.WrapAlg, k, v)
			}
			for _, c := range v {
				if c > 0x7e {
					t.Errorf("%s: value of %s is not ASCII: %q", e.Format, k, v)
				}
			}
		}
		got, err := Decode(meta)
		if err != nil {
			t.Fatalf("%s %s: decode: %v", e.Format, e.WrapAlg, err)
		}
		if !reflect.DeepEqual(got, e) {
			t.Errorf("%s %s: metadata round trip:\n got %+v\nwant %+v", e.Format, e.WrapAlg, got, e)
		}

		obj, file, err := e.InstructionFile()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := Decode(obj); !errors.Is(err, ErrNoEnvelope) {
			t.Fatalf("%s: object metadata of an instruction-file envelope decodes: %v", e.Format, err)
		}
		got, err = DecodeInstructionFile(obj, file)
		if err != nil {
			t.Fatalf("%s %s: decode instruction file: %v", e.Format, e.WrapAlg, err)
		}
		want := *e
		want.Storage = InstructionFile
		if !reflect.DeepEqual(got, &want) {
			t.Errorf("%s %s: instruction round trip:\n got %+v\nwant %+v", e.Format, e.WrapAlg, got, &want)
		}
		if e.Format == V3 && (len(obj) != 3 || obj[KeyV3Commitment] == "") {
			t.Errorf("V3 object metadata with instruction file: %v, want exactly x-amz-c, x-amz-d, x-amz-i", obj)
		}
	}
}

func TestV2Layout(t *testing.T) {
	meta, err := sampleV2(WrapKMSContext).Metadata()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"x-amz-key-v2":                     base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{1}, 60)),
		"x-amz-iv":                         "AgICAgICAgICAgIC",
		"x-amz-cek-alg":                    "AES/GCM/NoPadding",
		"x-amz-wrap-alg":                   "kms+context",
		"x-amz-tag-len":                    "128",
		"x-amz-matdesc":                    `{"a":"b"}`,
		"x-amz-unencrypted-content-length": "1234",
	}
	if !maps.Equal(meta, want) {
		t.Fatalf("V2 metadata:\n got %v\nwant %v", meta, want)
	}
}

func TestV3Layout(t *testing.T) {
	e := sampleV3(WrapAESGCM)
	e.Description = map[string]string{}
	meta, err := e.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	keys := strings.Join(sortedKeys(meta), ",")
	if keys != "x-amz-3,x-amz-c,x-amz-d,x-amz-i,x-amz-w" {
		t.Fatalf("V3 raw-key metadata with empty description has keys %s", keys)
	}
	if meta["x-amz-w"] != "02" || meta["x-amz-c"] != "115" {
		t.Fatalf("V3 values %v", meta)
	}
	meta, _ = sampleV3(WrapKMSContext).Metadata()
	if meta["x-amz-w"] != "12" || meta["x-amz-t"] == "" || meta["x-amz-m"] != "" {
		t.Fatalf("V3 KMS metadata %v", meta)
	}
}

func sortedKeys(m map[string]string) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	for i := range ks {
		for j := i + 1; j < len(ks); j++ {
			if ks[j] < ks[i] {
				ks[i], ks[j] = ks[j], ks[i]
			}
		}
	}
	return ks
}

func TestNormalization(t *testing.T) {
	meta, _ := sampleV3(WrapKMSContext).Metadata()
	mixed := map[string]string{"X-Amz-Meta-X-Amz-M": "", "X-Amz-Meta-X-Amz-Unencrypted-Content-Length": ""}
	for k, v := range meta {
		mixed["X-Amz-Meta-"+strings.ToUpper(k)] = " " + v + " "
	}
	got, err := Decode(mixed)
	if err != nil {
		t.Fatalf("canonical-case, prefixed, padded keys: %v", err)
	}
	if !reflect.DeepEqual(got, sampleV3(WrapKMSContext)) {
		t.Fatalf("decoded %+v", got)
	}
}

func TestNoEnvelope(t *testing.T) {
	for _, meta := range []map[string]string{nil, {"user": "x"}, {"x-amz-key-v2": ""}} {
		if _, err := Decode(meta); !errors.Is(err, ErrNoEnvelope) {
			t.Errorf("Decode(%v) = %v, want ErrNoEnvelope", meta, err)
		}
	}
}

func mutate(meta map[string]string, k, v string) map[string]string {
	m := maps.Clone(meta)
	if v == "\x00delete" {
		delete(m, k)
	} else {
		m[k] = v
	}
	return m
}

func TestRejects(t *testing.T) {
	v3, _ := sampleV3(WrapKMSContext).Metadata()
	v2, _ := sampleV2(WrapKMSContext).Metadata()
	b64 := func(n int) string { return base64.StdEncoding.EncodeToString(make([]byte, n)) }
	cases := []struct {
		name string
		meta map[string]string
		key  string
		err  error
	}{
		{"v3 unknown content alg", mutate(v3, "x-amz-c", "116"), KeyV3ContentAlg, ErrUnsupportedAlgorithm},
		{"v3 unknown wrap", mutate(v3, "x-amz-w", "13"), KeyV3WrapAlg, ErrUnsupportedAlgorithm},
		{"v3 short message id", mutate(v3, "x-amz-i", b64(27)), KeyV3MessageID, nil},
		{"v3 long commitment", mutate(v3, "x-amz-d", b64(29)), KeyV3Commitment, nil},
		{"v3 unpadded base64", mutate(v3, "x-amz-d", strings.TrimRight(v3["x-amz-d"], "=")), KeyV3Commitment, nil},
		{"v3 missing x-amz-i", mutate(v3, "x-amz-i", "\x00delete"), KeyV3MessageID, nil},
		{"v3 missing x-amz-c", mutate(v3, "x-amz-c", "\x00delete"), KeyV3ContentAlg, nil},
		{"v3 missing x-amz-w", mutate(v3, "x-amz-w", "\x00delete"), KeyV3WrapAlg, nil},
		{"v3 context not JSON", mutate(v3, "x-amz-t", "{"), KeyV3Context, nil},
		{"v3 context not strings", mutate(v3, "x-amz-t", `{"a":1}`), KeyV3Context, nil},
		{"v3 context duplicate key", mutate(v3, "x-amz-t", `{"a":"1","a":"2"}`), KeyV3Context, nil},
		{"v3 empty key", mutate(v3, "x-amz-3", "===="), KeyV3EncryptedKey, nil},
		{"v3 huge key", mutate(v3, "x-amz-3", b64(MaxEncryptedKey+1)), KeyV3EncryptedKey, nil},
		{"v3 plus v1", mutate(v3, "x-amz-key", "AAAA"), "", ErrConflictingMarkers},
		{"v2 unknown wrap", mutate(v2, "x-amz-wrap-alg", "ROT 13"), KeyWrapAlg, ErrUnsupportedAlgorithm},
		{"v2 missing wrap", mutate(v2, "x-amz-wrap-alg", "\x00delete"), KeyWrapAlg, nil},
		{"v2 unknown content alg", mutate(v2, "x-amz-cek-alg", "AES/CTR/NoPadding"), KeyContentAlg, ErrUnsupportedAlgorithm},
		{"v2 tag length 96", mutate(v2, "x-amz-tag-len", "96"), KeyTagLen, ErrUnsupportedAlgorithm},
		{"v2 gcm without tag length", mutate(v2, "x-amz-tag-len", "\x00delete"), KeyTagLen, nil},
		{"v2 gcm with 16-byte iv", mutate(v2, "x-amz-iv", b64(16)), KeyIV, nil},
		{"v2 cbc with 12-byte iv", mutate(v2, "x-amz-cek-alg", ContentAESCBC), KeyIV, nil},
		{"v2 missing iv", mutate(v2, "x-amz-iv", "\x00delete"), KeyIV, nil},
		{"v2 bad length", mutate(v2, "x-amz-unencrypted-content-length", "-1"), KeyPlaintextLength, nil},
		{"v2 length not decimal", mutate(v2, "x-amz-unencrypted-content-length", "0x10"), KeyPlaintextLength, nil},
		{"v2 matdesc array", mutate(v2, "x-amz-matdesc", `["a"]`), KeyMatDesc, nil},
		{"v2 matdesc trailing", mutate(v2, "x-amz-matdesc", `{}{}`), KeyMatDesc, nil},
		{"v2 cbc with tag length", mutate(mutate(mutate(v2, "x-amz-cek-alg", ContentAESCBC), "x-amz-iv", b64(16)), "x-amz-wrap-alg", WrapKMS), KeyTagLen, nil},
		{"v2 key twice, differing in case", mutate(v2, "X-Amz-Key-V2", b64(40)), KeyV2EncryptedKey, ErrConflictingMarkers},
		{"v3 commitment twice, prefixed", mutate(v3, "x-amz-meta-x-amz-d", v3["x-amz-d"]), KeyV3Commitment, ErrConflictingMarkers},
	}
	for _, c := range cases {
		_, err := Decode(c.meta)
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FormatError", c.name, err)
			continue
		}
		if fe.Key != c.key || (c.err != nil && !errors.Is(err, c.err)) {
			t.Errorf("%s: got %q (key %q), want key %q and %v", c.name, err, fe.Key, c.key, c.err)
		}
	}
}

func TestInstructionFileRules(t *testing.T) {
	obj, file, _ := sampleV3(WrapKMSContext).InstructionFile()
	var inst map[string]any
	json.Unmarshal(file, &inst)
	withKey := func(k string, v any) []byte {
		m := maps.Clone(inst)
		m[k] = v
		b, _ := json.Marshal(m)
		return b
	}
	if _, err := DecodeInstructionFile(obj, withKey("x-amz-d", obj["x-amz-d"])); !errors.Is(err, ErrConflictingMarkers) {
		t.Errorf("V3 instruction file holding x-amz-d: %v, want ErrConflictingMarkers", err)
	}
	if _, err := DecodeInstructionFile(obj, withKey("x-amz-key-v2", "AAAA")); !errors.Is(err, ErrConflictingMarkers) {
		t.Errorf("instruction file with two markers: %v", err)
	}
	if _, err := DecodeInstructionFile(nil, file); err == nil {
		t.Errorf("V3 instruction file without x-amz-c/d/i in object metadata decoded")
	}
	if _, err := DecodeInstructionFile(obj, []byte(`{"x-amz-3": 5}`)); err == nil {
		t.Errorf("instruction file with a number for a binary key decoded")
	}
	if _, err := DecodeInstructionFile(obj, []byte(`not json`)); err == nil {
		t.Errorf("non-JSON instruction file decoded")
	}
	if _, err := DecodeInstructionFile(obj, bytes.Repeat([]byte(" "), MaxInstruction+1)); err == nil {
		t.Errorf("oversize instruction file decoded")
	}
	v3meta, _ := sampleV3(WrapKMSContext).Metadata()
	if _, err := DecodeInstructionFile(v3meta, file); !errors.Is(err, ErrConflictingMarkers) {
		t.Errorf("instruction file for an object that already has an envelope: %v", err)
	}

	// AWS's Go readers accept numbers and null in V2 instruction files.
	_, v2file, _ := sampleV2(WrapKMSContext).InstructionFile()
	var v2 map[string]any
	json.Unmarshal(v2file, &v2)
	v2["x-amz-tag-len"] = 128
	v2["x-amz-unencrypted-content-length"] = nil
	b, _ := json.Marshal(v2)
	e, err := DecodeInstructionFile(nil, b)
	if err != nil || e.PlaintextLength != -1 {
		t.Fatalf("V2 instruction file with numbers and null: %v %+v", err, e)
	}
}

func TestDescriptionEncoding(t *testing.T) {
	d := map[string]string{"b": `q"uo\te`, "a": "é", "日本": "😀", "ctl": "\n\t<>&"}
	s := EncodeDescription(d)
	for _, c := range s {
		if c > 0x7e || c < 0x20 {
			t.Fatalf("encoded description is not printable ASCII: %q", s)
		}
	}
	if !strings.HasPrefix(s, `{"a":"\u00e9","b":`) {
		t.Fatalf("keys not sorted or not escaped: %s", s)
	}
	got, err := DecodeDescription(s)
	if err != nil || !maps.Equal(got, d) {
		t.Fatalf("round trip: %v %v", got, err)
	}
	var std map[string]string
	if err := json.Unmarshal([]byte(s), &std); err != nil || !maps.Equal(std, d) {
		t.Fatalf("encoding/json reads %v, %v", std, err)
	}
	if EncodeDescription(nil) != "{}" {
		t.Fatal("empty description must encode as {}")
	}
}

// S3 returns non-ASCII metadata RFC 2047 encoded, with each UTF-8 byte of
// the original turned into one Latin-1 character.
func TestS3DoubleEncoding(t *testing.T) {
	for _, orig := range []string{`{"k":"é"}`, `{"k":"日本語"}`, `{"emoji":"😀 ok"}`, `{"plain":"ascii"}`} {
		var latin1 strings.Builder
		for _, b := range []byte(orig) {
			latin1.WriteRune(rune(b))
		}
		stored := mime.BEncoding.Encode("UTF-8", latin1.String())
		if got := decodeS3Value(stored); got != orig {
			t.Errorf("decodeS3Value(%q) = %q, want %q", stored, got, orig)
		}
		if got := decodeS3Value(orig); got != orig {
			t.Errorf("raw value %q changed to %q", orig, got)
		}
	}
	meta, _ := sampleV2(WrapKMSContext).Metadata()
	var latin1 strings.Builder
	for _, b := range []byte(`{"team":"bleu é"}`) {
		latin1.WriteRune(rune(b))
	}
	meta["x-amz-matdesc"] = mime.QEncoding.Encode("UTF-8", latin1.String())
	e, err := Decode(meta)
	if err != nil || e.Description["team"] != "bleu é" {
		t.Fatalf("double-encoded matdesc: %v %v", e, err)
	}
}

func FuzzDecode(f *testing.F) {
	for _, v := range loadVectors(f) {
		b, _ := json.Marshal(v.Metadata)
		f.Add(b, v.Instruction)
	}
	for _, e := range []*Envelope{sampleV3(customWrap), sampleV2(customWrap)} {
		meta, _ := e.Metadata()
		b, _ := json.Marshal(meta)
		f.Add(b, []byte(nil))
		obj, file, _ := e.InstructionFile()
		b, _ = json.Marshal(obj)
		f.Add(b, file)
	}
	f.Fuzz(func(t *testing.T, metaJSON, inst []byte) {
		var meta map[string]string
		if json.Unmarshal(metaJSON, &meta) != nil {
			return
		}
		e, err := Decode(meta)
		if errors.Is(err, ErrNoEnvelope) {
			e, err = DecodeInstructionFile(meta, inst)
		}
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, ErrNoEnvelope) {
				t.Fatalf("untyped error %v", err)
			}
			return
		}
		if err := e.Validate(); err != nil {
			t.Fatalf("decoded envelope does not validate: %v", err)
		}
		again, err := e.Metadata()
		if err != nil {
			t.Fatal(err)
		}
		e2, err := Decode(again)
		if err != nil {
			t.Fatalf("re-encoded envelope does not decode: %v", err)
		}
		e.Storage = ObjectMetadata
		if !reflect.DeepEqual(e, e2) {
			t.Fatalf("re-encode round trip differs:\n%+v\n%+v", e, e2)
		}
	})
}

func TestInstructionFileDuplicates(t *testing.T) {
	_, file, err := sampleV2(WrapKMSContext).InstructionFile()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeInstructionFile(nil, file); err != nil {
		t.Fatalf("sample instruction file: %v", err)
	}
	b64 := base64.StdEncoding.EncodeToString(make([]byte, 40))
	for name, body := range map[string]string{
		"same key twice":         strings.Replace(string(file), "{", `{"x-amz-key-v2":"`+b64+`",`, 1),
		"key twice, other case":  strings.Replace(string(file), "{", `{"X-AMZ-KEY-V2":"`+b64+`",`, 1),
		"empty duplicate":        strings.Replace(string(file), "{", `{"x-amz-iv":"",`, 1),
		"trailing object":        string(file) + "{}",
		"array":                  "[" + string(file) + "]",
		"nested object value":    strings.Replace(string(file), "{", `{"x-amz-iv":{},`, 1),
		"unterminated":           strings.TrimSuffix(string(file), "}"),
		"not JSON":               "x-amz-key-v2=AAAA",
		"object then whitespace": string(file) + " \n",
	} {
		_, err := DecodeInstructionFile(nil, []byte(body))
		if name == "object then whitespace" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
			continue
		}
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("%s: got %v, want a *FormatError", name, err)
		}
	}
}

func TestV1WrapSurvivesReencoding(t *testing.T) {
	// Readers infer a V1 wrap from the key length unless it is named; a
	// named one must survive Decode → Metadata → Decode.
	meta := map[string]string{
		"x-amz-key":      base64.StdEncoding.EncodeToString(make([]byte, 48)),
		"x-amz-iv":       base64.StdEncoding.EncodeToString(make([]byte, 16)),
		"x-amz-wrap-alg": WrapRSAPKCS1,
	}
	e, err := Decode(meta)
	if err != nil {
		t.Fatal(err)
	}
	again, err := e.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	e2, err := Decode(again)
	if err != nil || e2.WrapAlg != WrapRSAPKCS1 {
		t.Fatalf("re-decoded wrap %q, %v; want %q", e2.WrapAlg, err, WrapRSAPKCS1)
	}
}

const customWrap = "example.com/vault-transit-v1"

// A keyring for a key manager AWS does not know records a wrapping
// algorithm of its own: verbatim in x-amz-wrap-alg (V2) and in x-amz-w
// (V3, where AWS's names stay codes), in metadata and instruction files.
func TestCustomWrapRoundTrip(t *testing.T) {
	for _, e := range []*Envelope{sampleV3(customWrap), sampleV2(customWrap)} {
		meta, err := e.Metadata()
		if err != nil {
			t.Fatalf("%s: %v", e.Format, err)
		}
		wrapKey, descKey := KeyWrapAlg, KeyMatDesc
		if e.Format == V3 {
			wrapKey, descKey = KeyV3WrapAlg, KeyV3MatDesc
		}
		if meta[wrapKey] != customWrap || meta[descKey] == "" {
			t.Fatalf("%s: %s=%q %s=%q, want the custom name verbatim and the description", e.Format, wrapKey, meta[wrapKey], descKey, meta[descKey])
		}
		got, err := Decode(meta)
		if err != nil || !reflect.DeepEqual(got, e) {
			t.Fatalf("%s: metadata round trip: %v\n got %+v\nwant %+v", e.Format, err, got, e)
		}
		obj, file, err := e.InstructionFile()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(string(file), `"`+wrapKey+`":"example.com/vault-transit-v1"`) {
			t.Fatalf("%s: instruction file %s lacks the custom name", e.Format, file)
		}
		got, err = DecodeInstructionFile(obj, file)
		want := *e
		want.Storage = InstructionFile
		if err != nil || !reflect.DeepEqual(got, &want) {
			t.Fatalf("%s: instruction round trip: %v\n got %+v\nwant %+v", e.Format, err, got, &want)
		}
	}
	// AWS's names keep their codes.
	for wrap, code := range map[string]string{WrapAESGCM: "02", WrapKMSContext: "12", WrapRSAOAEP: "22"} {
		if meta, _ := sampleV3(wrap).Metadata(); meta[KeyV3WrapAlg] != code {
			t.Errorf("%s: x-amz-w=%q, want %q", wrap, meta[KeyV3WrapAlg], code)
		}
	}
}

func TestIsCustomWrap(t *testing.T) {
	for _, name := range []string{customWrap, "a", "7z", "hsm:slot-1+v2", "A_b-c.d/e", strings.Repeat("x", maxCustomWrapLen)} {
		if !IsCustomWrap(name) {
			t.Errorf("IsCustomWrap(%q) = false", name)
		}
	}
	for _, name := range []string{
		"", strings.Repeat("x", maxCustomWrapLen+1), "a b", "vault\n", "tést", `a"b`, "a,b", "a=b", "a;b", "a\x00",
		"02", "12", "22", "13", "0", "0123456789",
		WrapKMSContext, WrapAESGCM, WrapRSAOAEP, WrapKMS, WrapAESWrap, WrapRSAOAEPSHA256, WrapAESECB, WrapRSAPKCS1,
		"aes/gcm", "KMS", "Kms+Context", "rsa", "aeswrap",
	} {
		if IsCustomWrap(name) {
			t.Errorf("IsCustomWrap(%q) = true", name)
		}
	}
}

// Names that are not valid custom names stay errors, on decode and on
// encode; so does an AWS name spelt out where V3 wants its code, and a
// custom name on a legacy AES-CBC or V1 envelope.
func TestCustomWrapRejects(t *testing.T) {
	v3, _ := sampleV3(customWrap).Metadata()
	v2, _ := sampleV2(customWrap).Metadata()
	long := strings.Repeat("x", maxCustomWrapLen+1)
	for _, c := range []struct {
		name string
		meta map[string]string
		key  string
	}{
		{"v3 AWS name instead of its code", mutate(v3, "x-amz-w", WrapAESGCM), KeyV3WrapAlg},
		{"v3 AWS name in another case", mutate(v3, "x-amz-w", "KMS+context"), KeyV3WrapAlg},
		{"v3 legacy AWS name", mutate(v3, "x-amz-w", WrapAESWrap), KeyV3WrapAlg},
		{"v3 unknown code", mutate(v3, "x-amz-w", "32"), KeyV3WrapAlg},
		{"v3 bad character", mutate(v3, "x-amz-w", "vault transit"), KeyV3WrapAlg},
		{"v3 too long", mutate(v3, "x-amz-w", long), KeyV3WrapAlg},
		{"v2 bad character", mutate(v2, "x-amz-wrap-alg", "vault,transit"), KeyWrapAlg},
		{"v2 too long", mutate(v2, "x-amz-wrap-alg", long), KeyWrapAlg},
		{"v2 all digits", mutate(v2, "x-amz-wrap-alg", "02"), KeyWrapAlg},
	} {
		_, err := Decode(c.meta)
		if !keyErr(c.key)(err) || !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("%s: %v, want a FormatError for %s wrapping ErrUnsupportedAlgorithm", c.name, err, c.key)
		}
	}
	cbc := sampleV2(customWrap)
	cbc.ContentAlg, cbc.IV = ContentAESCBC, make([]byte, CBCIVSize)
	v1 := &Envelope{Format: V1, ContentAlg: ContentAESCBC, WrapAlg: customWrap, EncryptedKey: make([]byte, 48), IV: make([]byte, 16), PlaintextLength: -1}
	envs := []*Envelope{cbc, v1}
	for _, bad := range []string{"", "vault transit", long, "22", "aes/gcm"} {
		envs = append(envs, sampleV3(bad), sampleV2(bad))
	}
	envs = append(envs, sampleV3(WrapAESWrap)) // legacy names exist in V2 only
	for _, e := range envs {
		if _, err := e.Metadata(); !errors.Is(err, ErrUnsupportedAlgorithm) {
			t.Errorf("%s %s %q: encoded (%v)", e.Format, e.ContentAlg, e.WrapAlg, err)
		}
	}
}
