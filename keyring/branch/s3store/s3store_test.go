package s3store_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/kmstest"
	"github.com/s3c/s3c/internal/miniotest"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/keyring/branch"
	"github.com/s3c/s3c/keyring/branch/s3store"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

var minio *miniotest.Server

func TestMain(m *testing.M) {
	s, err := miniotest.Start(log.Printf)
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the test S3 server:", err)
		os.Exit(1)
	}
	minio = s
	code := m.Run()
	s.Stop()
	os.Exit(code)
}

var bg = context.Background()

type env struct {
	t      *testing.T
	bucket string
	raw    *s3.Client
	store  *s3store.Store
	kms    *kmstest.Server
}

func newEnv(t *testing.T) *env {
	t.Helper()
	srv, err := kmstest.Start(kmstest.Options{AccessKeyID: "AKIDTEST", SecretAccessKey: "secret"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &env{t: t, bucket: minio.NewBucket(t), raw: minio.Client(), kms: srv}
	e.store = s3store.New(e.raw, e.bucket, "keystore")
	return e
}

// kmsCalls is every KMS call that can wrap or unwrap.
func (e *env) kmsCalls() int {
	return e.kms.Calls("Decrypt") + e.kms.Calls("GenerateDataKey") + e.kms.Calls("Encrypt") + e.kms.Calls("ReEncrypt")
}

func (e *env) kmsRoot(alias string) (keyring.Keyring, string) {
	id, arn := e.kms.CreateKey(alias)
	_ = arn
	return materials.NewKMS(e.kms.Client(bg), alias), id
}

func aesRoot(t *testing.T) keyring.Keyring {
	key := make([]byte, 32)
	rand.Read(key)
	k, err := keyring.NewAES(key)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func rsaRoot(t *testing.T) keyring.Keyring {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keyring.NewRSA(priv)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func (e *env) branchKeyring(root keyring.Keyring, id string) *branch.Keyring {
	k, err := branch.NewKeyring(e.store, root, branch.Options{BranchKeyID: id, CacheTTL: 15 * time.Minute})
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { k.Close() })
	return k
}

func (e *env) client(kr keyring.Keyring, fns ...func(*s3crypto.Options)) *s3crypto.Client {
	c, err := s3crypto.New(e.raw, kr, fns...)
	if err != nil {
		e.t.Fatal(err)
	}
	return c
}

func allowV2(o *s3crypto.Options) { o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt }

func (e *env) put(c *s3crypto.Client, key string, data []byte) {
	e.t.Helper()
	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
		e.t.Fatalf("put %s: %v", key, err)
	}
}

func (e *env) get(c *s3crypto.Client, key string) ([]byte, *s3crypto.ObjectInfo, error) {
	out, err := c.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		return nil, nil, err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, nil, err
	}
	info, _ := s3crypto.GetObjectInfo(out.ResultMetadata)
	return b, info, nil
}

func (e *env) mustGet(c *s3crypto.Client, key string, want []byte) *s3crypto.ObjectInfo {
	e.t.Helper()
	got, info, err := e.get(c, key)
	if err != nil {
		e.t.Fatalf("get %s: %v", key, err)
	}
	if !bytes.Equal(got, want) {
		e.t.Fatalf("get %s: plaintext differs", key)
	}
	return info
}

func TestRoundTripEveryRoot(t *testing.T) {
	e := newEnv(t)
	kmsR, _ := e.kmsRoot("alias/root")
	for name, root := range map[string]keyring.Keyring{"kms": kmsR, "aes": aesRoot(t), "rsa": rsaRoot(t)} {
		id, err := branch.CreateBranchKey(bg, e.store, root)
		if err != nil {
			t.Fatal(name, err)
		}
		for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
			for _, instr := range []bool{false, true} {
				c := e.client(e.branchKeyring(root, id), func(o *s3crypto.Options) { o.Format = format; o.InstructionFile = instr })
				key := fmt.Sprintf("%s/%s/%v", name, format, instr)
				data := []byte("hello " + key)
				e.put(c, key, data)
				// A fresh keyring (another process) reads it.
				info := e.mustGet(e.client(e.branchKeyring(root, ""), allowV2), key, data)
				d := info.Envelope.Description
				if info.Envelope.WrapAlg != metadata.WrapAESGCM || d[branch.DescriptionBranchKeyID] != id || d[branch.DescriptionBranchKeyVersion] != "1" ||
					info.KeyRef != "branch:"+id+"/1" || info.Envelope.Format != format {
					t.Fatalf("%s: envelope %+v, key %s", key, info.Envelope, info.KeyRef)
				}
			}
		}
	}
}

