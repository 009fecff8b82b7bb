package main

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"
	"github.com/spf13/cobra"
)

// Defaults from the environment and a config file. Flags override the
// environment, the environment overrides the file. Keys are taken as a
// whole from one place: any key flag (or --allow-kms-key) on the command
// line, else the key variables of the environment, else the file.

// settings are the defaults a config file's [default] table and
// [profiles.NAME] tables give. A nil list or map is not set.
type settings struct {
	kms, aes, rsa, pkcs11 []string
	allowKMS              []string
	context               map[string]string
	format                string
	region, endpoint      string
	awsProfile            string
}

// settingNames are the settings a table may hold.
var settingNames = []string{"kms_key_id", "aes_key_file", "rsa_key_file", "pkcs11_key", "allow_kms_key",
	"context", "format", "region", "endpoint_url", "aws_profile"}

// configFile is a parsed config file.
type configFile struct {
	path     string
	lines    []string // for error positions
	def      settings
	profiles map[string]settings
}

// configError is a mistake in the config file: a usage error naming the
// file, the line where it can be found, and the setting, never its value
// (which may be a key pasted by mistake).
func (f *configFile) errorf(table, key, format string, args ...any) error {
	where := "config " + f.path
	if n := f.line(table, key); n > 0 {
		where += fmt.Sprintf(":%d", n)
	}
	name := key
	if table != "" {
		name = table + "." + key
	}
	return usagef("%s: setting %q: %s", where, name, fmt.Sprintf(format, args...))
}

// line finds where key is set in table (a dotted name such as
// "profiles.dev"; "" for the top level), best effort: 0 if not found.
func (f *configFile) line(table, key string) int {
	norm := func(s string) string {
		var parts []string
		for p := range strings.SplitSeq(s, ".") {
			parts = append(parts, strings.Trim(strings.TrimSpace(p), `"'`))
		}
		return strings.Join(parts, ".")
	}
	join := func(a, b string) string {
		if a == "" {
			return b
		}
		return a + "." + b
	}
	want := join(table, key)
	cur := ""
	for i, l := range f.lines {
		t := strings.TrimSpace(l)
		if strings.HasPrefix(t, "[") {
			name, _, _ := strings.Cut(strings.TrimLeft(t, "["), "]")
			if cur = norm(name); cur == want {
				return i + 1
			}
			continue
		}
		if k, _, ok := strings.Cut(t, "="); ok && !strings.HasPrefix(t, "#") && join(cur, norm(k)) == want {
			return i + 1
		}
	}
	return 0
}

// loadConfig reads and checks a config file.
func loadConfig(path string) (*configFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &configFile{path: path, lines: strings.Split(string(data), "\n"), profiles: map[string]settings{}}
	var top map[string]any
	if _, err := toml.Decode(string(data), &top); err != nil {
		// The parser's message may quote part of a value: only where.
		var pe toml.ParseError
		if errors.As(err, &pe) && pe.Position.Line > 0 {
			return nil, usagef("config %s:%d: not valid TOML", path, pe.Position.Line)
		}
		return nil, usagef("config %s: not valid TOML", path)
	}
	for _, k := range slices.Sorted(maps.Keys(top)) {
		v := top[k]
		switch k {
		case "default":
			t, ok := v.(map[string]any)
			if !ok {
				return nil, f.errorf("", k, "want a table of settings")
			}
			if f.def, err = f.settings("default", t); err != nil {
				return nil, err
			}
		case "profiles":
			t, ok := v.(map[string]any)
			if !ok {
				return nil, f.errorf("", k, "want tables [profiles.NAME]")
			}
			for _, name := range slices.Sorted(maps.Keys(t)) {
				pt, ok := t[name].(map[string]any)
				if !ok {
					return nil, f.errorf("profiles", name, "want a table of settings")
				}
				s, err := f.settings("profiles."+name, pt)
				if err != nil {
					return nil, err
				}
				f.profiles[name] = s
			}
		default:
			return nil, f.errorf("", k, "unknown: settings go in [default] or [profiles.NAME]")
		}
	}
	return f, nil
}

