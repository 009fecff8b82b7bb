package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/smithy-go"
)

// kmsRefs resolves the KMS keys named on the command line (or in the
// environment or config file) to their key ARNs, the one reference s3c
// writes into objects and prints: one DescribeKey per distinct name and
// invocation.
type kmsRefs struct {
	mu   sync.Mutex
	arns map[string]string
}

// isKeyARN reports whether ref is already a key ARN (not an alias ARN):
// nothing to resolve.
func isKeyARN(ref string) bool {
	return strings.HasPrefix(ref, "arn:") && strings.Contains(ref, ":key/")
}

// kmsKeyARN returns the key ARN of ref (a key ID, key ARN, alias name or
// alias ARN) as KMS describes it. If KMS refuses DescribeKey (the
// caller may use the key without being allowed to describe it), ref is
// used as given, and --debug says so. what names where ref came from
// (a flag or setting), for errors.
func (a *app) kmsKeyARN(ctx context.Context, c *kms.Client, what, ref string) (string, error) {
	if isKeyARN(ref) {
		return ref, nil
	}
	a.kmsRefs.mu.Lock()
	defer a.kmsRefs.mu.Unlock()
	if arn, ok := a.kmsRefs.arns[ref]; ok {
		return arn, nil
	}
	arn := ref
	out, err := c.DescribeKey(ctx, &kms.DescribeKeyInput{KeyId: &ref})
	var ae smithy.APIError
	switch {
	case err == nil && out.KeyMetadata != nil && out.KeyMetadata.Arn != nil:
		arn = *out.KeyMetadata.Arn
	case err == nil:
		return "", fmt.Errorf("%s %s: KMS DescribeKey answered without the key's ARN", what, ref)
	case errors.As(err, &ae) && ae.ErrorCode() == "AccessDeniedException":
		if a.debug {
			fmt.Fprintf(a.stderr, "s3c: debug: KMS DescribeKey refused for %s (AccessDenied): using it as given, not as the key ARN\n", ref)
		}
	default:
		return "", fmt.Errorf("%s %s: KMS DescribeKey: %w", what, ref, err)
	}
	if a.kmsRefs.arns == nil {
		a.kmsRefs.arns = map[string]string{}
	}
	a.kmsRefs.arns[ref] = arn
	return arn, nil
}