func TestRotationThroughS3(t *testing.T) {
	e := newEnv(t)
	root, _ := e.kmsRoot("alias/root")
	id, err := branch.CreateBranchKey(bg, e.store, root)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(e.branchKeyring(root, id))
	e.put(c, "old", []byte("old"))
	if v, err := branch.Rotate(bg, e.store, root, id); err != nil || v != "2" {
		t.Fatal(v, err)
	}
	c2 := e.client(e.branchKeyring(root, id)) // a keyring started after the rotation
	e.put(c2, "new", []byte("new"))
	if info := e.mustGet(c2, "new", []byte("new")); info.Envelope.Description[branch.DescriptionBranchKeyVersion] != "2" {
		t.Fatal(info.Envelope.Description)
	}
	if info := e.mustGet(c2, "old", []byte("old")); info.Envelope.Description[branch.DescriptionBranchKeyVersion] != "1" {
		t.Fatal(info.Envelope.Description)
	}
	e.mustGet(c, "new", []byte("new"))
}

func TestRootRewrapThenDisableOldKMSKey(t *testing.T) {
	e := newEnv(t)
	rootA, idA := e.kmsRoot("alias/a")
	rootB, _ := e.kmsRoot("alias/b")
	ids := make([]string, 2)
	for i := range ids {
		id, err := branch.CreateBranchKey(bg, e.store, rootA)
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = id
	}
	keys := map[string][]byte{}
	for _, id := range ids {
		c := e.client(e.branchKeyring(rootA, id))
		for i := range 3 {
			k := fmt.Sprintf("%s/%d", id, i)
			keys[k] = []byte(k)
			e.put(c, k, keys[k])
		}
	}
	// An object under a second version of the first branch key.
	if _, err := branch.Rotate(bg, e.store, rootA, ids[0]); err != nil {
		t.Fatal(err)
	}
	keys["after"] = []byte("after")
	e.put(e.client(e.branchKeyring(rootA, ids[0])), "after", keys["after"])
	st, err := branch.RewrapStore(bg, e.store, rootB, rootA)
	if err != nil || st.Rewrapped != 3 {
		t.Fatal(st, err)
	}
	e.kms.SetKeyEnabled(idA, false)
	before := e.kmsCalls()
	c := e.client(e.branchKeyring(rootB, ""))
	for k, v := range keys {
		e.mustGet(c, k, v)
	}
	if n := e.kmsCalls() - before; n != 3 {
		t.Fatalf("%d KMS calls for 3 branch key versions", n)
	}
	// The old root cannot open the store any more.
	if _, _, err := e.get(e.client(e.branchKeyring(rootA, "")), ids[0]+"/0"); err == nil {
		t.Fatal("old root still reads")
	}
}

