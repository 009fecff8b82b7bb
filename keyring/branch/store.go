// Package branch is a key hierarchy for the s3crypto client: each
// object's data key is wrapped with AES-256-GCM under a branch key, and
// the branch keys are kept in a key store, wrapped by a root keyring (AWS
// KMS, a raw AES or RSA key, or any keyring.KeyWrapper). Unwrapped branch
// keys are cached, so a KMS root sees one call per branch key version per
// cache TTL instead of one per object, and rotating the root key rewraps
// the branch key versions only (RewrapStore), never an object.
//
// The object format is AWS's: the data key is wrapped in the S3
// Encryption Client's raw AES-GCM layout ("AES/GCM": a random 12-byte IV,
// the sealed key and its tag, the content algorithm as additional data)
// and the material description names the branch key:
//
//	{"s3c:branch-key-id": "<id>", "s3c:branch-key-version": "<n>"}
//
// An AWS S3 Encryption Client given a branch key version's 32 bytes as a
// raw AES key with that material description reads such objects.
//
// Versions are the integers 1, 2, 3, ... rather than random ids: the
// next version's name is known, so of two rotations at once the second
// finds it taken (a conditional create), listing shows the order, and
// a material description says at a glance which version an object uses.
//
// The package imports no AWS SDK; an S3-backed Store is in package
// s3store, an in-memory one is NewMemStore.
package branch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Material description and encryption context keys.
const (
	// DescriptionBranchKeyID names the branch key, in the material
	// description of every object and in the root wrap of every version.
	DescriptionBranchKeyID = "s3c:branch-key-id"
	// DescriptionBranchKeyVersion names the branch key version.
	DescriptionBranchKeyVersion = "s3c:branch-key-version"
	// DescriptionPurpose is "branch-key" in the root wrap of a version,
	// so that a root KMS key's encryption context tells branch keys from
	// anything else it wraps.
	DescriptionPurpose = "s3c:purpose"
	purposeBranchKey   = "branch-key"
)

// FormatV1 is the Format of the version documents this package writes.
const FormatV1 = "s3c-branch-key/1"

var (
	// ErrNotFound means the store holds no such branch key or version.
	ErrNotFound = errors.New("branch key not found")
	// ErrExists means a version (or branch key) to create is already there.
	ErrExists = errors.New("branch key version already exists")
	// ErrConflict means a conditional store update lost to another writer
	// (two rotations at once, a document changed since it was read).
	ErrConflict = errors.New("branch key store changed concurrently")
	// ErrVersionExhausted means a branch key version has wrapped
	// Options.MaxWrapsPerVersion data keys in this process: rotate it.
	ErrVersionExhausted = errors.New("branch key version has wrapped its limit of data keys; rotate the branch key")
)

// Version is one branch key version as the store keeps it: the 32-byte
// branch key wrapped by the root keyring, exactly as the root returned it.
type Version struct {
	Format       string            `json:"format"`       // FormatV1
	ID           string            `json:"id"`           // the branch key id
	Version      string            `json:"version"`      // "1", "2", ...
	WrapAlg      string            `json:"wrapAlg"`      // the root's wrapping algorithm
	EncryptedKey []byte            `json:"encryptedKey"` // the root's wrap of the branch key
	Description  map[string]string `json:"description"`  // the root's description (encryption context)
	KeyRef       string            `json:"keyRef"`       // the root key's name, for messages
	// Commitment is HMAC-SHA256(branch key, id and version): it ties the
	// unwrapped key to its id and version whatever the root binds.
	Commitment []byte    `json:"commitment"`
	Created    time.Time `json:"created"`
	// Token is the store's revision of the document (an S3 ETag), set by
	// GetVersion and checked by ReplaceVersion. Not stored.
	Token string `json:"-"`
}

// Marshal encodes v as the JSON document a store keeps.
func (v *Version) Marshal() ([]byte, error) { return json.Marshal(v) }

// UnmarshalVersion decodes a version document and checks that it is the
// version id/version of this format.
func UnmarshalVersion(b []byte, id, version string) (*Version, error) {
	var v Version
	if err := json.Unmarshal(b, &v); err != nil {
		return nil, fmt.Errorf("branch key %s version %s: malformed document: %w", id, version, err)
	}
	if v.Format != FormatV1 || v.ID != id || v.Version != version {
		return nil, fmt.Errorf("branch key %s version %s: document is for %q %s/%s", id, version, v.Format, v.ID, v.Version)
	}
	return &v, nil
}

