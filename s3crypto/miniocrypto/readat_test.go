package miniocrypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/s3crypto"
)

// ReadAt is safe for concurrent use, as *minio.Object's is, on a large
// object spooled to disk and on one held in memory; Read and Seek may run
// beside it; Close while reads are under way is clean, and everything
// after Close fails with ErrObjectClosed. Run with -race.
func TestConcurrentReadAt(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	data := randomBytes(20*mib + 7)
	put := newClient(t, keyrings(t)["aes"])
	if _, err := put.PutObject(bg, bucket, "big", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []struct {
		name string
		mem  int64
	}{{"spooled", 1 << 20}, {"in-memory", 32 * mib}} {
		c := newClient(t, keyrings(t)["aes"], func(o *s3crypto.Options) { o.MemoryBufferSize = mode.mem; o.TempDir = t.TempDir() })
		obj, err := c.GetObject(bg, bucket, "big", minio.GetObjectOptions{})
		if err != nil {
			t.Fatal(err)
		}
		check := func(seed uint64, rounds int) error {
			rng := rand.New(rand.NewPCG(seed, 1))
			buf := make([]byte, 256<<10)
			for range rounds {
				off := rng.Int64N(int64(len(data)) + 10)
				p := buf[:rng.IntN(len(buf))+1]
				n, err := obj.ReadAt(p, off)
				if errors.Is(err, ErrObjectClosed) {
					return err
				}
				end := min(off+int64(len(p)), int64(len(data)))
				switch {
				case off >= int64(len(data)):
					if n != 0 || err != io.EOF {
						return fmt.Errorf("ReadAt past the end (%d): %d, %v", off, n, err)
					}
				case end-off < int64(len(p)):
					if n != int(end-off) || err != io.EOF {
						return fmt.Errorf("short ReadAt at %d: %d, %v", off, n, err)
					}
				case n != len(p) || err != nil:
					return fmt.Errorf("ReadAt at %d: %d, %v", off, n, err)
				}
				if !bytes.Equal(p[:n], data[off:end]) {
					return fmt.Errorf("ReadAt at %d: wrong bytes", off)
				}
			}
			return nil
		}
		// Eight readers at random offsets, and one reading in order with
		// Seek, all at once.
		var wg sync.WaitGroup
		errs := make(chan error, 9)
		for i := range 8 {
			wg.Add(1)
			go func() { defer wg.Done(); errs <- check(uint64(i), 200) }()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := obj.Seek(3*mib, io.SeekStart); err != nil {
				errs <- err
				return
			}
			got, err := io.ReadAll(obj)
			if err != nil || !bytes.Equal(got, data[3*mib:]) {
				errs <- fmt.Errorf("Read after Seek beside ReadAt: %v", err)
				return
			}
			errs <- nil
		}()
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatalf("%s: %v", mode.name, err)
			}
		}
		if st, err := obj.Stat(); err != nil || st.Size != int64(len(data)) {
			t.Fatalf("%s: Stat %d, %v", mode.name, st.Size, err)
		}

		// Close while readers are busy: each sees whole, right answers
		// until it sees ErrObjectClosed.
		errs = make(chan error, 4)
		started := make(chan struct{}, 4)
		for i := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				started <- struct{}{}
				for {
					if err := check(uint64(100+i), 1); err != nil {
						if !errors.Is(err, ErrObjectClosed) {
							errs <- err
						}
						return
					}
				}
			}()
		}
		for range 4 {
			<-started
		}
		if err := obj.Close(); err != nil {
			t.Fatal(err)
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("%s: reader during Close: %v", mode.name, err)
		}
		p := make([]byte, 10)
		if _, err := obj.ReadAt(p, 0); !errors.Is(err, ErrObjectClosed) {
			t.Fatalf("%s: ReadAt after Close: %v", mode.name, err)
		}
		if _, err := obj.Read(p); !errors.Is(err, ErrObjectClosed) {
			t.Fatalf("%s: Read after Close: %v", mode.name, err)
		}
		if _, err := obj.Seek(0, io.SeekStart); !errors.Is(err, ErrObjectClosed) {
			t.Fatalf("%s: Seek after Close: %v", mode.name, err)
		}
		if _, err := obj.Stat(); !errors.Is(err, ErrObjectClosed) {
			t.Fatalf("%s: Stat after Close: %v", mode.name, err)
		}
		if err := obj.Close(); err != nil {
			t.Fatalf("%s: second Close: %v", mode.name, err)
		}
	}
}
