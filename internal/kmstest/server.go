// Package kmstest is an in-process fake of AWS KMS for tests.
//
// It runs a small HTTP server on the loopback interface that speaks the real
// KMS wire protocol (AWS JSON 1.1: POST /, X-Amz-Target: TrentService.<Op>,
// application/x-amz-json-1.1 bodies with PascalCase members, base64 blobs,
// errors as {"__type": ..., "message": ...} plus an X-Amzn-Errortype header),
// so that code under test can use the unmodified
// github.com/aws/aws-sdk-go-v2/service/kms client end to end, including the
// SDK's request signing, serialization and typed error deserialization.
//
// Supported operations: CreateKey, DescribeKey, CreateAlias, ListAliases,
// GenerateDataKey, GenerateDataKeyWithoutPlaintext, Encrypt, Decrypt and
// ReEncrypt, all for symmetric (SYMMETRIC_DEFAULT / ENCRYPT_DECRYPT) keys.
// Any other target yields UnsupportedOperationException.
//
// Key identifiers are accepted in every form real KMS accepts: key id, key
// ARN, alias name ("alias/x") and alias ARN. Responses name keys by key ARN,
// as KMS does. The encryption context is cryptographically bound to each
// ciphertext (see blob.go for the ciphertext format), so decrypting with a
// different context fails with InvalidCiphertextException, exactly as with
// real KMS.
//
// Every request must carry a SigV4 Authorization header for service "kms".
// If Options carries an access key and secret, the signature is verified in
// full; otherwise any signer is accepted.
//
// A Server is safe for concurrent use. Key material never appears in errors
// or logs.
package kmstest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kms"
)

// Default values used when the corresponding Options field is empty.
const (
	DefaultRegion  = "us-east-1"
	DefaultAccount = "111122223333"
)

// Credentials used by Server.Client when Options does not configure any.
// They are accepted by a server without configured credentials, which accepts
// any signer.
const (
	defaultAccessKeyID     = "AKIDKMSTEST"
	defaultSecretAccessKey = "kmstest-secret-access-key"
)

// Options configures a Server. The zero value is usable.
type Options struct {
	// Region is the server's region, used in ARNs and, when credentials are
	// configured, required in the SigV4 credential scope. Default "us-east-1".
	Region string
	// Account is the AWS account id used in ARNs. Default "111122223333".
	Account string
	// AccessKeyID and SecretAccessKey, when both set, make the server verify
	// every request's SigV4 signature against them. When both are empty any
	// well-formed SigV4 Authorization header for service "kms" is accepted.
	// Setting only one of them is an error.
	AccessKeyID, SecretAccessKey string
	// Addr is the address to listen on; default "127.0.0.1:0", a free
	// loopback port. Tests never change it; the standalone server
	// (internal/cmd/kmsserver) does, inside a container.
	Addr string
}

// Server is a fake AWS KMS endpoint listening on 127.0.0.1. Create it with
// Start and stop it with Close.
type Server struct {
	region, account string
	accessKeyID     string
	secretAccessKey string

	ln        net.Listener
	srv       *http.Server
	url       string
	transport *http.Transport
	closeOnce sync.Once
	closeErr  error

	mu         sync.Mutex
	keys       map[string]*key       // by key id
	aliases    map[string]*alias     // by full alias name "alias/x"
	registered map[string]*foreignCT // by string(blob)
	calls      map[string]int        // by X-Amz-Target value
	grants     map[string][]string   // by operation name
	denied     map[string]bool       // by operation name: see Deny
}

// key is a symmetric KMS key. material is immutable after creation and may be
// read without holding Server.mu; enabled must only be accessed under it.
type key struct {
	id          string
	material    []byte
	enabled     bool
	created     time.Time
	description string
}

type alias struct {
	name    string
	keyID   string
	created time.Time
}

// foreignCT is a ciphertext blob registered with RegisterCiphertext.
type foreignCT struct {
	keyID     string // any key identifier, resolved at decrypt time
	ec        map[string]string
	plaintext []byte
}

