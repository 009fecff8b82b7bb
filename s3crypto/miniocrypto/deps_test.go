package miniocrypto

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/s3c/s3c/keyring"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/s3crypto"
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

// The errors and types miniocrypto re-exports are s3crypto's own, so code
// that checks errors.Is against either package works with both front
// ends, and one Options configures both.
func TestSharedWithS3crypto(t *testing.T) {
	t.Parallel()
	pairs := map[string][2]error{
		"ErrAuthentication":       {ErrAuthentication, s3crypto.ErrAuthentication},
		"ErrCommitmentMismatch":   {ErrCommitmentMismatch, s3crypto.ErrCommitmentMismatch},
		"ErrNotEncrypted":         {ErrNotEncrypted, s3crypto.ErrNotEncrypted},
		"ErrSourceChanged":        {ErrSourceChanged, s3crypto.ErrSourceChanged},
		"ErrTooLarge":             {ErrTooLarge, s3crypto.ErrTooLarge},
		"ErrBadPadding":           {ErrBadPadding, s3crypto.ErrBadPadding},
		"ErrObjectChanged":        {ErrObjectChanged, s3crypto.ErrObjectChanged},
		"ErrInstructionFileInUse": {ErrInstructionFileInUse, s3crypto.ErrInstructionFileInUse},
	}
	for name, p := range pairs {
		if p[0] != p[1] {
			t.Errorf("%s: miniocrypto's and s3crypto's are different values", name)
		}
	}
	var fn func(*Options) = func(o *s3crypto.Options) { o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt }
	var o Options
	fn(&o)
	if o.CommitmentPolicy != RequireEncryptAllowDecrypt {
		t.Fatal("an s3crypto option function does not configure miniocrypto.Options")
	}
	var kr keyring.Keyring = keyrings(t)["aes"]
	var _ materials.Keyring = kr
}
