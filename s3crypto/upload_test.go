package s3crypto

import (
	"bytes"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/s3c/s3c/internal/aesgcm"
)

// The first part of a stream is read whole, in a buffer with room for the
// tag; a stream of unknown length gets a buffer that grows with it, so a
// short one costs little memory.
func TestReadFirstPart(t *testing.T) {
	const part = 5 << 20
	for _, c := range []struct {
		name  string
		n     int
		known bool
		err   error
	}{
		{"empty", 0, false, io.EOF},
		{"short", 1000, false, io.ErrUnexpectedEOF},
		{"one chunk", firstPartChunk, false, io.ErrUnexpectedEOF},
		{"one chunk and a byte", firstPartChunk + 1, false, io.ErrUnexpectedEOF},
		{"a byte short of a part", part - 1, false, io.ErrUnexpectedEOF},
		{"exactly a part", part, false, nil},
		{"a part and a byte", part + 1, false, nil},
		{"known, a part and more", 2 * part, true, nil},
		{"known, ends early", part - 1, true, io.ErrUnexpectedEOF},
	} {
		data := randomBytes(c.n)
		r := bytes.NewReader(data)
		got, err := readFirstPart(iotest.HalfReader(r), part, c.known)
		want := data[:min(c.n, part)]
		if err != c.err || !bytes.Equal(got, want) {
			t.Errorf("%s: read %d bytes, %v; want %d, %v", c.name, len(got), err, len(want), c.err)
		}
		if r.Len() != c.n-len(want) {
			t.Errorf("%s: %d bytes left unread, want %d", c.name, r.Len(), c.n-len(want))
		}
		if err == nil && cap(got) != part+aesgcm.TagSize {
			t.Errorf("%s: a full part in a buffer of %d, want %d", c.name, cap(got), part+aesgcm.TagSize)
		}
		if !c.known && c.n < firstPartChunk && cap(got) > firstPartChunk+aesgcm.TagSize {
			t.Errorf("%s: %d bytes held in a buffer of %d", c.name, c.n, cap(got))
		}
	}
}

// PutObject and Uploader.Upload take a stream of unknown length through
// the same flow: one PUT up to a part, parts beyond; a read error at any
// point stores nothing and leaves no upload open; and PutObject's own
// checks name PutObject.
func TestPutObjectStreamFlow(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	c := e.client(e.keyrings["aes"])
	for _, n := range []int{0, DefaultPartSize, DefaultPartSize + 1} {
		data := randomBytes(n)
		for _, entry := range []string{"PutObject", "Upload"} {
			key := fmt.Sprintf("%s-%d", entry, n)
			in := &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: struct{ io.Reader }{bytes.NewReader(data)}}
			var etag string
			if entry == "PutObject" {
				out, err := c.PutObject(bg, in)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				etag = aws.ToString(out.ETag)
			} else {
				out, err := NewUploader(c).Upload(bg, in)
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				etag = aws.ToString(out.ETag)
			}
			if multipart := strings.Contains(etag, "-"); multipart != (n > DefaultPartSize) {
				t.Errorf("%s: ETag %s, multipart %v", key, etag, multipart)
			}
			if got, _, err := e.get(c, key); err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%s: read back %d bytes: %v", key, len(got), err)
			}
		}
	}
	boom := errors.New("disk on fire")
	for _, n := range []int{0, 1000, DefaultPartSize, DefaultPartSize + 1, 2 * DefaultPartSize} {
		key := fmt.Sprintf("fail-%d", n)
		_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: &key, Body: &failingReader{n, boom}})
		if !errors.Is(err, boom) {
			t.Fatalf("%d bytes then an error: %v", n, err)
		}
		if e.exists(key) {
			t.Fatalf("%d bytes then an error: object stored", n)
		}
	}
	e.noUploadsLeft()

	if _, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("x"), Body: strings.NewReader("needs its file")}, WithInstructionFile()); err != nil {
		t.Fatal(err)
	}
	_, err := c.PutObject(bg, &s3.PutObjectInput{Bucket: &e.bucket, Key: aws.String("x.instruction"), Body: struct{ io.Reader }{bytes.NewReader(make([]byte, DefaultPartSize+1))}})
	if want := "s3crypto: PutObject s3://" + e.bucket + "/x.instruction: "; !errors.Is(err, ErrInstructionFileInUse) || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("PutObject of a long stream over an instruction file in use: %v, want %q…", err, want)
	}
}

// The upload flow runs one way: each file calls only into files of later
// stages, never back into one that called it (the file list is the table
// of contents; see upload.go).
func TestUploadFlowOneWay(t *testing.T) {
	stages := [][]string{
		{"put.go", "uploader.go"}, // entries
		{"upload.go"},             // plan and source
		{"upload_single.go", "upload_sections.go", "upload_stream.go"}, // transports
		{"multipart.go"},                 // parts
		{"checksums.go", "transport.go"}, // request details
		{"envelope.go"},                  // instruction files
		{"cleanup.go"},                   // compensating calls
	}
	stage := map[string]int{}
	for i, files := range stages {
		for _, f := range files {
			stage[f] = i
		}
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	funcs := map[string]string{}   // package-level function → file
	methods := map[string]string{} // method → file (names are unique among these files)
	for name := range stage {
		f, err := parser.ParseFile(fset, filepath.Join(".", name), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		files[name] = f
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok {
				continue
			}
			m := funcs
			if fd.Recv != nil {
				m = methods
			}
			if prev, dup := m[fd.Name.Name]; dup {
				t.Fatalf("%s declared in %s and %s", fd.Name.Name, prev, name)
			}
			m[fd.Name.Name] = name
		}
	}
	for name, f := range files {
		ast.Inspect(f, func(n ast.Node) bool {
			call, ok := n.(*ast.CallExpr)
			if !ok {
				return true
			}
			var callee string
			switch fn := call.Fun.(type) {
			case *ast.Ident:
				callee = funcs[fn.Name]
			case *ast.SelectorExpr:
				if x, ok := fn.X.(*ast.SelectorExpr); ok && x.Sel.Name == "Client" {
					return true // the SDK's client
				}
				if x, ok := fn.X.(*ast.Ident); ok && (x.Name == "enc" || x.Name == "body" || x.Name == "r") {
					return true // core's encryption and readers
				}
				callee = methods[fn.Sel.Name]
			}
			if callee != "" && callee != name && stage[callee] <= stage[name] {
				t.Errorf("%s calls %s in %s, an earlier stage", fset.Position(call.Pos()), exprString(call.Fun), callee)
			}
			return true
		})
	}
}

func exprString(e ast.Expr) string {
	switch e := e.(type) {
	case *ast.Ident:
		return e.Name
	case *ast.SelectorExpr:
		return exprString(e.X) + "." + e.Sel.Name
	}
	return "?"
}
