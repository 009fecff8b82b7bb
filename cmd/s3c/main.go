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

	"github.com/spf13/cobra"

	"github.com/s3c/s3c/s3crypto"
)

// Exit codes: a contract with scripts.
const (
	exitOK        = 0
	exitError     = 1
	exitUsage     = 2
	exitIntegrity = 3
)

// The signals that stop s3c. The first one cancels the command, which
// stops its transfers, aborts multipart uploads and removes temporary
// files; a second one exits at once (still aborting the multipart uploads
// left open, within a few seconds, and removing temporary files).
var stopSignals = []os.Signal{os.Interrupt, syscall.SIGTERM, syscall.SIGHUP}

func main() {
	ctx, cancel := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, stopSignals...)
	go func() {
		s := <-sigs
		cancel(interrupted{s})
		s = <-sigs
		fmt.Fprintf(os.Stderr, "s3c: %s again: stopped at once\n", signalName(s))
		openUploads.abortAll(os.Stderr, secondSignalAbortTimeout)
		removeTempFiles()
		os.Exit(signalExitCode(s))
	}()
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	os.Exit(code)
}

// interrupted is the cause of the context's cancellation by a signal.
type interrupted struct{ sig os.Signal }

func (e interrupted) Error() string { return "interrupted by " + signalName(e.sig) }

// signalExitCode is the exit code of a command stopped by s, by the
// shell's convention: 128 + the signal's number (130 for SIGINT, 143 for
// SIGTERM, 129 for SIGHUP).
func signalExitCode(s os.Signal) int {
	if n, ok := s.(syscall.Signal); ok {
		return 128 + int(n)
	}
	return exitError
}

func signalName(s os.Signal) string {
	switch s {
	case os.Interrupt:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return s.String()
}

// run executes one command line and returns the exit code.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr}
	root := a.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return a.exit
	}
	var ue usageError
	if !a.running && !errors.As(err, &ue) {
		// Cobra's own checks (unknown command, arguments, flag groups)
		// fail before any command runs: all are mistakes in the command line.
		err = usageError{err}
	}
	code := exitCode(err)
	if ctx.Err() != nil && code == exitError {
		err = interruption(ctx, err)
		var in interrupted
		if errors.As(context.Cause(ctx), &in) {
			code = signalExitCode(in.sig)
		}
	}
	a.report(cmd, err)
	return code
}

// interruption turns the failure of a command stopped by a signal into
// one line naming the signal and, when known, the object.
func interruption(ctx context.Context, err error) error {
	cause := context.Cause(ctx)
	var oe *s3crypto.ObjectError
	switch {
	case errors.As(err, &oe):
		var iu *s3crypto.IncompleteUploadError
		if errors.As(err, &iu) { // the upload left open must still be named
			cause = fmt.Errorf("%w; %w", cause, iu)
		}
		return &s3crypto.ObjectError{Op: oe.Op, Bucket: oe.Bucket, Key: oe.Key, KeyRef: oe.KeyRef, Err: cause}
	case errors.Is(err, cause):
		return err // says it already
	}
	return cause
}

// usageError is a mistake in the command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usagef(format string, args ...any) error { return usageError{fmt.Errorf(format, args...)} }

// exitCode classifies an error, by its cause alone (not by the path
// the plaintext took): usage 2; integrity 3 (the object was altered, or
// the key it names failed to unwrap it); anything else 1, including an
// object that needs a key or context that was not given, and S3 or KMS
// misbehaving. A cp -r is 3 if any of its objects is.
func exitCode(err error) int {
	var ue usageError
	var be *batchError
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &be):
		code := exitError
		for _, e := range be.errs {
			if exitCode(e) == exitIntegrity {
				code = exitIntegrity
			}
		}
		return code
	case errors.Is(err, errNoContentLength):
		return exitError
	}
	if _, ok := keyTrouble(err); ok {
		return exitError
	}
	if s3crypto.IsIntegrityError(err) {
		return exitIntegrity
	}
	return exitError
}

// report prints an error as one line, with a hint folded in where one
// helps. Only a usage error gets a second line: where to find the usage.
func (a *app) report(cmd *cobra.Command, err error) {
	msg := a.errorLine(err)
	var ue usageError
	var pe *s3crypto.PolicyError
	switch {
	case errors.As(err, &ue):
		path := "s3c"
		if cmd != nil && cmd.Name() != "help" {
			path = cmd.CommandPath()
		}
		fmt.Fprintf(a.stderr, "s3c: %s\nRun '%s --help' for usage.\n", msg, path)
		return
	case errors.As(err, &pe) && (pe.Content == "AES/CBC/PKCS5Padding" || strings.Contains(pe.Reason, "legacy")):
		msg += " (a legacy object: --legacy reads it, without integrity protection)"
	case errors.As(err, &pe):
		msg += " (no key commitment, format V2: --format v2 reads it)"
	}
	fmt.Fprintf(a.stderr, "s3c: %s\n", msg)
	if a.debug {
		fmt.Fprintf(a.stderr, "s3c: debug: %s\n", oneLine(err))
	}
}

// errorLine is an error told in one line: a key trouble or an S3 error
// in plain words, else its own message.
func (a *app) errorLine(err error) string {
	var be *batchError
	if err != nil && !errors.As(err, &be) {
		if _, ok := keyTrouble(err); !ok {
			if msg, ok := a.plainError(err); ok {
				return msg
			}
		}
	}
	return oneLine(explain(err)) + a.spoolHint(err)
}

// oneLine folds an error message into one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }
