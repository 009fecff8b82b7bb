package s3crypto

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	s3v1 "github.com/aws/aws-sdk-go/service/s3"

	"github.com/s3c/s3c/internal/faultproxy"
	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// newAESKeyring returns a keyring for a fresh random AES key.
func newAESKeyring(t testing.TB) *keyring.AESKeyring {
	t.Helper()
	k := make([]byte, 32)
	rand.Read(k)
	kr, err := keyring.NewAES(k)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

// allowV2 lets a client read V2 objects (and writes V3).
func allowV2(o *Options) { o.CommitmentPolicy = RequireEncryptAllowDecrypt }

func (e *env) rawHead(key string) *s3.HeadObjectOutput {
	e.t.Helper()
	h, err := e.raw.HeadObject(bg, &s3.HeadObjectInput{Bucket: &e.bucket, Key: &key})
	if err != nil {
		e.t.Fatalf("HEAD %s: %v", key, err)
	}
	return h
}

func (e *env) rewrap(c *Client, key string, newKR keyring.Keyring, fns ...func(*RewrapObjectInput)) (*RewrapObjectOutput, error) {
	in := &RewrapObjectInput{Bucket: &e.bucket, Key: &key, NewKeyring: newKR}
	for _, fn := range fns {
		fn(in)
	}
	return c.RewrapObject(bg, in)
}

// Every keyring pair, both envelope placements and both formats: the
// stored ciphertext is byte-identical afterwards, the new key reads it,
// the old key alone no longer does (and that is not an integrity
// failure), an instruction-file object keeps its ETag and LastModified.
func TestRewrapKeyringPairs(t *testing.T) {
	e := newEnv(t)
	_, newKMSARN := e.kms.CreateKey("alias/s3c-new")
	newKMS := materials.NewKMS(e.kms.Client(bg), "alias/s3c-new")
	newAES := newAESKeyring(t)
	pairs := []struct {
		name     string
		old, new keyring.Keyring
		otherKey bool // the old key alone fails with ErrOtherKey
	}{
		{"aes-aes", e.keyrings["aes"], newAES, true},
		{"aes-kms", e.keyrings["aes"], newKMS, false},
		{"kms-kms", e.keyrings["kms"], newKMS, true},
		{"rsa-aes", e.keyrings["rsa"], newAES, false},
	}
	for _, p := range pairs {
		for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
			for _, inst := range []bool{false, true} {
				name := fmt.Sprintf("%s/%s/instruction=%v", p.name, format, inst)
				t.Run(name, func(t *testing.T) {
					key := strings.ReplaceAll(name, "/", "-")
					data := randomBytes(3000)
					w := e.client(p.old, func(o *Options) { o.Format = format; o.InstructionFile = inst })
					_, err := w.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data),
						Metadata: map[string]string{"owner": "team-a"}, StorageClass: types.StorageClassReducedRedundancy},
						WithEncryptionContext(map[string]string{"purpose": "test"}))
					if err != nil {
						t.Fatal(err)
					}
					before, _, err := e.rawGet(key)
					if err != nil {
						t.Fatal(err)
					}
					h0 := e.rawHead(key)
					calls := map[string]int{}
					for _, op := range []string{"ReEncrypt", "Decrypt", "GenerateDataKey", "Encrypt"} {
						calls[op] = e.kms.Calls(op)
					}

					rc := e.client(keyring.Multi(p.new, p.old), allowV2)
					out, err := e.rewrap(rc, key, keyring.Multi(p.new))
					if err != nil {
						t.Fatalf("RewrapObject: %v", err)
					}
					if out.Result != RewrapRewrapped {
						t.Fatalf("result %q, want rewrapped", out.Result)
					}
					if p.name == "kms-kms" {
						for op, want := range map[string]int{"ReEncrypt": 1, "Decrypt": 0, "GenerateDataKey": 0, "Encrypt": 0} {
							if got := e.kms.Calls(op) - calls[op]; got != want {
								t.Errorf("KMS %s calls during the rewrap: %d, want %d", op, got, want)
							}
						}
						if out.KeyRefAfter != newKMSARN {
							t.Errorf("KeyRefAfter %q, want %q", out.KeyRefAfter, newKMSARN)
						}
					}
					after, meta, err := e.rawGet(key)
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(before, after) {
						t.Fatal("the stored ciphertext changed")
					}
					if meta["owner"] != "team-a" {
						t.Errorf("user metadata lost: %v", meta)
					}
					if inst {
						if sc := e.rawHead(key + ".instruction").StorageClass; sc != types.StorageClassReducedRedundancy {
							t.Errorf("the instruction file's storage class is now %q", sc)
						}
						h1 := e.rawHead(key)
						if aws.ToString(h1.ETag) != aws.ToString(h0.ETag) || !aws.ToTime(h1.LastModified).Equal(aws.ToTime(h0.LastModified)) {
							t.Errorf("instruction-file object touched: ETag %s→%s, LastModified %v→%v",
								aws.ToString(h0.ETag), aws.ToString(h1.ETag), h0.LastModified, h1.LastModified)
						}
					}
					ctx := WithEncryptionContext(map[string]string{"purpose": "test"})
					got, gout, err := e.get(e.client(p.new, allowV2), key, ctx)
					if err != nil || !bytes.Equal(got, data) {
						t.Fatalf("the new key alone: %d bytes, %v", len(got), err)
					}
					info, _ := GetObjectInfo(gout.ResultMetadata)
					if info.Envelope.Format != format || (info.Envelope.Storage == metadata.InstructionFile) != inst {
						t.Errorf("format or storage changed: %s, %s", info.Envelope.Format, info.Envelope.Storage)
					}
					if info.Envelope.Description["purpose"] != "test" {
						t.Errorf("stored context lost: %v", info.Envelope.Description)
					}
					got, _, err = e.get(e.client(p.old, allowV2), key, ctx)
					if err == nil || len(got) != 0 || IsIntegrityError(err) {
						t.Fatalf("the old key alone: %d bytes, %v; want a failure that is not an integrity failure", len(got), err)
					}
					if p.otherKey && !errors.Is(err, keyring.ErrOtherKey) {
						t.Errorf("the old key alone: %v; want ErrOtherKey", err)
					}

					// A second rewrap finds it current and writes nothing.
					h1 := e.rawHead(key)
					again, err := e.rewrap(rc, key, keyring.Multi(p.new))
					if err != nil || again.Result != RewrapCurrent {
						t.Fatalf("second rewrap: %+v, %v; want current", again, err)
					}
					if h2 := e.rawHead(key); aws.ToString(h2.ETag) != aws.ToString(h1.ETag) {
						t.Error("a current object was rewritten")
					}
				})
			}
		}
	}
}

