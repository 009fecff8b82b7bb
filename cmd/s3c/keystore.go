package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/s3c/s3c/keyring/branch"
	"github.com/s3c/s3c/keyring/branch/s3store"
	"github.com/s3c/s3c/materials"
	"github.com/s3c/s3c/metadata"
)

// branchCacheTTL is how long the CLI keeps an unwrapped branch key: one
// invocation, in practice.
const branchCacheTTL = 15 * time.Minute

// branchFlags adds --keystore, and for a command that writes objects
// --branch-key (reading takes the branch key each object names).
func (a *app) branchFlags(fs *pflag.FlagSet, write bool) {
	fs.StringVar(&a.keystore, "keystore", "", "branch key store, s3://bucket/prefix (env S3C_KEYSTORE): the key flags are its root key")
	if write {
		fs.StringVar(&a.branchKey, "branch-key", "", "the branch key to wrap new data keys under (env S3C_BRANCH_KEY)")
	}
}

// keystoreURL returns --keystore or S3C_KEYSTORE, unless the command
// works on the key store itself.
func (a *app) keystoreURL() string {
	if a.rootOnly {
		return ""
	}
	if a.keystore != "" {
		return a.keystore
	}
	return os.Getenv("S3C_KEYSTORE")
}

func (a *app) branchKeyID() string {
	if a.branchKey != "" {
		return a.branchKey
	}
	return os.Getenv("S3C_BRANCH_KEY")
}

// openKeystore opens the S3 key store at url (s3://bucket/prefix).
func (a *app) openKeystore(ctx context.Context, url string) (*s3store.Store, error) {
	l, err := parseLocation(url)
	if err != nil || !l.s3 {
		return nil, usagef("--keystore %q: want s3://bucket/prefix", url)
	}
	sc, err := a.s3Client(ctx)
	if err != nil {
		return nil, err
	}
	return s3store.New(sc, l.bucket, l.key), nil
}

// withBranch returns the keyring for a command given --keystore: branch
// keys from the store, wrapped by root (the key flags). Writing uses the
// branch key of --branch-key; reading loads the version each object
// names, and also reads objects under the root keys themselves.
func (a *app) withBranch(ctx context.Context, url string, root materials.Keyring, write bool) (materials.Keyring, error) {
	store, err := a.openKeystore(ctx, url)
	if err != nil {
		return nil, err
	}
	id := a.branchKeyID()
	if write && id == "" {
		return nil, usagef("--keystore needs --branch-key ID (or S3C_BRANCH_KEY) to encrypt")
	}
	if id != "" && !branch.ValidID(id) {
		return nil, usagef("--branch-key %q is not a branch key id", id)
	}
	bk, err := branch.NewKeyring(store, root, branch.Options{BranchKeyID: id, CacheTTL: branchCacheTTL})
	if err != nil {
		return nil, err
	}
	if write {
		return bk, nil
	}
	return materials.Multi(bk, root), nil
}

// branchRef names the branch key version an object's description names,
// "branch:<id>/<version>", for head.
func branchRef(wrapAlg string, desc map[string]string) (string, bool) {
	id, ok1 := desc[branch.DescriptionBranchKeyID]
	v, ok2 := desc[branch.DescriptionBranchKeyVersion]
	if wrapAlg != metadata.WrapAESGCM || !ok1 || !ok2 {
		return "", false
	}
	return "branch:" + id + "/" + v, true
}

const keystoreHelp = `Branch keys: a key hierarchy. Each object's data key is wrapped locally
with AES-256-GCM under a branch key (in the S3 Encryption Client's raw AES
layout), and the branch keys are kept in a key store under an S3 prefix,
wrapped by a root key given with the usual key flags (--kms-key-id,
--aes-key, --rsa-key). A process unwraps each branch key version once, so
a KMS root sees one call per version instead of one per object, and
rotating the root key rewraps the key store only, never an object.

  s3c keystore create s3://bucket/prefix ROOTKEY      make a branch key; prints its id
  s3c keystore rotate s3://bucket/prefix --branch-key ID ROOTKEY
                                                      make a new active version
  s3c keystore rewrap s3://bucket/prefix NEWROOT OLDROOT
                                                      rewrap every version under a new
                                                      root key (the first key flag wraps,
                                                      any of them unwraps)
  s3c keystore ls s3://bucket/prefix                  list branch keys and versions

Then: s3c put --keystore s3://bucket/prefix --branch-key ID ROOTKEY FILE s3://...
and   s3c get --keystore s3://bucket/prefix ROOTKEY s3://... FILE
(S3C_KEYSTORE and S3C_BRANCH_KEY set the same). Objects under older
versions keep decrypting after a rotation. Whoever can write under the
prefix can delete branch keys, and with them every object under them:
protect it like the root key.`