// Store keeps branch key versions and each branch key's active version.
// Every method must be safe for concurrent use, by several processes at
// once where the store is shared:
//
//   - PutVersion stores a new version and fails with an error wrapping
//     ErrExists if that id and version are already there (a conditional
//     create: of two writers, exactly one wins);
//   - GetVersion returns a stored version with its Token set, or an error
//     wrapping ErrNotFound;
//   - ReplaceVersion overwrites a version read with GetVersion, only if it
//     is still at v.Token, else fails wrapping ErrConflict (RewrapStore);
//   - GetActive returns the active version of a branch key, or an error
//     wrapping ErrNotFound if it has none;
//   - SetActive makes next the active version if the active one is prev
//     (prev "": if there is none, which creates the branch key), else
//     fails wrapping ErrConflict: a compare-and-swap;
//   - ListBranchKeys and ListVersions list ids and versions, in any order.
//
// A store keeps documents as given; it need not be trusted for secrecy
// (the keys in it are wrapped) but a writer to it can delete keys.
type Store interface {
	PutVersion(ctx context.Context, v *Version) error
	GetVersion(ctx context.Context, id, version string) (*Version, error)
	ReplaceVersion(ctx context.Context, v *Version) error
	GetActive(ctx context.Context, id string) (string, error)
	SetActive(ctx context.Context, id, prev, next string) error
	ListBranchKeys(ctx context.Context) ([]string, error)
	ListVersions(ctx context.Context, id string) ([]string, error)
}

// ValidID reports whether id can name a branch key: 1 to 128 ASCII
// letters, digits, '-' or '_' (it becomes part of store paths).
func ValidID(id string) bool {
	if len(id) == 0 || len(id) > 128 {
		return false
	}
	for _, c := range []byte(id) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// ValidVersion reports whether s is a version: a positive decimal
// integer without leading zeros.
func ValidVersion(s string) bool {
	n, err := strconv.ParseUint(s, 10, 63)
	return err == nil && n > 0 && strconv.FormatUint(n, 10) == s
}

func checkIDVersion(id, version string) error {
	if !ValidID(id) {
		return fmt.Errorf("branch: invalid branch key id %q", id)
	}
	if !ValidVersion(version) {
		return fmt.Errorf("branch: branch key %s: invalid version %q", id, version)
	}
	return nil
}

// MemStore is an in-memory Store, for tests and examples.
type MemStore struct {
	mu       sync.Mutex
	rev      int
	versions map[[2]string]memDoc
	active   map[string]string
}

type memDoc struct {
	b   []byte
	rev string
}

// NewMemStore returns an empty in-memory store.
func NewMemStore() *MemStore {
	return &MemStore{versions: map[[2]string]memDoc{}, active: map[string]string{}}
}

func (m *MemStore) nextRev() string { m.rev++; return strconv.Itoa(m.rev) }

// PutVersion implements Store.
func (m *MemStore) PutVersion(_ context.Context, v *Version) error {
	if err := checkIDVersion(v.ID, v.Version); err != nil {
		return err
	}
	b, err := v.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{v.ID, v.Version}
	if _, ok := m.versions[k]; ok {
		return fmt.Errorf("branch key %s version %s: %w", v.ID, v.Version, ErrExists)
	}
	m.versions[k] = memDoc{b, m.nextRev()}
	return nil
}

// GetVersion implements Store.
func (m *MemStore) GetVersion(_ context.Context, id, version string) (*Version, error) {
	m.mu.Lock()
	d, ok := m.versions[[2]string{id, version}]
	m.mu.Unlock()
	if !ok {
		return nil, fmt.Errorf("branch key %s version %s: %w", id, version, ErrNotFound)
	}
	v, err := UnmarshalVersion(d.b, id, version)
	if err != nil {
		return nil, err
	}
	v.Token = d.rev
	return v, nil
}

// ReplaceVersion implements Store.
func (m *MemStore) ReplaceVersion(_ context.Context, v *Version) error {
	b, err := v.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{v.ID, v.Version}
	if d, ok := m.versions[k]; !ok || d.rev != v.Token {
		return fmt.Errorf("branch key %s version %s: %w", v.ID, v.Version, ErrConflict)
	}
	m.versions[k] = memDoc{b, m.nextRev()}
	return nil
}

// GetActive implements Store.
func (m *MemStore) GetActive(_ context.Context, id string) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	a, ok := m.active[id]
	if !ok {
		return "", fmt.Errorf("branch key %s: %w", id, ErrNotFound)
	}
	return a, nil
}

// SetActive implements Store.
func (m *MemStore) SetActive(_ context.Context, id, prev, next string) error {
	if err := checkIDVersion(id, next); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.active[id] != prev {
		return fmt.Errorf("branch key %s: active version is not %q: %w", id, prev, ErrConflict)
	}
	m.active[id] = next
	return nil
}

// ListBranchKeys implements Store.
func (m *MemStore) ListBranchKeys(context.Context) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for k := range m.versions {
		if !slices.Contains(ids, k[0]) {
			ids = append(ids, k[0])
		}
	}
	return ids, nil
}

// ListVersions implements Store.
func (m *MemStore) ListVersions(_ context.Context, id string) ([]string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var vs []string
	for k := range m.versions {
		if k[0] == id {
			vs = append(vs, k[1])
		}
	}
	return vs, nil
}

// tamper lets tests rewrite a stored document.
func (m *MemStore) tamper(id, version string, fn func([]byte) []byte) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{id, version}
	d := m.versions[k]
	d.b = fn(d.b)
	m.versions[k] = d
}
