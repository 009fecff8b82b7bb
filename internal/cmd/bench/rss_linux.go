package main

import (
	"os"
	"syscall"
)

// processRSS returns a finished child process's ru_maxrss in KiB. Linux
// carries the forking process's peak into it, so it is an upper bound of
// the child's own.
func processRSS(ps *os.ProcessState) int64 {
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return ru.Maxrss
	}
	return 0
}
