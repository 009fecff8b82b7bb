package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// head returns head --json's report of obj.
func (c *cli) head(obj string) objectReport {
	c.t.Helper()
	var h objectReport
	if err := json.Unmarshal([]byte(c.ok("head", "--json", obj).stdout), &h); err != nil {
		c.t.Fatal(err)
	}
	return h
}

// keyRefOfFile is the key reference keygen printed for a key file.
func (c *cli) keygen(name string) string {
	c.t.Helper()
	return strings.TrimSpace(c.ok("keygen", "aes", name).stdout)
}

// Keys and context from the environment: the first key wraps, any
// unwraps; KMS keys come before AES keys; a key flag replaces them all.
func TestEnvKeys(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	refA, refB := c.keygen("a.key"), c.keygen("b.key")
	c.write("f", []byte("from env"))

	c.setenv("S3C_AES_KEY_FILE=a.key,b.key", "S3C_CONTEXT=team=blue,env=prod")
	c.ok("put", "f", c.url("ab"))
	if h := c.head(c.url("ab")); h.KeyRef != refA || h.Description["team"] != "blue" || h.Description["env"] != "prod" {
		t.Fatalf("put with S3C_AES_KEY_FILE=a.key,b.key: %+v", h)
	}
	c.setenv("S3C_AES_KEY_FILE=b.key, a.key")
	if r := c.ok("get", c.url("ab"), "-"); r.stdout != "from env" {
		t.Fatalf("get: %q", r.stdout)
	}
	c.setenv("S3C_CONTEXT")
	c.fails(1, "team", "get", c.url("ab"), "-")
	c.setenv("S3C_CONTEXT=team=blue,env=prod")
	// A key flag: the environment's keys are not used, not even to read.
	c.fails(1, refA, "get", "--aes-key", "b.key", c.url("ab"), "-")
	c.ok("put", "--aes-key", "b.key", "f", c.url("b"))
	if h := c.head(c.url("b")); h.KeyRef != refB {
		t.Fatalf("--aes-key b.key over S3C_AES_KEY_FILE: %+v", h)
	}
	// KMS first, whatever the order of the variables.
	c.setenv("S3C_KMS_KEY_ID=alias/cli", "S3C_AES_KEY_FILE=a.key", "S3C_CONTEXT")
	c.ok("put", "f", c.url("kms"))
	if h := c.head(c.url("kms")); h.KeyRef != kmsARN {
		t.Fatalf("S3C_KMS_KEY_ID with S3C_AES_KEY_FILE: %+v", h)
	}
	if r := c.ok("cp", c.url("kms"), "-"); r.stdout != "from env" {
		t.Fatalf("cp: %q", r.stdout)
	}
	c.setenv("S3C_KMS_KEY_ID")
	// Mistakes name the variable, never the value.
	c.setenv("S3C_AES_KEY_FILE=MDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3ODlhYmNkZWY=")
	r := c.fails(2, "S3C_AES_KEY_FILE takes the path of a key file, not the key itself", "put", "f", c.url("x"))
	if strings.Contains(r.stderr, "MDEy") {
		t.Fatalf("the key was echoed: %q", r.stderr)
	}
	c.setenv("S3C_AES_KEY_FILE=missing.key")
	c.fails(2, "S3C_AES_KEY_FILE: cannot read the key file", "put", "f", c.url("x"))
	c.setenv("S3C_AES_KEY_FILE=a.key", "S3C_CONTEXT=team")
	c.fails(2, "S3C_CONTEXT: entry 1: want key=value", "put", "f", c.url("x"))
}

const testConfig = `# s3c defaults
[default]
aes_key_file = "~/a.key"
context = { team = "blue" }

[profiles.old]
aes_key_file = ["~/b.key", "~/a.key"]
format = "v2"

[profiles.kms]
kms_key_id = "alias/cli"
allow_kms_key = ["alias/cli"]
`

