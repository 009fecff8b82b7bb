// Package s3store keeps branch keys (package branch) in S3: one small
// JSON object per branch key version and one naming the active version,
// under a prefix of the caller's:
//
//	<prefix><id>/v/<version>.json   a branch.Version document
//	<prefix><id>/active.json        {"version": "<n>"}
//
// Versions are created with If-None-Match: * and the active pointer is
// replaced with If-Match on the ETag it was read with, so of two writers
// exactly one wins. The keys in the objects are wrapped by the root
// keyring; whoever can write under the prefix can still delete them, so
// protect it (versioning, a bucket policy, Object Lock) as one protects
// the root key.
package s3store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/keyring/branch"
)

// API is the part of *s3.Client the store uses.
type API interface {
	PutObject(ctx context.Context, in *s3.PutObjectInput, optFns ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	GetObject(ctx context.Context, in *s3.GetObjectInput, optFns ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, optFns ...func(*s3.Options)) (*s3.ListObjectsV2Output, error)
}

// callTimeout bounds each request (the client's retryer bounds retries).
const callTimeout = 30 * time.Second

// maxDocument bounds what is read of one document.
const maxDocument = 64 << 10

// Store is a branch.Store in an S3 bucket.
type Store struct {
	client API
	bucket string
	prefix string
}

var _ branch.Store = (*Store)(nil)

// New returns a store under bucket/prefix ("" for the bucket's root; a
// "/" is added to a prefix that does not end in one).
func New(client API, bucket, prefix string) *Store {
	if prefix != "" && !strings.HasSuffix(prefix, "/") {
		prefix += "/"
	}
	return &Store{client: client, bucket: bucket, prefix: prefix}
}

// URL returns "s3://bucket/prefix", for messages.
func (s *Store) URL() string { return "s3://" + s.bucket + "/" + s.prefix }

func (s *Store) versionKey(id, version string) string {
	return s.prefix + id + "/v/" + version + ".json"
}
func (s *Store) activeKey(id string) string { return s.prefix + id + "/active.json" }

func checkIDVersion(id, version string) error {
	if !branch.ValidID(id) {
		return fmt.Errorf("s3store: invalid branch key id %q", id)
	}
	if version != "" && !branch.ValidVersion(version) {
		return fmt.Errorf("s3store: branch key %s: invalid version %q", id, version)
	}
	return nil
}

func preconditionFailed(err error) bool {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		switch ae.ErrorCode() {
		case "PreconditionFailed", "ConditionalRequestConflict":
			return true
		}
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && (re.HTTPStatusCode() == http.StatusPreconditionFailed || re.HTTPStatusCode() == http.StatusConflict)
}

func notFound(err error) bool {
	var nk *types.NoSuchKey
	if errors.As(err, &nk) {
		return true
	}
	var re *smithyhttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotFound
}

func (s *Store) put(ctx context.Context, key string, body []byte, ifMatch, ifNoneMatch string) error {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	in := &s3.PutObjectInput{Bucket: &s.bucket, Key: &key, Body: bytes.NewReader(body),
		ContentType: aws.String("application/json"), ContentLength: aws.Int64(int64(len(body)))}
	if ifMatch != "" {
		in.IfMatch = &ifMatch
	}
	if ifNoneMatch != "" {
		in.IfNoneMatch = &ifNoneMatch
	}
	_, err := s.client.PutObject(ctx, in)
	return err
}

// get returns the object's body and ETag.
func (s *Store) get(ctx context.Context, key string) ([]byte, string, error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &s.bucket, Key: &key})
	if err != nil {
		return nil, "", err
	}
	defer out.Body.Close()
	b, err := io.ReadAll(io.LimitReader(out.Body, maxDocument+1))
	if err != nil {
		return nil, "", err
	}
	if len(b) > maxDocument {
		return nil, "", fmt.Errorf("s3store: s3://%s/%s is larger than %d bytes", s.bucket, key, maxDocument)
	}
	return b, aws.ToString(out.ETag), nil
}

// PutVersion implements branch.Store: a create with If-None-Match: *.
func (s *Store) PutVersion(ctx context.Context, v *branch.Version) error {
	if err := checkIDVersion(v.ID, v.Version); err != nil {
		return err
	}
	b, err := v.Marshal()
	if err != nil {
		return err
	}
	key := s.versionKey(v.ID, v.Version)
	if err := s.put(ctx, key, b, "", "*"); err != nil {
		if preconditionFailed(err) {
			return fmt.Errorf("s3store: s3://%s/%s: %w", s.bucket, key, branch.ErrExists)
		}
		return fmt.Errorf("s3store: storing s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// GetVersion implements branch.Store.
func (s *Store) GetVersion(ctx context.Context, id, version string) (*branch.Version, error) {
	if err := checkIDVersion(id, version); err != nil {
		return nil, err
	}
	key := s.versionKey(id, version)
	b, etag, err := s.get(ctx, key)
	if err != nil {
		if notFound(err) {
			return nil, fmt.Errorf("s3store: s3://%s/%s: %w", s.bucket, key, branch.ErrNotFound)
		}
		return nil, fmt.Errorf("s3store: reading s3://%s/%s: %w", s.bucket, key, err)
	}
	v, err := branch.UnmarshalVersion(b, id, version)
	if err != nil {
		return nil, fmt.Errorf("s3store: s3://%s/%s: %w", s.bucket, key, err)
	}
	v.Token = etag
	return v, nil
}

// ReplaceVersion implements branch.Store: a put with If-Match on v.Token.
func (s *Store) ReplaceVersion(ctx context.Context, v *branch.Version) error {
	if err := checkIDVersion(v.ID, v.Version); err != nil {
		return err
	}
	if v.Token == "" {
		return fmt.Errorf("s3store: branch key %s version %s: no ETag to replace: %w", v.ID, v.Version, branch.ErrConflict)
	}
	b, err := v.Marshal()
	if err != nil {
		return err
	}
	key := s.versionKey(v.ID, v.Version)
	if err := s.put(ctx, key, b, v.Token, ""); err != nil {
		if preconditionFailed(err) {
			return fmt.Errorf("s3store: s3://%s/%s changed since it was read: %w", s.bucket, key, branch.ErrConflict)
		}
		return fmt.Errorf("s3store: storing s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

type activeDoc struct {
	Version string `json:"version"`
}

func (s *Store) readActive(ctx context.Context, id string) (string, string, error) {
	if err := checkIDVersion(id, ""); err != nil {
		return "", "", err
	}
	key := s.activeKey(id)
	b, etag, err := s.get(ctx, key)
	if err != nil {
		if notFound(err) {
			return "", "", fmt.Errorf("s3store: s3://%s/%s: %w", s.bucket, key, branch.ErrNotFound)
		}
		return "", "", fmt.Errorf("s3store: reading s3://%s/%s: %w", s.bucket, key, err)
	}
	var a activeDoc
	if err := json.Unmarshal(b, &a); err != nil || !branch.ValidVersion(a.Version) {
		return "", "", fmt.Errorf("s3store: s3://%s/%s is not an active-version document", s.bucket, key)
	}
	return a.Version, etag, nil
}

// GetActive implements branch.Store.
func (s *Store) GetActive(ctx context.Context, id string) (string, error) {
	v, _, err := s.readActive(ctx, id)
	return v, err
}

// SetActive implements branch.Store: with prev "" a create with
// If-None-Match: *, else a put with If-Match on the ETag of the pointer
// read holding prev.
func (s *Store) SetActive(ctx context.Context, id, prev, next string) error {
	if err := checkIDVersion(id, next); err != nil {
		return err
	}
	key := s.activeKey(id)
	b, _ := json.Marshal(activeDoc{next})
	var ifMatch, ifNoneMatch string
	if prev == "" {
		ifNoneMatch = "*"
	} else {
		cur, etag, err := s.readActive(ctx, id)
		if err != nil {
			return err
		}
		if cur != prev {
			return fmt.Errorf("s3store: s3://%s/%s: active version is %s, not %s: %w", s.bucket, key, cur, prev, branch.ErrConflict)
		}
		ifMatch = etag
	}
	if err := s.put(ctx, key, b, ifMatch, ifNoneMatch); err != nil {
		if preconditionFailed(err) {
			return fmt.Errorf("s3store: s3://%s/%s changed concurrently: %w", s.bucket, key, branch.ErrConflict)
		}
		return fmt.Errorf("s3store: storing s3://%s/%s: %w", s.bucket, key, err)
	}
	return nil
}

// list returns the common prefixes (delimiter "/") or keys under p.
func (s *Store) list(ctx context.Context, p string, prefixes bool) ([]string, error) {
	var out []string
	var token *string
	for {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		in := &s3.ListObjectsV2Input{Bucket: &s.bucket, Prefix: &p, ContinuationToken: token}
		if prefixes {
			in.Delimiter = aws.String("/")
		}
		page, err := s.client.ListObjectsV2(cctx, in)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("s3store: listing s3://%s/%s: %w", s.bucket, p, err)
		}
		if prefixes {
			for _, cp := range page.CommonPrefixes {
				out = append(out, strings.TrimSuffix(strings.TrimPrefix(aws.ToString(cp.Prefix), p), "/"))
			}
		} else {
			for _, o := range page.Contents {
				out = append(out, strings.TrimPrefix(aws.ToString(o.Key), p))
			}
		}
		if !aws.ToBool(page.IsTruncated) || page.NextContinuationToken == nil {
			return out, nil
		}
		token = page.NextContinuationToken
	}
}

// ListBranchKeys implements branch.Store.
func (s *Store) ListBranchKeys(ctx context.Context) ([]string, error) {
	names, err := s.list(ctx, s.prefix, true)
	if err != nil {
		return nil, err
	}
	var ids []string
	for _, n := range names {
		if branch.ValidID(n) {
			ids = append(ids, n)
		}
	}
	return ids, nil
}

// ListVersions implements branch.Store.
func (s *Store) ListVersions(ctx context.Context, id string) ([]string, error) {
	if err := checkIDVersion(id, ""); err != nil {
		return nil, err
	}
	names, err := s.list(ctx, s.prefix+id+"/v/", false)
	if err != nil {
		return nil, err
	}
	var vs []string
	for _, n := range names {
		if v, ok := strings.CutSuffix(n, ".json"); ok && branch.ValidVersion(v) {
			vs = append(vs, v)
		}
	}
	return vs, nil
}
