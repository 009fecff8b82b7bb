package branch

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// rootContext is the context a version is wrapped with by the root:
// with a KMS root it is the encryption context, which binds the branch
// key's id, version and purpose.
func rootContext(id, version string) map[string]string {
	return map[string]string{DescriptionBranchKeyID: id, DescriptionBranchKeyVersion: version, DescriptionPurpose: purposeBranchKey}
}

// commitment ties a branch key to its id and version.
func commitment(key []byte, id, version string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("s3c branch key commitment\x00" + id + "\x00" + version))
	return m.Sum(nil)
}

// wrapVersion wraps key for id/version with root.
func wrapVersion(ctx context.Context, root keyring.Keyring, id, version string, key []byte, created time.Time) (*Version, error) {
	w, ok := root.(keyring.KeyWrapper)
	if !ok {
		return nil, fmt.Errorf("branch: the root keyring (%T) cannot wrap a branch key: it does not implement keyring.KeyWrapper", root)
	}
	dk, err := w.WrapDataKey(ctx, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM, Context: rootContext(id, version)}, key)
	if err != nil {
		return nil, fmt.Errorf("branch: wrapping branch key %s version %s: %w", id, version, err)
	}
	return &Version{
		Format: FormatV1, ID: id, Version: version, WrapAlg: dk.WrapAlg, EncryptedKey: dk.Encrypted,
		Description: dk.Description, KeyRef: dk.KeyRef, Commitment: commitment(key, id, version), Created: created.UTC(),
	}, nil
}

// unwrapVersion recovers the branch key of v with root. The document's
// description must name v's id, version and purpose, and the key must
// match its commitment; otherwise the result is an error wrapping
// keyring.ErrIncorrectKey.
func unwrapVersion(ctx context.Context, root keyring.Keyring, v *Version) ([]byte, error) {
	want := rootContext(v.ID, v.Version)
	for k, val := range want {
		if v.Description[k] != val {
			return nil, fmt.Errorf("branch key %s version %s: stored description does not name it (%s): %w", v.ID, v.Version, k, keyring.ErrIncorrectKey)
		}
	}
	dk, err := root.DecryptDataKey(ctx, &keyring.DecryptionRequest{
		WrapAlg: v.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: v.EncryptedKey,
		Description: v.Description, Context: want,
	})
	if err != nil {
		return nil, fmt.Errorf("branch key %s version %s: %w", v.ID, v.Version, err)
	}
	if len(dk.Plaintext) != keyring.DataKeySize || !hmac.Equal(commitment(dk.Plaintext, v.ID, v.Version), v.Commitment) {
		dk.Zero()
		return nil, fmt.Errorf("branch key %s version %s: key does not match its commitment: %w", v.ID, v.Version, keyring.ErrIncorrectKey)
	}
	return dk.Plaintext, nil
}

func newKey() []byte {
	k := make([]byte, keyring.DataKeySize)
	rand.Read(k)
	return k
}

// NewID returns a random branch key id: 32 hex digits (128 bits).
func NewID() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// CreateBranchKey makes a new branch key with a random id, wraps its
// version 1 with root, stores it and makes it active. It returns the id.
func CreateBranchKey(ctx context.Context, store Store, root keyring.Keyring) (string, error) {
	id := NewID()
	if err := CreateBranchKeyWithID(ctx, store, root, id); err != nil {
		return "", err
	}
	return id, nil
}

// CreateBranchKeyWithID is CreateBranchKey with an id of the caller's
// (see ValidID), such as a tenant's name. It fails wrapping ErrExists if
// the store has that branch key already.
func CreateBranchKeyWithID(ctx context.Context, store Store, root keyring.Keyring, id string) error {
	if !ValidID(id) {
		return fmt.Errorf("branch: invalid branch key id %q", id)
	}
	key := newKey()
	defer clear(key)
	v, err := wrapVersion(ctx, root, id, "1", key, time.Now())
	if err != nil {
		return err
	}
	if err := store.PutVersion(ctx, v); err != nil {
		return fmt.Errorf("branch: creating branch key %s: %w", id, err)
	}
	if err := store.SetActive(ctx, id, "", "1"); err != nil {
		if errors.Is(err, ErrConflict) {
			err = fmt.Errorf("%w (%w)", ErrExists, err)
		}
		return fmt.Errorf("branch: creating branch key %s: %w", id, err)
	}
	return nil
}

