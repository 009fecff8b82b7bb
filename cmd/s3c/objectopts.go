package main

import (
	"crypto/md5"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"mime"
	"path/filepath"
	"slices"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
)

// objectOpts are the settings of the objects put and cp store (Content-
// Type, user metadata, storage class, server-side encryption), and the
// SSE-C key of objects get, head and cp read.
type objectOpts struct {
	contentType  string
	metadata     []string
	meta         map[string]string // the parsed --metadata entries
	storageClass string
	sse          string
	sseKMSKeyID  string
	// --sse-c-key and --sse-c-copy-source-key: paths of key files, read
	// by checkObjectFlags into ssec and ssecSource.
	sseCKeyFile, sseCSourceKeyFile string
	ssec, ssecSource               *ssecKey
	s3ToS3                         bool // a cp from S3 to S3: the source's key is --sse-c-copy-source-key
}

// ssecKey is an SSE-C key as S3's headers carry it.
type ssecKey struct {
	key, keyMD5 string // base64
}

// objectFlags adds the settings of stored objects (put, cp; sync).
func (a *app) objectFlags(fs *pflag.FlagSet) {
	fs.StringVar(&a.obj.contentType, "content-type", "", "Content-Type of the stored object, a media `TYPE` (default: guessed from the file's extension; none for stdin)")
	fs.StringArrayVar(&a.obj.metadata, "metadata", nil, "user metadata entry `KEY=VALUE`, stored in the clear (repeatable)")
	fs.StringVar(&a.obj.storageClass, "storage-class", "", "S3 storage `CLASS`: STANDARD, STANDARD_IA, INTELLIGENT_TIERING, GLACIER_IR, GLACIER, DEEP_ARCHIVE, … (any the S3 API names)")
	fs.StringVar(&a.obj.sse, "sse", "", "server-side encryption as well: `ALG` is AES256 (SSE-S3) or aws:kms (SSE-KMS)")
	fs.StringVar(&a.obj.sseKMSKeyID, "sse-kms-key-id", "", "KMS key `ID` for --sse aws:kms (default: the bucket's or account's default key)")
	fs.Var(sseCKeyFlag{&a.obj.sseCKeyFile, "sse-c-key"}, "sse-c-key", "server-side encryption with this customer key (SSE-C): a file of 32 bytes, raw or as base64 or hex text; needed again to read the object")
}

// sseReadFlags adds the SSE-C key of the objects read (get, head).
func (a *app) sseReadFlags(fs *pflag.FlagSet) {
	fs.Var(sseCKeyFlag{&a.obj.sseCKeyFile, "sse-c-key"}, "sse-c-key", "the object is stored with SSE-C under this customer key: a file of 32 bytes, raw or as base64 or hex text")
}

// sseCopySourceFlag adds the SSE-C key of the source of an S3 to S3 cp.
func (a *app) sseCopySourceFlag(fs *pflag.FlagSet) {
	fs.Var(sseCKeyFlag{&a.obj.sseCSourceKeyFile, "sse-c-copy-source-key"}, "sse-c-copy-source-key", "S3 to S3: the source is stored with SSE-C under this customer key (--sse-c-key is the destination's)")
}

// sseCKeyFlag takes the path of an SSE-C key file, never the key itself.
type sseCKeyFlag struct {
	p    *string
	name string
}

func (f sseCKeyFlag) String() string { return "" }
func (f sseCKeyFlag) Type() string   { return "FILE" }
func (f sseCKeyFlag) Set(v string) error {
	if v == "" {
		return fmt.Errorf("--%s needs the path of a key file", f.name)
	}
	if looksLikeKey(v) {
		// pflag would quote the value in its message: see flagError.
		return fmt.Errorf("--%s takes the path of a key file, not the key itself", f.name)
	}
	*f.p = v
	return nil
}

func storageClasses() []string {
	var names []string
	for _, c := range types.StorageClass("").Values() {
		names = append(names, string(c))
	}
	return names
}

// checkObjectFlags validates the object settings and reads the SSE-C key
// files (a usage error if one cannot be read or holds no 256-bit key).
func (a *app) checkObjectFlags() error {
	o := &a.obj
	if o.storageClass != "" {
		i := slices.IndexFunc(storageClasses(), func(c string) bool { return strings.EqualFold(c, o.storageClass) })
		if i < 0 {
			return usagef("--storage-class %q: want one of %s", o.storageClass, strings.Join(storageClasses(), ", "))
		}
		o.storageClass = storageClasses()[i]
	}
	switch strings.ToLower(o.sse) {
	case "":
	case "aes256":
		o.sse = string(types.ServerSideEncryptionAes256)
	case "aws:kms":
		o.sse = string(types.ServerSideEncryptionAwsKms)
	default:
		return usagef("--sse %q: want AES256 or aws:kms", o.sse)
	}
	if o.sseKMSKeyID != "" && o.sse != string(types.ServerSideEncryptionAwsKms) {
		return usagef("--sse-kms-key-id applies only with --sse aws:kms")
	}
	if o.sse != "" && o.sseCKeyFile != "" {
		return usagef("--sse and --sse-c-key exclude each other: an object has one kind of server-side encryption")
	}
	if o.contentType != "" {
		if _, _, err := mime.ParseMediaType(o.contentType); err != nil {
			return usagef("--content-type %q: not a media type (%v)", o.contentType, err)
		}
	}
	meta, err := parseMetadata(o.metadata)
	if err != nil {
		return err
	}
	o.meta = meta
	if o.ssec, err = readSSECKey("--sse-c-key", o.sseCKeyFile); err != nil {
		return err
	}
	o.ssecSource, err = readSSECKey("--sse-c-copy-source-key", o.sseCSourceKeyFile)
	return err
}

// parseMetadata parses --metadata k=v entries. Keys are lower-cased (S3
// stores them so) and must be HTTP header names; values printable ASCII
// (what S3's REST headers carry). The names the encryption envelope and
// its companion objects use are refused.
func parseMetadata(entries []string) (map[string]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	meta := map[string]string{}
	for _, kv := range entries {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--metadata %q: want key=value", kv)
		}
		k = strings.ToLower(k)
		if !isToken(k) {
			return nil, usagef("--metadata %q: a key is letters, digits and !#$%%&'*+-.^_`|~ only", kv)
		}
		if strings.ContainsFunc(v, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			return nil, usagef("--metadata %q: a value is printable ASCII only", kv)
		}
		if s3crypto.IsReservedMetadata(k) {
			return nil, usagef("--metadata: key %q is reserved for the encryption envelope", k)
		}
		if _, dup := meta[k]; dup {
			return nil, usagef("--metadata: key %q given twice", k)
		}
		meta[k] = v
	}
	return meta, nil
}

func isToken(s string) bool {
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9':
		case strings.ContainsRune("!#$%&'*+-.^_`|~", r):
		default:
			return false
		}
	}
	return s != ""
}

// readSSECKey reads an SSE-C key file: 32 bytes, raw or as base64 or hex
// text (s3c keygen aes makes one). Errors name the flag, never the key.
func readSSECKey(flag, path string) (*ssecKey, error) {
	if path == "" {
		return nil, nil
	}
	data, err := readKeyFile(flag, path)
	if err != nil {
		return nil, err
	}
	key, err := materials.ParseAESKey(data)
	clear(data)
	if err != nil || len(key) != 32 {
		clear(key)
		return nil, usagef("%s: not an SSE-C key: want 32 bytes (256 bits), raw or as base64 or hex text", flag)
	}
	sum := md5.Sum(key)
	k := &ssecKey{key: base64.StdEncoding.EncodeToString(key), keyMD5: base64.StdEncoding.EncodeToString(sum[:])}
	clear(key)
	return k, nil
}

// fields returns the SSE-C request fields for k (nil fields for none).
func (k *ssecKey) fields() (alg, key, keyMD5 *string) {
	if k == nil {
		return nil, nil, nil
	}
	return aws.String("AES256"), aws.String(k.key), aws.String(k.keyMD5)
}

// setObjectSettings applies the object flags to an upload of src (a
// file, or "-" for stdin): Content-Type (--content-type, else guessed
// from the file's extension), user metadata (added to what in has),
// storage class and server-side encryption.
func (a *app) setObjectSettings(in *s3.PutObjectInput, src string) {
	if a.obj.contentType == "" && src != "-" {
		if t := mime.TypeByExtension(filepath.Ext(src)); t != "" {
			in.ContentType = aws.String(t)
		}
	}
	if a.obj.meta != nil {
		meta := maps.Clone(in.Metadata)
		if meta == nil {
			meta = map[string]string{}
		}
		maps.Copy(meta, a.obj.meta)
		in.Metadata = meta
	}
	a.setStoredSettings(in)
}

// setCopySettings applies the object flags to an S3 to S3 copy, whose
// in holds the source's settings: --content-type and --metadata replace
// the source's Content-Type and user metadata; then as setStoredSettings.
func (a *app) setCopySettings(in *s3.PutObjectInput) {
	if a.obj.meta != nil {
		in.Metadata = maps.Clone(a.obj.meta)
	}
	a.setStoredSettings(in)
}

