package branch

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// DefaultMaxWrapsPerVersion is the default Options.MaxWrapsPerVersion:
// 2^30 wraps, well under the 2^32 that random 96-bit IVs under one AES
// key allow.
const DefaultMaxWrapsPerVersion = 1 << 30

// DefaultCacheSize is the default Options.CacheSize.
const DefaultCacheSize = 1000

// Options configures a Keyring.
type Options struct {
	// BranchKeyID is the branch key new objects are wrapped under, when
	// Supplier is nil.
	BranchKeyID string
	// Supplier chooses the branch key for each new object, for example
	// from the encryption context (one branch key per tenant). If nil,
	// BranchKeyID is used; if both are empty the keyring only decrypts.
	Supplier func(ctx context.Context, req *keyring.EncryptionRequest) (branchKeyID string, err error)
	// CacheTTL is how long an unwrapped branch key version, and a branch
	// key's active version, is kept. Required (> 0): the root keyring is
	// called about once per version per TTL, and other processes'
	// rotations are seen within it.
	CacheTTL time.Duration
	// CacheSize bounds the cached versions (least recently used go
	// first). Default DefaultCacheSize.
	CacheSize int
	// MaxWrapsPerVersion bounds the data keys this keyring wraps under
	// one branch key version; past it GenerateDataKey fails with
	// ErrVersionExhausted. Default DefaultMaxWrapsPerVersion. Counted per
	// process: rotate versions well before the sum over processes nears
	// 2^32.
	MaxWrapsPerVersion uint64
	// Clock returns the time, for tests; default time.Now.
	Clock func() time.Time
}

// Keyring wraps data keys under branch keys from a Store (see the
// package documentation). It implements keyring.Keyring,
// keyring.Claimer, keyring.DescriptionOwner and keyring.KeyWrapper, and
// is safe for concurrent use. Close it to zero its cached keys.
type Keyring struct {
	store Store
	root  keyring.Keyring
	opts  Options
	c     *cache
}

