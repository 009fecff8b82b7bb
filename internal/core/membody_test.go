package core

import (
	"bytes"
	"errors"
	"io"
	"sync"
	"testing"
	"time"
)

func TestPoolClass(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want int
	}{
		{0, 0}, {1, 0}, {1024, 0}, {1025, 1}, {4096 + 16, 3}, {1 << 17, 7}, {1<<17 + 1, -1}, {8 << 20, -1},
	} {
		if got := poolClass(c.n); got != c.want {
			t.Errorf("poolClass(%d) = %d, want %d", c.n, got, c.want)
		}
		b := getBuffer(c.n)
		if int64(len(*b)) != c.n {
			t.Errorf("getBuffer(%d): len %d", c.n, len(*b))
		}
		if c.want >= 0 && cap(*b) != 1<<(c.want+minPooledShift) {
			t.Errorf("getBuffer(%d): cap %d, want the class size %d", c.n, cap(*b), 1<<(c.want+minPooledShift))
		}
		putBuffer(b)
	}
}

// filledBody is a memBody over a pooled buffer holding s, and the buffer.
func filledBody(s string) (*memBody, []byte) {
	buf := getBuffer(int64(len(s)))
	copy(*buf, s)
	return newMemBody(buf, (*buf)[:len(s)]), (*buf)[:cap(*buf)]
}

func TestMemBodyReadsAndClose(t *testing.T) {
	const text = "authenticated plaintext"
	m, raw := filledBody(text)
	var w bytes.Buffer
	if n, err := m.WriteTo(&w); err != nil || n != int64(len(text)) || w.String() != text {
		t.Fatalf("WriteTo: %d, %v, %q", n, err, w.String())
	}
	if n, err := m.Read(make([]byte, 4)); n != 0 || err != io.EOF {
		t.Fatalf("Read at the end: %d, %v; want 0, EOF", n, err)
	}
	if pos, err := m.Seek(-9, io.SeekEnd); err != nil || pos != int64(len(text)-9) {
		t.Fatalf("Seek: %d, %v", pos, err)
	}
	if b, err := io.ReadAll(m); err != nil || string(b) != "plaintext" {
		t.Fatalf("Read after Seek: %q, %v", b, err)
	}
	p := make([]byte, 5)
	if n, err := m.ReadAt(p, 14); n != 5 || err != nil || string(p) != "plain" {
		t.Fatalf("ReadAt: %d, %v, %q", n, err, p)
	}
	if n, err := m.ReadAt(p, int64(len(text))-2); n != 2 || err != io.EOF {
		t.Fatalf("ReadAt across the end: %d, %v; want 2, EOF", n, err)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, make([]byte, len(raw))) {
		t.Fatal("Close left plaintext in the pooled buffer")
	}
	if _, err := m.Read(p); !errors.Is(err, errBodyClosed) {
		t.Errorf("Read after Close: %v", err)
	}
	if _, err := m.ReadAt(p, 0); !errors.Is(err, errBodyClosed) {
		t.Errorf("ReadAt after Close: %v", err)
	}
	if _, err := m.WriteTo(io.Discard); !errors.Is(err, errBodyClosed) {
		t.Errorf("WriteTo after Close: %v", err)
	}
	if _, err := m.Seek(0, io.SeekStart); !errors.Is(err, errBodyClosed) {
		t.Errorf("Seek after Close: %v", err)
	}
	if err := m.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

// blockingWriter signals its first Write and holds it until released.
type blockingWriter struct{ entered, release chan struct{} }

func (w blockingWriter) Write(p []byte) (int, error) {
	close(w.entered)
	<-w.release
	return len(p), nil
}

// A Close that races a read neither blocks on it nor hands the buffer on
// while the read still copies from it: the read releases it when done.
func TestMemBodyCloseDuringRead(t *testing.T) {
	m, raw := filledBody("plaintext of object A")
	w := blockingWriter{make(chan struct{}), make(chan struct{})}
	done := make(chan error, 1)
	go func() {
		_, err := m.WriteTo(w)
		done <- err
	}()
	<-w.entered
	closed := make(chan struct{})
	go func() { m.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close blocked on a read in progress")
	}
	if bytes.Equal(raw, make([]byte, len(raw))) {
		t.Fatal("the buffer was released while a read was copying from it")
	}
	close(w.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, make([]byte, len(raw))) {
		t.Fatal("the read that outlived Close did not release the buffer")
	}
}

// Reads racing Close (run with -race) return the object's bytes or
// errBodyClosed, never another object's plaintext from the reused buffer.
func TestMemBodyCloseRacesReads(t *testing.T) {
	const text = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"
	for range 200 {
		m, _ := filledBody(text)
		var wg sync.WaitGroup
		for range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				p := make([]byte, len(text))
				for {
					n, err := m.ReadAt(p, 0)
					if err != nil {
						if !errors.Is(err, errBodyClosed) {
							t.Errorf("ReadAt: %v", err)
						}
						return
					}
					if string(p[:n]) != text {
						t.Errorf("ReadAt returned %q", p[:n])
						return
					}
				}
			}()
		}
		m.Close()
		other, _ := filledBody("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB") // may reuse the buffer
		wg.Wait()
		other.Close()
	}
}