// A metadata-envelope object keeps every property through the self-copy,
// by CopyObject and by a multipart copy.
func TestRewrapKeepsProperties(t *testing.T) {
	e := newEnv(t)
	newAES := newAESKeyring(t)
	expires := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	for _, tc := range []struct {
		name string
		size int
	}{{"copy", 4000}, {"multipart", 12 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "props/" + tc.name
			data := randomBytes(tc.size)
			w := e.client(e.keyrings["aes"])
			_, err := w.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data),
				ContentType: aws.String("text/x-test"), CacheControl: aws.String("max-age=60"),
				ContentDisposition: aws.String(`attachment; filename="a.txt"`), ContentEncoding: aws.String("identity"),
				ContentLanguage: aws.String("de-CH"), Expires: &expires,
				WebsiteRedirectLocation: aws.String("/elsewhere"),
				StorageClass:            types.StorageClassReducedRedundancy,
				Metadata:                map[string]string{"owner": "team-a", "x-note": "kept"},
				Tagging:                 aws.String("project=blue&tier=gold"),
			})
			if err != nil {
				t.Fatal(err)
			}
			before, _, _ := e.rawGet(key)
			h0 := e.rawHead(key)
			if aws.ToString(h0.ContentType) != "text/x-test" || aws.ToString(h0.CacheControl) != "max-age=60" ||
				aws.ToString(h0.ContentLanguage) != "de-CH" || h0.ExpiresString == nil || h0.StorageClass != types.StorageClassReducedRedundancy {
				t.Fatalf("the server did not keep the properties in the first place: %+v", h0)
			}
			// MinIO keeps no website redirect: that one is compared, but
			// only S3 would show a loss.
			out, err := e.rewrap(e.client(keyring.Multi(newAES, e.keyrings["aes"])), key, newAES,
				func(in *RewrapObjectInput) { in.MultipartCopyThreshold = 5 << 20 })
			if err != nil || out.Result != RewrapRewrapped {
				t.Fatalf("RewrapObject: %+v, %v", out, err)
			}
			after, _, _ := e.rawGet(key)
			if !bytes.Equal(before, after) {
				t.Fatal("the stored ciphertext changed")
			}
			h1 := e.rawHead(key)
			if aws.ToString(h1.ETag) == aws.ToString(h0.ETag) && tc.name == "multipart" {
				t.Error("the multipart copy left the ETag as it was")
			}
			for name, pair := range map[string][2]*string{
				"Content-Type": {h0.ContentType, h1.ContentType}, "Cache-Control": {h0.CacheControl, h1.CacheControl},
				"Content-Disposition": {h0.ContentDisposition, h1.ContentDisposition}, "Content-Encoding": {h0.ContentEncoding, h1.ContentEncoding},
				"Content-Language": {h0.ContentLanguage, h1.ContentLanguage}, "Expires": {h0.ExpiresString, h1.ExpiresString},
				"Website-Redirect": {h0.WebsiteRedirectLocation, h1.WebsiteRedirectLocation},
			} {
				if aws.ToString(pair[0]) != aws.ToString(pair[1]) {
					t.Errorf("%s: %q before, %q after", name, aws.ToString(pair[0]), aws.ToString(pair[1]))
				}
			}
			if h0.StorageClass != h1.StorageClass || h1.StorageClass != types.StorageClassReducedRedundancy {
				t.Errorf("storage class %q before, %q after", h0.StorageClass, h1.StorageClass)
			}
			if !maps.Equal(metadata.WithoutEnvelope(h0.Metadata), metadata.WithoutEnvelope(h1.Metadata)) {
				t.Errorf("user metadata %v before, %v after", h0.Metadata, h1.Metadata)
			}
			tags, err := e.raw.GetObjectTagging(bg, &s3.GetObjectTaggingInput{Bucket: &e.bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, tg := range tags.TagSet {
				got[aws.ToString(tg.Key)] = aws.ToString(tg.Value)
			}
			if !maps.Equal(got, map[string]string{"project": "blue", "tier": "gold"}) {
				t.Errorf("tags after: %v", got)
			}
			plain, _, err := e.get(e.client(newAES), key)
			if err != nil || !bytes.Equal(plain, data) {
				t.Fatalf("the new key alone: %d bytes, %v", len(plain), err)
			}
			ups, err := e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("uploads left open: %v, %v", ups.Uploads, err)
			}
		})
	}
}

