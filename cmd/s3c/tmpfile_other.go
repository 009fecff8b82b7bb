//go:build !linux

package main

// createOut creates the file a download to dst writes: under a
// temporary name beside dst, mode 0600, once the stale ones of gets
// killed before they could clean up are removed.
func createOut(dst string) (*outFile, error) {
	removeStale(dst)
	return createNamed(dst)
}
