package branch_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"time"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/keyring/branch"
	"github.com/s3c/s3c/metadata"
)

// A branch key in a store, wrapped by a root keyring (here a raw AES
// key; in production typically materials.NewKMS and s3store.New), used
// by a keyring that an s3crypto client takes like any other.
func ExampleNewKeyring() {
	ctx := context.Background()
	rootKey := make([]byte, 32)
	rand.Read(rootKey)
	root, _ := keyring.NewAES(rootKey)
	store := branch.NewMemStore()

	if err := branch.CreateBranchKeyWithID(ctx, store, root, "tenant-a"); err != nil {
		fmt.Println(err)
		return
	}
	kr, err := branch.NewKeyring(store, root, branch.Options{BranchKeyID: "tenant-a", CacheTTL: 15 * time.Minute})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer kr.Close()
	// s3crypto.New(s3Client, kr) would call this once per new object.
	dk, err := kr.GenerateDataKey(ctx, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(dk.WrapAlg, dk.KeyRef, dk.Description)

	// Rotation: new objects get version 2, objects under version 1 still read.
	v, _ := branch.Rotate(ctx, store, root, "tenant-a")
	fmt.Println("active version", v)
	// Output:
	// AES/GCM branch:tenant-a/1 map[s3c:branch-key-id:tenant-a s3c:branch-key-version:1]
	// active version 2
}
