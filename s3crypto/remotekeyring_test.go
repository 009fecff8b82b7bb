package s3crypto

// A keyring written outside package materials, against the Keyring
// contract alone: it asks a key service over HTTP to wrap and unwrap data
// keys, and records a wrapping algorithm AWS does not know. If this file
// needs anything unexported from materials or metadata, the contract is
// not enough.

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// remoteWrap is the toy key service's wrapping algorithm: a custom name
// (see metadata.IsCustomWrap), stored verbatim in the envelope.
const remoteWrap = "s3c-test/remote-v1"

// remoteVersionKey is a description pair of the keyring's own, which it
// declares through materials.DescriptionOwner and checks itself.
const remoteVersionKey = "s3c-test/remote:version"

// keyService is a tiny HTTP key service: it holds secret AES keys by
// name and wraps and unwraps data keys with AES-GCM, binding the content
// algorithm and the description as additional data, as KMS binds an
// encryption context.
type keyService struct {
	*httptest.Server
	keys    map[string]cipher.AEAD
	unwraps atomic.Int64
}

// keyServiceRequest is the body of POST /wrap and POST /unwrap.
type keyServiceRequest struct {
	KeyID       string            `json:"key_id"`
	Plaintext   []byte            `json:"plaintext,omitempty"`  // /wrap
	Ciphertext  []byte            `json:"ciphertext,omitempty"` // /unwrap
	ContentAlg  string            `json:"content_alg"`
	Description map[string]string `json:"description"`
}

type keyServiceAnswer struct {
	Plaintext  []byte `json:"plaintext,omitempty"`
	Ciphertext []byte `json:"ciphertext,omitempty"`
	Error      string `json:"error,omitempty"`
}

func startKeyService(t *testing.T, keyIDs ...string) *keyService {
	t.Helper()
	s := &keyService{keys: map[string]cipher.AEAD{}}
	for _, id := range keyIDs {
		block, _ := aes.NewCipher(randomBytes(32))
		s.keys[id], _ = cipher.NewGCM(block)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /wrap", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, true) })
	mux.HandleFunc("POST /unwrap", func(w http.ResponseWriter, r *http.Request) { s.serve(w, r, false) })
	s.Server = httptest.NewUnstartedServer(mux)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Listener = l
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *keyService) serve(w http.ResponseWriter, r *http.Request, wrap bool) {
	answer := func(status int, a keyServiceAnswer) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(a)
	}
	var req keyServiceRequest
	if err := json.NewDecoder(io.LimitReader(r.Body, 64<<10)).Decode(&req); err != nil {
		answer(http.StatusBadRequest, keyServiceAnswer{Error: "bad request"})
		return
	}
	gcm, ok := s.keys[req.KeyID]
	if !ok {
		answer(http.StatusNotFound, keyServiceAnswer{Error: "no such key"})
		return
	}
	aad, _ := json.Marshal(struct {
		ContentAlg  string            `json:"content_alg"`
		Description map[string]string `json:"description"` // marshalled with sorted keys
	}{req.ContentAlg, req.Description})
	if wrap {
		nonce := make([]byte, gcm.NonceSize(), gcm.NonceSize()+len(req.Plaintext)+gcm.Overhead())
		rand.Read(nonce)
		answer(http.StatusOK, keyServiceAnswer{Ciphertext: gcm.Seal(nonce, nonce, req.Plaintext, aad)})
		return
	}
	s.unwraps.Add(1)
	n := gcm.NonceSize()
	if len(req.Ciphertext) < n+gcm.Overhead() {
		answer(http.StatusUnprocessableEntity, keyServiceAnswer{Error: "ciphertext too short"})
		return
	}
	pt, err := gcm.Open(nil, req.Ciphertext[:n], req.Ciphertext[n:], aad)
	if err != nil {
		answer(http.StatusUnprocessableEntity, keyServiceAnswer{Error: "ciphertext or its binding was altered, or is under another key"})
		return
	}
	answer(http.StatusOK, keyServiceAnswer{Plaintext: pt})
}

