package branch

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"maps"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

var bg = context.Background()

func aesRoot(t testing.TB) *keyring.AESKeyring {
	t.Helper()
	key := make([]byte, 32)
	rand.Read(key)
	k, err := keyring.NewAES(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// countingRoot counts DecryptDataKey calls and can hold them at a gate.
type countingRoot struct {
	*keyring.AESKeyring
	decrypts atomic.Int64
	gate     chan struct{} // if non-nil, DecryptDataKey waits for it
	entered  chan struct{}
}

func (r *countingRoot) DecryptDataKey(ctx context.Context, req *keyring.DecryptionRequest) (*keyring.DataKey, error) {
	r.decrypts.Add(1)
	if r.gate != nil {
		r.entered <- struct{}{}
		<-r.gate
	}
	return r.AESKeyring.DecryptDataKey(ctx, req)
}

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type world struct {
	store *MemStore
	root  *countingRoot
	id    string
	clock *fakeClock
}

func newWorld(t *testing.T) *world {
	w := &world{store: NewMemStore(), root: &countingRoot{AESKeyring: aesRoot(t)}, clock: &fakeClock{t: time.Unix(1e9, 0)}}
	id, err := CreateBranchKey(bg, w.store, w.root)
	if err != nil {
		t.Fatal(err)
	}
	w.id = id
	return w
}

func (w *world) keyring(t *testing.T, fn ...func(*Options)) *Keyring {
	t.Helper()
	o := Options{BranchKeyID: w.id, CacheTTL: time.Minute, Clock: w.clock.now}
	for _, f := range fn {
		f(&o)
	}
	k, err := NewKeyring(w.store, w.root, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k
}

func gen(t *testing.T, k keyring.Keyring, ctx map[string]string) *keyring.DataKey {
	t.Helper()
	dk, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM, Context: ctx})
	if err != nil {
		t.Fatal(err)
	}
	return dk
}

func dec(k keyring.Keyring, dk *keyring.DataKey) (*keyring.DataKey, error) {
	return k.DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM,
		EncryptedKey: dk.Encrypted, Description: dk.Description})
}

func mustDec(t *testing.T, k keyring.Keyring, dk *keyring.DataKey) {
	t.Helper()
	got, err := dec(k, dk)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Plaintext, dk.Plaintext) {
		t.Fatal("unwrapped key differs")
	}
}

func TestGenerateDecrypt(t *testing.T) {
	w := newWorld(t)
	k := w.keyring(t)
	var _ interface {
		keyring.Keyring
		keyring.Claimer
		keyring.DescriptionOwner
		keyring.KeyWrapper
	} = k
	dk := gen(t, k, map[string]string{"tenant": "a"})
	want := map[string]string{"tenant": "a", DescriptionBranchKeyID: w.id, DescriptionBranchKeyVersion: "1"}
	if !maps.Equal(dk.Description, want) || dk.WrapAlg != metadata.WrapAESGCM || dk.KeyRef != "branch:"+w.id+"/1" || len(dk.Encrypted) != 60 {
		t.Fatalf("got %v %s %s %d", dk.Description, dk.WrapAlg, dk.KeyRef, len(dk.Encrypted))
	}
	mustDec(t, k, dk)
	// A fresh keyring (another process) reads it too.
	mustDec(t, w.keyring(t), dk)
	if !k.Claims(&keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, Description: dk.Description}) {
		t.Fatal("does not claim its own object")
	}
	if got := k.OwnedDescriptionKeys(metadata.WrapAESGCM); len(got) != 2 {
		t.Fatalf("owned %v", got)
	}
	// The caller may not set the branch pairs.
	if _, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM, Context: map[string]string{DescriptionBranchKeyVersion: "9"}}); err == nil {
		t.Fatal("reserved pair accepted")
	}
	// WrapDataKey wraps a given key the same way.
	wk, err := k.WrapDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}, dk.Plaintext)
	if err != nil {
		t.Fatal(err)
	}
	wk.Plaintext = dk.Plaintext
	mustDec(t, k, wk)
}

