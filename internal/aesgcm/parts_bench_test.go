package aesgcm

import "testing"

func BenchmarkCTROnly(b *testing.B) {
	c, _ := New(make([]byte, 32), make([]byte, 12))
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		s := c.NewCTR(0)
		for off := 0; off < len(buf); off += 64 << 10 {
			s.XORKeyStream(buf[off:off+64<<10], buf[off:off+64<<10])
		}
	}
}

func BenchmarkHashOnly(b *testing.B) {
	c, _ := New(make([]byte, 32), make([]byte, 12))
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		h := c.NewHash()
		for off := 0; off < len(buf); off += 64 << 10 {
			h.Write(buf[off : off+64<<10])
		}
	}
}
