package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"syscall"

	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/logging"
	smithyhttp "github.com/aws/smithy-go/transport/http"

	"github.com/s3c/s3c/s3crypto"
)

// plainError tells an S3 (or KMS) error, or a failure to reach the
// service, in one plain line that names the object, its key reference
// where known, and what to do: no SDK chain, request ID or host ID
// (--debug prints those). ok is false for any other error, which is then
// reported as it is.
func (a *app) plainError(err error) (msg string, ok bool) {
	var ae smithy.APIError
	var oe *s3crypto.ObjectError
	hasObject := errors.As(err, &oe)
	// what names the object, or whatever the command said before the
	// SDK's chain.
	what, bucket := "", ""
	if hasObject {
		bucket = oe.Bucket
		what = "s3://" + oe.Bucket + "/" + oe.Key
		if oe.KeyRef != "" {
			what += " (key " + oe.KeyRef + ")"
		}
		// What the library said between the object and the SDK's chain
		// (a key reference, the step that failed) is kept.
		if inner := sdkPrefix(oe.Err.Error()); inner != "" {
			what += ": " + inner
		}
	} else {
		what = sdkPrefix(err.Error())
	}
	prefix := func(s string) string {
		if what == "" {
			return s
		}
		return what + ": " + s
	}
	creds := a.credentialsName()

	if errors.As(err, &ae) {
		code := ae.ErrorCode()
		if msg, ok := a.sseError(ae, err); ok {
			return prefix(msg), true
		}
		switch code {
		case "NoSuchKey":
			if hasObject {
				return "no such object " + what, true
			}
			return prefix("no such object"), true
		case "NotFound": // a HEAD says no more
			if hasObject {
				return "no such object " + what + " (or no such bucket)", true
			}
			return prefix("not found"), true
		case "NoSuchBucket":
			if bucket == "" {
				return prefix("no such bucket"), true
			}
			msg := "no such bucket s3://" + bucket
			if oe.Key != "" { // else the bucket itself was named (ls s3://bucket)
				msg += " (for " + what + ")"
			}
			if strings.HasPrefix(oe.Op, "Put") || oe.Op == "Upload" || oe.Op == "CreateMultipartUpload" {
				msg += ": s3c mb s3://" + bucket + " makes it"
			}
			return msg, true
		case "InvalidBucketName":
			return prefix("not a valid bucket name: 3 to 63 characters, lower-case letters, digits, '.' and '-'"), true
		case "BucketAlreadyOwnedByYou":
			return prefix("the bucket exists already, and is yours"), true
		case "BucketAlreadyExists":
			return prefix("the bucket name is taken (bucket names are shared by all accounts): choose another"), true
		case "BucketNotEmpty":
			return prefix("the bucket is not empty (older versions and incomplete uploads count): rb --force deletes its objects first"), true
		case "AccessDenied", "Forbidden", "AllAccessDisabled":
			return prefix("access denied: check the credentials in " + creds + " and what their policy allows"), true
		case "InvalidAccessKeyId":
			return prefix("S3 does not know the access key ID: check the credentials in " + creds), true
		case "SignatureDoesNotMatch":
			return prefix("the secret access key does not match the access key ID: check the credentials in " + creds), true
		case "ExpiredToken", "TokenRefreshRequired", "InvalidToken":
			return prefix("the session token has expired or is invalid: renew the credentials in " + creds), true
		case "PermanentRedirect", "AuthorizationHeaderMalformed", "IllegalLocationConstraintException",
			"301", "400", "MovedPermanently", "BadRequest": // the last four: a HEAD, which has no body
			region := bucketRegion(err)
			if region == "" && !strings.HasPrefix(code, "Permanent") && !strings.HasPrefix(code, "Authorization") && !strings.HasPrefix(code, "Illegal") {
				return "", false
			}
			b := "the bucket"
			if bucket != "" {
				b = "bucket " + bucket
			}
			if region == "" {
				return prefix(b + " is in another region than " + a.regionName() + ": give its region with --region or AWS_REGION"), true
			}
			return prefix(b + " is in region " + region + ", not " + a.regionName() + ": give --region " + region), true
		case "AccessDeniedException": // KMS
			return prefix("KMS denied access to the key: check the credentials in " + creds + " and the key's policy"), true
		case "NotFoundException": // KMS
			return prefix("KMS has no such key"), true
		case "UnrecognizedClientException", "InvalidSignatureException": // KMS
			return prefix("KMS does not accept the credentials: check the credentials in " + creds), true
		}
		return "", false
	}

	// The service could not be reached.
	var ue *url.Error
	if errors.As(err, &ue) {
		host := ue.URL
		if u, perr := url.Parse(ue.URL); perr == nil {
			host = u.Scheme + "://" + u.Host
		}
		var dns *net.DNSError
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			return prefix("cannot reach " + host + ": connection refused (check --endpoint-url, AWS_ENDPOINT_URL and the network)"), true
		case errors.As(err, &dns):
			return prefix("cannot reach " + host + ": no such host " + dns.Name + " (check --endpoint-url, --region and the network)"), true
		}
	}
	return "", false
}

