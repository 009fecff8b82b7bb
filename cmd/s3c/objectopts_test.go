package main

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/s3c/s3c/internal/miniotest"
)

// rawHead describes what S3 stores at key, with an SSE-C key if given.
func rawHead(t *testing.T, srv *miniotest.Server, bucket, key string, ssecKey []byte) (*s3.HeadObjectOutput, error) {
	t.Helper()
	in := &s3.HeadObjectInput{Bucket: &bucket, Key: &key}
	if ssecKey != nil {
		sum := md5.Sum(ssecKey)
		in.SSECustomerAlgorithm = aws.String("AES256")
		in.SSECustomerKey = aws.String(base64.StdEncoding.EncodeToString(ssecKey))
		in.SSECustomerKeyMD5 = aws.String(base64.StdEncoding.EncodeToString(sum[:]))
	}
	return srv.Client().HeadObject(context.Background(), in)
}

func mustHead(t *testing.T, bucket, key string) *s3.HeadObjectOutput {
	t.Helper()
	h, err := rawHead(t, minio, bucket, key, nil)
	if err != nil {
		t.Fatalf("HEAD %s: %v", key, err)
	}
	return h
}

// put and cp store the object settings the flags give: Content-Type
// guessed from the extension (none for stdin or an unknown extension)
// or --content-type, --metadata, --storage-class, --sse and
// --sse-kms-key-id, on the object and on its companions (instruction
// file, chunk index), for one PUT and a multipart upload alike.
func TestObjectSettings(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	small := randomBytes(1000)
	c.write("report.pdf", small)
	c.write("data.nosuchext", small)
	c.write("page.html", small)

	c.ok("put", "--aes-key", "a.key", "report.pdf", c.url("r/"))
	if ct := aws.ToString(mustHead(t, c.bucket, "r/report.pdf").ContentType); ct != "application/pdf" {
		t.Errorf("report.pdf stored as %q", ct)
	}
	c.ok("put", "--aes-key", "a.key", "data.nosuchext", c.url("r/"))
	c.runIn(small, "put", "--aes-key", "a.key", "-", c.url("r/stdin.pdf"))
	for _, k := range []string{"r/data.nosuchext", "r/stdin.pdf"} {
		if ct := aws.ToString(mustHead(t, c.bucket, k).ContentType); ct == "application/pdf" || strings.HasPrefix(ct, "text/") {
			t.Errorf("%s: a Content-Type guessed: %q", k, ct)
		}
	}

	// Every flag, one PUT and multipart, metadata and instruction file.
	big := randomBytes(9<<20 + 3)
	c.write("big.pdf", big)
	const kmsKey = "s3c-test-sse" // the SSE-KMS key miniotest gives MinIO
	for _, file := range []string{"report.pdf", "big.pdf"} {
		for _, inst := range []bool{false, true} {
			for _, sse := range [][]string{{"--sse", "AES256"}, {"--sse", "aws:kms", "--sse-kms-key-id", kmsKey}} {
				key := "s/" + sse[1] + "/" + file
				args := []string{"put", "--aes-key", "a.key", "--content-type", "application/x-test", "--metadata", "Owner=alice",
					"--metadata", "team=blue=green", "--storage-class", "reduced_redundancy"}
				if inst {
					key += ".inst"
					args = append(args, "--instruction-file")
				}
				c.ok(append(append(args, sse...), file, c.url(key))...)
				h := mustHead(t, c.bucket, key)
				if aws.ToString(h.ContentType) != "application/x-test" || h.Metadata["owner"] != "alice" || h.Metadata["team"] != "blue=green" {
					t.Errorf("%s: Content-Type %q, metadata %v", key, aws.ToString(h.ContentType), h.Metadata)
				}
				stored := []string{key}
				if inst {
					stored = append(stored, key+".instruction")
				}
				if file == "big.pdf" {
					stored = append(stored, key+".s3c-index")
				}
				for _, s := range stored {
					h := mustHead(t, c.bucket, s)
					if string(h.ServerSideEncryption) != sse[1] || h.StorageClass != types.StorageClassReducedRedundancy ||
						(sse[1] == "aws:kms" && !strings.HasSuffix(aws.ToString(h.SSEKMSKeyId), kmsKey)) {
						t.Errorf("%s: stored with SSE %q (key %q), storage class %q", s, h.ServerSideEncryption, aws.ToString(h.SSEKMSKeyId), h.StorageClass)
					}
				}
				want := map[string][]byte{"report.pdf": small, "big.pdf": big}[file]
				c.ok("get", "--aes-key", "a.key", c.url(key), "back")
				if !bytes.Equal(c.read("back"), want) {
					t.Fatalf("%s: read back differs", key)
				}
			}
		}
	}
	out := c.ok("head", c.url("s/aws:kms/report.pdf")).stdout
	for _, line := range []string{"content type:          application/x-test", "storage class:         REDUCED_REDUNDANCY",
		"server-side encryption:  aws:kms, key ", "metadata owner:        alice"} {
		if !strings.Contains(strings.Join(strings.Fields(out), " "), strings.Join(strings.Fields(line), " ")) {
			t.Errorf("head does not say %q:\n%s", line, out)
		}
	}
	var rep map[string]any
	if err := json.Unmarshal([]byte(c.ok("head", "--json", c.url("s/AES256/report.pdf")).stdout), &rep); err != nil ||
		rep["server_side_encryption"] != "AES256" || rep["storage_class"] != "REDUCED_REDUNDANCY" || rep["content_type"] != "application/x-test" {
		t.Errorf("head --json: %v %v", rep, err)
	}

	// cp -r guesses per file; cp S3 to S3 keeps the source's Content-Type
	// and metadata unless told otherwise.
	c.ok("cp", "-r", "--aes-key", "a.key", "--metadata", "batch=1", c.path("page.html"), c.url("t/page.html"))
	if h := mustHead(t, c.bucket, "t/page.html"); !strings.HasPrefix(aws.ToString(h.ContentType), "text/html") || h.Metadata["batch"] != "1" {
		t.Errorf("cp: Content-Type %q, metadata %v", aws.ToString(h.ContentType), h.Metadata)
	}
	src := c.url("s/AES256/report.pdf")
	c.ok("cp", "--aes-key", "a.key", src, c.url("t/kept"))
	if h := mustHead(t, c.bucket, "t/kept"); aws.ToString(h.ContentType) != "application/x-test" || h.Metadata["owner"] != "alice" ||
		h.StorageClass != types.StorageClassReducedRedundancy || h.ServerSideEncryption == types.ServerSideEncryptionAes256 {
		t.Errorf("cp kept: Content-Type %q, metadata %v, storage class %q, SSE %q", aws.ToString(h.ContentType), h.Metadata, h.StorageClass, h.ServerSideEncryption)
	}
	c.ok("cp", "--aes-key", "a.key", "--content-type", "text/x-new", "--metadata", "owner=bob", "--storage-class", "STANDARD",
		"--sse", "aws:kms", "--sse-kms-key-id", kmsKey, src, c.url("t/replaced"))
	if h := mustHead(t, c.bucket, "t/replaced"); aws.ToString(h.ContentType) != "text/x-new" || len(h.Metadata) < 1 || h.Metadata["owner"] != "bob" ||
		h.Metadata["team"] != "" || h.StorageClass == types.StorageClassReducedRedundancy || h.ServerSideEncryption != types.ServerSideEncryptionAwsKms {
		t.Errorf("cp replaced: Content-Type %q, metadata %v, storage class %q, SSE %q", aws.ToString(h.ContentType), h.Metadata, h.StorageClass, h.ServerSideEncryption)
	}
}

