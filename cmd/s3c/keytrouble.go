package main

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// Why no key given could unwrap an object's data key, when that is not
// the object's fault.
type trouble int

const (
	troubleNone       trouble = iota
	troubleNoKind             // no key of the kind the object is wrapped with
	troubleOtherKey           // the object names a key that was not given
	troubleNotAllowed         // a KMS key outside --allow-kms-key
	troubleContext            // the stored context is not the one given
	troubleKMS                // KMS answered with a malformed data key
	troubleIntegrity          // the key the object names failed: not a key trouble
)

// classifyKeyError sorts one keyring's failure.
func classifyKeyError(err error) trouble {
	var cm *materials.ContextMismatchError
	switch {
	case errors.Is(err, materials.ErrUnsupportedWrap):
		return troubleNoKind
	case errors.As(err, &cm):
		return troubleContext
	case errors.Is(err, materials.ErrKMSResponse):
		return troubleKMS
	case errors.Is(err, materials.ErrKeyNotAllowed):
		return troubleNotAllowed
	case errors.Is(err, materials.ErrOtherKey):
		return troubleOtherKey
	}
	return troubleIntegrity
}

// keyTrouble explains an error that means the object needs a key or an
// encryption context that was not given, or that KMS misbehaved: none of
// them the object's fault (exit 1, not 3). ok is false for any other
// error.
func keyTrouble(err error) (msg string, ok bool) {
	var oe *s3crypto.ObjectError
	var nk *materials.NoKeyError
	var ke *materials.KeyError
	var cm *materials.ContextMismatchError
	var errs []error
	wrap := ""
	switch {
	case errors.As(err, &nk):
		errs, wrap = nk.Errs, nk.WrapAlg
	case errors.As(err, &ke):
		errs = []error{ke}
	case errors.As(err, &cm):
		errs = []error{cm} // checked by the client before any keyring
	default:
		return "", false
	}
	// The worst cause decides: a key that fails on an object it opens
	// is an integrity failure whatever the other keys say.
	worst := troubleNone
	var cause error
	for _, e := range errs {
		if t := classifyKeyError(e); t >= worst {
			worst, cause = t, e
		}
	}
	if worst == troubleNone || worst == troubleIntegrity {
		return "", false
	}
	object, ref := "the object", ""
	if errors.As(err, &oe) {
		object, ref = "s3://"+oe.Bucket+"/"+oe.Key, oe.KeyRef
	}
	switch worst {
	case troubleContext:
		var cm *materials.ContextMismatchError
		errors.As(cause, &cm)
		if slices.Equal(cm.StoredKeys, cm.RequestedKeys) {
			return fmt.Sprintf("%s has encryption context keys %s with other values than the request gave: give the pairs the object was written with, with --context k=v",
				object, keyList(cm.StoredKeys)), true
		}
		return fmt.Sprintf("%s has encryption context keys %s, but the request gave %s: give the pairs the object was written with, with --context k=v",
			object, keyList(cm.StoredKeys), keyList(cm.RequestedKeys)), true
	case troubleKMS:
		var kerr *materials.KeyError
		if errors.As(cause, &kerr) {
			ref = kerr.KeyRef
		}
		return fmt.Sprintf("%s: KMS key %s answered with a malformed data key (a KMS fault, not the object's); nothing was written", object, orUnnamed(ref)), true
	case troubleNotAllowed:
		var kerr *materials.KeyError
		if errors.As(cause, &kerr) && strings.HasPrefix(kerr.KeyRef, "arn:") {
			ref = kerr.KeyRef
		}
		return fmt.Sprintf("%s is wrapped by KMS key %s, which is not in --allow-kms-key: only the keys given are trusted", object, orUnnamed(ref)), true
	}
	kind, flag := wrapKind(wrap)
	if worst == troubleOtherKey || ref != "" && kind == "KMS" {
		msg = fmt.Sprintf("%s is wrapped by %s key %s, which is not among the keys given: only they are trusted", object, kind, orUnnamed(ref))
		if kind == "KMS" && strings.HasPrefix(ref, "arn:") {
			msg += "; give --kms-key-id " + ref + " or --allow-kms-key " + ref + " to trust it"
		} else if flag != "" {
			msg += "; give its " + flag
		}
		return msg, true
	}
	if flag == "" {
		return fmt.Sprintf("%s is wrapped with %q, which none of the keys given handles", object, wrap), true
	}
	return fmt.Sprintf("%s is wrapped by %s key %s; give %s", object, kind, orUnnamed(ref), flag), true
}

// wrapKind names the kind of master key a wrapping algorithm needs and
// the flag that gives one.
func wrapKind(wrap string) (kind, flag string) {
	switch wrap {
	case metadata.WrapKMSContext, metadata.WrapKMS:
		return "KMS", "--kms-key-id"
	case metadata.WrapAESGCM, metadata.WrapAESWrap, metadata.WrapAESECB:
		return "local AES", "--aes-key"
	case metadata.WrapRSAOAEP, metadata.WrapRSAOAEPSHA256, metadata.WrapRSAPKCS1:
		return "local RSA", "--rsa-key"
	}
	return "a", ""
}

func orUnnamed(ref string) string {
	if ref == "" {
		return "(not named in its envelope)"
	}
	return ref
}

func keyList(keys []string) string {
	if len(keys) == 0 {
		return "none"
	}
	return "[" + strings.Join(keys, " ") + "]"
}

// explain returns err with its message replaced where keyTrouble has a
// clearer one.
func explain(err error) error {
	var be *batchError
	if err == nil || errors.As(err, &be) {
		return err
	}
	if msg, ok := keyTrouble(err); ok {
		return &explained{msg, err}
	}
	return err
}

// explained is an error told in other words.
type explained struct {
	msg string
	err error
}

func (e *explained) Error() string { return e.msg }
func (e *explained) Unwrap() error { return e.err }
