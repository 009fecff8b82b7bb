package materials

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/kms/types"

	"github.com/s3c/s3c/metadata"
)

// KMSAPI is the part of *kms.Client a KMSKeyring needs. For rewrapping
// existing objects (WrapDataKey, RewrapDataKey) the keyring also uses the
// client's Encrypt and ReEncrypt methods, which *kms.Client has, when the
// client offers them.
type KMSAPI interface {
	GenerateDataKey(ctx context.Context, in *kms.GenerateDataKeyInput, optFns ...func(*kms.Options)) (*kms.GenerateDataKeyOutput, error)
	Decrypt(ctx context.Context, in *kms.DecryptInput, optFns ...func(*kms.Options)) (*kms.DecryptOutput, error)
}

// kmsEncryptAPI and kmsReEncryptAPI are the optional methods of a KMSAPI
// that rewrapping uses.
type kmsEncryptAPI interface {
	Encrypt(ctx context.Context, in *kms.EncryptInput, optFns ...func(*kms.Options)) (*kms.EncryptOutput, error)
}

type kmsReEncryptAPI interface {
	ReEncrypt(ctx context.Context, in *kms.ReEncryptInput, optFns ...func(*kms.Options)) (*kms.ReEncryptOutput, error)
}

// KMSOptions configures a KMSKeyring.
type KMSOptions struct {
	// GrantTokens are passed on every KMS call.
	GrantTokens []string
	// AllowedKeys limits a discovery keyring to these key ARNs. Empty
	// means any key the caller's credentials may use.
	AllowedKeys []string
	// OtherNames are further identifiers of the keyring's key (an alias
	// name such as "alias/app", an alias ARN, the bare key ID) that
	// objects written earlier may name as kms_cmk_id: Claims treats an
	// object naming one of them as naming the key. Nothing else uses
	// them; KMS calls use the key identifier given to NewKMS.
	OtherNames []string
}

// KMSKeyring wraps data keys with AWS KMS ("kms+context").
type KMSKeyring struct {
	client    KMSAPI
	keyID     string // "" for discovery
	discovery bool
	opts      KMSOptions

	arn atomic.Pointer[string] // the key ARN KMS last reported for keyID
}

// NewKMS returns a keyring that generates and decrypts data keys under one
// KMS key, given as key ID, key ARN, alias name ("alias/app") or alias ARN.
// The identifier is recorded in each object's encryption context as
// kms_cmk_id, which AWS's clients leave out of context comparisons.
func NewKMS(client KMSAPI, keyID string, optFns ...func(*KMSOptions)) *KMSKeyring {
	k := &KMSKeyring{client: client, keyID: keyID}
	for _, fn := range optFns {
		fn(&k.opts)
	}
	return k
}

// NewKMSDiscovery returns a decrypt-only keyring that asks KMS to decrypt
// with whichever key the encrypted data key names. With AllowedKeys set, a
// data key from any other key is refused and its plaintext discarded.
func NewKMSDiscovery(client KMSAPI, optFns ...func(*KMSOptions)) *KMSKeyring {
	k := NewKMS(client, "", optFns...)
	k.discovery = true
	return k
}

// KeyID returns the configured key identifier, or "" for discovery.
func (k *KMSKeyring) KeyID() string { return k.keyID }

func (k *KMSKeyring) ref() string {
	if k.discovery {
		return "kms discovery"
	}
	return k.keyID
}

func kmsReserved(key string) bool {
	return key == metadata.ContextContentAlg || key == metadata.ContextKMSKeyID
}

// GenerateDataKey calls KMS GenerateDataKey with the caller's encryption
// context plus aws:x-amz-cek-alg and kms_cmk_id.
func (k *KMSKeyring) GenerateDataKey(ctx context.Context, req *EncryptionRequest) (*DataKey, error) {
	if k.discovery {
		return nil, &KeyError{KeyRef: k.ref(), Err: ErrDecryptOnly}
	}
	ec, err := k.writeContext(req)
	if err != nil {
		return nil, err
	}
	out, err := k.client.GenerateDataKey(ctx, &kms.GenerateDataKeyInput{
		KeyId:             &k.keyID,
		KeySpec:           types.DataKeySpecAes256,
		EncryptionContext: ec,
		GrantTokens:       k.opts.GrantTokens,
	})
	if err != nil {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("KMS GenerateDataKey: %w", err)}
	}
	if len(out.Plaintext) != DataKeySize || len(out.CiphertextBlob) == 0 {
		clear(out.Plaintext)
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("GenerateDataKey: %w (%d-byte key, %d-byte ciphertext)", ErrKMSResponse, len(out.Plaintext), len(out.CiphertextBlob))}
	}
	ref := k.reported(out.KeyId)
	return &DataKey{
		Plaintext:   out.Plaintext,
		Encrypted:   out.CiphertextBlob,
		WrapAlg:     metadata.WrapKMSContext,
		Description: ec,
		KeyRef:      ref,
	}, nil
}