// The object flags' mistakes are usage errors, before anything is read
// or sent; the names the envelope and its companions use are refused.
func TestObjectFlagErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f.txt", []byte("x"))
	c.write("short.key", []byte("0123456789abcdef"))
	put := func(flags ...string) []string {
		return append(append([]string{"put", "--aes-key", "a.key"}, flags...), "f.txt", c.url("f"))
	}
	for _, k := range []string{"x-amz-key", "x-amz-key-v2", "X-Amz-Iv", "x-amz-cek-alg", "x-amz-wrap-alg", "x-amz-matdesc", "x-amz-tag-len",
		"x-amz-unencrypted-content-length", "x-amz-3", "x-amz-c", "x-amz-d", "x-amz-i", "x-amz-w", "x-amz-t", "x-amz-m",
		"x-amz-crypto-instr-file", "s3c-index", "x-amz-meta-x-amz-key-v2"} {
		c.fails(2, "is reserved for the encryption envelope", put("--metadata", k+"=1")...)
	}
	c.fails(2, `--metadata "owner": want key=value`, put("--metadata", "owner")...)
	c.fails(2, `key "owner" given twice`, put("--metadata", "owner=a", "--metadata", "Owner=b")...)
	c.fails(2, "a key is letters, digits", put("--metadata", "a b=1")...)
	c.fails(2, "a value is printable ASCII", put("--metadata", "a=é")...)
	c.fails(2, `--storage-class "FAST"`, put("--storage-class", "FAST")...)
	c.fails(2, `--sse "aws:fsx"`, put("--sse", "aws:fsx")...)
	c.fails(2, "--sse-kms-key-id applies only with --sse aws:kms", put("--sse-kms-key-id", "k")...)
	c.fails(2, "--sse-kms-key-id applies only with --sse aws:kms", put("--sse", "AES256", "--sse-kms-key-id", "k")...)
	c.fails(2, "--sse and --sse-c-key exclude each other", put("--sse", "AES256", "--sse-c-key", "a.key")...)
	c.fails(2, "--content-type", put("--content-type", "not a type")...)
	c.fails(2, "--sse-c-key: cannot read the key file", put("--sse-c-key", "missing.key")...)
	c.fails(2, "--sse-c-key: not an SSE-C key: want 32 bytes", put("--sse-c-key", "short.key")...)
	r := c.fails(2, "--sse-c-key takes the path of a key file, not the key itself", put("--sse-c-key", base64.StdEncoding.EncodeToString(randomBytes(32)))...)
	if strings.Contains(r.stderr, "=") {
		t.Errorf("the key given by mistake is echoed: %s", r.stderr)
	}
	c.fails(1, "SSE-C (--sse-c-key) needs HTTPS", put("--sse-c-key", "a.key")...)
	c.fails(2, "unknown flag: --content-type", "get", "--content-type", "x/y", c.url("f"), "out")
	c.fails(2, "unknown flag: --metadata", "head", "--metadata", "a=1", c.url("f"))
	c.fails(2, "--metadata sets what an upload stores", "cp", "--aes-key", "a.key", "--metadata", "a=1", c.url("f"), "out")
	c.fails(2, "--sse-c-copy-source-key is for an S3 to S3 copy", "cp", "--aes-key", "a.key", "--sse-c-copy-source-key", "a.key", "f.txt", c.url("g"))
	if _, err := rawHead(t, minio, c.bucket, "f", nil); err == nil {
		t.Fatal("an object was stored")
	}
}