func TestDecryptErrors(t *testing.T) {
	w := newWorld(t)
	k := w.keyring(t)
	dk := gen(t, k, nil)
	req := func(mod func(*keyring.DecryptionRequest)) error {
		r := &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM,
			EncryptedKey: bytes.Clone(dk.Encrypted), Description: maps.Clone(dk.Description)}
		mod(r)
		got, err := k.DecryptDataKey(bg, r)
		if err == nil || got != nil {
			t.Fatalf("no error")
		}
		if strings.Contains(err.Error(), string(dk.Plaintext)) {
			t.Fatal("key material in error")
		}
		return err
	}
	if err := req(func(r *keyring.DecryptionRequest) { r.WrapAlg = metadata.WrapKMSContext }); !errors.Is(err, keyring.ErrUnsupportedWrap) {
		t.Fatal(err)
	}
	if err := req(func(r *keyring.DecryptionRequest) { delete(r.Description, DescriptionBranchKeyID) }); !errors.Is(err, keyring.ErrOtherKey) {
		t.Fatal(err)
	}
	if err := req(func(r *keyring.DecryptionRequest) { r.Description[DescriptionBranchKeyID] = NewID() }); !errors.Is(err, keyring.ErrOtherKey) {
		t.Fatal(err)
	}
	if err := req(func(r *keyring.DecryptionRequest) { r.Description[DescriptionBranchKeyID] = "../x" }); !errors.Is(err, keyring.ErrIncorrectKey) {
		t.Fatal(err)
	}
	if err := req(func(r *keyring.DecryptionRequest) { r.EncryptedKey[20] ^= 1 }); !errors.Is(err, keyring.ErrIncorrectKey) {
		t.Fatal(err)
	}
	if err := req(func(r *keyring.DecryptionRequest) { r.ContentAlg = metadata.ContentAESGCM }); !errors.Is(err, keyring.ErrIncorrectKey) {
		t.Fatal(err)
	}
	// Another version, made by rotation: the wrap fails integrity.
	if _, err := Rotate(bg, w.store, w.root, w.id); err != nil {
		t.Fatal(err)
	}
	if err := req(func(r *keyring.DecryptionRequest) { r.Description[DescriptionBranchKeyVersion] = "2" }); !errors.Is(err, keyring.ErrIncorrectKey) || errors.Is(err, keyring.ErrOtherKey) {
		t.Fatal(err)
	}
}

// The wrapped data key is in AWS's raw AES layout: a raw AES keyring
// holding the branch key version opens it.
func TestRawAESCompatible(t *testing.T) {
	w := newWorld(t)
	dk := gen(t, w.keyring(t), map[string]string{"a": "b"})
	v, err := w.store.GetVersion(bg, w.id, "1")
	if err != nil {
		t.Fatal(err)
	}
	material, err := unwrapVersion(bg, w.root, v)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := keyring.NewAES(material, func(o *keyring.RawOptions) {
		o.Description = map[string]string{DescriptionBranchKeyID: w.id, DescriptionBranchKeyVersion: "1"}
	})
	if err != nil {
		t.Fatal(err)
	}
	mustDec(t, raw, dk)
}

func TestRotate(t *testing.T) {
	w := newWorld(t)
	k := w.keyring(t)
	old := gen(t, k, nil)
	v, err := Rotate(bg, w.store, w.root, w.id)
	if err != nil || v != "2" {
		t.Fatal(v, err)
	}
	// Within the TTL the cached active version is still used...
	if d := gen(t, k, nil); d.Description[DescriptionBranchKeyVersion] != "1" {
		t.Fatal(d.Description)
	}
	// ...after it, the new one.
	w.clock.add(2 * time.Minute)
	nw := gen(t, k, nil)
	if nw.Description[DescriptionBranchKeyVersion] != "2" || nw.KeyRef != "branch:"+w.id+"/2" {
		t.Fatal(nw.Description)
	}
	mustDec(t, k, old)
	mustDec(t, k, nw)
	info, err := Describe(bg, w.store, w.id)
	if err != nil || info.Active != "2" || len(info.Versions) != 2 {
		t.Fatal(info, err)
	}
	if _, err := Rotate(bg, w.store, w.root, NewID()); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	// Rotation by age.
	if _, rotated, err := RotateIfOlder(bg, w.store, w.root, w.id, time.Hour); err != nil || rotated {
		t.Fatal(rotated, err)
	}
	if v, rotated, err := RotateIfOlder(bg, w.store, w.root, w.id, 0); err != nil || !rotated || v != "3" {
		t.Fatal(v, rotated, err)
	}
}

func TestConcurrentRotate(t *testing.T) {
	w := newWorld(t)
	for round := 0; round < 20; round++ {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = Rotate(bg, w.store, w.root, w.id) })
		}
		wg.Wait()
		for _, err := range errs {
			if err != nil && !errors.Is(err, ErrConflict) {
				t.Fatal(err)
			}
		}
		if errs[0] != nil && errs[1] != nil {
			t.Fatalf("both rotations failed: %v", errs)
		}
	}
	checkConsistent(t, w.store, w.root, w.id)
}

// checkConsistent: the active version exists, and every version opens.
func checkConsistent(t *testing.T, store Store, root keyring.Keyring, id string) {
	t.Helper()
	info, err := Describe(bg, store, id)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, v := range info.Versions {
		found = found || v.Version == info.Active
		doc, err := store.GetVersion(bg, id, v.Version)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := unwrapVersion(bg, root, doc); err != nil {
			t.Fatal(err)
		}
	}
	if !found {
		t.Fatalf("active %s not among %v", info.Active, info.Versions)
	}
}

