//go:build cgo

package pkcs11

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/subtle"
	"errors"
	"fmt"
	"maps"
	"math/big"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// Keyring wraps and unwraps data keys with a key held in a PKCS#11 token.
// It is safe for concurrent use; Close it when done.
type Keyring struct {
	u    *uri // to log in again (the PIN is read from its source each time)
	ref  string
	desc map[string]string
	// alias is another s3c:key-id value naming the key: for an RSA key
	// named by its fingerprint, its pkcs11: reference, which objects
	// written before that naming record. Empty if none.
	alias string
	mod   *module
	tok   cryptoki // mod.ctx; a stand-in in tests
	slot  uint

	aes  bool
	key  atomic.Uint64  // handle of the AES key, or of the RSA private key
	pub  *rsa.PublicKey // RSA only
	pool chan p11.SessionHandle

	timeout time.Duration // per token call; <= 0: none
	hung    atomic.Int32  // sessions held by calls given up on

	mu       sync.Mutex
	running  int           // goroutines in token calls, given up on or not
	closed   bool          // Close was called
	released bool          // the module was released
	done     chan struct{} // closed once the module is released

	closeOnce sync.Once
}

const defaultSessions = 8

// Open loads the module named by uri's module-path, finds its token and
// key, logs in and opens a pool of sessions. Its errors are one line each
// and name the key reference, never the PIN.
//
// Loading the module, finding the token and logging in are bounded by
// the keyring's timeout (see Options.Timeout), as every later call is.
func Open(uri string, optFns ...func(*Options)) (*Keyring, error) {
	var o Options
	for _, fn := range optFns {
		fn(&o)
	}
	if o.Sessions <= 0 {
		o.Sessions = defaultSessions
	}
	u, err := parseURI(uri)
	if err != nil {
		return nil, err
	}
	ref := u.ref()
	pin, err := u.pin()
	if err != nil {
		return nil, &keyring.KeyError{KeyRef: ref, Err: err}
	}
	timeout := callTimeout(o, u)
	// The opening goroutine is not counted by a keyring: a module whose
	// C_Initialize hangs holds modulesMu, and a keyring given up on is
	// closed by it once it returns.
	k, err, _ := bounded(context.Background(), timeout, "opening the token and logging in", func() {}, func() {},
		func() (*Keyring, error) { return openKeyring(u, pin, o, timeout) },
		func(k *Keyring, err error) {
			if k != nil {
				k.Close()
			}
		})
	if err != nil {
		return nil, &keyring.KeyError{KeyRef: ref, Err: err}
	}
	return k, nil
}

// callTimeout is Options.Timeout, else the URI's, else DefaultTimeout.
func callTimeout(o Options, u *uri) time.Duration {
	switch {
	case o.Timeout != 0:
		return o.Timeout
	case u.timeout != 0:
		return u.timeout
	}
	return DefaultTimeout
}

func openKeyring(u *uri, pin string, o Options, timeout time.Duration) (*Keyring, error) {
	mod, err := loadModule(u.modulePath)
	if err != nil {
		return nil, err
	}
	k := &Keyring{u: u, ref: u.ref(), mod: mod, tok: mod.ctx, pool: make(chan p11.SessionHandle, o.Sessions), timeout: timeout, done: make(chan struct{})}
	if err := k.open(u, pin, o.Sessions); err != nil {
		k.Close()
		return nil, err
	}
	k.desc = maps.Clone(o.Description)
	if len(k.desc) == 0 {
		id := k.ref
		if !k.aes {
			// Named by its public key, whichever keyring writes with it;
			// see the package documentation.
			if id, err = keyring.RSAKeyID(k.pub); err != nil {
				k.Close()
				return nil, err
			}
			k.alias = k.ref
		}
		k.desc = map[string]string{keyring.DescriptionKeyID: id}
	}
	return k, nil
}

func (k *Keyring) open(u *uri, pin string, n int) error {
	slot, err := findToken(k.mod, u)
	if err != nil {
		return err
	}
	k.slot = slot
	for i := 0; i < n; i++ {
		sh, err := k.tok.OpenSession(slot, p11.CKF_SERIAL_SESSION)
		if err != nil {
			return tokenError("opening a session", err)
		}
		if i == 0 {
			if err := login(k.tok, sh, pin); err != nil {
				k.tok.CloseSession(sh)
				return err
			}
		}
		k.pool <- sh
	}
	sh := <-k.pool
	defer func() { k.pool <- sh }()
	return k.findKey(sh, u)
}

