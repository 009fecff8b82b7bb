//go:build !linux

package main

// createOut creates the file a download to dst writes: under a
// temporary name beside dst, mode 0600.
func createOut(dst string) (*outFile, error) { return createNamed(dst) }
