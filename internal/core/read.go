package core

import (
	"errors"
	"io"
)

// ErrTrailingData means a response held more bytes than its headers
// announced.
var ErrTrailingData = errors.New("the response holds more bytes than its Content-Length and Content-Range announce")

// ErrObjectChanged means the object was replaced while it was being
// read, between the requests that fetch it: a GET for the rest of it
// (conditional on the ETag of the first response) was refused with 412
// Precondition Failed, and reading it afresh did not help. Read it again.
var ErrObjectChanged = errors.New("object changed while it was being read (overwritten)")

// MetadataSize counts user metadata as S3 does, conservatively: the
// bytes of every key with its x-amz-meta- prefix, and of every value.
func MetadataSize(m map[string]string) int {
	n := 0
	for k, v := range m {
		n += len("x-amz-meta-") + len(k) + len(v)
	}
	return n
}

// ExpectEOF checks that r, read to the end of what was wanted, has
// nothing more.
func ExpectEOF(r io.Reader) error {
	var b [1]byte
	for {
		n, err := r.Read(b[:])
		switch {
		case n > 0:
			return ErrTrailingData
		case err == io.EOF:
			return nil
		case err != nil:
			return err
		}
	}
}