// Start creates a Server listening on an ephemeral port of 127.0.0.1 and
// serves requests in the background until Close is called.
func Start(opts Options) (*Server, error) {
	if (opts.AccessKeyID == "") != (opts.SecretAccessKey == "") {
		return nil, errors.New("kmstest: AccessKeyID and SecretAccessKey must be set together")
	}
	s := &Server{
		region:          opts.Region,
		account:         opts.Account,
		accessKeyID:     opts.AccessKeyID,
		secretAccessKey: opts.SecretAccessKey,
		keys:            make(map[string]*key),
		aliases:         make(map[string]*alias),
		registered:      make(map[string]*foreignCT),
		calls:           make(map[string]int),
		grants:          make(map[string][]string),
	}
	if s.region == "" {
		s.region = DefaultRegion
	}
	if s.account == "" {
		s.account = DefaultAccount
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("kmstest: listen: %w", err)
	}
	s.ln = ln
	s.url = "http://" + ln.Addr().String()
	s.srv = &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 30 * time.Second,
	}
	s.transport = &http.Transport{
		Proxy:               nil, // never send loopback traffic through a proxy
		MaxIdleConnsPerHost: 64,
		IdleConnTimeout:     30 * time.Second,
	}
	go func() { _ = s.srv.Serve(ln) }()
	return s, nil
}

// URL returns the server's base URL, "http://127.0.0.1:<port>".
func (s *Server) URL() string { return s.url }

// Region returns the region the server uses in ARNs.
func (s *Server) Region() string { return s.region }

// Account returns the account id the server uses in ARNs.
func (s *Server) Account() string { return s.account }

// Close stops the server, closing the listener and all connections, and
// releases idle connections of clients made by Client. It is safe to call
// more than once.
func (s *Server) Close() error {
	s.closeOnce.Do(func() {
		err := s.srv.Close()
		if errors.Is(err, http.ErrServerClosed) {
			err = nil
		}
		s.closeErr = err
		s.transport.CloseIdleConnections()
	})
	return s.closeErr
}

// Client returns an aws-sdk-go-v2 KMS client pointed at this server: the
// server's region, BaseEndpoint = URL(), static credentials (the configured
// ones, or fixed dummy ones when the server accepts any signer), no retries,
// and an HTTP client that never uses a proxy. It does not read any
// environment variables or shared config files. ctx is currently unused.
func (s *Server) Client(ctx context.Context) *kms.Client {
	_ = ctx
	ak, sk := s.accessKeyID, s.secretAccessKey
	if ak == "" {
		ak, sk = defaultAccessKeyID, defaultSecretAccessKey
	}
	endpoint := s.url
	return kms.New(kms.Options{
		Region:           s.region,
		BaseEndpoint:     &endpoint,
		Credentials:      credentials.NewStaticCredentialsProvider(ak, sk, ""),
		RetryMaxAttempts: 1,
		HTTPClient:       &http.Client{Transport: s.transport},
	})
}