// login logs the user in; a token shares the login among all the
// application's sessions, so one already logged in is fine.
func login(tok cryptoki, sh p11.SessionHandle, pin string) error {
	err := tok.Login(sh, p11.CKU_USER, pin)
	switch code(err) {
	case p11.CKR_OK, p11.CKR_USER_ALREADY_LOGGED_IN:
		return nil
	case p11.CKR_PIN_INCORRECT:
		return errors.New("the token refused the PIN (CKR_PIN_INCORRECT): check pin-source or pin-value")
	case p11.CKR_PIN_LOCKED:
		return errors.New("the token's PIN is locked (CKR_PIN_LOCKED): its security officer must unlock it")
	case p11.CKR_PIN_LEN_RANGE, p11.CKR_ARGUMENTS_BAD:
		return errors.New("the token refused the PIN: it has the wrong length or is missing (give pin-source or pin-value)")
	}
	return tokenError("logging in", err)
}

// findKey finds the AES secret key, or the RSA private key and its public
// half, that u names.
func (k *Keyring) findKey(sh p11.SessionHandle, u *uri) error {
	secret, err := findObjects(k.tok, sh, u, p11.CKO_SECRET_KEY)
	if err != nil {
		return err
	}
	priv, err := findObjects(k.tok, sh, u, p11.CKO_PRIVATE_KEY)
	if err != nil {
		return err
	}
	switch {
	case len(secret)+len(priv) == 0:
		return errors.New("the token holds no such key (no secret or private key with this label/id)")
	case len(secret)+len(priv) > 1:
		return errors.New("the label/id names several keys in the token; give an id= that names one")
	case len(secret) == 1:
		attrs, err := k.tok.GetAttributeValue(sh, secret[0], []*p11.Attribute{p11.NewAttribute(p11.CKA_KEY_TYPE, nil)})
		if err != nil {
			return tokenError("reading the key's type", err)
		}
		if !isType(attrs[0].Value, p11.CKK_AES) {
			return errors.New("the secret key is not an AES key")
		}
		k.aes = true
		k.key.Store(uint64(secret[0]))
		return nil
	}
	k.key.Store(uint64(priv[0]))
	// The modulus and exponent are public: read them from the public key
	// object, or from the private key object, which carries them too.
	src := priv[0]
	if pubs, err := findObjects(k.tok, sh, u, p11.CKO_PUBLIC_KEY); err == nil && len(pubs) == 1 {
		src = pubs[0]
	}
	attrs, err := k.tok.GetAttributeValue(sh, src, []*p11.Attribute{
		p11.NewAttribute(p11.CKA_KEY_TYPE, nil), p11.NewAttribute(p11.CKA_MODULUS, nil), p11.NewAttribute(p11.CKA_PUBLIC_EXPONENT, nil)})
	if err != nil {
		return tokenError("reading the RSA public key", err)
	}
	if !isType(attrs[0].Value, p11.CKK_RSA) {
		return errors.New("the private key is not an RSA key")
	}
	e := new(big.Int).SetBytes(attrs[2].Value)
	if !e.IsInt64() || e.Int64() < 3 || e.Int64() > 1<<31-1 {
		return errors.New("the RSA key's public exponent is out of range")
	}
	k.pub = &rsa.PublicKey{N: new(big.Int).SetBytes(attrs[1].Value), E: int(e.Int64())}
	if k.pub.N.BitLen() < keyring.MinRSABits {
		return fmt.Errorf("the RSA key has %d bits, at least %d are needed", k.pub.N.BitLen(), keyring.MinRSABits)
	}
	return nil
}

// isType compares a CK_ULONG attribute value with t.
func isType(v []byte, t uint) bool {
	want := p11.NewAttribute(p11.CKA_KEY_TYPE, t).Value
	return subtle.ConstantTimeCompare(v, want) == 1
}

