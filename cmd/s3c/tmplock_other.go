//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package main

import "os"

func lock(*os.File) {}

// unlocked cannot tell here: no temporary file is taken for stale.
func unlocked(string) bool { return false }
