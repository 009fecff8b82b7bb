package keyring

import (
	"fmt"
	"maps"

	"github.com/s3c/s3c/metadata"
)

// DescriptionKeyID is the material-description key under which a
// keyring names its master key, so readers holding several keys know
// which one to use. Raw keyrings without a caller-given description
// record their key's fingerprint there; a keyring of one's own with a
// custom wrapping algorithm may record its key's name there (never key
// material). For every wrap but KMS's, the s3crypto client leaves it out
// when it compares the stored description with the caller's context, and
// NoKeyError and s3crypto.RecordedKeyRef quote it.
const DescriptionKeyID = "s3c:key-id"

// RawOptions configures a raw AES or RSA keyring.
type RawOptions struct {
	// Description is the material description recorded with every data
	// key this keyring wraps, and matched on read to pick the keyring. If
	// empty, it is {"s3c:key-id": <the key's fingerprint>}.
	Description map[string]string
}

// rawDescription holds the description logic shared by raw keyrings.
type rawDescription struct {
	id   string            // fingerprint, "aes:…" or "rsa:…"
	desc map[string]string // recorded on every wrap
}

func newRawDescription(id string, optFns []func(*RawOptions)) rawDescription {
	var o RawOptions
	for _, fn := range optFns {
		fn(&o)
	}
	d := maps.Clone(o.Description)
	if len(d) == 0 {
		d = map[string]string{DescriptionKeyID: id}
	}
	return rawDescription{id: id, desc: d}
}

// reserved reports whether a description key belongs to the keyring
// rather than to the caller.
func (r *rawDescription) reserved(k string) bool {
	_, ok := r.desc[k]
	return ok || k == DescriptionKeyID
}

// forWrite merges the caller's pairs into the keyring's description.
func (r *rawDescription) forWrite(ctx map[string]string) (map[string]string, error) {
	d := maps.Clone(r.desc)
	for k, v := range ctx {
		if r.reserved(k) {
			return nil, &KeyError{KeyRef: r.id, Err: errReserved(k)}
		}
		d[k] = v
	}
	return d, nil
}

// claims reports whether a stored description names this keyring's key:
// every pair of the keyring's description is present.
func (r *rawDescription) claims(stored map[string]string) bool {
	for k, v := range r.desc {
		if stored[k] != v {
			return false
		}
	}
	return true
}

// owned returns the description keys the keyring records: those of its
// description, and s3c:key-id (which callers may not set either).
func (r *rawDescription) owned() []string {
	keys := []string{DescriptionKeyID}
	for k := range r.desc {
		if k != DescriptionKeyID {
			keys = append(keys, k)
		}
	}
	return keys
}

// check refuses a stored description that names another key: one of this
// keyring's description keys with another value. A description that does
// not mention the keyring's keys at all (as Java writes by default) is let
// through: the unwrap itself tells whether the key is right. The caller's
// context is compared with the rest by the client, not here (see
// DescriptionOwner).
func (r *rawDescription) check(req *DecryptionRequest) error {
	for k, v := range r.desc {
		if got, ok := req.Description[k]; ok && got != v {
			return &KeyError{KeyRef: r.id, Err: fmt.Errorf("%w: its material description names another key (%s)", ErrOtherKey, k)}
		}
	}
	return nil
}

type errReserved string

func (e errReserved) Error() string {
	return "material description key " + string(e) + " is reserved by the keyring"
}

// contentAlgBindings are the strings an RSA wrap may bind for a content
// algorithm, preferred first. For V3 the format says "115"; Java code from
// before V3 bound the cipher name for every GCM suite. Accepting that for
// V3 is safe: a V3 object's key commitment already ties its data key to
// suite 115, and a V2 reader still insists on the V2 name, so no key can
// be moved to the weaker suite.
func contentAlgBindings(alg string) []string {
	if alg == metadata.ContentCommittingGCM {
		return []string{metadata.ContentCommittingGCM, metadata.ContentAESGCM}
	}
	return []string{alg}
}