func findObjects(ctx cryptoki, sh p11.SessionHandle, u *uri, class uint) ([]p11.ObjectHandle, error) {
	tmpl := []*p11.Attribute{p11.NewAttribute(p11.CKA_CLASS, class)}
	if u.object != "" {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_LABEL, u.object))
	}
	if u.hasID {
		tmpl = append(tmpl, p11.NewAttribute(p11.CKA_ID, u.id))
	}
	if err := ctx.FindObjectsInit(sh, tmpl); err != nil {
		return nil, tokenError("searching for the key", err)
	}
	objs, _, err := ctx.FindObjects(sh, 2)
	if ferr := ctx.FindObjectsFinal(sh); err == nil && ferr != nil {
		err = ferr
	}
	if err != nil {
		return nil, tokenError("searching for the key", err)
	}
	return objs, nil
}

// findToken returns the slot holding the token u names.
func findToken(mod *module, u *uri) (uint, error) {
	slots, err := mod.ctx.GetSlotList(true)
	if err != nil {
		return 0, tokenError("listing slots", err)
	}
	var (
		found  []uint
		labels []string
	)
	for _, s := range slots {
		ti, err := mod.ctx.GetTokenInfo(s)
		if err != nil || ti.Flags&p11.CKF_TOKEN_INITIALIZED == 0 {
			continue
		}
		labels = append(labels, fmt.Sprintf("%q", strings.TrimRight(ti.Label, " \x00")))
		if u.token != "" && strings.TrimRight(ti.Label, " \x00") != u.token {
			continue
		}
		if u.serial != "" && strings.TrimRight(ti.SerialNumber, " \x00") != u.serial {
			continue
		}
		found = append(found, s)
	}
	switch len(found) {
	case 0:
		have := "none"
		if len(labels) > 0 {
			slices.Sort(labels)
			have = strings.Join(labels, ", ")
		}
		return 0, fmt.Errorf("no token with this label in %s (tokens present: %s): is the HSM connected and the token initialised?", mod.path, have)
	case 1:
		return found[0], nil
	}
	return 0, errors.New("several tokens have this label: add serial= to the URI")
}

// code returns err's CKR_ code, CKR_OK for nil, or an impossible value.
func code(err error) uint {
	if err == nil {
		return p11.CKR_OK
	}
	var e p11.Error
	if errors.As(err, &e) {
		return uint(e)
	}
	return ^uint(0)
}

// tokenError is a fatal failure of the token: an outage, not a wrong key.
func tokenError(doing string, err error) error {
	return fmt.Errorf("PKCS#11 token error %s: %w", doing, err)
}

// module is a loaded, initialised PKCS#11 library, shared by every
// keyring using it: C_Initialize and C_Finalize are process-wide.
type module struct {
	path string
	ctx  *p11.Ctx
	refs int
}

var (
	modulesMu sync.Mutex
	modules   = map[string]*module{}
)

func loadModule(path string) (*module, error) {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	if m := modules[path]; m != nil {
		m.refs++
		return m, nil
	}
	if _, err := os.Stat(path); err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, fmt.Errorf("PKCS#11 module %s: %v (install the HSM vendor's PKCS#11 library, or fix module-path)", path, err)
	}
	ctx := p11.New(path)
	if ctx == nil {
		return nil, fmt.Errorf("PKCS#11 module %s: cannot load it (not a PKCS#11 library for this platform?)", path)
	}
	if err := ctx.Initialize(); err != nil && code(err) != p11.CKR_CRYPTOKI_ALREADY_INITIALIZED {
		ctx.Destroy()
		return nil, fmt.Errorf("PKCS#11 module %s: C_Initialize: %v", path, err)
	}
	m := &module{path: path, ctx: ctx, refs: 1}
	modules[path] = m
	return m, nil
}

func (m *module) release() {
	modulesMu.Lock()
	defer modulesMu.Unlock()
	m.refs--
	if m.refs == 0 {
		delete(modules, m.path)
		m.ctx.Finalize()
		m.ctx.Destroy()
	}
}

