package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
)

var keyRefRE = regexp.MustCompile(`aes:[0-9a-f]{16}`)

// S3's errors come out as one plain line that names the object (and the
// key reference, where known) and says what to do; without --debug no
// RequestID, HostID or "operation error". --debug adds the SDK's full
// chain and its request log. Exit codes are unchanged.
func TestPlainErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	c.write("f", []byte("secret"))
	c.ok("put", "-q", "--aes-key", "a.key", "f", c.url("obj"))
	missing := c.url("missing")
	nobucket := "s3://no-such-bucket-s3c"
	badSecret := *c
	badSecret.env = slices.Clone(c.env)
	badSecret.setenv("AWS_SECRET_ACCESS_KEY=wrong-secret-0123456789")
	badID := *c
	badID.env = slices.Clone(c.env)
	badID.setenv("AWS_ACCESS_KEY_ID=NOSUCHKEYID012345678")
	for _, tc := range []struct {
		c    *cli
		args []string
		want string
	}{
		{c, []string{"get", "--aes-key", "a.key", missing, "-"}, "s3c: no such object " + missing},
		{c, []string{"get", "--aes-key", "a.key", missing, "out"}, "s3c: no such object " + missing},
		{c, []string{"head", missing}, "s3c: no such object " + missing + " (or no such bucket)"}, // a HEAD's 404 says no more
		{c, []string{"put", "--aes-key", "a.key", "f", nobucket + "/x"}, "s3c: no such bucket " + nobucket + " (for " + nobucket + "/x (key aes:KEY)): s3c mb " + nobucket + " makes it"},
		{c, []string{"get", "--aes-key", "a.key", nobucket + "/x", "-"}, "s3c: no such bucket " + nobucket + " (for " + nobucket + "/x)"},
		{&badSecret, []string{"get", "--aes-key", "a.key", c.url("obj"), "-"}, "s3c: " + c.url("obj") + ": the secret access key does not match the access key ID: check the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{&badSecret, []string{"put", "--aes-key", "a.key", "f", c.url("new")}, "s3c: " + c.url("new") + " (key aes:KEY): the secret access key does not match the access key ID: check the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
		{c, []string{"put", "--aes-key", "a.key", "f", "s3://ab/x"}, "s3c: s3://ab/x (key aes:KEY): not a valid bucket name: 3 to 63 characters, lower-case letters, digits, '.' and '-'"},
		{&badID, []string{"get", "--aes-key", "a.key", c.url("obj"), "-"}, "s3c: " + c.url("obj") + ": S3 does not know the access key ID: check the credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"},
	} {
		r := tc.c.run(tc.args...)
		tc.c.failed(r, 1, "", tc.args...)
		got := keyRefRE.ReplaceAllString(strings.TrimSuffix(r.stderr, "\n"), "aes:KEY")
		if got != tc.want {
			t.Errorf("s3c %s:\n got %q\nwant %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}

	r := c.run("--debug", "get", "--aes-key", "a.key", missing, "-")
	if r.code != 1 || !strings.Contains(r.stderr, "\ns3c: no such object "+missing+"\n") {
		t.Fatalf("--debug: exit %d, stderr:\n%s", r.code, r.stderr)
	}
	for _, want := range []string{"RequestID", "operation error S3: GetObject", "NoSuchKey", "GET /" + c.bucket + "/missing", "HTTP/1.1 404", "Signature=REDACTED"} {
		if !strings.Contains(r.stderr, want) {
			t.Fatalf("--debug lacks %q:\n%s", want, r.stderr)
		}
	}
	r = badSecret.run("--debug", "head", c.url("obj"))
	if strings.Contains(r.stderr, "wrong-secret") {
		t.Fatalf("--debug shows the secret:\n%s", r.stderr)
	}
}

// A request sent to the wrong region says which region the bucket is in
// (S3's x-amz-bucket-region header), for a GET and for a HEAD.
func TestPlainErrorWrongRegion(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.ok("keygen", "aes", "a.key")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Amz-Bucket-Region", "eu-west-3")
		w.Header().Set("X-Amz-Request-Id", "REQ123")
		w.Header().Set("Content-Type", "application/xml")
		w.WriteHeader(http.StatusMovedPermanently)
		if r.Method != http.MethodHead {
			io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>PermanentRedirect</Code><Message>The bucket you are attempting to access must be addressed using the specified endpoint.</Message><Bucket>b</Bucket><RequestId>REQ123</RequestId></Error>`)
		}
	}))
	defer srv.Close()
	c.setenv("AWS_ENDPOINT_URL_S3="+srv.URL, "NO_PROXY=127.0.0.1")
	obj := "s3://" + c.bucket + "/obj"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "--aes-key", "a.key", obj, "-"}, "s3c: " + obj + ": bucket " + c.bucket + " is in region eu-west-3, not " + minio.Region + ": give --region eu-west-3"},
		{[]string{"head", obj}, "s3c: " + obj + ": bucket " + c.bucket + " is in region eu-west-3, not " + minio.Region + ": give --region eu-west-3"},
	} {
		r := c.run(tc.args...)
		c.failed(r, 1, "", tc.args...)
		if got := strings.TrimSuffix(r.stderr, "\n"); got != tc.want {
			t.Errorf("s3c %s:\n got %q\nwant %q", strings.Join(tc.args, " "), got, tc.want)
		}
	}
}
