package main

import (
	"runtime/debug"
	"strings"
)

// version is empty unless a release build sets it with
// -ldflags "-X main.version=v1.2.3"; versionString then takes the rest
// from the build information.
var version string

// versionString is what --version prints after "s3c ": the version (the
// one set at build time, else the module's, which is "(devel)" for a
// build from a checkout) and, when the build recorded them, the VCS
// revision, its time and whether the tree was modified.
func versionString() string {
	v := version
	info, ok := debug.ReadBuildInfo()
	if v == "" {
		v = "(devel)"
		if ok && info.Main.Version != "" {
			v = info.Main.Version
		}
	}
	if !ok {
		return v
	}
	var rev, at string
	modified := false
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	var parts []string
	if rev != "" {
		parts = append(parts, "rev "+rev[:min(len(rev), 12)])
	}
	if at != "" {
		parts = append(parts, at)
	}
	if modified {
		parts = append(parts, "modified")
	}
	if len(parts) > 0 {
		v += " (" + strings.Join(parts, ", ") + ")"
	}
	return v + ", " + info.GoVersion
}
