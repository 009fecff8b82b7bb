package main

import (
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/keyring/pkcs11"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
	"github.com/s3c/s3c/s3crypto"
)

// app holds one invocation's streams, flags and clients.
type app struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	exit           int  // exit code of a command that reports failures itself
	running        bool // a command's RunE was reached: errors before are usage errors

	// AWS configuration
	profile, region, endpoint string
	configFile, configProfile string // --config, --config-profile (config.go)
	pathStyle, virtualHosted  bool
	timeouts                  timeoutFlags

	// keys, in command-line order
	keys     []keySpec
	allowKMS []string

	// branch keys (keystore.go)
	keystore, branchKey string
	rootOnly            bool // the key flags are a key store's root: no --keystore

	// encryption settings
	contexts    []string
	ec          map[string]string // the parsed --context entries
	format      string
	fmtVersion  metadata.Format // the parsed --format
	instruction bool
	legacy      bool
	tempDir     string // --temp-dir: where large objects read whole are spooled

	obj objectOpts // stored objects' settings and SSE-C keys (objectopts.go)

	quiet, json bool
	dryRun      bool // --dry-run: say what would be done, do nothing (sync.go)
	noClobber   bool // --no-clobber: keep destinations that exist (sync.go)
	debug       bool // print the SDK's error chain and request log

	cfg      *aws.Config
	s3client *s3.Client
	kmsRefs  kmsRefs // the key ARNs of the KMS keys named (kmsref.go)
}

type keySpec struct {
	kind  string // "kms", "aes", "rsa", "pkcs11"
	value string
	from  string // the variable or setting it came from; "" for a flag
}

// keyFlag appends to app.keys, so the order of different key flags is kept.
type keyFlag struct {
	a    *app
	kind string
}

func (f keyFlag) String() string { return "" }
func (f keyFlag) Type() string {
	if f.kind == "kms" {
		return "ID"
	}
	if f.kind == "pkcs11" {
		return "URI"
	}
	return "FILE"
}
func (f keyFlag) Set(v string) error {
	if v == "" {
		return fmt.Errorf("--%s needs %s", f.name(), f.wants())
	}
	if f.kind != "kms" && f.kind != "pkcs11" && looksLikeKey(v) {
		// pflag would quote the value in its message: see flagError.
		return fmt.Errorf("--%s takes the path of a key file, not the key itself", f.name())
	}
	f.a.keys = append(f.a.keys, keySpec{kind: f.kind, value: v})
	return nil
}

func (f keyFlag) name() string {
	if f.kind == "kms" {
		return "kms-key-id"
	}
	return f.kind + "-key"
}

func (f keyFlag) wants() string {
	if f.kind == "kms" {
		return "a KMS key ID, ARN or alias"
	}
	if f.kind == "pkcs11" {
		return "a PKCS#11 URI (pkcs11:token=…;object=…?module-path=…&pin-source=file:…)"
	}
	return "the path of a key file"
}

// looksLikeKey reports whether a key flag's value is key material rather
// than the path of a key file: no such file exists and it holds a PEM
// block, a line break or control bytes, or is AES key text (base64 or hex
// of 16, 24 or 32 bytes).
func looksLikeKey(v string) bool {
	if _, err := os.Stat(v); err == nil {
		return false
	}
	if strings.Contains(v, "-----BEGIN") || !utf8.ValidString(v) || strings.ContainsFunc(v, unicode.IsControl) {
		return true
	}
	t := strings.TrimSpace(v)
	aesSize := func(b []byte, err error) bool { return err == nil && (len(b) == 16 || len(b) == 24 || len(b) == 32) }
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if aesSize(enc.DecodeString(t)) {
			return true
		}
	}
	return aesSize(hex.DecodeString(t))
}

// flagError turns pflag's complaint about a flag into a usage error. For
// a key flag, pflag's message would quote the value, which may be the key
// itself: only keyFlag.Set's own message is kept.
func flagError(_ *cobra.Command, err error) error {
	var ive *pflag.InvalidValueError
	if errors.As(err, &ive) {
		switch ive.GetFlag().Value.(type) {
		case keyFlag, sseCKeyFlag:
			return usageError{ive.Unwrap()}
		}
	}
	return usageError{err}
}

const rootHelp = `s3c encrypts files on the client before they reach S3 and decrypts them on
the way back. Every object gets its own AES-256 data key, wrapped by your master
key (AWS KMS, a local AES key or a local RSA key pair); the format is the one AWS's
S3 Encryption Client uses, so AWS's clients for Java, Go and aws-sdk-go read what
s3c writes, and the other way round.

Keys:
  --kms-key-id ID|ARN|alias/NAME   an AWS KMS key
  --aes-key FILE                   a local AES key (make one with: s3c keygen aes FILE)
  --rsa-key FILE                   a local RSA key (PEM; for put the public key is enough)
  --pkcs11-key URI                 a key in an HSM, by PKCS#11 URI (s3c keygen pkcs11 URI)
  Give several to rotate: on put the first one wraps new data keys, on get any of them
  may unwrap. A key flag takes the path of a key file, never the key itself.
  On get, only the keys given are trusted. With no key flag at all, a KMS-wrapped
  object is decrypted with whichever KMS key it names that your credentials may use
  (discovery: whoever can write to the bucket can plant objects under a key of their
  own). --allow-kms-key ARN limits discovery to these keys, beside any other key flags.
  A KMS key may be named by key ID, key ARN, alias name or alias ARN; s3c resolves
  it (KMS DescribeKey) and writes, prints and compares the key ARN.

AWS configuration: the usual chain (environment, ~/.aws/config and credentials),
--profile, --region, --endpoint-url, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 and
AWS_ENDPOINT_URL_KMS. A custom S3 endpoint implies path-style addressing.

Defaults: keys, --context, --format and the AWS settings may also come from the
environment or a config file. S3C_KMS_KEY_ID, S3C_AES_KEY_FILE, S3C_RSA_KEY_FILE
and S3C_PKCS11_KEY each list keys, comma-separated (KMS keys first, then AES, RSA,
PKCS#11: the first wraps, any unwraps); S3C_CONTEXT=k=v,k=v. The config file is
--config FILE, else $S3C_CONFIG, else s3c/config.toml in the user's config
directory (~/.config on Linux): TOML, a [default] table and [profiles.NAME] tables
(--config-profile NAME or S3C_PROFILE) of kms_key_id, aes_key_file, rsa_key_file,
pkcs11_key, allow_kms_key, context, format, region, endpoint_url, aws_profile.
Flags override the environment, the environment the file; keys come from one
place only (any key flag means no key from the environment or the file).

SIGINT, SIGTERM and SIGHUP stop a command cleanly: transfers stop, multipart
uploads are aborted, temporary files are removed and the exit code is 128 plus
the signal's number (130, 143, 129), as the shell reports it. A second signal
exits at once, after aborting the multipart uploads still open (for at most 5
seconds). "s3c uploads" lists and aborts the uploads left open.

Shell completion: s3c completion bash|zsh|fish|powershell prints the script to
load; "s3c completion bash --help" says where to put it.

Exit codes:
  0  success
  1  error: S3 or KMS unavailable or misbehaving (a response without Content-Length,
     a malformed data key from KMS), object missing, policy refusal, the object needs
     a key or an encryption context (--context) that was not given (the message names
     it), ...
  2  usage error, a key flag's file included (missing, unreadable, not a key)
  3  integrity failure: the object was altered or truncated (authentication, key
     commitment, padding, a malformed envelope), or the key it names failed to
     unwrap its data key
  130, 143, 129  interrupted by SIGINT, SIGTERM, SIGHUP (128 + the signal's number)
  The cause alone decides: a get to a file, a get to stdout and a cp exit alike.
  A cp -r, sync or rm -r with failures exits 3 if any object failed its integrity
  check, else 1; --no-clobber skipping a destination that exists is no failure (0).`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "s3c",
		Short:         "Client-side encryption for S3, compatible with AWS's S3 Encryption Client",
		Long:          rootHelp,
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Help()
			return usagef("no command given")
		},
		// Every flag is checked before any key file is read, any source
		// opened or any request made.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			if cmd.Annotations[localOnlyKey] != "" {
				var global string
				cmd.InheritedFlags().VisitAll(func(f *pflag.Flag) {
					if f.Changed && global == "" {
						global = f.Name
					}
				})
				if global != "" {
					return usagef("unknown flag: --%s", global)
				}
			}
			if err := a.applyDefaults(cmd); err != nil {
				return err
			}
			if err := a.checkFlags(); err != nil {
				return err
			}
			return checkCounts(cmd)
		},
	}
	root.SetVersionTemplate("s3c {{.Version}}\n")
	root.SetFlagErrorFunc(flagError)
	pf := root.PersistentFlags()
	pf.StringVar(&a.profile, "profile", "", "AWS shared config profile")
	pf.StringVar(&a.region, "region", "", "AWS region")
	pf.StringVar(&a.endpoint, "endpoint-url", "", "S3 endpoint URL (for example a MinIO)")
	pf.StringVar(&a.configFile, "config", "", "config file of defaults (env S3C_CONFIG; default s3c/config.toml in the user's config directory)")
	pf.StringVar(&a.configProfile, "config-profile", "", "the config file's [profiles.NAME] to use over [default] (env S3C_PROFILE)")
	pf.BoolVar(&a.pathStyle, "path-style", false, "force path-style bucket addressing")
	pf.BoolVar(&a.virtualHosted, "virtual-hosted-style", false, "force virtual-hosted-style bucket addressing")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print nothing but errors; no progress bar")
	pf.BoolVar(&a.debug, "debug", false, "print the full error chain and log each request and response (headers, no bodies; credentials redacted)")
	a.timeouts.add(pf)

	root.AddCommand(a.putCommand(), a.getCommand(), a.cpCommand(), a.lsCommand(),
		a.headCommand(), a.rmCommand(), a.keygenCommand(), a.uploadsCommand(), a.rewrapCommand(),
		a.verifyCommand(), a.encryptCommand(), a.indexCommand(), a.keystoreCommand())
	root.AddCommand(a.mbCommand(), a.rbCommand(), a.syncCommand())
	root.AddCommand(a.genDocsCommand())
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	for _, c := range root.Commands() {
		if c.Name() == "keygen" {
			localOnly(c)
		}
		if c.Name() == "help" {
			a.checkHelpTopic(c)
		}
		if c.Name() == "completion" {
			checkShell(c)
		}
		if c.RunE != nil {
			runE := c.RunE
			c.RunE = func(cmd *cobra.Command, args []string) error {
				a.running = true
				return runE(cmd, args)
			}
		}
	}
	return root
}

