package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// inventoryManifest is the part of an S3 Inventory manifest.json that
// names its data files.
type inventoryManifest struct {
	SourceBucket      string `json:"sourceBucket"`
	DestinationBucket string `json:"destinationBucket"` // arn:aws:s3:::NAME
	FileFormat        string `json:"fileFormat"`
	FileSchema        string `json:"fileSchema"`
	Files             []struct {
		Key string `json:"key"`
	} `json:"files"`
}

// manifestRows reads a manifest and hands each object to fn, in order,
// numbered from 1 (seq); fn returns false to stop. A manifest is an S3
// Batch Operations CSV (bucket,key[,versionId]) or an S3 Inventory
// manifest.json, whose CSV.gz files are read in turn from its
// destination bucket. Keys are URL-encoded in both (form encoding: '+'
// is a space).
func (a *app) manifestRows(ctx context.Context, ref string, fn func(bulkItem) bool) error {
	r, err := a.openRef(ctx, ref)
	if err != nil {
		return fmt.Errorf("--manifest %s: %w", ref, err)
	}
	defer r.Close()
	br := bufio.NewReader(r)
	first, err := firstByte(br)
	if err != nil {
		return fmt.Errorf("--manifest %s: %w", ref, err)
	}
	var seq int64
	if first != '{' {
		_, err := csvRows(br, ref, []int{0, 1, 2}, &seq, nil, fn)
		return err
	}
	var m inventoryManifest
	if err := json.NewDecoder(io.LimitReader(br, 64<<20)).Decode(&m); err != nil {
		return fmt.Errorf("--manifest %s: not an S3 Inventory manifest.json (%v)", ref, err)
	}
	if !strings.EqualFold(m.FileFormat, "CSV") {
		return fmt.Errorf("--manifest %s: an inventory in %s: only CSV inventories are supported", ref, orDash(m.FileFormat))
	}
	cols, filter, err := inventoryColumns(m.FileSchema)
	if err != nil {
		return fmt.Errorf("--manifest %s: %w", ref, err)
	}
	bucket := m.DestinationBucket
	if i := strings.LastIndex(bucket, ":"); i >= 0 {
		bucket = bucket[i+1:]
	}
	if bucket == "" {
		if loc, err := parseLocation(ref); err == nil && loc.s3 {
			bucket = loc.bucket
		}
	}
	if bucket == "" {
		return fmt.Errorf("--manifest %s: names no destinationBucket for its files", ref)
	}
	sc, err := a.s3Client(ctx)
	if err != nil {
		return err
	}
	for _, f := range m.Files {
		name := "s3://" + bucket + "/" + f.Key
		out, err := sc.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &f.Key})
		if err != nil {
			return fmt.Errorf("--manifest %s: reading %s: %w", ref, name, err)
		}
		more, err := func() (bool, error) {
			defer out.Body.Close()
			var rd io.Reader = out.Body
			if strings.HasSuffix(f.Key, ".gz") {
				gz, err := gzip.NewReader(out.Body)
				if err != nil {
					return false, fmt.Errorf("--manifest %s: %s: %w", ref, name, err)
				}
				defer gz.Close()
				rd = gz
			}
			return csvRows(rd, name, cols, &seq, filter, fn)
		}()
		if err != nil || !more {
			return err
		}
	}
	return nil
}

func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err == io.EOF {
			return 0, nil
		}
		if err != nil {
			return 0, err
		}
		if b != ' ' && b != '\t' && b != '\r' && b != '\n' && b != 0xEF && b != 0xBB && b != 0xBF {
			return b, br.UnreadByte()
		}
	}
}

// inventoryColumns finds the Bucket, Key and VersionId columns of an
// inventory's fileSchema ("Bucket, Key, VersionId, IsLatest, …"), and a
// filter that leaves out delete markers and versions that are not the
// latest (when the inventory has those columns).
func inventoryColumns(schema string) ([]int, func([]string) bool, error) {
	idx := map[string]int{}
	for i, c := range strings.Split(schema, ",") {
		idx[strings.ToLower(strings.TrimSpace(c))] = i
	}
	b, okB := idx["bucket"]
	k, okK := idx["key"]
	if !okB || !okK {
		return nil, nil, fmt.Errorf("fileSchema %q has no Bucket and Key columns", schema)
	}
	cols := []int{b, k, -1}
	if v, ok := idx["versionid"]; ok {
		cols[2] = v
	}
	latest, hasLatest := idx["islatest"]
	marker, hasMarker := idx["isdeletemarker"]
	filter := func(rec []string) bool {
		if hasLatest && latest < len(rec) && strings.EqualFold(rec[latest], "false") {
			return false
		}
		if hasMarker && marker < len(rec) && strings.EqualFold(rec[marker], "true") {
			return false
		}
		return true
	}
	return cols, filter, nil
}

// csvRows reads CSV records, taking bucket, key and version from the
// columns cols (version -1: none; a missing trailing column: none), and
// hands them to fn; false when fn stopped.
func csvRows(r io.Reader, name string, cols []int, seq *int64, filter func([]string) bool, fn func(bulkItem) bool) (bool, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return true, nil
		}
		if err != nil {
			return false, fmt.Errorf("--manifest %s: %w", name, err)
		}
		line, _ := cr.FieldPos(0)
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue
		}
		if cols[0] >= len(rec) || cols[1] >= len(rec) {
			return false, fmt.Errorf("--manifest %s: line %d has no bucket and key", name, line)
		}
		*seq++
		if filter != nil && !filter(rec) {
			continue
		}
		key, err := url.QueryUnescape(rec[cols[1]])
		if err != nil {
			return false, fmt.Errorf("--manifest %s: line %d: the key is not URL-encoded: %v", name, line, err)
		}
		it := bulkItem{bucket: rec[cols[0]], key: key, seq: *seq}
		if cols[2] >= 0 && cols[2] < len(rec) {
			it.version = rec[cols[2]]
		}
		if it.bucket == "" || it.key == "" {
			return false, fmt.Errorf("--manifest %s: line %d has an empty bucket or key", name, line)
		}
		if !fn(it) {
			return false, nil
		}
	}
}
