package keyring

import "context"

// KeyWrapper is an optional interface for a keyring that can wrap a data
// key it did not make: the s3crypto client's RewrapObject uses it to move
// an existing object to a new master key without touching its content.
//
// WrapDataKey must wrap dataKey exactly as GenerateDataKey would wrap a
// fresh one for req: the same WrapAlg, the same description rules (req.Context
// plus the keyring's own pairs, a req.Context that would overwrite them
// refused) and the same binding to req.ContentAlg, so that DecryptDataKey,
// and every other reader of the wrap, opens it as if GenerateDataKey had
// made it. dataKey is DataKeySize bytes; the keyring must not modify or
// keep it. The returned DataKey's Plaintext is nil. Errors follow
// GenerateDataKey's rules (ErrDecryptOnly for a keyring that cannot
// encrypt; every error is final).
type KeyWrapper interface {
	WrapDataKey(ctx context.Context, req *EncryptionRequest, dataKey []byte) (*DataKey, error)
}

// Rewrapper is an optional interface for a keyring whose key manager can
// move a data key wrapped under another of its master keys to the
// keyring's own key without the plaintext key leaving the key manager
// (AWS KMS ReEncrypt). req describes the stored wrap as for
// DecryptDataKey (req.Context is nil: a rewrap keeps the stored context).
// The caller calls it only for an object whose stored description names
// a master key it trusts (one its reading keyring claims, see Claimer),
// and the Rewrapper must have the key manager check that the data key is
// under that named key: otherwise a planted object under a stranger's
// key would come out wrapped under the caller's.
//
// RewrapDataKey returns the new wrap, with the description to store (the
// stored one with the pairs that name the master key set to the
// keyring's) and Plaintext nil. It returns an error wrapping
// ErrUnsupportedWrap when it cannot rewrap req (another kind of wrap, a
// key manager that does not offer it); the caller then unwraps with its
// own keyring and wraps with KeyWrapper. Any other error is final.
type Rewrapper interface {
	RewrapDataKey(ctx context.Context, req *DecryptionRequest) (*DataKey, error)
}
