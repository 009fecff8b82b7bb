package miniocrypto

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// A program that uses minio-go alone must not pull in the AWS SDKs:
// miniocrypto builds on the SDK-free core and package keyring only.
func TestNoAWSSDKDependency(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "list", "-deps", "github.com/s3c/s3c/s3crypto/miniocrypto").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	var bad []string
	for _, pkg := range strings.Fields(string(out)) {
		if strings.HasPrefix(pkg, "github.com/aws/") || pkg == "github.com/s3c/s3c/s3crypto" || pkg == "github.com/s3c/s3c/materials" {
			bad = append(bad, pkg)
		}
	}
	if len(bad) > 0 {
		t.Fatalf("miniocrypto depends on %d packages it must not: %s", len(bad), strings.Join(bad, " "))
	}
	if !strings.Contains(string(out), "github.com/s3c/s3c/internal/core") {
		t.Fatalf("go list -deps lists no internal/core; the check looks at the wrong package:\n%s", out)
	}
}
