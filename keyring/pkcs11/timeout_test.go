//go:build cgo

package pkcs11

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	p11 "github.com/miekg/pkcs11"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/metadata"
)

// hangingToken stands in for a networked HSM that stops answering: while
// hang is set, Encrypt and Decrypt block until release is closed.
type hangingToken struct {
	cryptoki
	hang    atomic.Bool
	release chan struct{}
	entered chan p11.SessionHandle // a call began to hang on this session
	closed  chan p11.SessionHandle // CloseSession was called
}

func newHangingToken(k *Keyring) *hangingToken {
	h := &hangingToken{cryptoki: k.tok, release: make(chan struct{}),
		entered: make(chan p11.SessionHandle, 16), closed: make(chan p11.SessionHandle, 16)}
	h.hang.Store(true)
	k.tok = h
	return h
}

func (h *hangingToken) wait(sh p11.SessionHandle) {
	if h.hang.Load() {
		h.entered <- sh
		<-h.release
	}
}

func (h *hangingToken) Encrypt(sh p11.SessionHandle, m []byte) ([]byte, error) {
	h.wait(sh)
	return h.cryptoki.Encrypt(sh, m)
}

func (h *hangingToken) Decrypt(sh p11.SessionHandle, c []byte) ([]byte, error) {
	h.wait(sh)
	return h.cryptoki.Decrypt(sh, c)
}

func (h *hangingToken) CloseSession(sh p11.SessionHandle) error {
	err := h.cryptoki.CloseSession(sh)
	h.closed <- sh
	return err
}

// pooled returns the sessions now in k's pool, and puts them back.
func pooled(k *Keyring) []p11.SessionHandle {
	var s []p11.SessionHandle
	for len(k.pool) > 0 {
		s = append(s, <-k.pool)
	}
	for _, sh := range s {
		k.pool <- sh
	}
	return s
}

// A token call that does not return fails the request after the
// keyring's timeout with one clear error naming the key, not the PIN; the
// hung session never goes back to the pool, and is closed when the token
// returns at last; the caller's context ends the wait sooner; with every
// session hung, waiting for one is bounded too; and the keyring then
// works again.
func TestHungTokenCall(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, label := range []string{"aes-1", "rsa-1"} {
		k := openKey(t, label, func(o *Options) { o.Sessions = 2; o.Timeout = timeout })
		dk, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
		if err != nil {
			t.Fatal(err)
		}
		req := &keyring.DecryptionRequest{WrapAlg: dk.WrapAlg, ContentAlg: metadata.ContentCommittingGCM, EncryptedKey: dk.Encrypted, Description: dk.Description}
		h := newHangingToken(k)

		start := time.Now()
		_, err = k.DecryptDataKey(bg, req)
		if took := time.Since(start); took < timeout || took > timeout+2*time.Second {
			t.Fatalf("%s: the hung call returned after %v, timeout %v", label, took, timeout)
		}
		doing := map[string]string{"aes-1": "AES-GCM decrypt", "rsa-1": "RSA-OAEP decrypt"}[label]
		want := "pkcs11:token=s3c-test;object=" + label + ": the PKCS#11 token did not answer within 300ms (" + doing + "): is the HSM reachable? " +
			"The session is abandoned; raise the timeout with the URI's x-s3c-timeout if the HSM is just slow"
		if err == nil || err.Error() != want {
			t.Fatalf("%s: hung call:\n got %v\nwant %s", label, err, want)
		}
		if !errors.Is(err, ErrTimeout) || errors.Is(err, keyring.ErrIncorrectKey) || strings.Contains(err.Error(), token.PIN) {
			t.Fatalf("%s: hung call: %v", label, err)
		}
		hung1 := <-h.entered
		if slices.Contains(pooled(k), hung1) {
			t.Fatalf("%s: the hung session is back in the pool", label)
		}

		// The caller's context ends the wait before the timeout.
		ctx, cancel := context.WithCancel(bg)
		go func() { <-h.entered; cancel() }()
		start = time.Now()
		_, err = k.DecryptDataKey(ctx, req)
		if !errors.Is(err, context.Canceled) || time.Since(start) >= timeout {
			t.Fatalf("%s: cancelled call: %v after %v", label, err, time.Since(start))
		}
		if p := pooled(k); len(p) != 0 {
			t.Fatalf("%s: pool holds %v with both sessions hung", label, p)
		}
		// Both sessions hung: the next call fails at once.
		start = time.Now()
		_, err = k.DecryptDataKey(bg, req)
		if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "(all 2 sessions are held by calls it has not returned from)") || time.Since(start) >= timeout {
			t.Fatalf("%s: call with every session hung: %v after %v", label, err, time.Since(start))
		}

		// The token answers at last: the hung sessions are closed, their
		// slots freed, and new sessions work.
		h.hang.Store(false)
		close(h.release)
		for range 2 {
			<-h.closed
		}
		got, err := k.DecryptDataKey(bg, req)
		if err != nil || string(got.Plaintext) != string(dk.Plaintext) {
			t.Fatalf("%s: after the token recovered: %v", label, err)
		}
	}
}