// Close closes the keyring's sessions and, with the last keyring using
// it, unloads the module. The keyring must not be in use. Closing the
// sessions is bounded by the keyring's timeout; the module is unloaded
// only once no call into it, even one given up on, is running.
func (k *Keyring) Close() error {
	var err error
	k.closeOnce.Do(func() {
		_, err, _ = bounded(context.Background(), k.timeout, "closing the sessions", k.enter, k.leave,
			func() (struct{}, error) {
				for {
					select {
					case sh := <-k.pool:
						if sh != 0 {
							k.tok.CloseSession(sh)
						}
						continue
					default:
					}
					return struct{}{}, nil
				}
			}, func(struct{}, error) {})
		k.mu.Lock()
		k.closed = true
		release := k.running == 0 && !k.released
		k.released = k.released || release
		k.mu.Unlock()
		if release {
			k.mod.release()
			close(k.done)
		}
		if err != nil {
			err = &keyring.KeyError{KeyRef: k.ref, Err: err}
		}
	})
	return err
}

// enter and leave count the goroutines running token calls; the last to
// leave a closed keyring releases the module.
func (k *Keyring) enter() {
	k.mu.Lock()
	k.running++
	k.mu.Unlock()
}

func (k *Keyring) leave() {
	k.mu.Lock()
	k.running--
	release := k.running == 0 && k.closed && !k.released
	k.released = k.released || release
	k.mu.Unlock()
	if release {
		k.mod.release()
		close(k.done)
	}
}

// bounded runs fn in the token under the keyring's timeout and ctx; see
// the function bounded.
func (k *Keyring) bounded(ctx context.Context, doing string, fn func() error, late func(error)) (err error, gaveUp bool) {
	_, err, gaveUp = bounded(ctx, k.timeout, doing, k.enter, k.leave,
		func() (struct{}, error) { return struct{}{}, fn() },
		func(_ struct{}, err error) { late(err) })
	return err, gaveUp
}

// KeyRef returns the key's reference: "pkcs11:token=…;object=…".
func (k *Keyring) KeyRef() string { return k.ref }

// Description returns the material description the keyring records.
func (k *Keyring) Description() map[string]string { return maps.Clone(k.desc) }

func (k *Keyring) wrapAlg() string {
	if k.aes {
		return metadata.WrapAESGCM
	}
	return metadata.WrapRSAOAEP
}