// Rotate makes a new version of branch key id, wrapped with root, and
// makes it the active one: new objects use it, objects under older
// versions still decrypt (the versions stay in the store). Keyrings in
// other processes pick it up when their cached active version expires
// (Options.CacheTTL). It returns the new version.
//
// Of two rotations at once, one wins; the other fails with an error
// wrapping ErrConflict and may be retried. A version written by a loser
// stays in the store unused.
func Rotate(ctx context.Context, store Store, root keyring.Keyring, id string) (string, error) {
	prev, err := store.GetActive(ctx, id)
	if err != nil {
		return "", fmt.Errorf("branch: rotating branch key %s: %w", id, err)
	}
	vs, err := store.ListVersions(ctx, id)
	if err != nil {
		return "", fmt.Errorf("branch: rotating branch key %s: %w", id, err)
	}
	var max uint64
	for _, s := range append(vs, prev) {
		if n, err := strconv.ParseUint(s, 10, 63); err == nil && n > max {
			max = n
		}
	}
	next := strconv.FormatUint(max+1, 10)
	key := newKey()
	defer clear(key)
	v, err := wrapVersion(ctx, root, id, next, key, time.Now())
	if err != nil {
		return "", err
	}
	if err := store.PutVersion(ctx, v); err != nil {
		if errors.Is(err, ErrExists) {
			err = fmt.Errorf("%w: another rotation made version %s first (%w)", ErrConflict, next, err)
		}
		return "", fmt.Errorf("branch: rotating branch key %s: %w", id, err)
	}
	if err := store.SetActive(ctx, id, prev, next); err != nil {
		return "", fmt.Errorf("branch: rotating branch key %s: version %s stored but not made active: %w", id, next, err)
	}
	return next, nil
}

// RotateIfOlder rotates branch key id if its active version was created
// more than maxAge ago, and returns the active version and whether it
// rotated: rotation by age, for a periodic job.
func RotateIfOlder(ctx context.Context, store Store, root keyring.Keyring, id string, maxAge time.Duration) (string, bool, error) {
	active, err := store.GetActive(ctx, id)
	if err != nil {
		return "", false, fmt.Errorf("branch: branch key %s: %w", id, err)
	}
	v, err := store.GetVersion(ctx, id, active)
	if err != nil {
		return "", false, fmt.Errorf("branch: branch key %s: %w", id, err)
	}
	if time.Since(v.Created) <= maxAge {
		return active, false, nil
	}
	next, err := Rotate(ctx, store, root, id)
	return next, err == nil, err
}

// RewrapStats counts what RewrapStore did.
type RewrapStats struct {
	Rewrapped int // versions now wrapped by the new root
	Already   int // versions the new root already wrapped
}

// RewrapStore wraps every branch key version in store under newRoot:
// each is unwrapped with oldRoot, wrapped with newRoot (a KeyWrapper),
// checked to unwrap again with newRoot, and replaced in the store only if
// it has not changed since it was read. Rotating the root key this way
// costs O(branch key versions) root calls and writes no object. Versions
// that newRoot already opens are left alone, so an interrupted run can be
// run again. After it, the old root key can be disabled.
func RewrapStore(ctx context.Context, store Store, newRoot, oldRoot keyring.Keyring) (RewrapStats, error) {
	var st RewrapStats
	ids, err := store.ListBranchKeys(ctx)
	if err != nil {
		return st, fmt.Errorf("branch: listing branch keys: %w", err)
	}
	slices.Sort(ids)
	for _, id := range ids {
		vs, err := store.ListVersions(ctx, id)
		if err != nil {
			return st, fmt.Errorf("branch: listing versions of branch key %s: %w", id, err)
		}
		sortVersions(vs)
		for _, ver := range vs {
			done, err := rewrapVersion(ctx, store, newRoot, oldRoot, id, ver)
			if err != nil {
				return st, err
			}
			if done {
				st.Rewrapped++
			} else {
				st.Already++
			}
		}
	}
	return st, nil
}