// An object overwritten between the rewrap's HEAD and its copy is
// detected by CopySourceIfMatch: the rewrap fails with ErrObjectChanged
// and the overwriting object survives, for CopyObject and for a
// multipart copy.
func TestRewrapConcurrentOverwrite(t *testing.T) {
	e := newEnv(t)
	newAES := newAESKeyring(t)
	proxy, err := faultproxy.Start(minio.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	viaProxy, err := New(minio.Client(func(o *s3.Options) { o.BaseEndpoint = aws.String(proxy.URL()) }),
		keyring.Multi(newAES, e.keyrings["aes"]))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, path string
		size       int
	}{{"copy", "x-id=CopyObject", 1000}, {"multipart", "x-id=UploadPartCopy", 6 << 20},
		{"multipart-complete", "uploadId=", 6 << 20}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "race/" + tc.name
			e.put(e.client(e.keyrings["aes"]), key, randomBytes(tc.size))
			newer := []byte("the newer object")
			var once sync.Once
			overwritten := false
			method := ""
			if tc.name == "multipart-complete" {
				method = "POST" // CompleteMultipartUpload
			}
			proxy.Add(&faultproxy.Rule{Method: method, Path: tc.path, Kind: faultproxy.ResetResponse,
				Match: func(method, target string) bool {
					once.Do(func() {
						e.rawPut(key, newer, map[string]string{"writer": "other"})
						overwritten = true
					})
					return false // the request goes on, to meet the new object
				}})
			defer proxy.Clear()
			_, err := e.rewrap(viaProxy, key, newAES, func(in *RewrapObjectInput) { in.MultipartCopyThreshold = 5 << 20 })
			if !errors.Is(err, ErrObjectChanged) {
				t.Fatalf("RewrapObject: %v; want ErrObjectChanged", err)
			}
			if !overwritten {
				t.Fatal("the copy request never came")
			}
			got, meta, err := e.rawGet(key)
			if err != nil || !bytes.Equal(got, newer) || meta["writer"] != "other" {
				t.Fatalf("the newer object was clobbered: %q %v %v", got, meta, err)
			}
			ups, err := e.raw.ListMultipartUploads(bg, &s3.ListMultipartUploadsInput{Bucket: &e.bucket})
			if err != nil || len(ups.Uploads) != 0 {
				t.Errorf("uploads left open: %v, %v", ups.Uploads, err)
			}
		})
	}
}

// ToInstructionFile moves a metadata envelope into the instruction file:
// the object keeps only V3's object-side keys, the new key reads it.
func TestRewrapToInstructionFile(t *testing.T) {
	e := newEnv(t)
	newAES := newAESKeyring(t)
	for _, format := range []metadata.Format{metadata.V2, metadata.V3} {
		t.Run(format.String(), func(t *testing.T) {
			key := "move/" + format.String()
			data := randomBytes(2000)
			e.put(e.client(e.keyrings["kms"], func(o *Options) { o.Format = format }), key, data)
			before, _, _ := e.rawGet(key)
			out, err := e.rewrap(e.client(e.keyrings["kms"], allowV2), key, newAES, func(in *RewrapObjectInput) { in.ToInstructionFile = true })
			if err != nil || out.Result != RewrapRewrapped {
				t.Fatalf("RewrapObject: %+v, %v", out, err)
			}
			after, meta, _ := e.rawGet(key)
			if !bytes.Equal(before, after) {
				t.Fatal("the stored ciphertext changed")
			}
			var envKeys []string
			for k := range meta {
				if metadata.IsReservedKey(k) {
					envKeys = append(envKeys, strings.ToLower(k))
				}
			}
			want := 0
			if format == metadata.V3 {
				want = 3
			}
			if len(envKeys) != want {
				t.Errorf("envelope keys left on the object: %v", envKeys)
			}
			_, im, err := e.rawGet(key + ".instruction")
			if err != nil || !IsInstructionFile(im) {
				t.Fatalf("instruction file: %v %v", im, err)
			}
			got, gout, err := e.get(e.client(newAES, allowV2), key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the new key alone: %d bytes, %v", len(got), err)
			}
			if info, _ := GetObjectInfo(gout.ResultMetadata); info.Envelope.Storage != metadata.InstructionFile {
				t.Errorf("envelope in %s", info.Envelope.Storage)
			}
		})
	}
}

// Objects without an envelope are reported as such, and nothing is written.
func TestRewrapNotEncrypted(t *testing.T) {
	e := newEnv(t)
	e.rawPut("plain", []byte("hello"), nil)
	h0 := e.rawHead("plain")
	_, err := e.rewrap(e.client(e.keyrings["aes"]), "plain", newAESKeyring(t))
	if !errors.Is(err, ErrNotEncrypted) {
		t.Fatalf("RewrapObject: %v; want ErrNotEncrypted", err)
	}
	if h1 := e.rawHead("plain"); aws.ToString(h1.ETag) != aws.ToString(h0.ETag) {
		t.Error("the object was rewritten")
	}
}