func (a *app) keystoreCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "keystore create|rotate|rewrap|ls s3://bucket/prefix [flags]",
		Short: "Manage branch keys (a key hierarchy under a root key)",
		Long:  keystoreHelp,
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cmd.Help()
			return usagef("keystore needs a subcommand: create, rotate, rewrap or ls")
		},
	}
	rootFlags := func(fs *pflag.FlagSet) {
		fs.Var(keyFlag{a, "kms"}, "kms-key-id", "root key: AWS KMS key ID, ARN or alias/NAME (repeatable)")
		fs.Var(keyFlag{a, "aes"}, "aes-key", "root key: local AES key file (repeatable)")
		fs.Var(keyFlag{a, "rsa"}, "rsa-key", "root key: local RSA key file, PEM (repeatable)")
		a.jsonFlag(fs)
	}
	store := func(ctx context.Context, args []string) (*s3store.Store, error) {
		a.rootOnly = true
		return a.openKeystore(ctx, args[0])
	}
	// rootKeyring is the root for creating versions: the first key flag.
	rootKeyring := func(ctx context.Context) (materials.Keyring, error) {
		if len(a.keys) == 0 {
			return nil, usagef("a root key is needed: --kms-key-id, --aes-key or --rsa-key")
		}
		all := a.keys
		defer func() { a.keys = all }()
		a.keys = all[:1]
		return a.keyring(ctx, true)
	}

	create := &cobra.Command{
		Use:   "create s3://bucket/prefix ROOTKEY",
		Short: "Create a branch key and print its id",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := store(ctx, args)
			if err != nil {
				return err
			}
			root, err := rootKeyring(ctx)
			if err != nil {
				return err
			}
			id, err := branch.CreateBranchKey(ctx, st, root)
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"keystore": st.URL(), "branch_key": id, "version": "1"})
			}
			a.say("created branch key %s (version 1) in %s", id, st.URL())
			fmt.Fprintln(a.stdout, id)
			return nil
		},
	}
	rootFlags(create.Flags())

	var rotateID string
	rotate := &cobra.Command{
		Use:   "rotate s3://bucket/prefix --branch-key ID ROOTKEY",
		Short: "Make a new active version of a branch key",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			if rotateID == "" {
				rotateID = os.Getenv("S3C_BRANCH_KEY")
			}
			if !branch.ValidID(rotateID) {
				return usagef("rotate needs --branch-key ID")
			}
			st, err := store(ctx, args)
			if err != nil {
				return err
			}
			root, err := rootKeyring(ctx)
			if err != nil {
				return err
			}
			v, err := branch.Rotate(ctx, st, root, rotateID)
			if errors.Is(err, branch.ErrNotFound) {
				return fmt.Errorf("branch key %s not found in %s", rotateID, st.URL())
			}
			if errors.Is(err, branch.ErrConflict) {
				return fmt.Errorf("branch key %s was rotated by another writer at the same time; this rotation's version was not made active (run it again to rotate once more)", rotateID)
			}
			if err != nil {
				return err
			}
			if a.json {
				return a.printJSON(map[string]string{"keystore": st.URL(), "branch_key": rotateID, "version": v})
			}
			a.say("branch key %s: version %s is now active", rotateID, v)
			fmt.Fprintln(a.stdout, v)
			return nil
		},
	}
	rootFlags(rotate.Flags())
	rotate.Flags().StringVar(&rotateID, "branch-key", "", "the branch key to rotate (env S3C_BRANCH_KEY)")

	rewrap := &cobra.Command{
		Use:   "rewrap s3://bucket/prefix NEWROOT OLDROOT",
		Short: "Rewrap every branch key version under a new root key",
		Long: `Rewrap every branch key version in the store under the first key flag
(the new root key); any key flag may unwrap. No object is read or written:
afterwards the old root key can be disabled and every object still reads.
A run that stopped can be run again.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := store(ctx, args)
			if err != nil {
				return err
			}
			if len(a.keys) < 2 {
				return usagef("rewrap needs the new root key, then the old one")
			}
			newRoot, err := rootKeyring(ctx)
			if err != nil {
				return err
			}
			oldRoot, err := a.keyring(ctx, false)
			if err != nil {
				return err
			}
			stats, err := branch.RewrapStore(ctx, st, newRoot, oldRoot)
			if err != nil {
				return fmt.Errorf("%w (%d versions rewrapped before it; run it again to finish)", err, stats.Rewrapped)
			}
			if a.json {
				return a.printJSON(map[string]any{"keystore": st.URL(), "rewrapped": stats.Rewrapped, "already": stats.Already})
			}
			fmt.Fprintf(a.stdout, "rewrapped %d branch key versions (%d already under the new root key)\n", stats.Rewrapped, stats.Already)
			return nil
		},
	}
	rootFlags(rewrap.Flags())

	ls := &cobra.Command{
		Use:   "ls s3://bucket/prefix",
		Short: "List branch keys and their versions",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			st, err := store(ctx, args)
			if err != nil {
				return err
			}
			infos, err := branch.List(ctx, st)
			if err != nil {
				return err
			}
			if a.json {
				if infos == nil {
					infos = []*branch.Info{}
				}
				return a.printJSON(infos)
			}
			for _, in := range infos {
				var vs []string
				for _, v := range in.Versions {
					vs = append(vs, v.Version)
				}
				root := ""
				if n := len(in.Versions); n > 0 {
					root = in.Versions[n-1].RootRef
				}
				fmt.Fprintf(a.stdout, "%s\tactive %s\tversions %s\troot %s\n", in.ID, orDash(in.Active), strings.Join(vs, ","), orDash(root))
			}
			return nil
		},
	}
	a.jsonFlag(ls.Flags())

	for _, sub := range []*cobra.Command{create, rotate, rewrap, ls} {
		// As rootCommand does for its commands: errors from here on are
		// not usage errors unless they say so.
		runE := sub.RunE
		sub.RunE = func(cmd *cobra.Command, args []string) error {
			a.running = true
			return runE(cmd, args)
		}
		c.AddCommand(sub)
	}
	return c
}