func TestCacheTTL(t *testing.T) {
	w := newWorld(t)
	k := w.keyring(t)
	for range 100 {
		mustDec(t, k, gen(t, k, nil))
	}
	if n := w.root.decrypts.Load(); n != 1 {
		t.Fatalf("%d root calls, want 1", n)
	}
	w.clock.add(time.Minute)
	mustDec(t, k, gen(t, k, nil))
	if n := w.root.decrypts.Load(); n != 2 {
		t.Fatalf("%d root calls after the TTL, want 2", n)
	}
	if _, err := NewKeyring(w.store, w.root, Options{BranchKeyID: w.id}); err == nil {
		t.Fatal("no TTL accepted")
	}
}

func TestConcurrentMissesOneLoad(t *testing.T) {
	w := newWorld(t)
	w.root.gate = make(chan struct{})
	w.root.entered = make(chan struct{}, 100)
	k := w.keyring(t)
	var wg sync.WaitGroup
	var fails atomic.Int64
	for range 50 {
		wg.Go(func() {
			if _, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}); err != nil {
				fails.Add(1)
			}
		})
	}
	// Whether the others wait on the load or look after it ends, only
	// one load reaches the root.
	<-w.root.entered
	close(w.root.gate)
	wg.Wait()
	if fails.Load() != 0 || w.root.decrypts.Load() != 1 {
		t.Fatalf("%d failures, %d root calls, want 0 and 1", fails.Load(), w.root.decrypts.Load())
	}
}

func TestZeroOnEviction(t *testing.T) {
	w := newWorld(t)
	if _, err := Rotate(bg, w.store, w.root, w.id); err != nil {
		t.Fatal(err)
	}
	k := w.keyring(t, func(o *Options) { o.CacheSize = 1 })
	var mu sync.Mutex
	zeroed := map[vkey]bool{}
	k.c.onZero = func(v vkey, key []byte) {
		mu.Lock()
		defer mu.Unlock()
		zeroed[v] = len(key) == 32 && bytes.Equal(key, make([]byte, 32))
	}
	e1, err := k.version(bg, w.id, "1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := k.version(bg, w.id, "2"); err != nil {
		t.Fatal(err)
	}
	if !zeroed[vkey{w.id, "1"}] || !bytes.Equal(e1.key, make([]byte, 32)) {
		t.Fatal("evicted version 1 not zeroed")
	}
	w.clock.add(time.Hour)
	if _, err := k.version(bg, w.id, "2"); err != nil || !zeroed[vkey{w.id, "2"}] {
		t.Fatal("expired version 2 not zeroed", err)
	}
	k.Close()
	if len(k.c.versions) != 0 || !zeroed[vkey{w.id, "2"}] {
		t.Fatal("Close left keys")
	}
}

func TestWrapLimit(t *testing.T) {
	w := newWorld(t)
	k := w.keyring(t, func(o *Options) { o.MaxWrapsPerVersion = 3 })
	for range 3 {
		gen(t, k, nil)
	}
	w.clock.add(time.Hour) // a reload keeps the count
	if _, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}); !errors.Is(err, ErrVersionExhausted) {
		t.Fatal(err)
	}
	if _, err := Rotate(bg, w.store, w.root, w.id); err != nil {
		t.Fatal(err)
	}
	gen(t, k, nil)
}

func TestSupplier(t *testing.T) {
	w := newWorld(t)
	other, err := CreateBranchKey(bg, w.store, w.root)
	if err != nil {
		t.Fatal(err)
	}
	k := w.keyring(t, func(o *Options) {
		o.BranchKeyID = ""
		o.Supplier = func(_ context.Context, req *keyring.EncryptionRequest) (string, error) {
			if req.Context["tenant"] == "b" {
				return other, nil
			}
			return w.id, nil
		}
	})
	a, b := gen(t, k, map[string]string{"tenant": "a"}), gen(t, k, map[string]string{"tenant": "b"})
	if a.Description[DescriptionBranchKeyID] != w.id || b.Description[DescriptionBranchKeyID] != other {
		t.Fatal(a.Description, b.Description)
	}
	mustDec(t, k, a)
	mustDec(t, k, b)
	ro := w.keyring(t, func(o *Options) { o.BranchKeyID = "" })
	mustDec(t, ro, a)
	if _, err := ro.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}); !errors.Is(err, keyring.ErrDecryptOnly) {
		t.Fatal(err)
	}
	list, err := List(bg, w.store)
	if err != nil || len(list) != 2 {
		t.Fatal(list, err)
	}
	if err := CreateBranchKeyWithID(bg, w.store, w.root, w.id); !errors.Is(err, ErrExists) {
		t.Fatal(err)
	}
}

