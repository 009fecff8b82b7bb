package main

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/spf13/pflag"
)

// keyFilter is the --exclude/--include patterns of a command that walks
// many objects or files (cp -r, sync, rm -r, ls), applied as aws s3 applies
// them: everything is included by default, the patterns are tried in the
// order given and the last that matches decides. A pattern matches the
// path relative to the source prefix or directory, with "/" separators:
// "*" matches any run of characters, "/" included, "?" any one character,
// "[abc]", "[a-z]" and "[!abc]" one of a set (or not).
type keyFilter struct {
	rules []filterRule
}

type filterRule struct {
	include bool
	pattern string
	re      *regexp.Regexp
}

// filterValue appends one rule per --exclude or --include, keeping their
// order across both flags.
type filterValue struct {
	f       *keyFilter
	include bool
}

func (v filterValue) String() string { return "" }
func (v filterValue) Type() string   { return "PATTERN" }
func (v filterValue) Set(p string) error {
	re, err := globRegexp(p)
	if err != nil {
		return err
	}
	v.f.rules = append(v.f.rules, filterRule{include: v.include, pattern: p, re: re})
	return nil
}

// register adds --exclude and --include to fs.
func (f *keyFilter) register(fs *pflag.FlagSet) {
	fs.Var(filterValue{f, false}, "exclude", `leave out paths matching PATTERN, relative to the source ("*" matches "/" too; repeatable)`)
	fs.Var(filterValue{f, true}, "include", "take paths matching PATTERN again after an --exclude (the last matching pattern decides; repeatable)")
}

// active reports whether any pattern was given.
func (f *keyFilter) active() bool { return f != nil && len(f.rules) > 0 }

// match reports whether rel, a path relative to the source, is included.
func (f *keyFilter) match(rel string) bool {
	if f == nil {
		return true
	}
	in := true
	for _, r := range f.rules {
		if r.re.MatchString(rel) {
			in = r.include
		}
	}
	return in
}

// globRegexp compiles a shell pattern where "*" also matches "/".
func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`^`)
	for i := 0; i < len(p); i++ {
		switch c := p[i]; c {
		case '*':
			b.WriteString(`.*`)
		case '?':
			b.WriteString(`.`)
		case '[':
			end := strings.IndexByte(p[i+1:], ']')
			if end == 0 && i+2 < len(p) { // "[]...]": a leading ] is literal
				end = 1 + strings.IndexByte(p[i+2:], ']')
			}
			if end < 0 {
				return nil, usagef("pattern %q: unclosed [", p)
			}
			set := p[i+1 : i+1+end]
			i += 1 + end
			neg := strings.HasPrefix(set, "!")
			if neg {
				set = set[1:]
			}
			if set == "" {
				return nil, usagef("pattern %q: empty []", p)
			}
			b.WriteString(`[`)
			if neg {
				b.WriteString(`^`)
			}
			for _, r := range set {
				if r == '\\' || r == '[' || r == ']' || r == '^' {
					b.WriteByte('\\')
				}
				b.WriteRune(r)
			}
			b.WriteString(`]`)
		default:
			b.WriteString(regexp.QuoteMeta(string(c)))
		}
	}
	b.WriteString(`$`)
	re, err := regexp.Compile(b.String())
	if err != nil {
		return nil, usagef("pattern %q: %v", p, err)
	}
	return re, nil
}

func (r filterRule) String() string {
	if r.include {
		return fmt.Sprintf("--include %q", r.pattern)
	}
	return fmt.Sprintf("--exclude %q", r.pattern)
}
