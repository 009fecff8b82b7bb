package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kms"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

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
	pathStyle, virtualHosted  bool
	timeouts                  timeoutFlags

	// keys, in command-line order
	keys     []keySpec
	allowKMS []string

	// encryption settings
	contexts    []string
	ec          map[string]string // the parsed --context entries
	format      string
	fmtVersion  metadata.Format // the parsed --format
	instruction bool
	legacy      bool

	quiet, json bool

	cfg      *aws.Config
	s3client *s3.Client
}

type keySpec struct {
	kind  string // "kms", "aes", "rsa"
	value string
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
	return "FILE"
}
func (f keyFlag) Set(v string) error {
	if v == "" {
		return fmt.Errorf("empty value")
	}
	f.a.keys = append(f.a.keys, keySpec{f.kind, v})
	return nil
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
  Give several to rotate: on put the first one wraps new data keys, on get any of them
  may unwrap. On get without --kms-key-id, KMS-wrapped objects are decrypted with the
  key they name (discovery), limited to --allow-kms-key if given.

AWS configuration: the usual chain (environment, ~/.aws/config and credentials),
--profile, --region, --endpoint-url, AWS_ENDPOINT_URL, AWS_ENDPOINT_URL_S3 and
AWS_ENDPOINT_URL_KMS. A custom S3 endpoint implies path-style addressing.

SIGINT, SIGTERM and SIGHUP stop a command cleanly: transfers stop, multipart
uploads are aborted, temporary files are removed and the exit code is 1. A
second signal exits at once.

Exit codes:
  0  success
  1  error (S3 or KMS unavailable, object missing, policy refusal, interrupted, ...)
  2  usage error
  3  integrity failure: the object was tampered with, the key is wrong, or the key
     commitment does not match`

func (a *app) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:           "s3c",
		Short:         "Client-side encryption for S3, compatible with AWS's S3 Encryption Client",
		Long:          rootHelp,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Help()
			return usagef("no command given")
		},
		// Every flag is checked before any key file is read, any source
		// opened or any request made.
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error { return a.checkFlags() },
	}
	root.SetVersionTemplate("s3c {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.profile, "profile", "", "AWS shared config profile")
	pf.StringVar(&a.region, "region", "", "AWS region")
	pf.StringVar(&a.endpoint, "endpoint-url", "", "S3 endpoint URL (for example a MinIO)")
	pf.BoolVar(&a.pathStyle, "path-style", false, "force path-style bucket addressing")
	pf.BoolVar(&a.virtualHosted, "virtual-hosted-style", false, "force virtual-hosted-style bucket addressing")
	pf.BoolVarP(&a.quiet, "quiet", "q", false, "print nothing but errors; no progress bar")
	a.timeouts.add(pf)

	root.AddCommand(a.putCommand(), a.getCommand(), a.cpCommand(), a.lsCommand(),
		a.headCommand(), a.rmCommand(), a.keygenCommand())
	root.InitDefaultHelpCmd()
	for _, c := range root.Commands() {
		if c.Name() == "help" {
			a.checkHelpTopic(c)
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

// checkFlags validates the flags that need more than their type: before
// anything is read, opened or sent.
func (a *app) checkFlags() error {
	if a.pathStyle && a.virtualHosted {
		return usagef("--path-style and --virtual-hosted-style exclude each other")
	}
	if err := a.timeouts.check(); err != nil {
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
	return nil
}

// keyFlags adds the key flags (put, get, cp).
func (a *app) keyFlags(fs *pflag.FlagSet) {
	fs.Var(keyFlag{a, "kms"}, "kms-key-id", "AWS KMS key: ID, ARN, alias/NAME (repeatable)")
	fs.Var(keyFlag{a, "aes"}, "aes-key", "local AES master key file (repeatable)")
	fs.Var(keyFlag{a, "rsa"}, "rsa-key", "local RSA key file, PEM (repeatable)")
	fs.StringArrayVar(&a.allowKMS, "allow-kms-key", nil, "on get, KMS key ARNs discovery may use (repeatable)")
	fs.StringArrayVar(&a.contexts, "context", nil, "encryption context or material description entry k=v (repeatable)")
	fs.StringVar(&a.format, "format", "v3", "format of new objects: v3 (key-committing) or v2 (AES-GCM, for older readers); v2 also reads V2 objects")
	fs.BoolVar(&a.instruction, "instruction-file", false, "store the envelope in <key>.instruction instead of the object's metadata")
	fs.BoolVar(&a.legacy, "legacy", false, "also read legacy objects (AES-CBC, old key wraps): no integrity protection")
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
// at least one key is needed; for reading, a KMS discovery keyring is
// added when no KMS key is named.
func (a *app) keyring(ctx context.Context, write bool) (materials.Keyring, error) {
	var krs []materials.Keyring
	hasKMS := false
	for _, k := range a.keys {
		switch k.kind {
		case "kms":
			c, err := a.kmsClient(ctx)
			if err != nil {
				return nil, err
			}
			krs = append(krs, materials.NewKMS(c, k.value))
			hasKMS = true
		case "aes":
			data, err := os.ReadFile(k.value)
			if err != nil {
				return nil, fmt.Errorf("--aes-key: %w", err)
			}
			key, err := materials.ParseAESKey(data)
			if err != nil {
				return nil, fmt.Errorf("--aes-key %s: %w", k.value, err)
			}
			kr, err := materials.NewAES(key)
			clear(key)
			if err != nil {
				return nil, fmt.Errorf("--aes-key %s: %w", k.value, err)
			}
			krs = append(krs, kr)
		case "rsa":
			data, err := os.ReadFile(k.value)
			if err != nil {
				return nil, fmt.Errorf("--rsa-key: %w", err)
			}
			priv, pub, err := materials.ParseRSAKey(data)
			if err != nil {
				return nil, fmt.Errorf("--rsa-key %s: %w", k.value, err)
			}
			var kr *materials.RSAKeyring
			if priv != nil {
				kr, err = materials.NewRSA(priv)
			} else if write {
				kr, err = materials.NewRSAPublic(pub)
			} else {
				return nil, fmt.Errorf("--rsa-key %s holds only a public key; reading needs the private key", k.value)
			}
			if err != nil {
				return nil, fmt.Errorf("--rsa-key %s: %w", k.value, err)
			}
			krs = append(krs, kr)
		}
	}
	if !write && !hasKMS {
		c, err := a.kmsClient(ctx)
		if err != nil {
			return nil, err
		}
		krs = append(krs, materials.NewKMSDiscovery(c, func(o *materials.KMSOptions) { o.AllowedKeys = a.allowKMS }))
	}
	if len(krs) == 0 {
		return nil, usagef("a master key is needed: --kms-key-id, --aes-key or --rsa-key")
	}
	return materials.Multi(krs[0], krs[1:]...), nil
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
	})
}

// metaClient is an encryption client for calls that unwrap no key (head,
// ls, rm): its keyring is never used.
func (a *app) metaClient(ctx context.Context) (*s3crypto.Client, error) {
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	return s3crypto.New(sc, materials.NewKMSDiscovery(nil))
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
