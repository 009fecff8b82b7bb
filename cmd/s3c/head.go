package main

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/spf13/cobra"

	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// objectReport is what head prints (and ls, per object). It never holds
// key material: not even the encrypted data key is shown.
type objectReport struct {
	Bucket           string            `json:"bucket"`
	Key              string            `json:"key"`
	Encrypted        bool              `json:"encrypted"`
	Format           string            `json:"format,omitempty"`
	ContentAlgorithm string            `json:"content_algorithm,omitempty"`
	WrapAlgorithm    string            `json:"wrap_algorithm,omitempty"`
	KeyRef           string            `json:"key_ref,omitempty"`
	Context          map[string]string `json:"encryption_context,omitempty"`
	Description      map[string]string `json:"material_description,omitempty"`
	PlaintextSize    *int64            `json:"plaintext_size,omitempty"`
	StoredSize       int64             `json:"stored_size"`
	EnvelopeLocation string            `json:"envelope_location,omitempty"`
	ChunkIndex       *bool             `json:"chunk_index,omitempty"` // head only: a marked <key>.s3c-index exists
	ReadPath         string            `json:"read_path,omitempty"`   // head only: how get … - would authenticate it
	LastModified     *time.Time        `json:"last_modified,omitempty"`
	ETag             string            `json:"etag,omitempty"`
	ContentType      string            `json:"content_type,omitempty"`
	StorageClass     string            `json:"storage_class,omitempty"`
	// Server-side encryption, besides s3c's: AES256, aws:kms (with its
	// key) or SSE-C (SSECustomer: the customer key's MD5, never the key).
	ServerSideEncryption string            `json:"server_side_encryption,omitempty"`
	SSEKMSKeyID          string            `json:"sse_kms_key_id,omitempty"`
	SSECustomerKeyMD5    string            `json:"sse_c_key_md5,omitempty"`
	UserMetadata         map[string]string `json:"user_metadata,omitempty"`
	InstructionSuffix    string            `json:"-"`
}