// The config file: [default], a profile over it (--config-profile or
// S3C_PROFILE), and flags over the environment over the file.
func TestConfigFile(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	refA, refB := c.keygen("a.key"), c.keygen("b.key")
	refC := c.keygen("c.key")
	c.write("f", []byte("from config"))
	c.write(".config/s3c/config.toml", []byte(testConfig)) // the default place: $HOME/.config

	c.ok("put", "f", c.url("def"))
	if h := c.head(c.url("def")); h.KeyRef != refA || h.Format != "V3" || h.Description["team"] != "blue" {
		t.Fatalf("[default]: %+v", h)
	}
	if r := c.ok("get", c.url("def"), "-"); r.stdout != "from config" {
		t.Fatalf("get: %q", r.stdout)
	}
	c.ok("put", "--config-profile", "old", "f", c.url("old"))
	if h := c.head(c.url("old")); h.KeyRef != refB || h.Format != "V2" || h.Description["team"] != "blue" {
		t.Fatalf("[profiles.old]: %+v", h)
	}
	c.setenv("S3C_PROFILE=old")
	if r := c.ok("get", c.url("def"), "-"); r.stdout != "from config" {
		t.Fatalf("get with S3C_PROFILE=old (b.key, a.key): %q", r.stdout)
	}
	c.setenv("S3C_PROFILE=kms")
	c.ok("put", "f", c.url("kms"))
	if h := c.head(c.url("kms")); h.KeyRef != kmsARN {
		t.Fatalf("[profiles.kms]: %+v", h)
	}
	c.ok("get", c.url("kms"), "-")
	c.setenv("S3C_PROFILE")

	// Flag over environment over file.
	c.setenv("S3C_AES_KEY_FILE=b.key", "S3C_CONTEXT=team=red")
	c.ok("put", "f", c.url("env"))
	if h := c.head(c.url("env")); h.KeyRef != refB || h.Description["team"] != "red" {
		t.Fatalf("env over file: %+v", h)
	}
	c.ok("put", "--aes-key", "c.key", "--context", "team=green", "--format", "v2", "--config-profile", "old", "f", c.url("flag"))
	if h := c.head(c.url("flag")); h.KeyRef != refC || h.Description["team"] != "green" || h.Format != "V2" {
		t.Fatalf("flags over env and file: %+v", h)
	}
	c.setenv("S3C_AES_KEY_FILE", "S3C_CONTEXT")

	// --config and S3C_CONFIG name another file; a relative key path is
	// beside the file.
	c.write("conf/other.toml", []byte("[default]\naes_key_file = \"../c.key\"\n"))
	c.ok("put", "--config", "conf/other.toml", "f", c.url("other"))
	c.setenv("S3C_CONFIG=" + c.path("conf/other.toml"))
	c.ok("put", "f", c.url("other2"))
	for _, k := range []string{"other", "other2"} {
		if h := c.head(c.url(k)); h.KeyRef != refC || h.Description["team"] != "" {
			t.Fatalf("%s: %+v", k, h)
		}
	}
}