// localOnlyKey marks a command that talks to neither S3 nor KMS.
const localOnlyKey = "s3c-local-only"

// localOnly makes a command that talks to neither S3 nor KMS (keygen)
// list and take its own flags only: the global ones (AWS settings,
// timeouts, the config file, --quiet, --debug) mean nothing to it.
func localOnly(c *cobra.Command) {
	const global = "{{if .HasAvailableInheritedFlags}}\n\nGlobal Flags:\n{{.InheritedFlags.FlagUsages | trimTrailingWhitespaces}}{{end}}"
	t := c.UsageTemplate()
	if !strings.Contains(t, global) {
		panic("s3c: cobra's usage template changed: " + c.Name() + " would list the global flags")
	}
	c.SetUsageTemplate(strings.Replace(t, global, "", 1))
	if c.Annotations == nil {
		c.Annotations = map[string]string{}
	}
	c.Annotations[localOnlyKey] = "true"
}

// checkHelpTopic makes "s3c help nosuch" a usage error (cobra prints a
// note and succeeds).
func (a *app) checkHelpTopic(help *cobra.Command) {
	show := help.Run
	help.Run = nil
	help.Example = "  s3c help put"
	help.RunE = func(cmd *cobra.Command, args []string) error {
		if found, rest, err := cmd.Root().Find(args); err != nil || found == nil || len(rest) > 0 {
			return usagef("unknown help topic %q", strings.Join(args, " "))
		}
		show(cmd, args)
		return nil
	}
}

// checkShell makes "s3c completion" without a shell a usage error
// (cobra prints the help and succeeds); an unknown shell is one already.
func checkShell(completion *cobra.Command) {
	completion.Example = "  s3c completion bash > ~/.local/share/bash-completion/completions/s3c"
	completion.RunE = func(cmd *cobra.Command, args []string) error {
		cmd.Help()
		return usagef("no shell given: bash, zsh, fish or powershell")
	}
}

