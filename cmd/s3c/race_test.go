//go:build race

package main

// Under the race detector, the binary under test is built with it too:
// a race in s3c makes it exit 66 with a report, failing the test.
func init() { buildFlags = append(buildFlags, "-race") }