// settings checks one table's settings.
func (f *configFile) settings(table string, t map[string]any) (settings, error) {
	var s settings
	for _, k := range slices.Sorted(maps.Keys(t)) {
		v := t[k]
		list := func() ([]string, error) {
			switch v := v.(type) {
			case string:
				return []string{v}, nil
			case []any:
				l := []string{}
				for _, e := range v {
					str, ok := e.(string)
					if !ok {
						return nil, f.errorf(table, k, "want a string or a list of strings")
					}
					l = append(l, str)
				}
				return l, nil
			}
			return nil, f.errorf(table, k, "want a string or a list of strings")
		}
		str := func() (string, error) {
			if s, ok := v.(string); ok {
				return s, nil
			}
			return "", f.errorf(table, k, "want a string")
		}
		var err error
		switch k {
		case "kms_key_id":
			s.kms, err = list()
		case "aes_key_file":
			s.aes, err = list()
			err = f.checkKeyFiles(table, k, s.aes, err)
		case "rsa_key_file":
			s.rsa, err = list()
			err = f.checkKeyFiles(table, k, s.rsa, err)
		case "pkcs11_key":
			s.pkcs11, err = list()
		case "allow_kms_key":
			if _, ok := v.(string); ok {
				return s, f.errorf(table, k, "want a list of strings")
			}
			s.allowKMS, err = list()
		case "context":
			m, ok := v.(map[string]any)
			if !ok {
				return s, f.errorf(table, k, "want a table of strings (context = { k = \"v\" })")
			}
			s.context = map[string]string{}
			for ck, cv := range m {
				str, ok := cv.(string)
				if !ok {
					return s, f.errorf(table, k+"."+ck, "want a string")
				}
				s.context[ck] = str
			}
		case "format":
			if s.format, err = str(); err == nil && s.format != "v3" && s.format != "v2" {
				err = f.errorf(table, k, "want v3 or v2")
			}
		case "region":
			s.region, err = str()
		case "endpoint_url":
			s.endpoint, err = str()
		case "aws_profile":
			s.awsProfile, err = str()
		default:
			err = f.errorf(table, k, "unknown setting (known: %s)", strings.Join(settingNames, ", "))
		}
		if err != nil {
			return s, err
		}
	}
	return s, nil
}

// checkKeyFiles refuses key material given where the path of a key file
// belongs (see looksLikeKey), without echoing it.
func (f *configFile) checkKeyFiles(table, key string, paths []string, err error) error {
	if err != nil {
		return err
	}
	for _, p := range paths {
		if _, serr := os.Stat(expandPath(filepath.Dir(f.path), p)); serr != nil && looksLikeKey(p) {
			return f.errorf(table, key, "takes the path of a key file, not the key itself")
		}
	}
	return nil
}

// merge returns base with the settings over sets replaced (a list or a
// table replaces, it is not merged).
func (s settings) merge(over settings) settings {
	if over.kms != nil {
		s.kms = over.kms
	}
	if over.aes != nil {
		s.aes = over.aes
	}
	if over.rsa != nil {
		s.rsa = over.rsa
	}
	if over.pkcs11 != nil {
		s.pkcs11 = over.pkcs11
	}
	if over.allowKMS != nil {
		s.allowKMS = over.allowKMS
	}
	if over.context != nil {
		s.context = over.context
	}
	for _, p := range []struct {
		dst *string
		v   string
	}{{&s.format, over.format}, {&s.region, over.region}, {&s.endpoint, over.endpoint}, {&s.awsProfile, over.awsProfile}} {
		if p.v != "" {
			*p.dst = p.v
		}
	}
	return s
}

// configPath is the config file to read and whether it was named (then
// it must exist): --config, else S3C_CONFIG, else s3c/config.toml in the
// user's configuration directory.
func (a *app) configPath() (string, bool) {
	if a.configFile != "" {
		return a.configFile, true
	}
	if p := os.Getenv("S3C_CONFIG"); p != "" {
		return p, true
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", false
	}
	return filepath.Join(dir, "s3c", "config.toml"), false
}

// usesDefaults reports whether a command talks to S3 or KMS, so that the
// config file applies to it.
func usesDefaults(cmd *cobra.Command) bool {
	for c := cmd; c != nil; c = c.Parent() {
		switch c.Name() {
		case "keygen", "help", "completion", cobra.ShellCompRequestCmd, cobra.ShellCompNoDescRequestCmd:
			return false
		}
	}
	return cmd.HasParent()
}

// fileSettings loads the config file and picks the profile.
func (a *app) fileSettings(cmd *cobra.Command) (settings, string, error) {
	profile := a.configProfile
	profileFrom := "--config-profile"
	if !cmd.Flags().Changed("config-profile") {
		profile, profileFrom = os.Getenv("S3C_PROFILE"), "S3C_PROFILE"
	}
	path, named := a.configPath()
	if path == "" {
		if profile != "" {
			return settings{}, "", usagef("%s %s: no config file", profileFrom, profile)
		}
		return settings{}, "", nil
	}
	f, err := loadConfig(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) && !named {
			if profile != "" {
				return settings{}, "", usagef("%s %s: no config file (%s)", profileFrom, profile, path)
			}
			return settings{}, "", nil
		}
		var ue usageError
		if errors.As(err, &ue) {
			return settings{}, "", err
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return settings{}, "", usagef("config %s: %v", path, err)
	}
	s := f.def
	if profile != "" {
		p, ok := f.profiles[profile]
		if !ok {
			return settings{}, "", usagef("%s %s: no [profiles.%s] in %s", profileFrom, profile, profile, path)
		}
		s = s.merge(p)
	}
	// Key files are found beside the config file; ~/ is the home directory.
	dir := filepath.Dir(path)
	for _, l := range [][]string{s.aes, s.rsa} {
		for i, p := range l {
			l[i] = expandPath(dir, p)
		}
	}
	return s, path, nil
}

