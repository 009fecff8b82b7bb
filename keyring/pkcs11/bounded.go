//go:build cgo

package pkcs11

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	p11 "github.com/miekg/pkcs11"
)

// cryptoki is the part of the PKCS#11 API the keyring calls once its module
// is loaded: a *p11.Ctx, or in tests a stand-in for an HSM that hangs.
type cryptoki interface {
	OpenSession(slotID uint, flags uint) (p11.SessionHandle, error)
	CloseSession(sh p11.SessionHandle) error
	Login(sh p11.SessionHandle, userType uint, pin string) error
	FindObjectsInit(sh p11.SessionHandle, temp []*p11.Attribute) error
	FindObjects(sh p11.SessionHandle, max int) ([]p11.ObjectHandle, bool, error)
	FindObjectsFinal(sh p11.SessionHandle) error
	GetAttributeValue(sh p11.SessionHandle, o p11.ObjectHandle, a []*p11.Attribute) ([]*p11.Attribute, error)
	EncryptInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Encrypt(sh p11.SessionHandle, message []byte) ([]byte, error)
	DecryptInit(sh p11.SessionHandle, m []*p11.Mechanism, o p11.ObjectHandle) error
	Decrypt(sh p11.SessionHandle, cipher []byte) ([]byte, error)
}

var _ cryptoki = (*p11.Ctx)(nil)

// timeoutError is a token call that did not return within the keyring's
// timeout. It names what was being done, never a PIN.
type timeoutError struct {
	doing string
	after time.Duration
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("the PKCS#11 token did not answer within %v (%s): is the HSM reachable? The session is abandoned; raise the timeout with the URI's x-s3c-timeout if the HSM is just slow", e.after, e.doing)
}

// Is makes errors.Is(err, ErrTimeout) hold.
func (e *timeoutError) Is(target error) bool { return target == ErrTimeout }

// bounded runs fn, which makes blocking calls into the token, on a
// goroutine of its own, and waits for it until ctx is done or timeout
// passes (timeout <= 0: only ctx bounds the wait). A C call cannot be
// interrupted: when bounded stops waiting, fn goes on, and when it returns
// at last its result goes to late instead (to close the session it used
// or opened) rather than to the caller. gaveUp reports that case; err is
// then context.Cause(ctx) or a *timeoutError.
//
// busy and idle bracket the goroutine's life, so that the module is not
// finalised under a call still running in the token.
func bounded[T any](ctx context.Context, timeout time.Duration, doing string, busy, idle func(), fn func() (T, error), late func(T, error)) (v T, err error, gaveUp bool) {
	const (
		running = iota
		returned
		abandoned
	)
	var state atomic.Int32
	type result struct {
		v   T
		err error
	}
	done := make(chan result, 1)
	busy()
	go func() {
		defer idle()
		v, err := fn()
		if state.CompareAndSwap(running, returned) {
			done <- result{v, err}
			return
		}
		late(v, err)
	}()
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case r := <-done:
		return r.v, r.err, false
	case <-ctx.Done():
		err = context.Cause(ctx)
	case <-expired:
		err = &timeoutError{doing: doing, after: timeout}
	}
	if !state.CompareAndSwap(running, abandoned) {
		// fn returned just now: take its result after all.
		r := <-done
		return r.v, r.err, false
	}
	return v, err, true
}
