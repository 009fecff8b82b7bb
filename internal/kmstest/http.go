package kmstest

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
)

const (
	targetPrefix    = "TrentService."
	contentTypeJSON = "application/x-amz-json-1.1"
	maxBodyBytes    = 1 << 20
)

// apiError is a KMS error response. Code is the wire error code, which the
// SDK maps to a typed error (types.<Code>) when the KMS model defines one and
// to a *smithy.GenericAPIError with that code otherwise.
type apiError struct {
	Status  int
	Code    string
	Message string
}

func newErr(status int, code, msg string) *apiError {
	return &apiError{Status: status, Code: code, Message: msg}
}

// Modeled KMS errors (types.* in service/kms).
func errNotFound(msg string) *apiError { return newErr(400, "NotFoundException", msg) }
func errInvalidCiphertext(msg string) *apiError {
	return newErr(400, "InvalidCiphertextException", msg)
}
func errIncorrectKey(msg string) *apiError     { return newErr(400, "IncorrectKeyException", msg) }
func errDisabled(msg string) *apiError         { return newErr(400, "DisabledException", msg) }
func errInvalidKeyUsage(msg string) *apiError  { return newErr(400, "InvalidKeyUsageException", msg) }
func errUnsupported(msg string) *apiError      { return newErr(400, "UnsupportedOperationException", msg) }
func errAlreadyExists(msg string) *apiError    { return newErr(400, "AlreadyExistsException", msg) }
func errInvalidAliasName(msg string) *apiError { return newErr(400, "InvalidAliasNameException", msg) }
func errDryRun() *apiError {
	return newErr(412, "DryRunOperationException", "The request would have succeeded, but the DryRun option is set.")
}
func errAccessDenied(msg string) *apiError { return newErr(400, "AccessDeniedException", msg) }
func errInternal(msg string) *apiError     { return newErr(500, "KMSInternalException", msg) }

// Common AWS errors not in the KMS model (SDK: *smithy.GenericAPIError).
func errValidation(msg string) *apiError    { return newErr(400, "ValidationException", msg) }
func errSerialization(msg string) *apiError { return newErr(400, "SerializationException", msg) }

type handlerFunc func(s *Server, body []byte) (any, *apiError)

var handlers = map[string]handlerFunc{
	"CreateKey":                       (*Server).opCreateKey,
	"DescribeKey":                     (*Server).opDescribeKey,
	"CreateAlias":                     (*Server).opCreateAlias,
	"ListAliases":                     (*Server).opListAliases,
	"GenerateDataKey":                 (*Server).opGenerateDataKey,
	"GenerateDataKeyWithoutPlaintext": (*Server).opGenerateDataKeyWithoutPlaintext,
	"Encrypt":                         (*Server).opEncrypt,
	"Decrypt":                         (*Server).opDecrypt,
	"ReEncrypt":                       (*Server).opReEncrypt,
}

// ServeHTTP implements http.Handler, serving the KMS JSON 1.1 protocol.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("X-Amzn-Requestid", newUUID())

	target := r.Header.Get("X-Amz-Target")
	s.mu.Lock()
	s.calls[target]++
	s.mu.Unlock()

	if r.Method != http.MethodPost {
		writeError(w, newErr(http.StatusMethodNotAllowed, "UnsupportedOperationException", "kmstest only accepts POST"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			writeError(w, newErr(http.StatusRequestEntityTooLarge, "SerializationException", "request body too large"))
			return
		}
		writeError(w, errSerialization("cannot read request body"))
		return
	}
	if aerr := s.authenticate(r, body); aerr != nil {
		writeError(w, aerr)
		return
	}
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != contentTypeJSON {
		writeError(w, errSerialization("Content-Type must be "+contentTypeJSON))
		return
	}
	op, ok := strings.CutPrefix(target, targetPrefix)
	h := handlers[op]
	if !ok || h == nil {
		writeError(w, errUnsupported("kmstest does not support operation "+quoteTarget(target)))
		return
	}
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}

	var gt struct{ GrantTokens []string }
	_ = json.Unmarshal(body, &gt) // a malformed body is reported by the handler
	s.mu.Lock()
	s.grants[op] = gt.GrantTokens
	s.mu.Unlock()
	if len(gt.GrantTokens) > 10 {
		writeError(w, errValidation("GrantTokens must have at most 10 members"))
		return
	}

	s.mu.Lock()
	denied := s.denied[op]
	s.mu.Unlock()
	if denied {
		writeError(w, errAccessDenied("User: arn:aws:iam::"+s.account+":user/kmstest is not authorized to perform: kms:"+op+" because no identity-based policy allows the kms:"+op+" action"))
		return
	}

	out, aerr := h(s, body)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	buf, err := json.Marshal(out)
	if err != nil {
		writeError(w, errInternal("cannot encode response"))
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf)
}

func quoteTarget(t string) string {
	if t == "" {
		return "(missing X-Amz-Target)"
	}
	if len(t) > 128 {
		t = t[:128]
	}
	b, _ := json.Marshal(t)
	return string(b)
}

func writeError(w http.ResponseWriter, e *apiError) {
	buf, _ := json.Marshal(struct {
		Type    string `json:"__type"`
		Message string `json:"message"`
	}{e.Code, e.Message})
	w.Header().Set("Content-Type", contentTypeJSON)
	w.Header().Set("X-Amzn-Errortype", e.Code)
	w.WriteHeader(e.Status)
	_, _ = w.Write(buf)
}

// decodeInput unmarshals a request body into v (a pointer to an input
// struct), mapping failures to SerializationException.
func decodeInput(body []byte, v any) *apiError {
	if err := json.Unmarshal(body, v); err != nil {
		var ute *json.UnmarshalTypeError
		if errors.As(err, &ute) {
			return errSerialization("invalid value for member " + ute.Field)
		}
		return errSerialization("request body is not valid JSON")
	}
	return nil
}