// remoteKeyring is a keyring for the key service. It names its key under
// materials.DescriptionKeyID and, if it has a version, records it under
// remoteVersionKey. It holds no state but its configuration, so it is
// safe for concurrent use.
type remoteKeyring struct {
	url     string
	keyID   string
	version string // "" to record none
	client  *http.Client
}

func newRemoteKeyring(url, keyID string) *remoteKeyring {
	return &remoteKeyring{url: url, keyID: keyID, client: &http.Client{Timeout: 5 * time.Second}}
}

func (k *remoteKeyring) ref() string { return "remote:" + k.keyID }

// errKeyServiceRefused is a refusal of the key service that says nothing
// about the object: fatal, as an unreachable service is.
var errKeyServiceRefused = errors.New("key service refused the request")

// call posts req to the key service. A real keyring would also retry a
// failed call a bounded number of times.
func (k *remoteKeyring) call(ctx context.Context, op string, req *keyServiceRequest) (*keyServiceAnswer, int, error) {
	body, _ := json.Marshal(req)
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, k.url+"/"+op, bytes.NewReader(body))
	if err != nil {
		return nil, 0, err
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := k.client.Do(hr)
	if err != nil {
		return nil, 0, fmt.Errorf("key service %s: %w", op, err)
	}
	defer resp.Body.Close()
	var a keyServiceAnswer
	if err := json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&a); err != nil {
		return nil, resp.StatusCode, fmt.Errorf("key service %s: HTTP %d, unreadable answer: %w", op, resp.StatusCode, err)
	}
	return &a, resp.StatusCode, nil
}

func (k *remoteKeyring) GenerateDataKey(ctx context.Context, req *materials.EncryptionRequest) (*materials.DataKey, error) {
	fail := func(err error) (*materials.DataKey, error) {
		return nil, &materials.KeyError{KeyRef: k.ref(), Err: err}
	}
	desc := maps.Clone(req.Context)
	if desc == nil {
		desc = map[string]string{}
	}
	for _, own := range []string{materials.DescriptionKeyID, remoteVersionKey} {
		if _, ok := desc[own]; ok {
			return fail(fmt.Errorf("encryption context key %q is reserved by the keyring", own))
		}
	}
	desc[materials.DescriptionKeyID] = k.ref()
	if k.version != "" {
		desc[remoteVersionKey] = k.version
	}
	pdk := make([]byte, materials.DataKeySize)
	rand.Read(pdk)
	a, status, err := k.call(ctx, "wrap", &keyServiceRequest{KeyID: k.keyID, Plaintext: pdk, ContentAlg: req.ContentAlg, Description: desc})
	if err == nil && (status != http.StatusOK || len(a.Ciphertext) == 0) {
		err = fmt.Errorf("%w: wrap: HTTP %d", errKeyServiceRefused, status)
	}
	if err != nil {
		clear(pdk)
		return fail(err)
	}
	return &materials.DataKey{Plaintext: pdk, Encrypted: a.Ciphertext, WrapAlg: remoteWrap, Description: desc, KeyRef: k.ref()}, nil
}

func (k *remoteKeyring) DecryptDataKey(ctx context.Context, req *materials.DecryptionRequest) (*materials.DataKey, error) {
	if req.WrapAlg != remoteWrap {
		return nil, fmt.Errorf("%w: %s", materials.ErrUnsupportedWrap, req.WrapAlg)
	}
	fail := func(err error) (*materials.DataKey, error) {
		return nil, &materials.KeyError{KeyRef: k.ref(), Err: err}
	}
	if id, ok := req.Description[materials.DescriptionKeyID]; ok && id != k.ref() {
		return fail(fmt.Errorf("%w: the object names %s", materials.ErrOtherKey, id))
	}
	if v := req.Description[remoteVersionKey]; v != k.version {
		return fail(fmt.Errorf("%w: the object is for version %q of the key", materials.ErrOtherKey, v))
	}
	a, status, err := k.call(ctx, "unwrap", &keyServiceRequest{KeyID: k.keyID, Ciphertext: req.EncryptedKey, ContentAlg: req.ContentAlg, Description: req.Description})
	switch {
	case err != nil:
		return fail(err) // fatal: Multi stops here
	case status == http.StatusUnprocessableEntity:
		return fail(fmt.Errorf("%w: key service: %s", materials.ErrIncorrectKey, a.Error))
	case status != http.StatusOK:
		return fail(fmt.Errorf("%w: unwrap: HTTP %d: %s", errKeyServiceRefused, status, a.Error))
	case len(a.Plaintext) != materials.DataKeySize:
		clear(a.Plaintext)
		return fail(fmt.Errorf("%w: unwrap: a %d-byte key", errKeyServiceRefused, len(a.Plaintext)))
	}
	return &materials.DataKey{Plaintext: a.Plaintext, Encrypted: req.EncryptedKey, WrapAlg: req.WrapAlg, Description: req.Description, KeyRef: k.ref()}, nil
}

