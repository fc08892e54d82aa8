package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/palyra/palyra/daemon/secrets"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// secretJSON is the documented shape of one entry of `secrets list --json` (an array):
//
//	{"name": "discord-ops", "fingerprint": "sha256:3f9a0c21b7de", "size": 72,
//	 "updated_unix_ms": …}
//
// size is in bytes. Values are never listed; the fingerprint tells them apart.
type secretJSON struct {
	Name          string `json:"name"`
	Fingerprint   string `json:"fingerprint"`
	Size          int32  `json:"size"`
	UpdatedUnixMs int64  `json:"updated_unix_ms"`
}

func newSecretsCmd(g *globals) *cobra.Command {
	verbs := "set, list or remove"
	cmd := &cobra.Command{
		Use:   "secrets",
		Short: "Set, list and remove the credentials connectors use, kept sealed by palyrad",
		Long: "palyrad keeps connector credentials (a Discord bot token, say) sealed in <home>/secrets; a connector's\n" +
			"secret setting names one. Values go in and never come out: they are shown only as fingerprints.",
		Args: noVerb(verbs),
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("secrets needs one of " + verbs)}
		},
	}
	cmd.AddCommand(newSecretsSetCmd(g), newSecretsListCmd(g), newSecretsRemoveCmd(g))
	return cmd
}

func newSecretsSetCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "set NAME",
		Short: "Store a secret read from stdin (asked for without echo on a terminal); connectors using it start again (admin token)",
		Example: "  palyra-tui secrets set discord-ops\n" +
			"  palyra-tui secrets set discord-ops < bot-token.txt",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			name := args[0]
			if err := secrets.CheckName(name); err != nil {
				return usageError{err}
			}
			value, err := readSecretValue(cmd, name)
			if err != nil {
				return err
			}
			defer clear(value)
			s, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Secret, error) {
				return gw.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: name, Value: value})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s set (%s)\n", clean(s.GetName()), clean(s.GetFingerprint()))
			return nil
		},
	}
}

// readSecretValue reads a secret's value from stdin: from a terminal with a prompt on stderr
// and no echo, else all of it, less one trailing newline. The value never comes from argv,
// where other users' ps would show it.
func readSecretValue(cmd *cobra.Command, name string) ([]byte, error) {
	var value []byte
	in := cmd.InOrStdin()
	if f, ok := in.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprintf(cmd.ErrOrStderr(), "Value for %s: ", name)
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(cmd.ErrOrStderr())
		if err != nil {
			return nil, fmt.Errorf("read the value from the terminal: %w", err)
		}
		value = b
	} else {
		b, err := io.ReadAll(io.LimitReader(in, secrets.MaxValueBytes+3)) // room for a newline
		if err != nil {
			return nil, fmt.Errorf("read the value from standard input: %w", err)
		}
		value = b
		if v, ok := bytes.CutSuffix(value, []byte("\n")); ok {
			value, _ = bytes.CutSuffix(v, []byte("\r"))
		}
	}
	switch {
	case len(value) == 0:
		return nil, usageError{fmt.Errorf("no value for %s on standard input: type it at the prompt, or pipe it in (palyra-tui secrets set %s < file)", name, name)}
	case len(value) > secrets.MaxValueBytes:
		clear(value)
		return nil, usageError{fmt.Errorf("the value is over %d KiB, the most a secret holds", secrets.MaxValueBytes>>10)}
	}
	return value, nil
}

func newSecretsListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the secrets by name and fingerprint (never their values)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListSecretsReply, error) {
				return gw.Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{})
			})
			if err != nil {
				return err
			}
			if asJSON {
				list := make([]secretJSON, 0, len(reply.GetSecrets()))
				for _, s := range reply.GetSecrets() {
					list = append(list, secretJSON{Name: s.GetName(), Fingerprint: s.GetFingerprint(), Size: s.GetBytes(),
						UpdatedUnixMs: s.GetUpdatedUnixMs()})
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			printSecrets(cmd.OutOrStdout(), reply.GetSecrets(), time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printSecrets(w io.Writer, list []*palyrav1.Secret, now time.Time) {
	if len(list) == 0 {
		fmt.Fprintln(w, "no secrets; set one with `palyra-tui secrets set NAME`")
		return
	}
	rows := make([][]string, 0, len(list))
	for _, s := range list {
		rows = append(rows, []string{clean(s.GetName()), clean(s.GetFingerprint()), strconv.Itoa(int(s.GetBytes())), ago(s.GetUpdatedUnixMs(), now)})
	}
	writeTable(w, tableWidth(w), []column{{header: "NAME", min: 8, last: true}, {header: "FINGERPRINT"}, {header: "SIZE"}, {header: "UPDATED"}}, rows)
}

func newSecretsRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove NAME",
		Short: "Delete a secret; connectors using it start again without it (admin token)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.RemoveSecretReply, error) {
				return gw.Secrets.RemoveSecret(ctx, &palyrav1.RemoveSecretRequest{Name: args[0]})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "secret %s removed\n", clean(args[0]))
			return nil
		},
	}
}