// expandPath expands a leading ~/ to the home directory and makes a
// relative path relative to dir.
func expandPath(dir, p string) string {
	if rest, ok := strings.CutPrefix(p, "~/"); ok {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, rest)
		}
	}
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// envList splits a comma-separated variable into its non-empty items.
func envList(v string) []string {
	var l []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			l = append(l, item)
		}
	}
	return l
}

// pkcs11List splits S3C_PKCS11_KEY: a comma followed by "pkcs11:"
// starts the next URI (a comma inside a URI's label stays).
func pkcs11List(v string) []string {
	var l []string
	for i, uri := range strings.Split(v, ",pkcs11:") {
		if i > 0 {
			uri = "pkcs11:" + uri
		}
		if uri = strings.TrimSpace(uri); uri != "" {
			l = append(l, uri)
		}
	}
	return l
}

// applyDefaults fills what the command line leaves unset from the
// environment and the config file, for the flags the command takes.
func (a *app) applyDefaults(cmd *cobra.Command) error {
	takes := func(flag string) bool { return cmd.Flags().Lookup(flag) != nil }
	changed := func(flag string) bool { return takes(flag) && cmd.Flags().Changed(flag) }
	var file settings
	var path string
	if usesDefaults(cmd) {
		var err error
		if file, path, err = a.fileSettings(cmd); err != nil {
			return err
		}
	}

	// Keys: the command line, else the environment, else the file.
	kinds := []struct {
		kind, flag, env, setting string
		file                     []string
		split                    func(string) []string
	}{
		{"kms", "kms-key-id", "S3C_KMS_KEY_ID", "kms_key_id", file.kms, envList},
		{"aes", "aes-key", "S3C_AES_KEY_FILE", "aes_key_file", file.aes, envList},
		{"rsa", "rsa-key", "S3C_RSA_KEY_FILE", "rsa_key_file", file.rsa, envList},
		{"pkcs11", "pkcs11-key", "S3C_PKCS11_KEY", "pkcs11_key", file.pkcs11, pkcs11List},
	}
	if len(a.keys) == 0 && !changed("allow-kms-key") {
		fromEnv := false
		for _, k := range kinds {
			if takes(k.flag) && os.Getenv(k.env) != "" {
				fromEnv = true
			}
		}
		for _, k := range kinds {
			if !takes(k.flag) {
				continue
			}
			if fromEnv {
				for _, v := range k.split(os.Getenv(k.env)) {
					if err := a.addKey(k.kind, v, k.env); err != nil {
						return err
					}
				}
				continue
			}
			for _, v := range k.file {
				if err := a.addKey(k.kind, v, k.setting+" in "+path); err != nil {
					return err
				}
			}
		}
		if !fromEnv && takes("allow-kms-key") {
			a.allowKMS = file.allowKMS
		}
	}

	if takes("context") && !changed("context") {
		if v := os.Getenv("S3C_CONTEXT"); v != "" {
			for i, kv := range envList(v) {
				if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
					return usagef("S3C_CONTEXT: entry %d: want key=value", i+1)
				}
				a.contexts = append(a.contexts, kv)
			}
		} else {
			for _, k := range slices.Sorted(maps.Keys(file.context)) {
				a.contexts = append(a.contexts, k+"="+file.context[k])
			}
		}
	}
	if takes("format") && !changed("format") && file.format != "" {
		a.format = file.format
	}
	// AWS settings: after the flags and the SDK's own variables.
	if file.region != "" && a.region == "" && os.Getenv("AWS_REGION") == "" && os.Getenv("AWS_DEFAULT_REGION") == "" {
		a.region = file.region
	}
	if file.endpoint != "" && a.endpoint == "" && os.Getenv("AWS_ENDPOINT_URL") == "" && os.Getenv("AWS_ENDPOINT_URL_S3") == "" {
		a.endpoint = file.endpoint
	}
	if file.awsProfile != "" && a.profile == "" && os.Getenv("AWS_PROFILE") == "" {
		a.profile = file.awsProfile
	}
	return nil
}

// addKey adds a key from the environment or the config file, checked as
// a key flag's value; errors name from, never the value.
func (a *app) addKey(kind, v, from string) error {
	if kind != "kms" && kind != "pkcs11" && looksLikeKey(v) {
		return usagef("%s takes the path of a key file, not the key itself", from)
	}
	a.keys = append(a.keys, keySpec{kind: kind, value: v, from: from})
	return nil
}