// checkFlags validates the flags that need more than their type: before
// anything is read, opened or sent.
func (a *app) checkFlags() error {
	if a.pathStyle && a.virtualHosted {
		return usagef("--path-style and --virtual-hosted-style exclude each other")
	}
	if err := a.timeouts.check(); err != nil {
		return err
	}
	if err := a.checkTempDir(); err != nil {
		return err
	}
	switch strings.ToLower(a.format) {
	case "v3", "":
		a.fmtVersion = metadata.V3
	case "v2":
		a.fmtVersion = metadata.V2
	default:
		return usagef("--format must be v3 or v2, not %q", a.format)
	}
	ec, err := parseContext(a.contexts)
	if err != nil {
		return err
	}
	a.ec = ec
	return a.checkObjectFlags()
}

// countFlags are the flags that count something (objects at once): 1
// or more.
var countFlags = []string{"jobs"}

// checkCounts refuses a count flag below 1: a usage error naming it.
func checkCounts(cmd *cobra.Command) error {
	for _, name := range countFlags {
		if cmd.Flags().Lookup(name) == nil {
			continue
		}
		if n, err := cmd.Flags().GetInt(name); err == nil && n < 1 {
			return usagef("--%s %d: want 1 or more", name, n)
		}
	}
	return nil
}

// The key flags come in two sets: a command that writes objects (put)
// takes the writing set, one that reads them (get) the reading set, and
// one that does both (cp) both. A flag a command does not take is
// cobra's "unknown flag" usage error, never silently accepted.
const (
	readKeys  = 1 << iota // the command decrypts objects
	writeKeys             // the command encrypts objects
)

// keyFlags adds the key flags of the sets in which (readKeys,
// writeKeys or both).
func (a *app) keyFlags(fs *pflag.FlagSet, which int) {
	read, write := which&readKeys != 0, which&writeKeys != 0
	rep := "repeatable"
	switch {
	case read && write:
		rep = "repeatable; the first wraps new data keys, any unwraps"
	case write:
		rep = "repeatable; the first wraps new data keys"
	}
	fs.Var(keyFlag{a, "kms"}, "kms-key-id", "AWS KMS key: ID, ARN, alias/NAME ("+rep+"; env S3C_KMS_KEY_ID)")
	fs.Var(keyFlag{a, "aes"}, "aes-key", "local AES master key file ("+rep+"; env S3C_AES_KEY_FILE)")
	fs.Var(keyFlag{a, "rsa"}, "rsa-key", "local RSA key file, PEM ("+rep+"; env S3C_RSA_KEY_FILE)")
	fs.Var(keyFlag{a, "pkcs11"}, "pkcs11-key", "key in an HSM: PKCS#11 URI with module-path and pin-source ("+rep+"; env S3C_PKCS11_KEY)")
	if read {
		fs.StringArrayVar(&a.allowKMS, "allow-kms-key", nil, "trust KMS-wrapped objects under this key: ARN, ID or alias (discovery; repeatable)")
	}
	fs.StringArrayVar(&a.contexts, "context", nil, "encryption context or material description entry k=v (repeatable; env S3C_CONTEXT)")
	switch {
	case read && write:
		fs.StringVar(&a.format, "format", "v3", "format of new objects: v3 (key-committing) or v2 (AES-GCM, for older readers); v2 also reads V2 objects")
	case write:
		fs.StringVar(&a.format, "format", "v3", "format of new objects: v3 (key-committing) or v2 (AES-GCM, for older readers)")
	default:
		fs.StringVar(&a.format, "format", "v3", "v3 reads only key-committing objects; v2 also reads V2 objects (AES-GCM)")
	}
	if write {
		fs.BoolVar(&a.instruction, "instruction-file", false, "store the envelope in <key>.instruction instead of the object's metadata")
	}
	if read {
		fs.BoolVar(&a.legacy, "legacy", false, "also read legacy objects (AES-CBC, old key wraps): no integrity protection")
	}
	a.branchFlags(fs, write)
}

func (a *app) jsonFlag(fs *pflag.FlagSet) {
	fs.BoolVar(&a.json, "json", false, "print the result as JSON")
}

