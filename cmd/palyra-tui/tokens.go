package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// tokenJSON is the documented shape of one entry of `tokens list --json` (an array):
//
//	{"id": "9f2c…", "name": "ci", "permissions": ["observability.read"],
//	 "created_unix_ms": …, "revoked_unix_ms": 0}
//
// revoked_unix_ms is 0 while the token is valid. Secrets are never listed.
type tokenJSON struct {
	ID            string   `json:"id"`
	Name          string   `json:"name"`
	Permissions   []string `json:"permissions"`
	CreatedUnixMs int64    `json:"created_unix_ms"`
	RevokedUnixMs int64    `json:"revoked_unix_ms"`
}

func toTokenJSON(t *palyrav1.Token) tokenJSON {
	perms := t.GetPermissions()
	if perms == nil {
		perms = []string{}
	}
	return tokenJSON{ID: t.GetId(), Name: t.GetName(), Permissions: perms,
		CreatedUnixMs: t.GetCreatedUnixMs(), RevokedUnixMs: t.GetRevokedUnixMs()}
}

// permissionsHelp names the permissions palyrad knows, for the flag's help.
const permissionsHelp = "observability.read, approvals.decide, trust.operate, channels.operate, services.operate"

func newTokensCmd(g *globals) *cobra.Command {
	verbs := "create, list or revoke"
	cmd := &cobra.Command{
		Use:   "tokens",
		Short: "Create, list and revoke scoped API tokens (needs the admin token)",
		Args:  noVerb(verbs),
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("tokens needs one of " + verbs)}
		},
	}
	cmd.AddCommand(newTokensCreateCmd(g), newTokensListCmd(g), newTokensRevokeCmd(g))
	return cmd
}

func newTokensCreateCmd(g *globals) *cobra.Command {
	var perms []string
	cmd := &cobra.Command{
		Use:   "create NAME --permission P [--permission P…]",
		Short: "Create a scoped token and print its secret, once, alone on stdout",
		Example: "  palyra-tui tokens create ci --permission observability.read > ci.token\n" +
			"  palyra-tui tokens create oncall --permission observability.read,approvals.decide",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(perms) == 0 {
				return usageError{errors.New("create needs at least one --permission: " + permissionsHelp)}
			}
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.CreateTokenReply, error) {
				return gw.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: args[0], Permissions: perms})
			})
			if err != nil {
				return err
			}
			// The secret alone on stdout, so `> file` or `$(…)` captures exactly it.
			fmt.Fprintln(cmd.OutOrStdout(), reply.GetSecret())
			t := reply.GetToken()
			fmt.Fprintf(cmd.ErrOrStderr(), "palyra-tui: token %s (%s: %s) created; its secret is printed above and will not be shown again\n",
				clean(t.GetId()), clean(t.GetName()), clean(strings.Join(t.GetPermissions(), ",")))
			return nil
		},
	}
	cmd.Flags().StringSliceVar(&perms, "permission", nil, "a permission (repeatable, or comma-separated): "+permissionsHelp)
	return cmd
}

func newTokensListCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the scoped tokens, revoked ones included (never their secrets)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListTokensReply, error) {
				return gw.Access.ListTokens(ctx, &palyrav1.ListTokensRequest{})
			})
			if err != nil {
				return err
			}
			if asJSON {
				list := make([]tokenJSON, 0, len(reply.GetTokens()))
				for _, t := range reply.GetTokens() {
					list = append(list, toTokenJSON(t))
				}
				return writeJSON(cmd.OutOrStdout(), list)
			}
			printTokens(cmd.OutOrStdout(), reply.GetTokens(), time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printTokens(w io.Writer, tokens []*palyrav1.Token, now time.Time) {
	if len(tokens) == 0 {
		fmt.Fprintln(w, "no scoped tokens; create one with `palyra-tui tokens create NAME --permission P`")
		return
	}
	rows := make([][]string, 0, len(tokens))
	for _, t := range tokens {
		revoked := "-"
		if t.GetRevokedUnixMs() != 0 {
			revoked = ago(t.GetRevokedUnixMs(), now)
		}
		rows = append(rows, []string{clean(t.GetId()), clean(t.GetName()), ago(t.GetCreatedUnixMs(), now), revoked,
			clean(strings.Join(t.GetPermissions(), ","))})
	}
	writeTable(w, tableWidth(w), []column{{header: "ID", min: 8, last: true}, {header: "NAME", min: 8}, {header: "CREATED"},
		{header: "REVOKED"}, {header: "PERMISSIONS", min: 18}}, rows)
}

func newTokensRevokeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "revoke ID",
		Short: "Revoke a scoped token at once",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.RevokeTokenReply, error) {
				return gw.Access.RevokeToken(ctx, &palyrav1.RevokeTokenRequest{Id: args[0]})
			})
			if err != nil {
				return err
			}
			t := reply.GetToken()
			fmt.Fprintf(cmd.OutOrStdout(), "token %s (%s) revoked\n", clean(args[0]), clean(t.GetName()))
			return nil
		},
	}
}
