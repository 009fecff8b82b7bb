// Command withminio runs a command against one S3 server, so that every
// test package of a `go test ./...` run shares it: the endpoint named by
// S3C_TEST_ENDPOINT if set, otherwise a MinIO of the pinned release
// (built once into the cache, see internal/miniotest) started on
// 127.0.0.1 for the duration of the command.
//
// Usage:
//
//	go run ./internal/cmd/withminio -- go test ./...
package main

import (
	"errors"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"syscall"

	"github.com/s3c/s3c/internal/miniotest"
)

func main() {
	args := os.Args[1:]
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		fmt.Fprintln(os.Stderr, "usage: withminio -- command [args...]")
		os.Exit(2)
	}
	log.SetFlags(0)
	log.SetPrefix("withminio: ")
	srv, err := miniotest.Start(log.Printf)
	if err != nil {
		log.Fatal(err)
	}
	if os.Getenv("S3C_TEST_ENDPOINT") == "" {
		log.Printf("MinIO %s on %s", miniotest.Version, srv.Endpoint)
	}
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), srv.Env()...)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		if cmd.Process != nil {
			cmd.Process.Signal(s)
		}
	}()
	err = cmd.Run()
	srv.Stop()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		os.Exit(exit.ExitCode())
	case err != nil:
		log.Fatal(err)
	}
}