// session takes a session from the pool, waiting for one if all are busy
// (at most the keyring's timeout: sessions stuck in calls the token does
// not return from hold their slots until it does). A slot of the pool
// that holds 0 (CK_INVALID_HANDLE) has lost its session: the next taker
// opens and logs in a new one.
func (k *Keyring) session(ctx context.Context) (p11.SessionHandle, error) {
	var (
		sh      p11.SessionHandle
		expired <-chan time.Time
	)
	if n := cap(k.pool); int(k.hung.Load()) >= n {
		// No point waiting: the token has not returned any of them.
		return 0, &timeoutError{doing: fmt.Sprintf("all %d sessions are held by calls it has not returned from", n), after: k.timeout}
	}
	if k.timeout > 0 {
		t := time.NewTimer(k.timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case sh = <-k.pool:
	case <-ctx.Done():
		return 0, context.Cause(ctx)
	case <-expired:
		return 0, &timeoutError{doing: fmt.Sprintf("waiting for a free session: all %d are in use", cap(k.pool)), after: k.timeout}
	}
	if sh != 0 {
		return sh, nil
	}
	err, gaveUp := k.bounded(ctx, "opening a session and logging in", func() error {
		var err error
		sh, err = k.newSession()
		return err
	}, func(err error) {
		k.hung.Add(-1) // first: a caller may now wait for the slot
		if err == nil {
			k.tok.CloseSession(sh)
		}
		k.pool <- 0
	})
	if gaveUp {
		k.hung.Add(1)
		return 0, err
	}
	if err != nil {
		k.pool <- 0
		return 0, err
	}
	return sh, nil
}

// newSession opens a session, logs in and finds the key again.
func (k *Keyring) newSession() (p11.SessionHandle, error) {
	sh, err := k.tok.OpenSession(k.slot, p11.CKF_SERIAL_SESSION)
	if err != nil {
		return 0, tokenError("opening a session", err)
	}
	pin, err := k.u.pin()
	if err == nil {
		err = login(k.tok, sh, pin)
	}
	if err == nil {
		err = k.refind(sh)
	}
	if err != nil {
		k.tok.CloseSession(sh)
		return 0, err
	}
	return sh, nil
}

// handle returns the key's object handle.
func (k *Keyring) handle() p11.ObjectHandle { return p11.ObjectHandle(k.key.Load()) }

// refind looks the key up again after a new login: a token may number
// its private objects anew.
func (k *Keyring) refind(sh p11.SessionHandle) error {
	class := uint(p11.CKO_PRIVATE_KEY)
	if k.aes {
		class = p11.CKO_SECRET_KEY
	}
	objs, err := findObjects(k.tok, sh, k.u, class)
	if err != nil {
		return err
	}
	if len(objs) != 1 {
		return errors.New("the key is gone from the token, or its label/id now names several keys")
	}
	k.key.Store(uint64(objs[0]))
	return nil
}

// sessionLost reports whether err means the session is gone: the token
// was reset or reconnected, or logged the application out.
func sessionLost(err error) bool {
	switch code(err) {
	case p11.CKR_SESSION_HANDLE_INVALID, p11.CKR_SESSION_CLOSED, p11.CKR_USER_NOT_LOGGED_IN,
		p11.CKR_DEVICE_REMOVED, p11.CKR_TOKEN_NOT_PRESENT, p11.CKR_OBJECT_HANDLE_INVALID, p11.CKR_KEY_HANDLE_INVALID:
		return true
	}
	return false
}

// do runs op on a pooled session. A session found lost is replaced, and
// op (a wrap or unwrap, which may be repeated) tried again: when a token
// reset lost them all, every pooled session fails once before a new one
// is opened, so the retries are bounded by the pool's size.
//
// op runs under the keyring's timeout and ctx (see bounded): if it does
// not return in time, do fails and the session is not returned to the
// pool; it is closed, and its slot freed, when the token returns.
func (k *Keyring) do(ctx context.Context, doing string, op func(p11.SessionHandle) error) error {
	if ctx.Err() != nil {
		// Before taking a session that a give-up would then throw away.
		return context.Cause(ctx)
	}
	for attempt := 0; ; attempt++ {
		sh, err := k.session(ctx)
		if err != nil {
			return err
		}
		err, gaveUp := k.bounded(ctx, doing, func() error {
			err := op(sh)
			if sessionLost(err) {
				k.tok.CloseSession(sh) // a call into the token too
			}
			return err
		}, func(err error) {
			k.hung.Add(-1) // first: a caller may now wait for the slot
			if !sessionLost(err) {
				k.tok.CloseSession(sh)
			}
			k.pool <- 0
		})
		if gaveUp {
			k.hung.Add(1)
			return err
		}
		if !sessionLost(err) {
			k.pool <- sh
			return err
		}
		k.pool <- 0
		if attempt >= cap(k.pool) {
			return err
		}
	}
}

// GenerateDataKey makes a random data key and wraps it.
func (k *Keyring) GenerateDataKey(ctx context.Context, req *keyring.EncryptionRequest) (*keyring.DataKey, error) {
	pdk := make([]byte, keyring.DataKeySize)
	rand.Read(pdk)
	dk, err := k.WrapDataKey(ctx, req, pdk)
	if err != nil {
		clear(pdk)
		return nil, err
	}
	dk.Plaintext = pdk
	return dk, nil
}

// WrapDataKey wraps an existing data key as GenerateDataKey wraps a new
// one (see keyring.KeyWrapper).
func (k *Keyring) WrapDataKey(ctx context.Context, req *keyring.EncryptionRequest, dataKey []byte) (*keyring.DataKey, error) {
	if req.ContentAlg != metadata.ContentCommittingGCM && req.ContentAlg != metadata.ContentAESGCM {
		return nil, fmt.Errorf("materials: no data key for content algorithm %q", req.ContentAlg)
	}
	if len(dataKey) != keyring.DataKeySize {
		return nil, &keyring.KeyError{KeyRef: k.ref, Err: fmt.Errorf("a data key to wrap must be %d bytes, not %d", keyring.DataKeySize, len(dataKey))}
	}
	desc := maps.Clone(k.desc)
	for key, v := range req.Context {
		if _, ok := k.desc[key]; ok || key == keyring.DescriptionKeyID {
			return nil, &keyring.KeyError{KeyRef: k.ref, Err: fmt.Errorf("material description key %s is reserved by the keyring", key)}
		}
		desc[key] = v
	}
	var (
		edk []byte
		err error
	)
	if k.aes {
		edk, err = k.sealGCM(ctx, dataKey, req.ContentAlg)
	} else {
		edk, err = k.encryptRSA(dataKey, req.ContentAlg)
	}
	if err != nil {
		return nil, &keyring.KeyError{KeyRef: k.ref, Err: err}
	}
	return &keyring.DataKey{Encrypted: edk, WrapAlg: k.wrapAlg(), Description: desc, KeyRef: k.ref}, nil
}

const gcmWrappedSize = 12 + keyring.DataKeySize + 16

// sealGCM wraps pdk in the token: IV ‖ AES-GCM(pdk, AAD=contentAlg) ‖ tag.
func (k *Keyring) sealGCM(ctx context.Context, pdk []byte, contentAlg string) ([]byte, error) {
	var edk []byte
	err := k.do(ctx, "AES-GCM encrypt", func(sh p11.SessionHandle) (err error) {
		edk, err = k.sealGCMOn(sh, pdk, contentAlg)
		return err
	})
	return edk, err
}

func (k *Keyring) sealGCMOn(sh p11.SessionHandle, pdk []byte, contentAlg string) ([]byte, error) {
	iv := make([]byte, 12)
	rand.Read(iv)
	params := p11.NewGCMParams(iv, []byte(contentAlg), 128)
	defer params.Free()
	if err := k.tok.EncryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k.handle()); err != nil {
		return nil, tokenError("starting AES-GCM", err)
	}
	ct, err := k.tok.Encrypt(sh, pdk)
	if err != nil {
		return nil, tokenError("AES-GCM encrypt", err)
	}
	// Some HSMs (CloudHSM) choose the IV themselves and write it back.
	if got := params.IV(); len(got) == 12 {
		iv = got
	}
	if len(ct) != keyring.DataKeySize+16 {
		return nil, fmt.Errorf("the token returned %d bytes of AES-GCM output, want %d", len(ct), keyring.DataKeySize+16)
	}
	return append(iv, ct...), nil
}