func TestConcurrentRotateS3(t *testing.T) {
	e := newEnv(t)
	root := aesRoot(t)
	id, err := branch.CreateBranchKey(bg, e.store, root)
	if err != nil {
		t.Fatal(err)
	}
	wins := 0
	for range 5 {
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for i := range errs {
			wg.Go(func() { _, errs[i] = branch.Rotate(bg, e.store, root, id) })
		}
		wg.Wait()
		for _, err := range errs {
			if err == nil {
				wins++
			} else if !errors.Is(err, branch.ErrConflict) {
				t.Fatal(err)
			}
		}
		if errs[0] != nil && errs[1] != nil {
			t.Fatalf("both failed: %v", errs)
		}
	}
	info, err := branch.Describe(bg, e.store, id)
	if err != nil {
		t.Fatal(err)
	}
	// Every version opens, the active one is among them, and the active
	// one is the newest that a winner made active.
	kr := e.branchKeyring(root, id)
	found := false
	for _, v := range info.Versions {
		found = found || v.Version == info.Active
		dk, err := kr.GenerateDataKey(bg, &keyring.EncryptionRequest{ContentAlg: metadata.ContentCommittingGCM})
		if err != nil {
			t.Fatal(err)
		}
		_ = dk
	}
	if !found || len(info.Versions) < 1+wins {
		t.Fatalf("active %s, versions %v, %d wins", info.Active, info.Versions, wins)
	}
	c := e.client(kr)
	e.put(c, "x", []byte("x"))
	if got := e.mustGet(c, "x", []byte("x")); got.Envelope.Description[branch.DescriptionBranchKeyVersion] != info.Active {
		t.Fatal(got.Envelope.Description, info.Active)
	}
	// A create with an existing id fails.
	if err := branch.CreateBranchKeyWithID(bg, e.store, root, id); !errors.Is(err, branch.ErrExists) {
		t.Fatal(err)
	}
}

// 2,000 puts and 2,000 gets through one keyring with a KMS root make one
// KMS call: the branch key version's Decrypt.
func TestKMSCallCounts(t *testing.T) {
	e := newEnv(t)
	root, _ := e.kmsRoot("alias/root")
	id, err := branch.CreateBranchKey(bg, e.store, root)
	if err != nil {
		t.Fatal(err)
	}
	c := e.client(e.branchKeyring(root, id))
	before := e.kmsCalls()
	const n, workers = 2000, 32
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				key := fmt.Sprintf("o/%d", i)
				body := []byte(key)
				if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(body)}); err != nil {
					errs <- err
					return
				}
				got, _, err := e.get(c, key)
				if err != nil || !bytes.Equal(got, body) {
					errs <- fmt.Errorf("get %s: %v", key, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	calls := e.kmsCalls() - before
	t.Logf("KMS calls for %d puts and %d gets: %d (Decrypt %d, GenerateDataKey %d)", n, n, calls, e.kms.Calls("Decrypt"), e.kms.Calls("GenerateDataKey"))
	if calls != 1 {
		t.Fatalf("%d KMS calls, want 1", calls)
	}
}

// The branch key version's 32 bytes, as a raw AES key with the branch
// description, read an object through the S3EC raw-AES path.
func TestRawAESReadsBranchObjects(t *testing.T) {
	e := newEnv(t)
	root, _ := e.kmsRoot("alias/root")
	id, err := branch.CreateBranchKey(bg, e.store, root)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		e.put(e.client(e.branchKeyring(root, id), func(o *s3crypto.Options) { o.Format = format }), fmt.Sprint("obj", format), []byte("data"))
	}
	v, err := e.store.GetVersion(bg, id, "1")
	if err != nil {
		t.Fatal(err)
	}
	dk, err := root.DecryptDataKey(bg, &keyring.DecryptionRequest{WrapAlg: v.WrapAlg, ContentAlg: metadata.ContentCommittingGCM,
		EncryptedKey: v.EncryptedKey, Description: v.Description})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := keyring.NewAES(dk.Plaintext, func(o *keyring.RawOptions) {
		o.Description = map[string]string{branch.DescriptionBranchKeyID: id, branch.DescriptionBranchKeyVersion: "1"}
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []metadata.Format{metadata.V3, metadata.V2} {
		e.mustGet(e.client(raw, allowV2), fmt.Sprint("obj", format), []byte("data"))
	}
}

func (e *env) rewrite(key string, fn func(map[string]any)) {
	e.t.Helper()
	out, err := e.raw.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		e.t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	out.Body.Close()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		e.t.Fatal(err)
	}
	fn(m)
	b, _ = json.Marshal(m)
	if _, err := e.raw.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(b)}); err != nil {
		e.t.Fatal(err)
	}
}