// NewKeyring returns a keyring that keeps its branch keys in store,
// wrapped by root.
func NewKeyring(store Store, root keyring.Keyring, opts Options) (*Keyring, error) {
	if store == nil || root == nil {
		return nil, errors.New("branch: NewKeyring needs a store and a root keyring")
	}
	if opts.CacheTTL <= 0 {
		return nil, errors.New("branch: Options.CacheTTL is required (> 0)")
	}
	if opts.BranchKeyID != "" && !ValidID(opts.BranchKeyID) {
		return nil, fmt.Errorf("branch: invalid branch key id %q", opts.BranchKeyID)
	}
	if opts.CacheSize <= 0 {
		opts.CacheSize = DefaultCacheSize
	}
	if opts.MaxWrapsPerVersion == 0 {
		opts.MaxWrapsPerVersion = DefaultMaxWrapsPerVersion
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	k := &Keyring{store: store, root: root, opts: opts}
	k.c = newCache(opts.CacheTTL, opts.CacheSize, opts.Clock)
	return k, nil
}

// Close zeroes every cached branch key. The keyring stays usable (it
// loads keys again).
func (k *Keyring) Close() error {
	k.c.purge()
	return nil
}

func keyRef(id, version string) string { return "branch:" + id + "/" + version }

// branchFor returns the branch key for a new object.
func (k *Keyring) branchFor(ctx context.Context, req *keyring.EncryptionRequest) (string, error) {
	if k.opts.Supplier != nil {
		id, err := k.opts.Supplier(ctx, req)
		if err != nil {
			return "", fmt.Errorf("branch: choosing the branch key: %w", err)
		}
		if !ValidID(id) {
			return "", fmt.Errorf("branch: the supplier chose an invalid branch key id %q", id)
		}
		return id, nil
	}
	if k.opts.BranchKeyID == "" {
		return "", &keyring.KeyError{KeyRef: "branch", Err: fmt.Errorf("%w: no branch key id configured", keyring.ErrDecryptOnly)}
	}
	return k.opts.BranchKeyID, nil
}

// active returns the cached entry of the active version of the branch
// key for req, counting one wrap.
func (k *Keyring) active(ctx context.Context, req *keyring.EncryptionRequest) (*entry, string, error) {
	id, err := k.branchFor(ctx, req)
	if err != nil {
		return nil, "", err
	}
	ver, err := k.c.active(ctx, id, func(ctx context.Context) (string, error) { return k.store.GetActive(ctx, id) })
	if err != nil {
		return nil, "", &keyring.KeyError{KeyRef: "branch:" + id, Err: fmt.Errorf("active version: %w", err)}
	}
	e, err := k.version(ctx, id, ver)
	if err != nil {
		return nil, "", err
	}
	ref := keyRef(id, ver)
	if n := e.wraps.Add(1); n > k.opts.MaxWrapsPerVersion {
		k.c.forgetActive(id) // so that a rotation is seen at once
		return nil, "", &keyring.KeyError{KeyRef: ref, Err: ErrVersionExhausted}
	}
	return e, ref, nil
}

// version returns the cache entry of id/ver, loading it on a miss.
func (k *Keyring) version(ctx context.Context, id, ver string) (*entry, error) {
	e, err := k.c.version(ctx, id, ver, func(ctx context.Context) ([]byte, error) {
		v, err := k.store.GetVersion(ctx, id, ver)
		if err != nil {
			return nil, err
		}
		return unwrapVersion(ctx, k.root, v)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			err = fmt.Errorf("%w: %w", keyring.ErrOtherKey, err)
		}
		return nil, &keyring.KeyError{KeyRef: keyRef(id, ver), Err: err}
	}
	return e, nil
}

func fixRef(dk *keyring.DataKey, err error, ref string) (*keyring.DataKey, error) {
	if err != nil {
		var ke *keyring.KeyError
		if errors.As(err, &ke) {
			err = ke.Err
		}
		return nil, &keyring.KeyError{KeyRef: ref, Err: err}
	}
	dk.KeyRef = ref
	return dk, nil
}

// GenerateDataKey makes a fresh data key and wraps it ("AES/GCM") under
// the active version of the chosen branch key. The description is the
// request's context plus the branch key's id and version.
func (k *Keyring) GenerateDataKey(ctx context.Context, req *keyring.EncryptionRequest) (*keyring.DataKey, error) {
	e, ref, err := k.active(ctx, req)
	if err != nil {
		return nil, err
	}
	dk, err := e.aes.GenerateDataKey(ctx, req)
	return fixRef(dk, err, ref)
}

// WrapDataKey wraps an existing data key as GenerateDataKey wraps a new
// one (see keyring.KeyWrapper).
func (k *Keyring) WrapDataKey(ctx context.Context, req *keyring.EncryptionRequest, dataKey []byte) (*keyring.DataKey, error) {
	e, ref, err := k.active(ctx, req)
	if err != nil {
		return nil, err
	}
	dk, err := e.aes.WrapDataKey(ctx, req, dataKey)
	return fixRef(dk, err, ref)
}

// named returns the branch key id and version a description names.
func named(desc map[string]string) (string, string, bool) {
	id, ok1 := desc[DescriptionBranchKeyID]
	ver, ok2 := desc[DescriptionBranchKeyVersion]
	return id, ver, ok1 && ok2
}

// DecryptDataKey opens an "AES/GCM" data key whose description names a
// branch key version, loading that version from the store.
func (k *Keyring) DecryptDataKey(ctx context.Context, req *keyring.DecryptionRequest) (*keyring.DataKey, error) {
	if req.WrapAlg != metadata.WrapAESGCM {
		return nil, fmt.Errorf("%w: %s", keyring.ErrUnsupportedWrap, req.WrapAlg)
	}
	id, ver, ok := named(req.Description)
	if !ok {
		return nil, &keyring.KeyError{KeyRef: "branch", Err: fmt.Errorf("%w: its material description names no branch key", keyring.ErrOtherKey)}
	}
	ref := keyRef(id, ver)
	if err := checkIDVersion(id, ver); err != nil {
		return nil, &keyring.KeyError{KeyRef: ref, Err: fmt.Errorf("%w: %w", keyring.ErrIncorrectKey, err)}
	}
	e, err := k.version(ctx, id, ver)
	if err != nil {
		return nil, err
	}
	dk, err := e.aes.DecryptDataKey(ctx, req)
	return fixRef(dk, err, ref)
}

// Claims reports whether an "AES/GCM" object names a branch key.
func (k *Keyring) Claims(req *keyring.DecryptionRequest) bool {
	_, _, ok := named(req.Description)
	return ok && req.WrapAlg == metadata.WrapAESGCM
}

// OwnedDescriptionKeys returns the branch key id and version keys for
// "AES/GCM"; see keyring.DescriptionOwner.
func (k *Keyring) OwnedDescriptionKeys(wrapAlg string) []string {
	if wrapAlg == metadata.WrapAESGCM {
		return []string{DescriptionBranchKeyID, DescriptionBranchKeyVersion}
	}
	return nil
}