func TestTamperStore(t *testing.T) {
	for name, fn := range map[string]func(*Version){
		"wrapped key": func(v *Version) { v.EncryptedKey[15] ^= 1 },
		"version":     func(v *Version) { v.Description[DescriptionBranchKeyVersion] = "2" },
		"purpose":     func(v *Version) { v.Description[DescriptionPurpose] = "x" },
		"root key id": func(v *Version) { v.Description[keyring.DescriptionKeyID] = "aes:0000000000000000" },
		"commitment":  func(v *Version) { v.Commitment[0] ^= 1 },
		"short key":   func(v *Version) { v.EncryptedKey = v.EncryptedKey[:10] },
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			dk := gen(t, w.keyring(t), nil)
			w.store.tamper(w.id, "1", func(b []byte) []byte {
				v, err := UnmarshalVersion(b, w.id, "1")
				if err != nil {
					t.Fatal(err)
				}
				fn(v)
				b, _ = v.Marshal()
				return b
			})
			got, err := dec(w.keyring(t), dk)
			if err == nil || got != nil || !errors.Is(err, keyring.ErrIncorrectKey) {
				t.Fatalf("tampered store: %v", err)
			}
		})
	}
	w := newWorld(t)
	dk := gen(t, w.keyring(t), nil)
	w.store.tamper(w.id, "1", func(b []byte) []byte { return b[:len(b)/2] })
	if _, err := dec(w.keyring(t), dk); err == nil {
		t.Fatal("truncated document read")
	}
}

func TestRewrapStore(t *testing.T) {
	w := newWorld(t)
	k := w.keyring(t)
	objs := []*keyring.DataKey{gen(t, k, nil)}
	if _, err := Rotate(bg, w.store, w.root, w.id); err != nil {
		t.Fatal(err)
	}
	w.clock.add(time.Hour)
	objs = append(objs, gen(t, k, nil))
	newRoot := aesRoot(t)
	st, err := RewrapStore(bg, w.store, newRoot, w.root)
	if err != nil || st.Rewrapped != 2 || st.Already != 0 {
		t.Fatal(st, err)
	}
	k2, err := NewKeyring(w.store, newRoot, Options{BranchKeyID: w.id, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	for _, dk := range objs {
		mustDec(t, k2, dk)
	}
	// The old root no longer opens the store.
	if _, err := dec(w.keyring(t), objs[0]); !errors.Is(err, keyring.ErrIncorrectKey) {
		t.Fatal(err)
	}
	// Running it again changes nothing.
	if st, err := RewrapStore(bg, w.store, newRoot, w.root); err != nil || st.Rewrapped != 0 || st.Already != 2 {
		t.Fatal(st, err)
	}
}

// failingStore fails every read, as an unreachable store does.
type failingStore struct{ Store }

var errOutage = errors.New("connection refused")

func (failingStore) GetVersion(context.Context, string, string) (*Version, error) {
	return nil, errOutage
}
func (failingStore) GetActive(context.Context, string) (string, error) { return "", errOutage }

// A store outage is fatal: never reported as a wrong or missing key, so
// a Multi keyring stops at it.
func TestStoreOutageIsFatal(t *testing.T) {
	w := newWorld(t)
	dk := gen(t, w.keyring(t), nil)
	k, err := NewKeyring(failingStore{w.store}, w.root, Options{BranchKeyID: w.id, CacheTTL: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	_, err = dec(k, dk)
	if !errors.Is(err, errOutage) || errors.Is(err, keyring.ErrIncorrectKey) || errors.Is(err, keyring.ErrUnsupportedWrap) {
		t.Fatalf("decrypt: %v", err)
	}
	other := aesRoot(t)
	if _, err := dec(keyring.Multi(other, k), dk); !errors.Is(err, errOutage) {
		t.Fatalf("multi: %v", err)
	}
	if _, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}); !errors.Is(err, errOutage) {
		t.Fatalf("generate: %v", err)
	}
}

// A caller that gives up while a load is under way does not fail the
// others waiting for the same load.
func TestCancelledWaiterLeavesLoad(t *testing.T) {
	w := newWorld(t)
	w.root.gate = make(chan struct{})
	w.root.entered = make(chan struct{}, 10)
	k := w.keyring(t)
	cctx, cancel := context.WithCancel(bg)
	first := make(chan error, 1)
	go func() {
		_, err := k.GenerateDataKey(cctx, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
		first <- err
	}()
	<-w.root.entered
	cancel()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled caller: %v", err)
	}
	second := make(chan error, 1)
	go func() {
		_, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
		second <- err
	}()
	close(w.root.gate)
	if err := <-second; err != nil {
		t.Fatal(err)
	}
	if n := w.root.decrypts.Load(); n != 1 {
		t.Fatalf("%d root calls, want 1", n)
	}
}