// Altering the key store's version document, the object's material
// description or its wrapped data key makes the read fail with an
// error: no panic, no plaintext.
func TestTamper(t *testing.T) {
	flipB64 := func(s string) string {
		b := []byte(s)
		if b[4] == 'A' {
			b[4] = 'B'
		} else {
			b[4] = 'A'
		}
		return string(b)
	}
	type tamper struct {
		name string
		fn   func(e *env, id string)
	}
	for _, tc := range []tamper{
		{"store wrapped key", func(e *env, id string) {
			e.rewrite("keystore/"+id+"/v/1.json", func(m map[string]any) { m["encryptedKey"] = flipB64(m["encryptedKey"].(string)) })
		}},
		{"store description pair added", func(e *env, id string) {
			e.rewrite("keystore/"+id+"/v/1.json", func(m map[string]any) { m["description"].(map[string]any)["extra"] = "x" })
		}},
		{"store description version", func(e *env, id string) {
			e.rewrite("keystore/"+id+"/v/1.json", func(m map[string]any) {
				m["description"].(map[string]any)[branch.DescriptionBranchKeyVersion] = "2"
			})
		}},
		{"store version 2 copied over 1", func(e *env, id string) {
			e.rewrite("keystore/"+id+"/v/2.json", func(m map[string]any) { m["version"] = "1" })
			if _, err := e.raw.CopyObject(bg, &s3.CopyObjectInput{Bucket: &e.bucket, Key: aws.String("keystore/" + id + "/v/1.json"),
				CopySource: aws.String(e.bucket + "/keystore/" + id + "/v/2.json")}); err != nil {
				e.t.Fatal(err)
			}
		}},
		{"object description names version 2", func(e *env, id string) {
			e.rewrite("obj.instruction", func(m map[string]any) {
				var d map[string]string
				json.Unmarshal([]byte(m["x-amz-m"].(string)), &d)
				d[branch.DescriptionBranchKeyVersion] = "2"
				b, _ := json.Marshal(d)
				m["x-amz-m"] = string(b)
			})
		}},
		{"object description names another branch key", func(e *env, id string) {
			e.rewrite("obj.instruction", func(m map[string]any) {
				m["x-amz-m"] = strings.Replace(m["x-amz-m"].(string), id, branch.NewID(), 1)
			})
		}},
		{"object wrapped data key", func(e *env, id string) {
			e.rewrite("obj.instruction", func(m map[string]any) { m["x-amz-3"] = flipB64(m["x-amz-3"].(string)) })
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			root, _ := e.kmsRoot("alias/root")
			id, err := branch.CreateBranchKey(bg, e.store, root)
			if err != nil {
				t.Fatal(err)
			}
			e.put(e.client(e.branchKeyring(root, id), func(o *s3crypto.Options) { o.InstructionFile = true }), "obj", []byte("secret"))
			if _, err := branch.Rotate(bg, e.store, root, id); err != nil {
				t.Fatal(err)
			}
			tc.fn(e, id)
			got, _, err := e.get(e.client(e.branchKeyring(root, "")), "obj")
			if err == nil || got != nil {
				t.Fatalf("read succeeded: %q", got)
			}
			// Every alteration but naming a branch key the store does not
			// hold is reported as tampering.
			if s3crypto.IsIntegrityError(err) != (tc.name != "object description names another branch key") {
				t.Fatalf("integrity %v: %v", s3crypto.IsIntegrityError(err), err)
			}
		})
	}
}
