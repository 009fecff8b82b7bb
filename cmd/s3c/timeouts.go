package main

import (
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/internal/nettimeout"
)

// timeoutFlags are --connect-timeout, --first-byte-timeout and
// --idle-timeout: every S3 and KMS call gets them, and the SDK retries a
// call that times out (a broken download resumes where it stopped).
type timeoutFlags struct {
	connect, firstByte, idle time.Duration
}

func (t *timeoutFlags) add(fs *pflag.FlagSet) {
	fs.DurationVar(&t.connect, "connect-timeout", nettimeout.DefaultConnect, "longest wait to connect to S3 or KMS")
	fs.DurationVar(&t.firstByte, "first-byte-timeout", nettimeout.DefaultFirstByte, "longest wait for S3 or KMS to begin answering a request")
	fs.DurationVar(&t.idle, "idle-timeout", nettimeout.DefaultIdle, "longest time a connection may send or receive nothing before the request is retried")
}

func (t *timeoutFlags) check() error {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{{"--connect-timeout", t.connect}, {"--first-byte-timeout", t.firstByte}, {"--idle-timeout", t.idle}} {
		if f.d <= 0 {
			return usagef("%s must be a positive duration such as 30s or 2m, not %v", f.name, f.d)
		}
	}
	return nil
}

// httpClient returns the HTTP client of the AWS configuration (base, if
// the configuration built one: it may hold a custom CA bundle) with the
// timeouts.
func (t *timeoutFlags) httpClient(base aws.HTTPClient) aws.HTTPClient {
	b, ok := base.(*awshttp.BuildableClient)
	if !ok {
		b = awshttp.NewBuildableClient()
	}
	to := nettimeout.Timeouts{Connect: t.connect, FirstByte: t.firstByte, Idle: t.idle}
	// Frozen, so that the service clients do not replace its dialer.
	return b.WithTransportOptions(func(tr *http.Transport) { nettimeout.Apply(tr, to) }).Freeze()
}