// describe heads an object through the encryption client (no key is
// unwrapped) and reports how it is stored.
func describe(ctx context.Context, c *s3crypto.Client, bucket, key string) (*objectReport, error) {
	return describeObject(ctx, c, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
}

// describeObject is describe for a HEAD request of the caller's (with an
// SSE-C key).
func describeObject(ctx context.Context, c *s3crypto.Client, in *s3.HeadObjectInput) (*objectReport, error) {
	out, err := c.HeadObject(ctx, in)
	if err != nil {
		return nil, err
	}
	r := &objectReport{Bucket: aws.ToString(in.Bucket), Key: aws.ToString(in.Key), LastModified: out.LastModified, ETag: trimETag(out.ETag),
		ContentType: aws.ToString(out.ContentType), UserMetadata: out.Metadata, StorageClass: string(out.StorageClass),
		ServerSideEncryption: string(out.ServerSideEncryption), SSEKMSKeyID: aws.ToString(out.SSEKMSKeyId),
		SSECustomerKeyMD5: aws.ToString(out.SSECustomerKeyMD5)}
	info, ok := s3crypto.GetObjectInfo(out.ResultMetadata)
	if !ok {
		r.StoredSize = aws.ToInt64(out.ContentLength)
		r.PlaintextSize = out.ContentLength
		return r, nil
	}
	env := info.Envelope
	r.Encrypted = true
	r.Format = env.Format.String()
	r.ContentAlgorithm = env.ContentAlg
	r.WrapAlgorithm = env.WrapAlg
	r.KeyRef = info.KeyRef
	if ref, ok := branchRef(env.WrapAlg, env.Description); ok {
		r.KeyRef = ref
	}
	if env.WrapAlg == metadata.WrapKMSContext || env.WrapAlg == metadata.WrapKMS {
		r.Context = env.Description
	} else {
		r.Description = env.Description
	}
	if info.PlaintextSize >= 0 {
		r.PlaintextSize = aws.Int64(info.PlaintextSize)
	}
	r.StoredSize = info.StoredSize
	r.EnvelopeLocation = "metadata"
	if env.Storage == metadata.InstructionFile {
		r.EnvelopeLocation = "instruction-file"
	}
	return r, nil
}

// The read paths head reports, as s3crypto.ObjectInfo.ReadPath names them.
const (
	readIndexStream = "index-stream"
	readSpool       = "spool"
	readMemory      = "memory"
)

// memoryBuffer is the largest object GetObject authenticates in memory
// (s3crypto.Options.MemoryBufferSize, which the CLI leaves at its default).
const memoryBuffer = 8 << 20

// readPath says how get … - (GetObject) would authenticate an encrypted
// AES-GCM object: through its chunk index, in memory, or via a spool file.
func readPath(r *objectReport) string {
	switch {
	case !r.Encrypted || r.ContentAlgorithm == metadata.ContentAESCBC:
		return ""
	case r.StoredSize <= memoryBuffer:
		return readMemory
	case r.ChunkIndex != nil && *r.ChunkIndex:
		return readIndexStream
	}
	return readSpool
}

func contentName(alg string) string {
	switch alg {
	case metadata.ContentCommittingGCM:
		return "115 (AES-256-GCM with HKDF-SHA512 key commitment)"
	case metadata.ContentAESGCM:
		return alg + " (AES-256-GCM)"
	case metadata.ContentAESCBC:
		return alg + " (legacy, no integrity protection)"
	}
	return alg
}

func formatMap(m map[string]string) string {
	if len(m) == 0 {
		return "{}"
	}
	return metadata.EncodeDescription(m)
}

func (a *app) headCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "head s3://bucket/key",
		Short: "Show how an object is encrypted",
		Long: `Show an object's envelope without decrypting anything: format, content
cipher, key wrapping, the master key it names, the encryption context or
material description, plaintext and stored sizes, where the envelope
lives, and whether a chunk index (<key>.s3c-index, which lets GetObject
stream authenticated plaintext) is stored beside it. No key is needed and
no key material is shown.`,
		Example: `  s3c head s3://bucket/report.pdf
  s3c head --json s3://bucket/report.pdf | jq .key_ref`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			obj, err := parseObject(args[0])
			if err != nil {
				return err
			}
			c, err := a.metaClient(cmd.Context())
			if err != nil {
				return err
			}
			get := &s3.GetObjectInput{Bucket: &obj.bucket, Key: &obj.key}
			a.setSSECRead(get, false)
			r, err := describeObject(cmd.Context(), c, headInput(get))
			if err != nil {
				return err
			}
			if r.Encrypted && r.ContentAlgorithm != metadata.ContentAESCBC {
				ik := obj.key + s3crypto.IndexSuffix
				hi := headInput(get)
				hi.Key = &ik
				h, err := c.Client.HeadObject(cmd.Context(), hi)
				r.ChunkIndex = aws.Bool(err == nil && s3crypto.IsIndexObject(h.Metadata))
			}
			r.ReadPath = readPath(r)
			if a.json {
				return a.printJSON(r)
			}
			w := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintf(w, "object:\t%s\n", obj)
			if !r.Encrypted {
				fmt.Fprintf(w, "encrypted:\tno (no envelope in its metadata, no instruction file)\n")
				fmt.Fprintf(w, "size:\t%d\n", r.StoredSize)
				return w.Flush()
			}
			fmt.Fprintf(w, "format:\t%s\n", r.Format)
			fmt.Fprintf(w, "content cipher:\t%s\n", contentName(r.ContentAlgorithm))
			fmt.Fprintf(w, "key wrapping:\t%s\n", r.WrapAlgorithm)
			fmt.Fprintf(w, "master key:\t%s\n", orDash(r.KeyRef))
			if r.Context != nil {
				fmt.Fprintf(w, "encryption context:\t%s\n", formatMap(r.Context))
			} else {
				fmt.Fprintf(w, "material description:\t%s\n", formatMap(r.Description))
			}
			if r.PlaintextSize != nil {
				fmt.Fprintf(w, "plaintext size:\t%d\n", *r.PlaintextSize)
			}
			fmt.Fprintf(w, "stored size:\t%d\n", r.StoredSize)
			if r.EnvelopeLocation == "instruction-file" {
				fmt.Fprintf(w, "envelope:\tinstruction file %s\n", obj.key+metadata.DefaultInstructionSuffix)
			} else {
				fmt.Fprintf(w, "envelope:\tobject metadata\n")
			}
			if r.ChunkIndex != nil && *r.ChunkIndex {
				fmt.Fprintf(w, "chunk index:\t%s (streamed, authenticated reads)\n", obj.key+s3crypto.IndexSuffix)
			} else if r.ChunkIndex != nil {
				fmt.Fprintf(w, "chunk index:\tnone\n")
			}
			switch r.ReadPath {
			case readIndexStream:
				fmt.Fprintf(w, "read path:\t%s (get streams it, each chunk released once its MAC in the index verifies; no temp file; if the index does not verify, it authenticates the whole object first)\n", r.ReadPath)
			case readSpool:
				fmt.Fprintf(w, "read path:\t%s (get - authenticates the whole object first, its ciphertext in a temp file; s3c index builds a chunk index)\n", r.ReadPath)
			case readMemory:
				fmt.Fprintf(w, "read path:\t%s (authenticated whole, in memory)\n", r.ReadPath)
			}
			if r.LastModified != nil {
				fmt.Fprintf(w, "last modified:\t%s\n", r.LastModified.UTC().Format(time.RFC3339))
			}
			if r.ContentType != "" {
				fmt.Fprintf(w, "content type:\t%s\n", r.ContentType)
			}
			if r.StorageClass != "" {
				fmt.Fprintf(w, "storage class:\t%s\n", r.StorageClass)
			}
			switch {
			case r.SSECustomerKeyMD5 != "":
				fmt.Fprintf(w, "server-side encryption:\tSSE-C (customer key MD5 %s)\n", r.SSECustomerKeyMD5)
			case r.SSEKMSKeyID != "":
				fmt.Fprintf(w, "server-side encryption:\t%s, key %s\n", r.ServerSideEncryption, r.SSEKMSKeyID)
			case r.ServerSideEncryption != "":
				fmt.Fprintf(w, "server-side encryption:\t%s\n", r.ServerSideEncryption)
			}
			if len(r.UserMetadata) > 0 {
				for _, k := range slices.Sorted(maps.Keys(r.UserMetadata)) {
					fmt.Fprintf(w, "metadata %s:\t%s\n", k, r.UserMetadata[k])
				}
			}
			return w.Flush()
		},
	}
	a.jsonFlag(c.Flags())
	a.sseReadFlags(c.Flags())
	return c
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