// Mistakes in the config file are usage errors that name the file, the
// line and the setting, never the value.
func TestConfigErrors(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.keygen("a.key")
	c.write("f", []byte("x"))
	const secret = "c2VjcmV0LWtleS1tYXRlcmlhbC0xMjM0NTY3ODkwYWI="
	for _, tc := range []struct{ name, text, want string }{
		{"unknown", "[default]\naes_key_file = \"a.key\"\nkms_keyid = \"" + secret + "\"\n",
			`:3: setting "default.kms_keyid": unknown setting (known: kms_key_id, aes_key_file, rsa_key_file, pkcs11_key, allow_kms_key, context, format, region, endpoint_url, aws_profile)`},
		{"type", "[default]\n\n[profiles.p]\nformat = 3\n", `:4: setting "profiles.p.format": want a string`},
		{"list", "[default]\naes_key_file = [\"a.key\", 7]\n", `:2: setting "default.aes_key_file": want a string or a list of strings`},
		{"context", "[default]\ncontext = \"" + secret + "\"\n", `:2: setting "default.context": want a table of strings (context = { k = "v" })`},
		{"format", "[default]\nformat = \"" + secret + "\"\n", `:2: setting "default.format": want v3 or v2`},
		{"top", "region = \"" + secret + "\"\n", `:1: setting "region": unknown: settings go in [default] or [profiles.NAME]`},
		{"syntax", "[default]\nformat = \"v3\n", `:2: not valid TOML`},
	} {
		path := c.write(tc.name+".toml", []byte(tc.text))
		r := c.run("put", "--config", path, "f", c.url("x"))
		want := "s3c: config " + path + tc.want + "\nRun 's3c put --help' for usage.\n"
		if r.code != 2 || r.stderr != want {
			t.Errorf("%s: exit %d, stderr %q\nwant 2, %q", tc.name, r.code, r.stderr, want)
		}
	}
	path := c.write("key.toml", []byte("[default]\naes_key_file = \""+secret+"\"\n"))
	r := c.fails(2, "config "+path+`:2: setting "default.aes_key_file": takes the path of a key file, not the key itself`, "put", "--config", path, "f", c.url("x"))
	if strings.Contains(r.stderr, secret) {
		t.Fatalf("the key was echoed: %q", r.stderr)
	}
	c.fails(2, "config nosuch.toml: no such file or directory", "put", "--config", "nosuch.toml", "f", c.url("x"))
	c.setenv("S3C_CONFIG=nosuch.toml")
	c.fails(2, "config nosuch.toml: no such file or directory", "get", c.url("x"), "-")
	c.setenv("S3C_CONFIG")
	c.fails(2, "--config-profile p: no config file ("+filepath.Join(c.dir, ".config/s3c/config.toml")+")", "put", "--config-profile", "p", "f", c.url("x"))
	c.write(".config/s3c/config.toml", []byte("[default]\naes_key_file = \"~/a.key\"\n"))
	c.setenv("S3C_PROFILE=p")
	c.fails(2, "S3C_PROFILE p: no [profiles.p] in "+filepath.Join(c.dir, ".config/s3c/config.toml"), "put", "f", c.url("x"))
	c.setenv("S3C_PROFILE")
	// A command that talks to neither S3 nor KMS does not read it.
	c.write(".config/s3c/config.toml", []byte("nonsense = 1\n"))
	c.ok("keygen", "aes", "k2.key")
	if _, err := os.Stat(c.path("k2.key")); err != nil {
		t.Fatal(err)
	}
}

// The AWS settings of the config file come after the flags and the
// SDK's own variables.
func TestConfigAWSSettings(t *testing.T) {
	t.Parallel()
	c := newCLI(t)
	c.keygen("a.key")
	c.write("f", []byte("x"))
	c.setenv("AWS_ENDPOINT_URL_S3")
	c.write("ep.toml", []byte("[default]\naes_key_file = \"a.key\"\nendpoint_url = \""+minio.Endpoint+"\"\n"))
	c.ok("put", "--config", "ep.toml", "f", c.url("ep"))
	c.fails(1, "", "put", "--config", "ep.toml", "--endpoint-url", "http://127.0.0.1:1", "--connect-timeout", "1s", "f", c.url("ep"))

	c.write("prof.toml", []byte("[default]\naws_profile = \"nosuch\"\n"))
	c.fails(1, "nosuch", "head", "--config", "prof.toml", "--endpoint-url", minio.Endpoint, c.url("ep"))
	c.setenv("AWS_CONFIG_FILE=" + c.write("aws-config", []byte("[profile good]\naws_access_key_id = "+minio.AccessKey+"\naws_secret_access_key = "+minio.SecretKey+"\n")))
	c.ok("head", "--config", "prof.toml", "--profile", "good", "--endpoint-url", minio.Endpoint, c.url("ep"))
	c.setenv("AWS_PROFILE=good")
	c.ok("head", "--config", "prof.toml", "--endpoint-url", minio.Endpoint, c.url("ep"))
}
