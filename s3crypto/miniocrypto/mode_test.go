package miniocrypto

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/s3c/s3c/internal/filemode"
)

// FGetObject gives its file the mode cp would, as the s3c CLI does: a new
// file 0666 less the umask, an existing one its own mode.
func TestFGetObjectMode(t *testing.T) {
	t.Parallel()
	bucket := server.NewBucket(t)
	c := newClient(t, keyrings(t)["aes"])
	data := []byte("decrypted")
	if _, err := c.PutObject(bg, bucket, "obj", bytes.NewReader(data), int64(len(data)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fresh := filepath.Join(dir, "new")
	if err := c.FGetObject(bg, bucket, "obj", fresh, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(fresh); st.Mode().Perm() != 0o666&^filemode.Umask() {
		t.Fatalf("a new file is %v with umask %v", st.Mode().Perm(), filemode.Umask())
	}
	kept := filepath.Join(dir, "kept")
	os.WriteFile(kept, []byte("old"), 0o600)
	os.Chmod(kept, 0o640)
	if err := c.FGetObject(bg, bucket, "obj", kept, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(kept); st.Mode().Perm() != 0o640 {
		t.Fatalf("an existing 0640 file became %v", st.Mode().Perm())
	}
}
