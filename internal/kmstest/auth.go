package kmstest

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

const (
	sigV4Algorithm = "AWS4-HMAC-SHA256"
	amzDateFormat  = "20060102T150405Z"
)

// Authentication errors, as returned by AWS JSON services. None is in the KMS
// model, so the SDK surfaces them as *smithy.GenericAPIError with this code.
func errMissingAuth() *apiError {
	return newErr(400, "MissingAuthenticationTokenException", "Missing Authentication Token")
}
func errIncompleteSignature(msg string) *apiError {
	return newErr(400, "IncompleteSignatureException", msg)
}
func errUnrecognizedClient() *apiError {
	return newErr(400, "UnrecognizedClientException", "The security token included in the request is invalid.")
}
func errInvalidSignature(msg string) *apiError {
	return newErr(400, "InvalidSignatureException", msg)
}

// sigV4Auth is a parsed SigV4 Authorization header.
type sigV4Auth struct {
	accessKeyID   string
	date          string // yyyymmdd from the credential scope
	region        string
	service       string
	signedHeaders []string
	signature     string
}

// parseAuthorization parses
// "AWS4-HMAC-SHA256 Credential=AKID/yyyymmdd/region/service/aws4_request,
// SignedHeaders=a;b, Signature=hex".
func parseAuthorization(h string) (sigV4Auth, *apiError) {
	var a sigV4Auth
	rest, ok := strings.CutPrefix(h, sigV4Algorithm+" ")
	if !ok {
		return a, errIncompleteSignature("Authorization header must use " + sigV4Algorithm)
	}
	var cred, signed, sig string
	for _, part := range strings.Split(rest, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
		switch k {
		case "Credential":
			cred = v
		case "SignedHeaders":
			signed = v
		case "Signature":
			sig = v
		}
	}
	if cred == "" || signed == "" || sig == "" {
		return a, errIncompleteSignature("Authorization header requires Credential, SignedHeaders and Signature")
	}
	scope := strings.Split(cred, "/")
	if len(scope) != 5 || scope[0] == "" || scope[4] != "aws4_request" {
		return a, errIncompleteSignature("Credential must have the form <AccessKeyID>/<date>/<region>/<service>/aws4_request")
	}
	if scope[3] != "kms" {
		return a, errInvalidSignature("Credential should be scoped to correct service: 'kms'.")
	}
	a.accessKeyID, a.date, a.region, a.service = scope[0], scope[1], scope[2], scope[3]
	a.signedHeaders = strings.Split(signed, ";")
	a.signature = sig
	return a, nil
}

// authenticate checks the request's SigV4 signature. Without configured
// credentials only the form of the Authorization header is checked.
func (s *Server) authenticate(r *http.Request, body []byte) *apiError {
	h := r.Header.Get("Authorization")
	if h == "" {
		return errMissingAuth()
	}
	a, aerr := parseAuthorization(h)
	if aerr != nil {
		return aerr
	}
	if s.accessKeyID == "" {
		return nil
	}
	if a.accessKeyID != s.accessKeyID {
		return errUnrecognizedClient()
	}
	amzDate := r.Header.Get("X-Amz-Date")
	t, err := time.Parse(amzDateFormat, amzDate)
	if err != nil {
		return errIncompleteSignature("missing or malformed X-Amz-Date header")
	}
	if a.date != amzDate[:8] {
		return errInvalidSignature("Credential date does not match X-Amz-Date")
	}
	if a.region != s.region {
		return errInvalidSignature("Credential should be scoped to a valid region, not '" + a.region + "'.")
	}

	// Rebuild the request with exactly the headers the client signed and
	// sign it again with the same time; the SDK signer derives the same
	// canonical request, so the signatures must match.
	u := &url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path, RawPath: r.URL.RawPath, RawQuery: r.URL.RawQuery}
	cp, err := http.NewRequest(r.Method, u.String(), nil)
	if err != nil {
		return errInvalidSignature("cannot reconstruct request")
	}
	cp.Host = r.Host
	cp.Header = make(http.Header)
	for _, name := range a.signedHeaders {
		switch name {
		case "host":
		case "content-length":
			cp.ContentLength = int64(len(body))
		default:
			if vs := r.Header.Values(name); len(vs) > 0 {
				cp.Header[http.CanonicalHeaderKey(name)] = vs
			}
		}
	}
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: s.accessKeyID, SecretAccessKey: s.secretAccessKey}
	if err := v4.NewSigner().SignHTTP(r.Context(), creds, cp, hex.EncodeToString(sum[:]), "kms", s.region, t); err != nil {
		return errInvalidSignature("cannot compute signature")
	}
	want, aerr := parseAuthorization(cp.Header.Get("Authorization"))
	if aerr != nil {
		return errInvalidSignature("cannot compute signature")
	}
	if !hmac.Equal([]byte(want.signature), []byte(a.signature)) {
		return errInvalidSignature("The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
	}
	return nil
}