// Close while a call hangs does not unload the module under it: the
// module is released when the call returns.
func TestCloseWhileHung(t *testing.T) {
	openKey(t, "aes-1") // keeps the module loaded, and in the map, throughout
	k, err := Open(token.URI("aes-2"), func(o *Options) { o.Timeout = 100 * time.Millisecond })
	if err != nil {
		t.Fatal(err)
	}
	h := newHangingToken(k)
	if _, err := k.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}); !errors.Is(err, ErrTimeout) {
		t.Fatalf("hung GenerateDataKey: %v", err)
	}
	<-h.entered
	refs := func() int {
		modulesMu.Lock()
		defer modulesMu.Unlock()
		return modules[token.Module].refs
	}
	before := refs()
	if err := k.Close(); err != nil {
		t.Fatal(err)
	}
	if refs() != before {
		t.Fatal("the module was released under a running call")
	}
	close(h.release)
	<-k.done
	if refs() != before-1 {
		t.Fatalf("module references %d after the hung call returned, want %d", refs(), before-1)
	}
}

// The timeout comes from Options, else the URI's x-s3c-timeout, else the
// default; a malformed x-s3c-timeout is refused.
func TestTimeoutSetting(t *testing.T) {
	if k := openKey(t, "aes-1"); k.timeout != DefaultTimeout {
		t.Fatalf("default timeout %v", k.timeout)
	}
	if k := openKey(t, "aes-1", func(o *Options) { o.Timeout = time.Second }); k.timeout != time.Second {
		t.Fatalf("Options.Timeout: %v", k.timeout)
	}
	k, err := Open(token.URI("aes-1") + "&x-s3c-timeout=1m30s")
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if k.timeout != 90*time.Second {
		t.Fatalf("x-s3c-timeout: %v", k.timeout)
	}
	for _, v := range []string{"0s", "-1s", "10", "soon"} {
		_, err := Open(token.URI("aes-1") + "&x-s3c-timeout=" + v)
		if err == nil || err.Error() != "PKCS#11 URI: x-s3c-timeout: want a positive Go duration such as 10s or 1m" {
			t.Fatalf("x-s3c-timeout=%s: %v", v, err)
		}
	}
}

// Waiting for a free session is bounded by the timeout too; a call that
// is slow but returns in time hands its session on.
func TestWaitForSession(t *testing.T) {
	const timeout = 300 * time.Millisecond
	k := openKey(t, "aes-1", func(o *Options) { o.Sessions = 1; o.Timeout = timeout })
	h := newHangingToken(k)
	req := &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM}

	first := make(chan error, 1)
	go func() { _, err := k.GenerateDataKey(bg, req); first <- err }()
	<-h.entered
	_, err := k.GenerateDataKey(bg, req)
	if !errors.Is(err, ErrTimeout) || !strings.Contains(err.Error(), "(waiting for a free session: all 1 are in use)") {
		t.Fatalf("waiting behind a hung call: %v", err)
	}
	if err := <-first; !errors.Is(err, ErrTimeout) {
		t.Fatalf("the hung call: %v", err)
	}
	h.hang.Store(false)
	close(h.release)
	<-h.closed

	// Slow, not hung: the waiter gets the session when it comes back.
	h = newHangingToken(k)
	go func() { _, err := k.GenerateDataKey(bg, req); first <- err }()
	<-h.entered
	go func() { close(h.release) }()
	h.hang.Store(false)
	if _, err := k.GenerateDataKey(bg, req); err != nil {
		t.Fatalf("waiting behind a slow call: %v", err)
	}
	if err := <-first; err != nil {
		t.Fatalf("the slow call: %v", err)
	}
}
