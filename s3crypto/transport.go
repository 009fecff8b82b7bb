package s3crypto

import (
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// Request options of the transports that send ciphertext: the single PUT
// and the parts of a multipart upload.

// unsignedPayload sends a body s3c encrypted with an unsigned payload
// over plain http, as the SDK always does over https: the signature still
// covers the headers (length and checksum included), AES-GCM authenticates
// the content end to end, and the SDK's checksum still guards the
// transfer. Signing it would cost a SHA-256 pass and, for a streamed
// body, another encryption pass.
func unsignedPayload(o *s3.Options) {
	o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
}

// noRequestChecksum is for bodies that cannot be rewound over plain http,
// where the SDK would need a pass to compute the checksum header first.
func noRequestChecksum(o *s3.Options) {
	o.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
}

// plainHTTP reports whether a call with these options goes over http.
func plainHTTP(o s3.Options, optFns []func(*s3.Options)) bool {
	for _, fn := range optFns {
		fn(&o)
	}
	if o.EndpointOptions.DisableHTTPS {
		return true
	}
	return o.BaseEndpoint != nil && strings.HasPrefix(strings.ToLower(*o.BaseEndpoint), "http://")
}
