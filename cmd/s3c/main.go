// Command s3c encrypts files on their way to S3 and decrypts them on the
// way back, with the envelope format of AWS's S3 Encryption Client, so
// objects cross freely between s3c, its Go library and AWS's clients.
//
// Run "s3c --help" for the commands, their flags, examples and exit codes.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/s3c/s3c/s3crypto"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

// Exit codes: a contract with scripts.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitIntegrity = 3
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return a.exit
	}
	if strings.HasPrefix(err.Error(), "unknown command ") {
		err = usageError{err}
	}
	a.report(err)
	return exitCode(err)
}

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode classifies an error: usage 2, integrity 3, anything else 1.
func exitCode(err error) int {
	var ue usageError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case s3crypto.IsIntegrityError(err):
		return exitIntegrity
	}
	return exitError
}

// report prints an error as one line, with a hint where one helps.
func (a *app) report(err error) {
	msg := strings.Join(strings.Fields(err.Error()), " ")
	fmt.Fprintf(a.stderr, "s3c: %s\n", msg)
	var ue usageError
	var pe *s3crypto.PolicyError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(a.stderr, "Run 's3c --help' or 's3c <command> --help' for usage.")
	case errors.As(err, &pe) && pe.Content == "AES/CBC/PKCS5Padding" || errors.As(err, &pe) && strings.Contains(pe.Reason, "legacy"):
		fmt.Fprintln(a.stderr, "s3c: this is a legacy object; --legacy reads it (it has no integrity protection)")
	case errors.As(err, &pe):
		fmt.Fprintln(a.stderr, "s3c: the object has no key commitment (format V2); --format v2 reads it")
	}
}