// CreateKey creates a new enabled symmetric key with random material and
// returns its id (a UUID) and ARN. If alias is not empty an alias is created
// for the key; it may be given as "alias/name" or just "name". CreateKey
// panics if the alias name is invalid or already exists.
func (s *Server) CreateKey(alias string) (keyID, keyARN string) {
	material := make([]byte, keyMaterialSize)
	randRead(material)
	id := newUUID()
	aliasName := ""
	if alias != "" {
		aliasName = normalizeAliasName(alias)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.checkNewAliasLocked(aliasName); err != nil {
		panic("kmstest: CreateKey: " + err.Message)
	}
	s.addKeyLocked(&key{id: id, material: material, enabled: true, created: time.Now()}, aliasName)
	return id, s.keyARN(id)
}

// ImportKey adds an enabled key with a fixed id and fixed 32-byte material,
// for reproducing captured test vectors, and returns its ARN. keyID may be a
// bare key id (normally a UUID) or a key ARN, whose key id part is used. If
// alias is not empty, it is created as with CreateKey. ImportKey panics if
// keyID is malformed or already exists, if material is not 32 bytes, or if
// the alias is invalid or exists. The material is copied.
func (s *Server) ImportKey(keyID string, material []byte, alias string) (keyARN string) {
	id, ok := s.bareKeyID(keyID)
	if !ok {
		panic(fmt.Sprintf("kmstest: ImportKey: invalid key id %q", keyID))
	}
	if len(material) != keyMaterialSize {
		panic(fmt.Sprintf("kmstest: ImportKey: key material must be %d bytes, got %d", keyMaterialSize, len(material)))
	}
	aliasName := ""
	if alias != "" {
		aliasName = normalizeAliasName(alias)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, exists := s.keys[id]; exists {
		panic(fmt.Sprintf("kmstest: ImportKey: key %q already exists", id))
	}
	if err := s.checkNewAliasLocked(aliasName); err != nil {
		panic("kmstest: ImportKey: " + err.Message)
	}
	m := make([]byte, len(material))
	copy(m, material)
	s.addKeyLocked(&key{id: id, material: m, enabled: true, created: time.Now()}, aliasName)
	return s.keyARN(id)
}

// RegisterCiphertext registers a ciphertext blob that was not produced by
// this server (for example one captured from real KMS). Decrypt (and
// ReEncrypt) of exactly these bytes then returns plaintext, but only if the
// request's encryption context equals ec exactly (nil and empty are equal)
// — otherwise InvalidCiphertextException — and the key checks apply as for
// any blob: keyID (any key identifier, resolved when the blob is used) must
// name an existing, enabled key, and a KeyId given in the request must
// resolve to that same key. Arguments are copied.
func (s *Server) RegisterCiphertext(blob []byte, keyID string, ec map[string]string, plaintext []byte) {
	f := &foreignCT{
		keyID:     keyID,
		ec:        copyEC(ec),
		plaintext: append([]byte(nil), plaintext...),
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.registered[string(blob)] = f
}

// SetKeyEnabled enables or disables a key, identified by any key identifier.
// Disabled keys make GenerateDataKey, GenerateDataKeyWithoutPlaintext,
// Encrypt, Decrypt and ReEncrypt fail with DisabledException. It panics if
// the key does not exist.
func (s *Server) SetKeyEnabled(keyID string, enabled bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, aerr := s.resolveLocked(keyID, true)
	if aerr != nil {
		panic("kmstest: SetKeyEnabled: " + aerr.Message)
	}
	k.enabled = enabled
}

// Deny makes every later call of op (an operation name such as
// "DescribeKey") fail as KMS answers a caller whose key policy or IAM
// policy lacks the permission: HTTP 400, AccessDeniedException.
func (s *Server) Deny(op string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.denied == nil {
		s.denied = map[string]bool{}
	}
	s.denied[op] = true
}

// Calls reports how many requests with X-Amz-Target TrentService.<op> the
// server has received, including failed ones (for example rejected
// signatures or unsupported operations).
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[targetPrefix+op]
}

// LastGrantTokens returns a copy of the GrantTokens of the most recent
// authenticated call of op (nil if that call had none or op was never
// called).
func (s *Server) LastGrantTokens(op string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	g := s.grants[op]
	if g == nil {
		return nil
	}
	return append([]string(nil), g...)
}

// ---- state helpers (callers hold s.mu where the name says Locked) ----

func (s *Server) keyARN(id string) string {
	return "arn:aws:kms:" + s.region + ":" + s.account + ":key/" + id
}

func (s *Server) aliasARN(name string) string {
	return "arn:aws:kms:" + s.region + ":" + s.account + ":" + name
}

func (s *Server) addKeyLocked(k *key, aliasName string) {
	s.keys[k.id] = k
	if aliasName != "" {
		s.aliases[aliasName] = &alias{name: aliasName, keyID: k.id, created: k.created}
	}
}

var (
	aliasNameRE = regexp.MustCompile(`^alias/[a-zA-Z0-9/_-]+$`)
	// keyIDRE matches plausible key ids: UUIDs and multi-Region "mrk-" ids.
	keyIDRE = regexp.MustCompile(`^[a-zA-Z0-9-]+$`)
)

func normalizeAliasName(a string) string {
	if !strings.HasPrefix(a, "alias/") {
		a = "alias/" + a
	}
	return a
}

// checkNewAliasLocked validates an alias name ("" is accepted as "no alias")
// and checks it does not exist yet.
func (s *Server) checkNewAliasLocked(name string) *apiError {
	if name == "" {
		return nil
	}
	if len(name) > 256 || !aliasNameRE.MatchString(name) {
		return errInvalidAliasName("Alias name " + name + " is invalid.")
	}
	if strings.HasPrefix(name, "alias/aws/") {
		return errInvalidAliasName("Alias names starting with alias/aws/ are reserved for AWS managed keys.")
	}
	if _, ok := s.aliases[name]; ok {
		return errAlreadyExists("An alias with the name " + s.aliasARN(name) + " already exists")
	}
	return nil
}

// bareKeyID validates a key id given to ImportKey (a bare id or a key ARN)
// and returns the bare id.
func (s *Server) bareKeyID(id string) (string, bool) {
	if strings.HasPrefix(id, "arn:") {
		parts := strings.SplitN(id, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" {
			return "", false
		}
		var ok bool
		id, ok = strings.CutPrefix(parts[5], "key/")
		if !ok {
			return "", false
		}
	}
	if len(id) > maxKeyIDLen || !keyIDRE.MatchString(id) {
		return "", false
	}
	return id, true
}

// resolveLocked finds the key named by any KMS key identifier: key id, key
// ARN, alias name or alias ARN (aliases only if allowAlias). ARNs must carry
// this server's region and account.
func (s *Server) resolveLocked(ident string, allowAlias bool) (*key, *apiError) {
	notFound := func() *apiError {
		if strings.HasPrefix(ident, "alias/") || strings.Contains(ident, ":alias/") {
			return errNotFound("Alias " + s.aliasDisplay(ident) + " is not found.")
		}
		return errNotFound("Key '" + s.keyDisplay(ident) + "' does not exist")
	}
	if ident == "" {
		return nil, errValidation("KeyId must not be empty")
	}
	resource := ident
	if strings.HasPrefix(ident, "arn:") {
		parts := strings.SplitN(ident, ":", 6)
		if len(parts) != 6 || parts[2] != "kms" || parts[3] != s.region || parts[4] != s.account {
			return nil, notFound()
		}
		resource = parts[5]
		if id, ok := strings.CutPrefix(resource, "key/"); ok {
			resource = id
		} else if !strings.HasPrefix(resource, "alias/") {
			return nil, notFound()
		}
	}
	if strings.HasPrefix(resource, "alias/") {
		if !allowAlias {
			return nil, errValidation("an alias is not allowed here; specify a key id or key ARN")
		}
		a, ok := s.aliases[resource]
		if !ok {
			return nil, notFound()
		}
		k, ok := s.keys[a.keyID]
		if !ok {
			return nil, notFound()
		}
		return k, nil
	}
	k, ok := s.keys[resource]
	if !ok {
		return nil, notFound()
	}
	return k, nil
}

func (s *Server) keyDisplay(ident string) string {
	if strings.HasPrefix(ident, "arn:") {
		return ident
	}
	return s.keyARN(ident)
}

func (s *Server) aliasDisplay(ident string) string {
	if strings.HasPrefix(ident, "arn:") {
		return ident
	}
	return s.aliasARN(ident)
}

// keySnapshot is what operations need from a key, taken under s.mu.
type keySnapshot struct {
	id, arn  string
	material []byte // shared, read-only
	enabled  bool
}

func (s *Server) lookup(ident string) (keySnapshot, *apiError) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.lookupLocked(ident)
}

func (s *Server) lookupLocked(ident string) (keySnapshot, *apiError) {
	k, aerr := s.resolveLocked(ident, true)
	if aerr != nil {
		return keySnapshot{}, aerr
	}
	return keySnapshot{id: k.id, arn: s.keyARN(k.id), material: k.material, enabled: k.enabled}, nil
}

// lookupEnabled resolves ident and fails with DisabledException if the key is
// disabled.
func (s *Server) lookupEnabled(ident string) (keySnapshot, *apiError) {
	ks, aerr := s.lookup(ident)
	if aerr != nil {
		return ks, aerr
	}
	if !ks.enabled {
		return ks, errDisabled(ks.arn + " is disabled.")
	}
	return ks, nil
}

func copyEC(ec map[string]string) map[string]string {
	if len(ec) == 0 {
		return nil
	}
	c := make(map[string]string, len(ec))
	for k, v := range ec {
		c[k] = v
	}
	return c
}

func ecEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