// awsConfig loads the AWS configuration once.
func (a *app) awsConfig(ctx context.Context) (aws.Config, error) {
	if a.cfg != nil {
		return *a.cfg, nil
	}
	var opts []func(*config.LoadOptions) error
	if a.profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(a.profile))
	}
	if a.region != "" {
		opts = append(opts, config.WithRegion(a.region))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region = "us-east-1"
	}
	cfg.HTTPClient = a.timeouts.httpClient(cfg.HTTPClient)
	// Warnings only: the SDK's debug notes would interleave with output.
	cfg.Logger = logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		if c == logging.Warn {
			fmt.Fprintf(a.stderr, "s3c: warning: "+format+"\n", v...)
		}
	})
	if a.debug {
		cfg.ClientLogMode = aws.LogRequest | aws.LogResponse | aws.LogRetries
		cfg.Logger = debugLogger(a.stderr)
	}
	a.cfg = &cfg
	return cfg, nil
}

// s3Client returns the plain S3 client.
func (a *app) s3Client(ctx context.Context) (*s3.Client, error) {
	if a.s3client != nil {
		return a.s3client, nil
	}
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	a.s3client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if a.endpoint != "" {
			o.BaseEndpoint = aws.String(a.endpoint)
		}
		// A custom endpoint (flag, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 or
		// shared config) is usually not AWS: path-style unless told otherwise.
		o.UsePathStyle = (o.BaseEndpoint != nil && !a.virtualHosted) || a.pathStyle
		o.APIOptions = append(o.APIOptions, openUploads.track(func() *s3.Client { return a.s3client }))
	})
	return a.s3client, nil
}

func (a *app) kmsClient(ctx context.Context) (*kms.Client, error) {
	cfg, err := a.awsConfig(ctx)
	if err != nil {
		return nil, err
	}
	return kms.NewFromConfig(cfg), nil
}

// keyring builds the keyring from the key flags, in order. For writing,
// at least one key is needed. For reading, only the keys given are
// trusted: KMS discovery (any KMS key the object names and the caller may
// use) is added only when no key flag is given at all, or for the keys
// of --allow-kms-key.
func (a *app) keyring(ctx context.Context, write bool) (materials.Keyring, error) {
	var krs []materials.Keyring
	for i, k := range a.keys {
		flag := a.keyFlagName(i)
		switch k.kind {
		case "kms":
			c, err := a.kmsClient(ctx)
			if err != nil {
				return nil, err
			}
			// Objects name the key ARN; those written earlier under
			// the name given are still claimed.
			arn, err := a.kmsKeyARN(ctx, c, flag, k.value)
			if err != nil {
				return nil, err
			}
			krs = append(krs, materials.NewKMS(c, arn, func(o *materials.KMSOptions) {
				if arn != k.value {
					o.OtherNames = []string{k.value}
				}
			}))
		case "aes":
			data, err := readKeyFile(flag, k.value)
			if err != nil {
				return nil, err
			}
			key, err := materials.ParseAESKey(data)
			clear(data)
			if err != nil {
				return nil, usagef("%s: %v", flag, err)
			}
			kr, err := materials.NewAES(key)
			clear(key)
			if err != nil {
				return nil, usagef("%s: %v", flag, err)
			}
			krs = append(krs, kr)
		case "rsa":
			data, err := readKeyFile(flag, k.value)
			if err != nil {
				return nil, err
			}
			priv, pub, err := materials.ParseRSAKey(data)
			clear(data)
			if err != nil {
				return nil, usagef("%s: not an RSA key file (%v)", flag, err)
			}
			var kr *materials.RSAKeyring
			if priv != nil {
				kr, err = materials.NewRSA(priv)
			} else if write {
				kr, err = materials.NewRSAPublic(pub)
			} else {
				return nil, usagef("%s holds only a public key; reading needs the private key", flag)
			}
			if err != nil {
				return nil, usagef("%s: %v", flag, err)
			}
			krs = append(krs, kr)
		case "pkcs11":
			// Errors name the key reference, never the PIN; a token
			// that is absent or refuses the PIN is an error (exit 1).
			kr, err := pkcs11.Open(k.value)
			if err != nil {
				return nil, fmt.Errorf("%s: %v", flag, err)
			}
			krs = append(krs, kr)
		}
	}
	if !write && (len(a.keys) == 0 || len(a.allowKMS) > 0) {
		c, err := a.kmsClient(ctx)
		if err != nil {
			return nil, err
		}
		var allowed []string
		for _, ref := range a.allowKMS {
			arn, err := a.kmsKeyARN(ctx, c, "--allow-kms-key", ref)
			if err != nil {
				return nil, err
			}
			allowed = append(allowed, arn)
		}
		krs = append(krs, materials.NewKMSDiscovery(c, func(o *materials.KMSOptions) { o.AllowedKeys = allowed }))
	}
	if len(krs) == 0 {
		return nil, usagef("a master key is needed: --kms-key-id, --aes-key, --rsa-key or --pkcs11-key")
	}
	if url := a.keystoreURL(); url != "" {
		return a.withBranch(ctx, url, materials.Multi(krs[0], krs[1:]...), write)
	}
	return materials.Multi(krs[0], krs[1:]...), nil
}