// OwnedDescriptionKeys declares the version pair (materials.DescriptionOwner).
func (k *remoteKeyring) OwnedDescriptionKeys(wrapAlg string) []string {
	if wrapAlg == remoteWrap {
		return []string{remoteVersionKey}
	}
	return nil
}

// Claims tells Multi that an object names this key (materials.Claimer).
func (k *remoteKeyring) Claims(req *materials.DecryptionRequest) bool {
	return req.WrapAlg == remoteWrap && req.Description[materials.DescriptionKeyID] == k.ref()
}

var (
	_ materials.Keyring          = (*remoteKeyring)(nil)
	_ materials.DescriptionOwner = (*remoteKeyring)(nil)
	_ materials.Claimer          = (*remoteKeyring)(nil)
)

// The remote keyring round-trips in every format and envelope storage;
// the envelope records its own wrapping algorithm, verbatim.
func TestRemoteKeyringRoundTrip(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := startKeyService(t, "k1")
	remote := newRemoteKeyring(svc.URL, "k1")
	for _, tc := range []struct {
		format      metadata.Format
		instruction bool
	}{{metadata.V3, false}, {metadata.V3, true}, {metadata.V2, false}, {metadata.V2, true}} {
		name := fmt.Sprintf("%s-instruction-%v", tc.format, tc.instruction)
		c := e.client(remote, func(o *Options) {
			o.InstructionFile = tc.instruction
			if tc.format == metadata.V2 {
				o.CommitmentPolicy = ForbidEncryptAllowDecrypt
			}
		})
		data := randomBytes(1000)
		ec := map[string]string{"tenant": "acme"}
		e.put(c, name, data, WithEncryptionContext(ec))
		// What is stored names the custom wrap, verbatim.
		envKey := name
		if tc.instruction {
			envKey += metadata.DefaultInstructionSuffix
		}
		stored, meta, err := e.rawGet(envKey)
		if err != nil {
			t.Fatal(err)
		}
		wrapKey := metadata.KeyV3WrapAlg
		if tc.format == metadata.V2 {
			wrapKey = metadata.KeyWrapAlg
		}
		var got string
		if tc.instruction {
			var file map[string]string
			if err := json.Unmarshal(stored, &file); err != nil {
				t.Fatal(err)
			}
			got = file[wrapKey]
		} else {
			got = meta[wrapKey]
		}
		if got != remoteWrap {
			t.Fatalf("%s: %s=%q, want %q", name, wrapKey, got, remoteWrap)
		}
		plain, out, err := e.get(c, name, WithEncryptionContext(ec))
		if err != nil || !bytes.Equal(plain, data) {
			t.Fatalf("%s: read back: %v", name, err)
		}
		if info, ok := GetObjectInfo(out.ResultMetadata); !ok || info.KeyRef != "remote:k1" || info.Envelope.WrapAlg != remoteWrap {
			t.Fatalf("%s: object info %+v", name, info)
		}
		// The client compared the context, not the keyring.
		before := svc.unwraps.Load()
		plain, _, err = e.get(c, name)
		var cm *materials.ContextMismatchError
		mustFail(t, name+" without its context", plain, err, func(err error) bool { return errors.As(err, &cm) })
		if svc.unwraps.Load() != before {
			t.Fatalf("%s: key service called for a read with the wrong context", name)
		}
	}
	// Keyrings are used concurrently.
	c := e.client(remote)
	e.put(c, "concurrent", []byte("many readers"))
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			if got, _, err := e.get(c, "concurrent"); err != nil || string(got) != "many readers" {
				errs <- fmt.Errorf("%q, %v", got, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// A pair the keyring owns (materials.DescriptionOwner) is not asked of
// the caller; the keyring checks its value itself, and one for another
// version of the key is ErrOtherKey, not tampering.
func TestRemoteKeyringOwnedPair(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := startKeyService(t, "k1")
	v2 := newRemoteKeyring(svc.URL, "k1")
	v2.version = "2"
	e.put(e.client(v2), "v2", []byte("version 2"), WithEncryptionContext(map[string]string{"tenant": "acme"}))
	if got, _, err := e.get(e.client(v2), "v2", WithEncryptionContext(map[string]string{"tenant": "acme"})); err != nil || string(got) != "version 2" {
		t.Fatalf("owned pair: %v", err)
	}
	v3 := newRemoteKeyring(svc.URL, "k1")
	v3.version = "3"
	got, _, err := e.get(e.client(v3), "v2", WithEncryptionContext(map[string]string{"tenant": "acme"}))
	mustFail(t, "another version", got, err, func(err error) bool {
		return errors.Is(err, materials.ErrOtherKey) && !IsIntegrityError(err)
	})
}

// Multi(remote, aes) writes with the remote keyring and reads what either
// wrote; a reader without a keyring for the custom wrap is told so, and
// that is no integrity error.
func TestRemoteKeyringInMulti(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := startKeyService(t, "k1")
	remote := newRemoteKeyring(svc.URL, "k1")
	multi := e.client(materials.Multi(remote, e.keyrings["aes"]))
	e.put(multi, "by-multi", []byte("remote"))
	e.put(e.client(e.keyrings["aes"]), "by-aes", []byte("aes"))
	if _, meta, _ := e.rawGet("by-multi"); meta[metadata.KeyV3WrapAlg] != remoteWrap {
		t.Fatalf("Multi(remote, aes) wrote x-amz-w=%q", meta[metadata.KeyV3WrapAlg])
	}
	for key, want := range map[string]string{"by-multi": "remote", "by-aes": "aes"} {
		if got, _, err := e.get(multi, key); err != nil || string(got) != want {
			t.Fatalf("Multi reads %s: %q, %v", key, got, err)
		}
	}
	// The AES key alone: no keyring for the custom wrap.
	got, _, err := e.get(e.client(e.keyrings["aes"]), "by-multi")
	var nk *materials.NoKeyError
	mustFail(t, "AES-only reader", got, err, func(err error) bool {
		return errors.As(err, &nk) && errors.Is(err, materials.ErrUnsupportedWrap) && !IsIntegrityError(err)
	})
	want := `the object needs a keyring for wrapping algorithm "s3c-test/remote-v1" ("remote:k1") to decrypt its data key, and none is configured`
	if nk.WrapAlg != remoteWrap || !strings.Contains(err.Error(), want) {
		t.Fatalf("AES-only reader: %v\nwant it to say: %s", err, want)
	}
	// Another key of the same service: the object names its key, so it
	// is not for this keyring, and the service is not even asked.
	before := svc.unwraps.Load()
	got, _, err = e.get(e.client(newRemoteKeyring(svc.URL, "k2")), "by-multi")
	mustFail(t, "another remote key", got, err, func(err error) bool {
		return errors.Is(err, materials.ErrOtherKey) && !IsIntegrityError(err)
	})
	if svc.unwraps.Load() != before {
		t.Fatal("key service asked to unwrap for a keyring whose key the object does not name")
	}
}

// A key service that cannot be reached is fatal: Multi does not pass it
// over to the next keyring, and it is neither a missing key nor tampering.
func TestRemoteKeyringServiceDown(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := startKeyService(t, "k1")
	remote := newRemoteKeyring(svc.URL, "k1")
	e.put(e.client(remote), "remote", []byte("x"))
	svc.Close()
	for name, kr := range map[string]materials.Keyring{
		"remote":            remote,
		"Multi(remote,aes)": materials.Multi(remote, e.keyrings["aes"]),
		"Multi(aes,remote)": materials.Multi(e.keyrings["aes"], remote),
	} {
		got, _, err := e.get(e.client(kr), "remote")
		var nk *materials.NoKeyError
		var oe *ObjectError
		mustFail(t, name, got, err, func(err error) bool {
			return !errors.As(err, &nk) && !errors.Is(err, materials.ErrIncorrectKey) && !IsIntegrityError(err) &&
				errors.As(err, &oe) && oe.KeyRef == "remote:k1" && strings.Contains(err.Error(), "key service unwrap")
		})
	}
	_, err := e.client(remote).PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("new"), Body: strings.NewReader("x")})
	if err == nil || errors.Is(err, materials.ErrIncorrectKey) || e.exists("new") {
		t.Fatalf("PutObject with the service down: %v", err)
	}
}

// A wrapped key altered in the envelope fails in the key service, for
// the keyring the object names: ErrIncorrectKey, an integrity error. So
// does the description, which the service binds, and a key unwrapped for
// another content algorithm than it was made for.
func TestRemoteKeyringTampered(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	svc := startKeyService(t, "k1")
	remote := newRemoteKeyring(svc.URL, "k1")
	c := e.client(materials.Multi(remote, e.keyrings["aes"]))
	ec := map[string]string{"tenant": "acme"}
	e.put(c, "remote", []byte("x"), WithEncryptionContext(ec))
	body, meta, err := e.rawGet("remote")
	if err != nil {
		t.Fatal(err)
	}
	env, err := metadata.Decode(meta)
	if err != nil {
		t.Fatal(err)
	}
	edk := bytes.Clone(env.EncryptedKey)
	edk[len(edk)-1] ^= 1
	env.EncryptedKey = edk
	tampered, err := env.Metadata()
	if err != nil {
		t.Fatal(err)
	}
	e.rawPut("tampered-key", body, tampered)
	got, _, err := e.get(c, "tampered-key", WithEncryptionContext(ec))
	mustFail(t, "tampered wrapped key", got, err, func(err error) bool {
		return errors.Is(err, materials.ErrIncorrectKey) && !errors.Is(err, materials.ErrOtherKey) && IsIntegrityError(err) &&
			strings.Contains(err.Error(), "remote:k1")
	})

	// The description, with the caller presenting the altered one.
	env, _ = metadata.Decode(meta)
	env.Description["tenant"] = "evil"
	tampered, _ = env.Metadata()
	e.rawPut("tampered-desc", body, tampered)
	got, _, err = e.get(c, "tampered-desc", WithEncryptionContext(map[string]string{"tenant": "evil"}))
	mustFail(t, "tampered description", got, err, IsIntegrityError)

	// The keyring itself, asked for the V2 content algorithm.
	env, _ = metadata.Decode(meta)
	_, err = remote.DecryptDataKey(bg, &materials.DecryptionRequest{WrapAlg: env.WrapAlg, ContentAlg: metadata.ContentAESGCM,
		EncryptedKey: env.EncryptedKey, Description: env.Description})
	if !errors.Is(err, materials.ErrIncorrectKey) {
		t.Fatalf("another content algorithm: %v", err)
	}
}

// namingKeyring returns whatever wrapping-algorithm name it is given.
type namingKeyring struct {
	materials.Keyring
	wrap string
}

func (k namingKeyring) GenerateDataKey(ctx context.Context, req *materials.EncryptionRequest) (*materials.DataKey, error) {
	dk, err := k.Keyring.GenerateDataKey(ctx, req)
	if err == nil {
		dk.WrapAlg = k.wrap
	}
	return dk, err
}

// A keyring that names its wrap wrongly writes nothing, and the error is
// the keyring's fault, not a malformed object.
func TestKeyringWrapNameChecked(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for _, wrap := range []string{"", "vault transit", strings.Repeat("v", 65), "12", "aes/gcm", metadata.WrapAESWrap} {
		c := e.client(namingKeyring{e.keyrings["aes"], wrap})
		_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("obj"), Body: strings.NewReader("x")})
		if err == nil || IsIntegrityError(err) || !strings.Contains(err.Error(), fmt.Sprintf("%q", wrap)) || e.exists("obj") {
			t.Fatalf("wrap %q: %v", wrap, err)
		}
	}
}
