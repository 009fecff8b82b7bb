// Command kmsserver runs the KMS test server (internal/kmstest) on its
// own, for trying s3c without AWS: docker-compose.yml starts it beside
// MinIO. It speaks the real KMS wire protocol; keys live in memory and
// vanish when it stops. Never use it for data you want to keep.
//
//	kmsserver -listen 127.0.0.1:4566 -key alias/s3c-dev
package main

import (
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/s3c/s3c/internal/kmstest"
)

type aliases []string

func (a *aliases) String() string     { return strings.Join(*a, ",") }
func (a *aliases) Set(v string) error { *a = append(*a, v); return nil }

func main() {
	listen := flag.String("listen", "127.0.0.1:4566", "address to listen on")
	accessKey := flag.String("access-key", "", "verify SigV4 signatures made with this access key id (with -secret-key)")
	secretKey := flag.String("secret-key", "", "its secret access key")
	var keys aliases
	flag.Var(&keys, "key", "create a key with this alias at start (repeatable)")
	flag.Parse()
	log.SetFlags(0)
	srv, err := kmstest.Start(kmstest.Options{Addr: *listen, AccessKeyID: *accessKey, SecretAccessKey: *secretKey})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	for _, a := range keys {
		_, arn := srv.CreateKey(a)
		fmt.Printf("key %s: %s\n", a, arn)
	}
	fmt.Printf("KMS test server on %s (set AWS_ENDPOINT_URL_KMS)\n", srv.URL())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	<-sig
}
