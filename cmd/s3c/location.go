package main

import (
	"strings"
)

// location is one side of a transfer: an S3 object or prefix, a local
// path, or "-" for stdin/stdout.
type location struct {
	s3     bool
	bucket string
	key    string // may be "" or end in "/" (a prefix)
	path   string // local path, "-" for a stream
}

func (l location) String() string {
	if l.s3 {
		return "s3://" + l.bucket + "/" + l.key
	}
	return l.path
}

func (l location) stream() bool { return !l.s3 && l.path == "-" }

// parseLocation reads "s3://bucket/key", a local path or "-".
func parseLocation(s string) (location, error) {
	if rest, ok := strings.CutPrefix(s, "s3://"); ok {
		bucket, key, _ := strings.Cut(rest, "/")
		if bucket == "" {
			return location{}, usagef("%q: no bucket", s)
		}
		return location{s3: true, bucket: bucket, key: key}, nil
	}
	if s == "" {
		return location{}, usagef("empty path")
	}
	return location{path: s}, nil
}

// parseTransfer reads the source and destination of cp and sync, of
// which at least one must be an s3:// URL.
func parseTransfer(args []string) (src, dst location, err error) {
	if src, err = parseLocation(args[0]); err != nil {
		return
	}
	if dst, err = parseLocation(args[1]); err != nil {
		return
	}
	if !src.s3 && !dst.s3 {
		err = usagef("one of source and destination must be an s3:// URL")
	}
	return
}

// parseObject reads "s3://bucket/key" naming one object.
func parseObject(s string) (location, error) {
	l, err := parseLocation(s)
	if err != nil {
		return l, err
	}
	if !l.s3 {
		return l, usagef("%q is not an s3://bucket/key URL", s)
	}
	if l.key == "" || strings.HasSuffix(l.key, "/") {
		return l, usagef("%q names no object (the key is empty or ends in /)", s)
	}
	return l, nil
}
