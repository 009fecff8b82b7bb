package main

import (
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// genDocsCommand writes the man pages from the command definitions
// themselves, so they say what --help says (make man, make install). It
// is hidden: a build step, not a user's command.
func (a *app) genDocsCommand() *cobra.Command {
	var manDir string
	c := &cobra.Command{
		Use:    "gen-docs --man DIR",
		Short:  "Write the man pages (s3c.1, s3c-put.1, …) into DIR",
		Hidden: true,
		Args:   cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if manDir == "" {
				return usagef("gen-docs: --man DIR is needed")
			}
			if err := os.MkdirAll(manDir, 0o755); err != nil {
				return err
			}
			root := cmd.Root()
			forEachCommand(root, func(c *cobra.Command) {
				c.DisableAutoGenTag = true // no "Auto generated" history section
				c.Long = manText(c.Long)
				// The synopsis is markdown too: <file|-> is not a tag.
				c.Use = strings.NewReplacer("<", `\<`, ">", `\>`).Replace(c.Use)
			})
			header := &doc.GenManHeader{Section: "1", Source: "s3c " + versionString(), Manual: "s3c manual"}
			if err := doc.GenManTree(root, header, manDir); err != nil {
				return err
			}
			a.say("man pages written to %s", manDir)
			return nil
		},
	}
	c.Flags().StringVar(&manDir, "man", "", "write the man pages into `DIR` (made if missing)")
	return c
}

func forEachCommand(c *cobra.Command, fn func(*cobra.Command)) {
	fn(c)
	for _, sub := range c.Commands() {
		forEachCommand(sub, fn)
	}
}

// manText turns a command's Long help, written for a terminal, into the
// markdown the man pages are rendered from: indented lines (tables of
// flags, exit codes, examples) stay as they are, in a literal block;
// prose is reflowed, with markdown's special characters escaped.
func manText(long string) string {
	var b strings.Builder
	inBlock := false
	for line := range strings.SplitSeq(long, "\n") {
		indented := strings.HasPrefix(line, " ") || strings.HasPrefix(line, "\t")
		switch {
		case indented:
			if !inBlock {
				b.WriteString("\n")
			}
			inBlock = true
			b.WriteString("    " + line + "\n")
		case inBlock && line != "":
			inBlock = false
			b.WriteString("\n" + escapeMarkdown(line) + "\n")
		default:
			inBlock = false
			b.WriteString(escapeMarkdown(line) + "\n")
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

var markdownEscaper = strings.NewReplacer(`\`, `\\`, "`", "\\`", "*", `\*`, "_", `\_`, "<", `\<`, ">", `\>`, "[", `\[`, "]", `\]`, "#", `\#`)

func escapeMarkdown(s string) string { return markdownEscaper.Replace(s) }