// encryptRSA wraps pdk to the public key with RSA-OAEP-SHA1 over a length
// byte, the key and the content algorithm's name, as keyring.NewRSA does.
func (k *Keyring) encryptRSA(pdk []byte, contentAlg string) ([]byte, error) {
	pseudo := make([]byte, 0, 1+keyring.DataKeySize+len(contentAlg))
	pseudo = append(pseudo, keyring.DataKeySize)
	pseudo = append(pseudo, pdk...)
	pseudo = append(pseudo, contentAlg...)
	defer clear(pseudo)
	edk, err := rsa.EncryptOAEP(sha1.New(), rand.Reader, k.pub, pseudo, nil)
	if err != nil {
		return nil, fmt.Errorf("RSA-OAEP: %w", err)
	}
	return edk, nil
}

// DecryptDataKey unwraps an "AES/GCM" (AES key) or "RSA-OAEP-SHA1" (RSA
// key) data key in the token.
func (k *Keyring) DecryptDataKey(ctx context.Context, req *keyring.DecryptionRequest) (*keyring.DataKey, error) {
	if req.WrapAlg != k.wrapAlg() {
		return nil, fmt.Errorf("%w: %s", keyring.ErrUnsupportedWrap, req.WrapAlg)
	}
	for key, v := range k.desc {
		if got, ok := req.Description[key]; ok && !k.names(key, got, v) {
			return nil, &keyring.KeyError{KeyRef: k.ref, Err: fmt.Errorf("%w: its material description names another key (%s)", keyring.ErrOtherKey, key)}
		}
	}
	var (
		pdk []byte
		err error
	)
	if k.aes {
		pdk, err = k.openGCM(ctx, req)
	} else {
		pdk, err = k.decryptRSA(ctx, req)
	}
	if err != nil {
		return nil, &keyring.KeyError{KeyRef: k.ref, Err: err}
	}
	return &keyring.DataKey{Plaintext: pdk, Encrypted: req.EncryptedKey, WrapAlg: req.WrapAlg, Description: req.Description, KeyRef: k.ref}, nil
}