// DecryptDataKey checks that the stored encryption context binds the
// object's content algorithm, then calls KMS Decrypt with it. (The
// s3crypto client has compared it with the caller's context already.)
func (k *KMSKeyring) DecryptDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error) {
	switch req.WrapAlg {
	case metadata.WrapKMSContext:
		// The context must name the content algorithm the key was made
		// for: otherwise a key could be moved to a weaker cipher.
		got, ok := req.Description[metadata.ContextContentAlg]
		if !ok {
			return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: encryption context lacks %s", ErrIncorrectKey, metadata.ContextContentAlg)}
		}
		if got != req.ContentAlg {
			return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: encryption context says %s %q but the object's content algorithm is %q",
				ErrIncorrectKey, metadata.ContextContentAlg, got, req.ContentAlg)}
		}
	case metadata.WrapKMS:
		// Legacy: the whole material description is the context.
	default:
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedWrap, req.WrapAlg)
	}
	in := &kms.DecryptInput{
		CiphertextBlob:    req.EncryptedKey,
		EncryptionContext: req.Description,
		GrantTokens:       k.opts.GrantTokens,
	}
	switch {
	case !k.discovery:
		in.KeyId = &k.keyID
	case len(k.opts.AllowedKeys) == 1:
		in.KeyId = &k.opts.AllowedKeys[0] // KMS itself refuses any other key
	case len(k.opts.AllowedKeys) > 1:
		// The key the writer named, if it did (s3c does) and as a key
		// ARN: refuse one outside the list without asking KMS. What
		// KMS reports is checked below all the same.
		named := req.Description[metadata.ContextKMSKeyID]
		if strings.HasPrefix(named, "arn:") && strings.Contains(named, ":key/") && !slices.Contains(k.opts.AllowedKeys, named) {
			return nil, &KeyError{KeyRef: named, Err: ErrKeyNotAllowed}
		}
	}
	out, err := k.client.Decrypt(ctx, in)
	if err != nil {
		var incorrect *types.IncorrectKeyException
		var invalid *types.InvalidCiphertextException
		switch {
		case errors.As(err, &incorrect) && k.discovery:
			err = fmt.Errorf("%w: KMS Decrypt: %w", ErrKeyNotAllowed, err)
		case errors.As(err, &incorrect):
			err = fmt.Errorf("%w: KMS Decrypt: %w", ErrOtherKey, err)
		case errors.As(err, &invalid):
			err = fmt.Errorf("%w: KMS Decrypt: %w", ErrIncorrectKey, err)
		default:
			err = fmt.Errorf("KMS Decrypt: %w", err)
		}
		return nil, &KeyError{KeyRef: k.ref(), Err: err}
	}
	ref := k.reported(out.KeyId)
	if len(out.Plaintext) != DataKeySize {
		clear(out.Plaintext)
		return nil, &KeyError{KeyRef: ref, Err: fmt.Errorf("Decrypt: %w (%d bytes)", ErrKMSResponse, len(out.Plaintext))}
	}
	if k.discovery && len(k.opts.AllowedKeys) > 0 && !slices.Contains(k.opts.AllowedKeys, ref) {
		clear(out.Plaintext)
		return nil, &KeyError{KeyRef: ref, Err: ErrKeyNotAllowed}
	}
	return &DataKey{
		Plaintext:   out.Plaintext,
		Encrypted:   req.EncryptedKey,
		WrapAlg:     req.WrapAlg,
		Description: req.Description,
		KeyRef:      ref,
	}, nil
}

// checkContentAlg refuses content algorithms a new key must not be made for.
func checkContentAlg(alg string) error {
	if alg != metadata.ContentCommittingGCM && alg != metadata.ContentAESGCM {
		return fmt.Errorf("materials: no data key for content algorithm %q", alg)
	}
	return nil
}

// writeContext is the encryption context of a new wrap for req: the
// caller's pairs plus aws:x-amz-cek-alg and kms_cmk_id.
func (k *KMSKeyring) writeContext(req *EncryptionRequest) (map[string]string, error) {
	if k.discovery {
		return nil, &KeyError{KeyRef: k.ref(), Err: ErrDecryptOnly}
	}
	if err := checkContentAlg(req.ContentAlg); err != nil {
		return nil, err
	}
	for key := range req.Context {
		if kmsReserved(key) {
			return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("encryption context key %q is reserved", key)}
		}
	}
	ec := maps.Clone(req.Context)
	if ec == nil {
		ec = map[string]string{}
	}
	ec[metadata.ContextContentAlg] = req.ContentAlg
	ec[metadata.ContextKMSKeyID] = k.keyID
	return ec, nil
}

// reported returns the key ARN KMS reported for a call with the
// keyring's key, remembering it for Claims, or the configured key ID if
// KMS reported none.
func (k *KMSKeyring) reported(keyID *string) string {
	if keyID == nil || *keyID == "" {
		return k.keyID
	}
	if !k.discovery {
		arn := *keyID
		k.arn.Store(&arn)
	}
	return *keyID
}