// setStoredSettings applies --content-type, --storage-class and the
// server-side encryption flags.
func (a *app) setStoredSettings(in *s3.PutObjectInput) {
	o := &a.obj
	if o.contentType != "" {
		in.ContentType = aws.String(o.contentType)
	}
	if o.storageClass != "" {
		in.StorageClass = types.StorageClass(o.storageClass)
	}
	if o.sse != "" {
		in.ServerSideEncryption = types.ServerSideEncryption(o.sse)
		if o.sseKMSKeyID != "" {
			in.SSEKMSKeyId = aws.String(o.sseKMSKeyID)
		}
	}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = o.ssec.fields()
}

// setSSECRead gives a GET the SSE-C key of the object read: --sse-c-key,
// or for the source of an S3 to S3 cp, --sse-c-copy-source-key.
func (a *app) setSSECRead(in *s3.GetObjectInput, copySource bool) {
	k := a.obj.ssec
	if copySource {
		k = a.obj.ssecSource
	}
	in.SSECustomerAlgorithm, in.SSECustomerKey, in.SSECustomerKeyMD5 = k.fields()
}

// deleteOptions give a delete the SSE-C key of --sse-c-key, so that the
// companions (instruction file, chunk index) of an object stored with
// SSE-C are deleted with it.
func (a *app) deleteOptions() []func(*s3.Options) {
	if a.obj.ssec == nil {
		return nil
	}
	return []func(*s3.Options){s3crypto.WithSSECustomerKey("AES256", a.obj.ssec.key, a.obj.ssec.keyMD5)}
}

// headInput is the HEAD of the object a GET reads, with its SSE-C key.
func headInput(in *s3.GetObjectInput) *s3.HeadObjectInput {
	return &s3.HeadObjectInput{Bucket: in.Bucket, Key: in.Key, VersionId: in.VersionId,
		SSECustomerAlgorithm: in.SSECustomerAlgorithm, SSECustomerKey: in.SSECustomerKey, SSECustomerKeyMD5: in.SSECustomerKeyMD5}
}

// checkCopyObjectFlags refuses cp's object settings where they mean
// nothing: the settings of stored objects for a download, the source's
// SSE-C key unless both sides are in S3.
func (a *app) checkCopyObjectFlags(cmd *cobra.Command, src, dst location) error {
	if !dst.s3 {
		for _, f := range []string{"content-type", "metadata", "storage-class", "sse", "sse-kms-key-id"} {
			if cmd.Flags().Changed(f) {
				return usagef("--%s sets what an upload stores; the destination %s is local", f, dst)
			}
		}
	}
	a.obj.s3ToS3 = src.s3 && dst.s3
	if a.obj.sseCSourceKeyFile != "" && !a.obj.s3ToS3 {
		return usagef("--sse-c-copy-source-key is for an S3 to S3 copy; for a download, give the source's key with --sse-c-key")
	}
	return nil
}

// sseError tells S3's refusals that concern server-side encryption in a
// plain line (see plainError); ok is false for others.
func (a *app) sseError(ae smithy.APIError, err error) (msg string, ok bool) {
	code, text := ae.ErrorCode(), ae.ErrorMessage()
	var oe *s3crypto.ObjectError
	hasObject := errors.As(err, &oe)
	head := hasObject && oe.Op == "HeadObject"
	reading := hasObject && (head || oe.Op == "GetObject" || oe.Op == "Download")
	// The key of the object read: the source's for an S3 to S3 cp.
	givenKey, flag := a.obj.ssec != nil, "--sse-c-key"
	if a.obj.s3ToS3 {
		givenKey, flag = a.obj.ssecSource != nil, "--sse-c-copy-source-key (the source's)"
	}
	switch {
	case code == "InvalidRequest" && strings.Contains(text, "secure connection"):
		return "SSE-C (--sse-c-key) needs HTTPS: S3 refuses customer keys over plain http (check --endpoint-url)", true
	case code == "InvalidRequest" && strings.Contains(text, "Server Side Encryption"):
		if givenKey {
			return "the object's server-side encryption needs other parameters than the SSE-C key given", true
		}
		return "the object is stored with a customer key (SSE-C): give it with " + flag, true
	case head && (code == "BadRequest" || code == "400") && !givenKey && bucketRegion(err) == "":
		// S3 answers a HEAD of an SSE-C object without its key with a bare 400.
		return "S3 refuses to describe the object (400): if it is stored with a customer key (SSE-C), give it with " + flag, true
	case (code == "AccessDenied" || code == "Forbidden" || code == "403") && reading && givenKey:
		return "access denied: the SSE-C key given may not be the object's, or check the credentials in " + a.credentialsName() + " and what their policy allows", true
	case code == "KMS.NotFoundException" || code == "kms:KeyNotFound":
		return "the KMS key of --sse-kms-key-id does not exist (or is not usable by S3)", true
	}
	return "", false
}