// SSE-C through the CLI: put (one PUT and multipart, envelope in the
// metadata and in an instruction file), get, head and cp, against a MinIO
// with TLS (MinIO takes SSE-C only over TLS) that the binary trusts
// through AWS_CA_BUNDLE. The key is never printed, not even by --debug.
func TestSSECThroughCLI(t *testing.T) {
	t.Parallel()
	srv, err := miniotest.StartTLS(t.Logf)
	if err != nil {
		t.Fatalf("starting MinIO with TLS: %v", err)
	}
	t.Cleanup(srv.Stop)
	c := newCLI(t)
	c.bucket = srv.NewBucket(t)
	c.setenv("AWS_ENDPOINT_URL_S3="+srv.Endpoint, "AWS_CA_BUNDLE="+srv.CertFile,
		"NO_PROXY="+hostOf(srv.Endpoint)+","+hostOf(kmsSrv.URL()))
	c.ok("keygen", "aes", "a.key")
	ssecRaw, ssec2Raw := randomBytes(32), randomBytes(32)
	c.write("sse.key", ssecRaw)
	c.write("sse2.key", []byte(base64.StdEncoding.EncodeToString(ssec2Raw)+"\n"))
	small, big := randomBytes(1000), randomBytes(9<<20+5)
	c.write("small.bin", small)
	c.write("big.bin", big)
	for _, inst := range []string{"", "--instruction-file"} {
		for name, data := range map[string][]byte{"small.bin": small, "big.bin": big} {
			key := "c/" + name + inst
			args := []string{"put", "--debug", "--aes-key", "a.key", "--sse-c-key", "sse.key", name, c.url(key)}
			if inst != "" {
				args = append(args, inst)
			}
			r := c.ok(args...)
			if strings.Contains(r.stderr, base64.StdEncoding.EncodeToString(ssecRaw)) || !strings.Contains(r.stderr, "Customer-Key: REDACTED") {
				t.Fatalf("put --debug prints the SSE-C key, or no redacted header:\n%.2000s", r.stderr)
			}
			stored := []string{key}
			if inst != "" {
				stored = append(stored, key+".instruction")
			}
			if name == "big.bin" {
				stored = append(stored, key+".s3c-index")
			}
			for _, s := range stored {
				if _, err := rawHead(t, srv, c.bucket, s, nil); err == nil {
					t.Errorf("%s: described without the SSE-C key", s)
				}
				if h, err := rawHead(t, srv, c.bucket, s, ssecRaw); err != nil || h.SSECustomerKeyMD5 == nil {
					t.Errorf("%s: not stored with SSE-C: %v", s, err)
				}
			}
			c.fails(1, "s3://"+c.bucket+"/"+key+": the object is stored with a customer key (SSE-C): give it with --sse-c-key", "get", "--aes-key", "a.key", c.url(key), "out")
			c.fails(1, "if it is stored with a customer key (SSE-C), give it with --sse-c-key", "head", c.url(key))
			c.fails(1, "access denied: the SSE-C key given may not be the object's", "get", "--aes-key", "a.key", "--sse-c-key", "sse2.key", c.url(key), "out")
			c.ok("get", "--aes-key", "a.key", "--sse-c-key", "sse.key", c.url(key), "out")
			if !bytes.Equal(c.read("out"), data) {
				t.Fatalf("%s: read back differs", key)
			}
			if !strings.Contains(c.ok("head", "--sse-c-key", "sse.key", c.url(key)).stdout, "SSE-C") {
				t.Errorf("%s: head does not say SSE-C", key)
			}
			// S3 to S3, under another customer key; then a download.
			c.fails(1, "give it with --sse-c-copy-source-key (the source's)", "cp", "--aes-key", "a.key", "--sse-c-key", "sse.key", c.url(key), c.url(key+".copy"))
			c.ok("cp", "--aes-key", "a.key", "--sse-c-copy-source-key", "sse.key", "--sse-c-key", "sse2.key", c.url(key), c.url(key+".copy"))
			if _, err := rawHead(t, srv, c.bucket, key+".copy", ssec2Raw); err != nil {
				t.Errorf("%s.copy: not under the second key: %v", key, err)
			}
			c.ok("cp", "--aes-key", "a.key", "--sse-c-key", "sse2.key", c.url(key+".copy"), "out2")
			if !bytes.Equal(c.read("out2"), data) {
				t.Fatalf("%s.copy: read back differs", key)
			}
		}
	}
	// rm takes the companions along only with the key.
	c.ok("rm", "--sse-c-key", "sse.key", c.url("c/big.bin--instruction-file"))
	for _, s := range []string{"", ".instruction", ".s3c-index"} {
		if _, err := rawHead(t, srv, c.bucket, "c/big.bin--instruction-file"+s, ssecRaw); err == nil {
			t.Errorf("rm --sse-c-key left %s", "c/big.bin--instruction-file"+s)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(c.dir, "sse.key")); !bytes.Equal(b, ssecRaw) {
		t.Fatal("key file changed")
	}
}