// unwrapFailed reports whether a token's decrypt error means the
// ciphertext did not open under the key (a tag or padding failure), as
// opposed to a failing token. Tokens that report a failed check as
// CKR_GENERAL_ERROR or CKR_FUNCTION_FAILED (SoftHSM does, for a GCM tag)
// are told apart from failing ones by a probe: the same key, on the same
// session, must still round-trip a key of its own making.
func (k *Keyring) unwrapFailed(sh p11.SessionHandle, err error) bool {
	switch code(err) {
	case p11.CKR_ENCRYPTED_DATA_INVALID, p11.CKR_ENCRYPTED_DATA_LEN_RANGE, p11.CKR_DATA_INVALID, p11.CKR_DATA_LEN_RANGE:
		return true
	case p11.CKR_GENERAL_ERROR, p11.CKR_FUNCTION_FAILED:
		return k.probe(sh) == nil
	}
	return false
}

// probe checks that the token still unwraps with the key: a fresh random
// key wrapped (in the token for AES, with the public key for RSA) must
// come back.
func (k *Keyring) probe(sh p11.SessionHandle) error {
	pdk := make([]byte, keyring.DataKeySize)
	rand.Read(pdk)
	const alg = metadata.ContentCommittingGCM
	var (
		edk []byte
		err error
	)
	if k.aes {
		edk, err = k.sealGCMOn(sh, pdk, alg)
	} else {
		edk, err = k.encryptRSA(pdk, alg)
	}
	if err != nil {
		return err
	}
	req := &keyring.DecryptionRequest{WrapAlg: k.wrapAlg(), ContentAlg: alg, EncryptedKey: edk}
	var got []byte
	if k.aes {
		got, err = k.openGCMOn(sh, req, false)
	} else {
		got, err = k.decryptRSAOn(sh, req, false)
	}
	if err == nil && subtle.ConstantTimeCompare(got, pdk) != 1 {
		err = errors.New("the token's probe unwrap returned another key")
	}
	clear(got)
	clear(pdk)
	return err
}

func (k *Keyring) openGCM(ctx context.Context, req *keyring.DecryptionRequest) ([]byte, error) {
	edk := req.EncryptedKey
	if len(edk) != gcmWrappedSize {
		return nil, fmt.Errorf("%w: AES/GCM wrapped key is %d bytes, want %d", keyring.ErrIncorrectKey, len(edk), gcmWrappedSize)
	}
	var pdk []byte
	err := k.do(ctx, "AES-GCM decrypt", func(sh p11.SessionHandle) (err error) {
		pdk, err = k.openGCMOn(sh, req, true)
		return err
	})
	return pdk, err
}

// openGCMOn decrypts on sh; classify says whether to tell a failed
// check from a failing token (not within a probe).
func (k *Keyring) openGCMOn(sh p11.SessionHandle, req *keyring.DecryptionRequest, classify bool) ([]byte, error) {
	edk := req.EncryptedKey
	params := p11.NewGCMParams(append([]byte(nil), edk[:12]...), []byte(req.ContentAlg), 128)
	defer params.Free()
	if err := k.tok.DecryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_AES_GCM, params)}, k.handle()); err != nil {
		return nil, tokenError("starting AES-GCM", err)
	}
	pdk, err := k.tok.Decrypt(sh, edk[12:])
	if err != nil {
		if classify && k.unwrapFailed(sh, err) {
			return nil, keyring.ErrIncorrectKey
		}
		return nil, tokenError("AES-GCM decrypt", err)
	}
	if len(pdk) != keyring.DataKeySize {
		clear(pdk)
		return nil, fmt.Errorf("%w: unwrapped a %d-byte key", keyring.ErrIncorrectKey, len(pdk))
	}
	return pdk, nil
}

func (k *Keyring) decryptRSA(ctx context.Context, req *keyring.DecryptionRequest) ([]byte, error) {
	if len(req.EncryptedKey) != k.pub.Size() {
		return nil, fmt.Errorf("%w: RSA wrapped key is %d bytes, the key's modulus %d", keyring.ErrIncorrectKey, len(req.EncryptedKey), k.pub.Size())
	}
	var pdk []byte
	err := k.do(ctx, "RSA-OAEP decrypt", func(sh p11.SessionHandle) (err error) {
		pdk, err = k.decryptRSAOn(sh, req, true)
		return err
	})
	return pdk, err
}

