package aesgcm

import "encoding/binary"

// element is an element of GF(2^128) in GCM's bit order: the 16 bytes of a
// block read big-endian into hi and lo, so that the coefficient of x^0 is the
// most significant bit of hi (NIST SP 800-38D, section 6.3).
type element struct {
	hi, lo uint64
}

func loadElement(b []byte) element {
	return element{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:16])}
}

func (e element) put(b []byte) {
	binary.BigEndian.PutUint64(b[:8], e.hi)
	binary.BigEndian.PutUint64(b[8:16], e.lo)
}

func (e element) xor(f element) element {
	return element{e.hi ^ f.hi, e.lo ^ f.lo}
}

// mul returns x·y in GF(2^128) with GCM's reduction polynomial
// x^128 + x^7 + x^2 + x + 1. It is SP 800-38D Algorithm 1 with masks instead
// of branches, so its timing does not depend on the (secret) operands.
//
// The standard library computes GHASH in assembly but does not expose field
// multiplication; this is the only arithmetic we write ourselves, and it runs
// a handful of times per chunk, never per byte.
func mul(x, y element) element {
	var z element
	v := y
	for i := 0; i < 128; i++ {
		var bit uint64
		if i < 64 {
			bit = (x.hi >> (63 - i)) & 1
		} else {
			bit = (x.lo >> (127 - i)) & 1
		}
		m := -bit
		z.hi ^= v.hi & m
		z.lo ^= v.lo & m
		carry := -(v.lo & 1)
		v.lo = v.lo>>1 | v.hi<<63
		v.hi = v.hi>>1 ^ 0xe100000000000000&carry
	}
	return z
}

// one is the multiplicative identity (the polynomial 1).
var one = element{hi: 1 << 63}

// pow returns x^n.
func pow(x element, n uint64) element {
	r := one
	for n > 0 {
		if n&1 == 1 {
			r = mul(r, x)
		}
		x = mul(x, x)
		n >>= 1
	}
	return r
}

// lengthBlock is GCM's final GHASH block: the AAD and ciphertext lengths in bits.
func lengthBlock(aadBytes, ctBytes uint64) element {
	return element{aadBytes * 8, ctBytes * 8}
}

// inverse returns x^-1 = x^(2^128-2) for x ≠ 0. 2^128−2 is the sum of 2^i
// for i = 1…127, so the result is the product of x squared 1…127 times.
func inverse(x element) element {
	r := one
	for i := 1; i < 128; i++ {
		x = mul(x, x)
		r = mul(r, x)
	}
	return r
}
