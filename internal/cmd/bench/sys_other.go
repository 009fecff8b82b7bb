//go:build !linux

package main

import "time"

// cpuTime is unknown here: the tables show 0.
func cpuTime() time.Duration { return 0 }

// peakRSS is unknown off Linux: the tables show 0.
func peakRSS() int64 { return 0 }

// freeSpace is unknown here: the scratch directory is not checked.
func freeSpace(string) int64 { return -1 }

func fsKind(string) string { return "" }
