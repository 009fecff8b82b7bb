package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"errors"
	"fmt"
	"io"
	"testing"

	"github.com/s3c/s3c/internal/aesgcm"
	"github.com/s3c/s3c/internal/core"
	"github.com/s3c/s3c/materials"
)

// The in-memory cipher microbenchmarks: s3c's streaming AES-GCM, on its
// own and through s3crypto's readers, against one-shot crypto/cipher
// Seal and Open of the same message. Measured in this process with
// testing.Benchmark (about a second each), interleaved over runs.
const (
	cipherMsg   = 16 << 20 // one message
	cipherChunk = 1 << 20  // s3crypto's chunk (chunkSize in encrypt_reader.go)
)

type cipherBench struct {
	name, what string
	base       string // the raw row it is compared with; "" for raw rows
	fn         func(b *testing.B) error
}

func cipherBenches() ([]cipherBench, error) {
	ctx := context.Background()
	key, nonce := make([]byte, 32), make([]byte, 12)
	msg := make([]byte, cipherMsg)
	if _, err := io.ReadFull(newPattern(cipherMsg), msg); err != nil {
		return nil, err
	}
	blk, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	g, err := cipher.NewGCM(blk)
	if err != nil {
		return nil, err
	}
	c, err := aesgcm.New(key, nonce)
	if err != nil {
		return nil, err
	}
	sealed := g.Seal(nil, nonce, msg, nil)
	dst := make([]byte, 0, cipherMsg+aesgcm.TagSize)

	kr, err := materials.NewAES(key)
	if err != nil {
		return nil, err
	}
	opts, err := core.NewOptions(kr)
	if err != nil {
		return nil, err
	}
	// One object encrypted by s3crypto, for its decrypting reader.
	enc, err := core.NewEncryption(ctx, &opts, nil)
	if err != nil {
		return nil, err
	}
	r, err := enc.NewReader(bytes.NewReader(msg), cipherMsg)
	if err != nil {
		return nil, err
	}
	stored, err := io.ReadAll(r)
	if err != nil {
		return nil, err
	}
	env := enc.Envelope(cipherMsg)

	// drain reads r to the end into dst, as a consumer would.
	drain := func(r io.Reader, want int) error {
		n, err := io.ReadFull(r, dst[:want])
		if err != nil {
			return fmt.Errorf("read %d of %d bytes: %w", n, want, err)
		}
		var one [1]byte
		if _, err := r.Read(one[:]); err != io.EOF {
			return fmt.Errorf("at the end: %v", err)
		}
		return nil
	}
	return []cipherBench{
		{"seal crypto/cipher", "one-shot AEAD.Seal of the whole message", "", func(b *testing.B) error {
			for range b.N {
				g.Seal(dst[:0], nonce, msg, nil)
			}
			return nil
		}},
		{"seal aesgcm.Stream", "internal/aesgcm Stream.Seal, 1 MiB chunks, then the tag", "seal crypto/cipher", func(b *testing.B) error {
			for range b.N {
				s := c.NewStream(0)
				out := dst[:0]
				for off := 0; off < len(msg); off += cipherChunk {
					out = s.Seal(out, msg[off:min(off+cipherChunk, len(msg))])
				}
				tag := s.Hash().Sum(nil)
				_ = append(out, tag[:]...)
			}
			return nil
		}},
		{"seal s3crypto reader", "Encryption.NewReader (new data key each), read into a buffer", "seal crypto/cipher", func(b *testing.B) error {
			for range b.N {
				e, err := core.NewEncryption(ctx, &opts, nil)
				if err != nil {
					return err
				}
				r, err := e.NewReader(bytes.NewReader(msg), cipherMsg)
				if err != nil {
					return err
				}
				if err := drain(r, cipherMsg+aesgcm.TagSize); err != nil {
					return err
				}
			}
			return nil
		}},
		{"open crypto/cipher", "one-shot AEAD.Open of the whole message", "", func(b *testing.B) error {
			for range b.N {
				if _, err := g.Open(dst[:0], nonce, sealed, nil); err != nil {
					return err
				}
			}
			return nil
		}},
		{"open aesgcm.Stream", "internal/aesgcm Stream.Open, 1 MiB chunks, then the tag verified", "open crypto/cipher", func(b *testing.B) error {
			ct, tag := sealed[:cipherMsg], sealed[cipherMsg:]
			for range b.N {
				s := c.NewStream(0)
				for off := 0; off < len(ct); off += cipherChunk {
					end := min(off+cipherChunk, len(ct))
					s.Open(dst[off:end], ct[off:end])
				}
				if !s.Hash().Verify(nil, tag) {
					return errors.New("aesgcm.Stream: tag mismatch")
				}
			}
			return nil
		}},
		{"open s3crypto reader", "Decryption.OpenStream (data key unwrapped each), read into a buffer, tag checked", "open crypto/cipher", func(b *testing.B) error {
			for range b.N {
				d, err := core.NewDecryption(ctx, &opts, env, nil, false)
				if err != nil {
					return err
				}
				r, err := d.OpenStream(io.NopCloser(bytes.NewReader(stored)), int64(len(stored)))
				if err != nil {
					return err
				}
				if err := drain(r, cipherMsg); err != nil {
					return err
				}
			}
			return nil
		}},
	}, nil
}

type cipherResult struct {
	cipherBench
	mbps  float64 // median
	ratio float64 // median over the runs of this row ÷ its base row in the same run; 0 for base rows
}

// runCipher runs every benchmark runs times, interleaved, and returns the
// median MB/s of each.
func runCipher(runs int) ([]cipherResult, error) {
	benches, err := cipherBenches()
	if err != nil {
		return nil, err
	}
	all := make([][]float64, len(benches))
	for range runs {
		for i, cb := range benches {
			var berr error
			r := testing.Benchmark(func(b *testing.B) {
				b.SetBytes(cipherMsg)
				if err := cb.fn(b); err != nil && berr == nil {
					berr = err
				}
			})
			if berr != nil {
				return nil, fmt.Errorf("%s: %v", cb.name, berr)
			}
			if r.N == 0 || r.T == 0 {
				return nil, fmt.Errorf("%s: benchmark did not run", cb.name)
			}
			all[i] = append(all[i], float64(r.Bytes)*float64(r.N)/1e6/r.T.Seconds())
		}
	}
	// A row's ratio is taken within each run, against its base measured
	// moments before, then the median over the runs: on a shared machine
	// that is steadier than the ratio of two medians.
	index := map[string]int{}
	for i, cb := range benches {
		index[cb.name] = i
	}
	res := make([]cipherResult, len(benches))
	for i, cb := range benches {
		var ratios []float64
		if j, ok := index[cb.base]; ok {
			for k := range all[i] {
				ratios = append(ratios, all[i][k]/all[j][k])
			}
		}
		res[i] = cipherResult{cb, median(all[i]), median(ratios)}
	}
	return res, nil
}
