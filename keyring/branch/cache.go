package branch

import (
	"container/list"
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/s3c/s3c/keyring"
)

// loadTimeout bounds one load from the store and the root keyring; the
// load runs on its own context so that one caller giving up does not fail
// the others waiting for it.
const loadTimeout = 60 * time.Second

type vkey struct{ id, version string }

// entry is one unwrapped branch key version.
type entry struct {
	k       vkey
	key     []byte              // the branch key; zeroed on eviction
	aes     *keyring.AESKeyring // raw AES keyring over key, with the branch description
	expires time.Time
	elem    *list.Element
	wraps   *atomic.Uint64 // shared by every load of this version
}

type activeEntry struct {
	version string
	expires time.Time
}

type call struct {
	done chan struct{}
	val  any
	err  error
}

// cache holds unwrapped branch key versions (TTL, LRU size bound) and
// each branch key's active version (TTL), and makes concurrent misses
// for one key share one load.
type cache struct {
	ttl   time.Duration
	size  int
	clock func() time.Time

	mu       sync.Mutex
	versions map[vkey]*entry
	lru      *list.List // front: most recently used
	actives  map[string]activeEntry
	flight   map[string]*call
	wraps    map[vkey]*atomic.Uint64

	onZero func(vkey, []byte) // test hook, called with the zeroed key
}

func newCache(ttl time.Duration, size int, clock func() time.Time) *cache {
	return &cache{ttl: ttl, size: size, clock: clock, versions: map[vkey]*entry{}, lru: list.New(),
		actives: map[string]activeEntry{}, flight: map[string]*call{}, wraps: map[vkey]*atomic.Uint64{}}
}

// do runs fn once for concurrent callers of one key.
func (c *cache) do(ctx context.Context, key string, fn func(context.Context) (any, error)) (any, error) {
	c.mu.Lock()
	cl, ok := c.flight[key]
	if !ok {
		cl = &call{done: make(chan struct{})}
		c.flight[key] = cl
		c.mu.Unlock()
		go func() {
			lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), loadTimeout)
			defer cancel()
			cl.val, cl.err = fn(lctx)
			c.mu.Lock()
			delete(c.flight, key)
			c.mu.Unlock()
			close(cl.done)
		}()
	} else {
		c.mu.Unlock()
	}
	select {
	case <-cl.done:
		return cl.val, cl.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// evictLocked removes e and zeroes its key.
func (c *cache) evictLocked(e *entry) {
	delete(c.versions, e.k)
	c.lru.Remove(e.elem)
	clear(e.key)
	if c.onZero != nil {
		c.onZero(e.k, e.key)
	}
}

func (c *cache) purge() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.versions {
		c.evictLocked(e)
	}
	clear(c.actives)
}

// version returns the entry for id/ver, loading the key with load on a
// miss or after expiry.
func (c *cache) version(ctx context.Context, id, ver string, load func(context.Context) ([]byte, error)) (*entry, error) {
	k := vkey{id, ver}
	c.mu.Lock()
	if e, ok := c.versions[k]; ok {
		if c.clock().Before(e.expires) {
			c.lru.MoveToFront(e.elem)
			c.mu.Unlock()
			return e, nil
		}
		c.evictLocked(e)
	}
	c.mu.Unlock()
	v, err := c.do(ctx, "v\x00"+id+"\x00"+ver, func(ctx context.Context) (any, error) {
		// A load that finished between the look-up above and this one
		// has left the entry: use it rather than load again.
		c.mu.Lock()
		if e, ok := c.versions[k]; ok && c.clock().Before(e.expires) {
			c.mu.Unlock()
			return e, nil
		}
		c.mu.Unlock()
		key, err := load(ctx)
		if err != nil {
			return nil, err
		}
		aes, err := keyring.NewAES(key, func(o *keyring.RawOptions) {
			o.Description = map[string]string{DescriptionBranchKeyID: id, DescriptionBranchKeyVersion: ver}
		})
		if err != nil {
			clear(key)
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		if old, ok := c.versions[k]; ok {
			c.evictLocked(old)
		}
		w := c.wraps[k]
		if w == nil {
			w = new(atomic.Uint64)
			c.wraps[k] = w
		}
		e := &entry{k: k, key: key, aes: aes, expires: c.clock().Add(c.ttl), wraps: w}
		e.elem = c.lru.PushFront(e)
		c.versions[k] = e
		for c.lru.Len() > c.size {
			c.evictLocked(c.lru.Back().Value.(*entry))
		}
		return e, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*entry), nil
}

// active returns the active version of id, loading it on a miss.
func (c *cache) active(ctx context.Context, id string, load func(context.Context) (string, error)) (string, error) {
	c.mu.Lock()
	if a, ok := c.actives[id]; ok && c.clock().Before(a.expires) {
		c.mu.Unlock()
		return a.version, nil
	}
	c.mu.Unlock()
	v, err := c.do(ctx, "a\x00"+id, func(ctx context.Context) (any, error) {
		c.mu.Lock()
		if a, ok := c.actives[id]; ok && c.clock().Before(a.expires) {
			c.mu.Unlock()
			return a.version, nil
		}
		c.mu.Unlock()
		ver, err := load(ctx)
		if err != nil {
			return nil, err
		}
		c.mu.Lock()
		defer c.mu.Unlock()
		c.actives[id] = activeEntry{ver, c.clock().Add(c.ttl)}
		if len(c.actives) > c.size {
			for k := range c.actives {
				if k != id {
					delete(c.actives, k)
					break
				}
			}
		}
		return ver, nil
	})
	if err != nil {
		return "", err
	}
	return v.(string), nil
}

// forgetActive drops the cached active version of id.
func (c *cache) forgetActive(id string) {
	c.mu.Lock()
	delete(c.actives, id)
	c.mu.Unlock()
}
