package metadata

import (
	"encoding/base64"
	"encoding/json"
	"strconv"
)

// Metadata returns the envelope as object user metadata (keys without the
// x-amz-meta- prefix). Empty values are never written.
func (e *Envelope) Metadata() (map[string]string, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	m := e.wrapKeys()
	for k, v := range e.objectKeys() {
		m[k] = v
	}
	return m, nil
}

// InstructionFile splits the envelope for instruction-file storage: the
// user metadata of the object itself (for V3, x-amz-c, x-amz-d and
// x-amz-i; for V1/V2, nothing) and the body of <key>.instruction. The
// instruction file object should carry KeyInstructionFileMarker.
func (e *Envelope) InstructionFile() (objectMeta map[string]string, file []byte, err error) {
	if err := e.Validate(); err != nil {
		return nil, nil, err
	}
	inst := e.wrapKeys()
	obj := e.objectKeys()
	if e.Format != V3 {
		for k, v := range obj {
			inst[k] = v
		}
		obj = map[string]string{}
	}
	file, err = json.Marshal(inst)
	return obj, file, err
}

// wrapKeys are the keys that go to the instruction file when one is used.
func (e *Envelope) wrapKeys() map[string]string {
	b64 := base64.StdEncoding.EncodeToString
	m := map[string]string{}
	desc := EncodeDescription(e.Description)
	switch e.Format {
	case V3:
		m[KeyV3EncryptedKey] = b64(e.EncryptedKey)
		if code, ok := wrapToV3[e.WrapAlg]; ok {
			m[KeyV3WrapAlg] = code
		} else {
			m[KeyV3WrapAlg] = e.WrapAlg // a custom name, verbatim
		}
		if len(e.Description) > 0 || e.WrapAlg == WrapKMSContext {
			m[e.descriptionKey()] = desc
		}
	default:
		m[e.keyName()] = b64(e.EncryptedKey)
		m[KeyIV] = b64(e.IV)
		m[KeyMatDesc] = desc
		if e.Format == V1 {
			// Readers infer a V1 wrap from the key's length; name it
			// (V1 is never written for storage, only re-encoded).
			m[KeyWrapAlg] = e.WrapAlg
		}
		if e.Format == V2 {
			m[KeyContentAlg] = e.ContentAlg
			m[KeyWrapAlg] = e.WrapAlg
			if e.ContentAlg == ContentAESGCM {
				m[KeyTagLen] = strconv.Itoa(GCMTagBits)
			}
		}
		if e.PlaintextLength >= 0 {
			m[KeyPlaintextLength] = strconv.FormatInt(e.PlaintextLength, 10)
		}
	}
	return m
}

// objectKeys are the keys that stay in object metadata even when an
// instruction file is used (V3 only).
func (e *Envelope) objectKeys() map[string]string {
	if e.Format != V3 {
		return map[string]string{}
	}
	b64 := base64.StdEncoding.EncodeToString
	return map[string]string{
		KeyV3ContentAlg: e.ContentAlg,
		KeyV3Commitment: b64(e.Commitment),
		KeyV3MessageID:  b64(e.MessageID),
	}
}