func (k *Keyring) decryptRSAOn(sh p11.SessionHandle, req *keyring.DecryptionRequest, classify bool) ([]byte, error) {
	params := p11.NewOAEPParams(p11.CKM_SHA_1, p11.CKG_MGF1_SHA1, p11.CKZ_DATA_SPECIFIED, nil)
	if err := k.tok.DecryptInit(sh, []*p11.Mechanism{p11.NewMechanism(p11.CKM_RSA_PKCS_OAEP, params)}, k.handle()); err != nil {
		return nil, tokenError("starting RSA-OAEP", err)
	}
	pseudo, err := k.tok.Decrypt(sh, req.EncryptedKey)
	if err != nil {
		if classify && k.unwrapFailed(sh, err) {
			return nil, fmt.Errorf("%w: %s", keyring.ErrIncorrectKey, req.WrapAlg)
		}
		return nil, tokenError("RSA-OAEP decrypt", err)
	}
	defer clear(pseudo)
	if len(pseudo) < 1+keyring.DataKeySize || pseudo[0] != keyring.DataKeySize {
		return nil, fmt.Errorf("%w: malformed pseudo data key", keyring.ErrIncorrectKey)
	}
	suffix := pseudo[1+keyring.DataKeySize:]
	for _, want := range contentAlgBindings(req.ContentAlg) {
		if subtle.ConstantTimeCompare(suffix, []byte(want)) == 1 {
			return append([]byte(nil), pseudo[1:1+keyring.DataKeySize]...), nil
		}
	}
	return nil, fmt.Errorf("%w: the wrapped key is bound to another content algorithm than %s", keyring.ErrIncorrectKey, req.ContentAlg)
}

// contentAlgBindings are the strings an RSA wrap may bind for a content
// algorithm, as keyring.NewRSA accepts them (see keyring/raw.go): for V3
// objects Java code from before V3 bound the cipher name.
func contentAlgBindings(alg string) []string {
	if alg == metadata.ContentCommittingGCM {
		return []string{metadata.ContentCommittingGCM, metadata.ContentAESGCM}
	}
	return []string{alg}
}

// OwnedDescriptionKeys returns the keys of the keyring's description (and
// s3c:key-id) for its wrapping algorithm; see keyring.DescriptionOwner.
func (k *Keyring) OwnedDescriptionKeys(wrapAlg string) []string {
	if wrapAlg != k.wrapAlg() {
		return nil
	}
	keys := []string{keyring.DescriptionKeyID}
	for key := range k.desc {
		if key != keyring.DescriptionKeyID {
			keys = append(keys, key)
		}
	}
	return keys
}

// Claims reports whether the object is wrapped with the keyring's
// algorithm and its description holds every pair of the keyring's own;
// see keyring.Claimer.
func (k *Keyring) Claims(req *keyring.DecryptionRequest) bool {
	if req.WrapAlg != k.wrapAlg() {
		return false
	}
	for key, v := range k.desc {
		if got, ok := req.Description[key]; !ok || !k.names(key, got, v) {
			return false
		}
	}
	return true
}

// names reports whether a stored description value got, under key, is
// the keyring's own value want, or the key's alias under s3c:key-id.
func (k *Keyring) names(key, got, want string) bool {
	return got == want || key == keyring.DescriptionKeyID && k.alias != "" && got == k.alias
}

// PublicKey returns the public half of an RSA key pair (nil for an AES
// key). Encrypting needs nothing more: keyring.NewRSAPublic with it, on
// a host with no access to the token, writes objects that this keyring
// reads, naming the key as it does (keyring.RSAKeyID).
func (k *Keyring) PublicKey() *rsa.PublicKey {
	if k.pub == nil {
		return nil
	}
	return &rsa.PublicKey{N: new(big.Int).Set(k.pub.N), E: k.pub.E}
}

var (
	_ keyring.Keyring          = (*Keyring)(nil)
	_ keyring.Claimer          = (*Keyring)(nil)
	_ keyring.KeyWrapper       = (*Keyring)(nil)
	_ keyring.DescriptionOwner = (*Keyring)(nil)
)