func notMine(err error) bool {
	var mismatch *keyring.ContextMismatchError
	return errors.Is(err, keyring.ErrUnsupportedWrap) || errors.Is(err, keyring.ErrIncorrectKey) ||
		errors.Is(err, keyring.ErrEncryptOnly) || errors.As(err, &mismatch)
}

func rewrapVersion(ctx context.Context, store Store, newRoot, oldRoot keyring.Keyring, id, ver string) (bool, error) {
	v, err := store.GetVersion(ctx, id, ver)
	if err != nil {
		return false, fmt.Errorf("branch: rewrap: %w", err)
	}
	key, err := unwrapVersion(ctx, oldRoot, v)
	if err != nil {
		if !notMine(err) {
			return false, fmt.Errorf("branch: rewrap: %w", err)
		}
		k2, err2 := unwrapVersion(ctx, newRoot, v)
		if err2 != nil {
			return false, fmt.Errorf("branch: rewrap: neither root opens it: %w", errors.Join(err, err2))
		}
		clear(k2)
		return false, nil
	}
	defer clear(key)
	nv, err := wrapVersion(ctx, newRoot, id, ver, key, v.Created)
	if err != nil {
		return false, fmt.Errorf("branch: rewrap: %w", err)
	}
	check, err := unwrapVersion(ctx, newRoot, nv)
	if err != nil {
		return false, fmt.Errorf("branch: rewrap: the new root does not open its own wrap: %w", err)
	}
	clear(check)
	nv.Token = v.Token
	if err := store.ReplaceVersion(ctx, nv); err != nil {
		return false, fmt.Errorf("branch: rewrap: %w", err)
	}
	return true, nil
}

func sortVersions(vs []string) {
	slices.SortFunc(vs, func(a, b string) int {
		x, _ := strconv.ParseUint(a, 10, 63)
		y, _ := strconv.ParseUint(b, 10, 63)
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
		return 0
	})
}

// VersionInfo describes a stored branch key version (no key material).
type VersionInfo struct {
	Version string    `json:"version"`
	Created time.Time `json:"created"`
	WrapAlg string    `json:"wrapAlg"` // the root's wrapping algorithm
	RootRef string    `json:"rootKey"` // the root key that wrapped it
}

// Info describes a branch key.
type Info struct {
	ID       string        `json:"id"`
	Active   string        `json:"active"` // "" if none
	Versions []VersionInfo `json:"versions"`
}

// Describe returns what the store holds for branch key id.
func Describe(ctx context.Context, store Store, id string) (*Info, error) {
	info := &Info{ID: id}
	a, err := store.GetActive(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	info.Active = a
	vs, err := store.ListVersions(ctx, id)
	if err != nil {
		return nil, err
	}
	if len(vs) == 0 && a == "" {
		return nil, fmt.Errorf("branch key %s: %w", id, ErrNotFound)
	}
	sortVersions(vs)
	for _, ver := range vs {
		v, err := store.GetVersion(ctx, id, ver)
		if err != nil {
			return nil, err
		}
		info.Versions = append(info.Versions, VersionInfo{Version: ver, Created: v.Created, WrapAlg: v.WrapAlg, RootRef: v.KeyRef})
	}
	return info, nil
}

// List describes every branch key in store, sorted by id.
func List(ctx context.Context, store Store) ([]*Info, error) {
	ids, err := store.ListBranchKeys(ctx)
	if err != nil {
		return nil, err
	}
	slices.Sort(ids)
	var out []*Info
	for _, id := range ids {
		info, err := Describe(ctx, store, id)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}