// sdkPrefix is what a message says before the SDK's chain ("operation
// error …"), without the trailing colon; "" if nothing.
func sdkPrefix(msg string) string {
	i := strings.Index(msg, "operation error ")
	if i <= 0 {
		return ""
	}
	return strings.TrimSuffix(strings.TrimSpace(msg[:i]), ":")
}

// bucketRegion is the region S3 says a bucket is in, from its
// x-amz-bucket-region header, or "".
func bucketRegion(err error) string {
	var re interface{ HTTPResponse() *smithyhttp.Response }
	if !errors.As(err, &re) || re.HTTPResponse() == nil || re.HTTPResponse().Response == nil {
		return ""
	}
	return re.HTTPResponse().Header.Get("X-Amz-Bucket-Region")
}

// credentialsName says where the credentials come from, as the SDK looks
// for them: a profile (--profile, AWS_PROFILE), the environment, else the
// default profile.
func (a *app) credentialsName() string {
	switch {
	case a.profile != "":
		return fmt.Sprintf("profile %q", a.profile)
	case os.Getenv("AWS_PROFILE") != "":
		return fmt.Sprintf("profile %q", os.Getenv("AWS_PROFILE"))
	case os.Getenv("AWS_ACCESS_KEY_ID") != "":
		return "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
	}
	return `profile "default" (or the instance's role)`
}

// regionName is the region requests were sent to.
func (a *app) regionName() string {
	if a.cfg != nil && a.cfg.Region != "" {
		return a.cfg.Region
	}
	if a.region != "" {
		return a.region
	}
	return "the region configured"
}

// debugLogger prints the SDK's log (--debug) to w, each entry prefixed
// "s3c: debug:", with the request signature and any session token or
// SSE-C key redacted. Bodies are never logged: KMS responses carry data
// keys.
func debugLogger(w io.Writer) logging.Logger {
	var mu sync.Mutex
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		text := fmt.Sprintf(format, v...)
		lines := strings.Split(strings.TrimRight(text, "\r\n"), "\n")
		for i, l := range lines {
			lines[i] = redactHeader(strings.TrimRight(l, "\r"))
		}
		mu.Lock()
		defer mu.Unlock()
		fmt.Fprintf(w, "s3c: debug: %s\n", strings.Join(lines, "\n  "))
	})
}

// redactHeader hides the secret parts of a dumped HTTP header line.
func redactHeader(line string) string {
	name, value, ok := strings.Cut(line, ":")
	if !ok {
		return line
	}
	switch strings.ToLower(name) {
	case "authorization":
		if i := strings.Index(value, "Signature="); i >= 0 {
			return name + ":" + value[:i] + "Signature=REDACTED"
		}
		return name + ": REDACTED"
	case "x-amz-security-token", "x-amz-server-side-encryption-customer-key",
		"x-amz-copy-source-server-side-encryption-customer-key":
		return name + ": REDACTED"
	}
	return line
}
