//go:build !linux

package main

// peakRSS is unknown off Linux: the tables show 0.
func peakRSS() int64 { return 0 }

// freeSpace is unknown here: the scratch directory is not checked.
func freeSpace(string) int64 { return -1 }

func fsKind(string) string { return "" }