// An object aws-sdk-go v1's s3crypto wrote (metadata and its unmarked
// instruction file, with a context) and we rewrapped to another KMS key,
// or moved into an instruction file, is still read by it.
func TestRewrapInteropV1(t *testing.T) {
	e := newEnv(t)
	w := newV1World(e)
	e.kms.CreateKey("alias/s3c-new")
	newKMS := materials.NewKMS(e.kms.Client(bg), "alias/s3c-new")
	rc := e.client(e.keyrings["kms"], allowV2)
	for _, tc := range []struct {
		name              string
		instruction, move bool
	}{{"metadata", false, false}, {"instruction", true, false}, {"moved", false, true}} {
		t.Run(tc.name, func(t *testing.T) {
			key := "v1rewrap/" + tc.name
			data := randomBytes(5000)
			matdesc := map[string]*string{"department": aws.String("finance")}
			if _, err := w.encrypter(t, matdesc, tc.instruction).PutObject(&s3v1.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: bytes.NewReader(data)}); err != nil {
				t.Fatal(err)
			}
			before := e.kms.Calls("ReEncrypt")
			out, err := e.rewrap(rc, key, newKMS, func(in *RewrapObjectInput) { in.ToInstructionFile = tc.move })
			if err != nil || out.Result != RewrapRewrapped {
				t.Fatalf("RewrapObject: %+v, %v", out, err)
			}

			// v1 names no KMS key in the context (no kms_cmk_id): ReEncrypt
			// has no trusted source key to check the data key against, so
			// the key is unwrapped by the reading keyring and wrapped anew.
			if e.kms.Calls("ReEncrypt") != before {
				t.Error("ReEncrypt was used for an object that names no KMS key")
			}
			got, err := w.get(t, e.bucket, key)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("aws-sdk-go v1 reads the rewrapped object: %d bytes, %v", len(got), err)
			}
			got, _, err = e.get(e.client(newKMS, allowV2), key, WithEncryptionContext(map[string]string{"department": "finance"}))
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("the new key alone: %v", err)
			}
		})
	}
}

// In a versioned bucket a metadata-envelope rewrap makes a new current
// version; the old version keeps the old wrapping. A VersionId that is
// not the current version is refused: copying it onto the key would
// bring old content back.
func TestRewrapVersioned(t *testing.T) {
	e := newEnv(t)
	if _, err := e.raw.PutBucketVersioning(bg, &s3.PutBucketVersioningInput{Bucket: &e.bucket,
		VersioningConfiguration: &types.VersioningConfiguration{Status: types.BucketVersioningStatusEnabled}}); err != nil {
		t.Fatal(err)
	}
	newAES := newAESKeyring(t)
	old := e.client(e.keyrings["aes"])
	data := randomBytes(1000)
	e.put(old, "v", data)
	v1 := aws.ToString(e.rawHead("v").VersionId)
	e.put(old, "v", randomBytes(10))
	_, err := e.rewrap(e.client(e.keyrings["aes"]), "v", newAES, func(in *RewrapObjectInput) { in.VersionId = &v1 })
	if err == nil || !strings.Contains(err.Error(), "not the current version") {
		t.Fatalf("rewrap of an old version: %v", err)
	}
	e.put(old, "v", data)
	cur := aws.ToString(e.rawHead("v").VersionId)
	out, err := e.rewrap(e.client(e.keyrings["aes"]), "v", newAES, func(in *RewrapObjectInput) { in.VersionId = &cur })
	if err != nil || aws.ToString(out.VersionId) == cur || aws.ToString(out.VersionId) == "" {
		t.Fatalf("rewrap: %+v, %v; want a new version", out, err)
	}
	got, _, err := e.get(e.client(newAES), "v")
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("the new version with the new key: %v", err)
	}
	if _, _, err = e.get(old, "v"); err == nil {
		t.Fatal("the old key still reads the current version")
	}
	oldOut, err := old.GetObject(bg, &s3.GetObjectInput{Bucket: &e.bucket, Key: aws.String("v"), VersionId: &cur})
	if err != nil {
		t.Fatalf("the old version with the old key: %v", err)
	}
	oldOut.Body.Close()
}