// keyFlagName names the i-th key flag without its value, which may be
// secret: "--aes-key", or "--aes-key #2" when there are several.
func (a *app) keyFlagName(i int) string {
	flag := "--" + keyFlag{kind: a.keys[i].kind}.name()
	if a.keys[i].from != "" {
		flag = a.keys[i].from
	}
	n, nth := 0, 0
	for j, k := range a.keys {
		if k.kind == a.keys[i].kind && k.from == a.keys[i].from {
			n++
			if j <= i {
				nth++
			}
		}
	}
	if n > 1 {
		return fmt.Sprintf("%s #%d", flag, nth)
	}
	return flag
}

// readKeyFile reads a key file. Its errors name the flag, not the path
// (which may be the key itself, given by mistake): a usage error.
func readKeyFile(flag, path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, usagef("%s: cannot read the key file (%v)", flag, err)
	}
	return data, nil
}

// client returns the encryption client for reading (write=false) or writing.
func (a *app) client(ctx context.Context, write bool) (*s3crypto.Client, error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	kr, err := a.keyring(ctx, write)
	if err != nil {
		return nil, err
	}
	format := a.fmtVersion
	return s3crypto.New(sc, kr, func(o *s3crypto.Options) {
		if write {
			o.Format = format
		} else if format == metadata.V2 || a.legacy {
			o.CommitmentPolicy = s3crypto.RequireEncryptAllowDecrypt
		}
		if !write && a.legacy {
			o.AllowLegacyContent, o.AllowLegacyWrapping = true, true
		}
		o.InstructionFile = a.instruction
		o.TempDir = a.tempDir
	})
}

// metaClient is an encryption client for calls that unwrap no key (head,
// ls, rm): its keyring refuses every request.
func (a *app) metaClient(ctx context.Context) (*s3crypto.Client, error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	return s3crypto.New(sc, noKeys{})
}

// noKeys is the keyring of a client that must not unwrap or make keys.
type noKeys struct{}

var errNoKeys = errors.New("s3c: this command uses no master key")

func (noKeys) GenerateDataKey(context.Context, *materials.EncryptionRequest) (*materials.DataKey, error) {
	return nil, errNoKeys
}

func (noKeys) DecryptDataKey(context.Context, *materials.DecryptionRequest) (*materials.DataKey, error) {
	return nil, errNoKeys
}

// parseContext parses --context k=v entries.
func parseContext(entries []string) (map[string]string, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	ec := map[string]string{}
	for _, kv := range entries {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usagef("--context %q: want key=value", kv)
		}
		if _, dup := ec[k]; dup {
			return nil, usagef("--context: key %q given twice", k)
		}
		ec[k] = v
	}
	return ec, nil
}

// callOptions are the per-request options from the flags.
func (a *app) callOptions() []func(*s3.Options) {
	var opts []func(*s3.Options)
	if a.ec != nil {
		opts = append(opts, s3crypto.WithEncryptionContext(a.ec))
	}
	return opts
}

// say prints a progress note to stderr unless --quiet.
func (a *app) say(format string, args ...any) {
	if !a.quiet {
		fmt.Fprintf(a.stderr, format+"\n", args...)
	}
}