// WrapDataKey wraps an existing data key with KMS Encrypt, under the
// keyring's key and the encryption context GenerateDataKey would use
// (the caller's pairs, aws:x-amz-cek-alg and kms_cmk_id); see
// KeyWrapper. The KMS client must offer Encrypt (*kms.Client does).
func (k *KMSKeyring) WrapDataKey(ctx context.Context, req *EncryptionRequest, dataKey []byte) (*DataKey, error) {
	ec, err := k.writeContext(req)
	if err != nil {
		return nil, err
	}
	if len(dataKey) != DataKeySize {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("a data key to wrap must be %d bytes, not %d", DataKeySize, len(dataKey))}
	}
	enc, ok := k.client.(kmsEncryptAPI)
	if !ok {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: the KMS client has no Encrypt method", ErrUnsupportedWrap)}
	}
	out, err := enc.Encrypt(ctx, &kms.EncryptInput{
		KeyId:             &k.keyID,
		Plaintext:         dataKey,
		EncryptionContext: ec,
		GrantTokens:       k.opts.GrantTokens,
	})
	if err != nil {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("KMS Encrypt: %w", err)}
	}
	if len(out.CiphertextBlob) == 0 || len(out.CiphertextBlob) > metadata.MaxEncryptedKey {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("Encrypt: %w (%d-byte ciphertext)", ErrKMSResponse, len(out.CiphertextBlob))}
	}
	return &DataKey{Encrypted: out.CiphertextBlob, WrapAlg: metadata.WrapKMSContext, Description: ec, KeyRef: k.reported(out.KeyId)}, nil
}

// RewrapDataKey moves a kms+context data key to the keyring's key with
// KMS ReEncrypt: the plaintext data key never leaves KMS (see
// Rewrapper). The source key is the one the stored context names as
// kms_cmk_id, which KMS checks the data key is under; the source context
// is the stored one; the destination context is the same with
// kms_cmk_id set to the keyring's key. Other wraps, a context that names
// no key, a discovery keyring and a KMS client without ReEncrypt give an
// error wrapping ErrUnsupportedWrap.
func (k *KMSKeyring) RewrapDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error) {
	if req.WrapAlg != metadata.WrapKMSContext {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedWrap, req.WrapAlg)
	}
	if k.discovery {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: a discovery keyring has no key to rewrap to", ErrUnsupportedWrap)}
	}
	re, ok := k.client.(kmsReEncryptAPI)
	if !ok {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: the KMS client has no ReEncrypt method", ErrUnsupportedWrap)}
	}
	if got, ok := req.Description[metadata.ContextContentAlg]; !ok || got != req.ContentAlg {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: the encryption context's %s does not name the content algorithm %q",
			ErrIncorrectKey, metadata.ContextContentAlg, req.ContentAlg)}
	}
	src := req.Description[metadata.ContextKMSKeyID]
	if src == "" {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("%w: the encryption context names no KMS key", ErrUnsupportedWrap)}
	}
	dst := maps.Clone(req.Description)
	dst[metadata.ContextKMSKeyID] = k.keyID
	out, err := re.ReEncrypt(ctx, &kms.ReEncryptInput{
		CiphertextBlob:               req.EncryptedKey,
		SourceKeyId:                  &src,
		SourceEncryptionContext:      req.Description,
		DestinationKeyId:             &k.keyID,
		DestinationEncryptionContext: dst,
		GrantTokens:                  k.opts.GrantTokens,
	})
	if err != nil {
		var invalid *types.InvalidCiphertextException
		var incorrect *types.IncorrectKeyException
		switch {
		case errors.As(err, &invalid), errors.As(err, &incorrect):
			err = fmt.Errorf("%w: KMS ReEncrypt: %w", ErrIncorrectKey, err)
		default:
			err = fmt.Errorf("KMS ReEncrypt: %w", err)
		}
		return nil, &KeyError{KeyRef: k.ref(), Err: err}
	}
	if len(out.CiphertextBlob) == 0 || len(out.CiphertextBlob) > metadata.MaxEncryptedKey {
		return nil, &KeyError{KeyRef: k.ref(), Err: fmt.Errorf("ReEncrypt: %w (%d-byte ciphertext)", ErrKMSResponse, len(out.CiphertextBlob))}
	}
	return &DataKey{Encrypted: out.CiphertextBlob, WrapAlg: metadata.WrapKMSContext, Description: dst, KeyRef: k.reported(out.KeyId)}, nil
}

// Claims reports whether a kms+context object names the keyring's key:
// its kms_cmk_id is the configured key identifier, or the key ARN KMS
// reported for it in an earlier call of this keyring (so an object
// written with the key's ARN is claimed by a keyring configured with an
// alias once KMS has answered one call). It compares strings only: an
// object that names the key under another alias is not claimed. A
// discovery keyring claims nothing. KMSOptions.OtherNames adds names an
// object may use. See keyring.Claimer.
func (k *KMSKeyring) Claims(req *DecryptionRequest) bool {
	if k.discovery || req.WrapAlg != metadata.WrapKMSContext {
		return false
	}
	named := req.Description[metadata.ContextKMSKeyID]
	if named == "" {
		return false
	}
	if named == k.keyID || slices.Contains(k.opts.OtherNames, named) {
		return true
	}
	arn := k.arn.Load()
	return arn != nil && named == *arn
}
