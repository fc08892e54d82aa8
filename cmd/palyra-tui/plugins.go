package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// pluginFileJSON is one connector plugin (`channels plugins --json` prints
// {"dir": …, "plugins": [pluginFileJSON…]}); state is built-in, trusted, untrusted, changed,
// missing, unsafe or shadowed.
type pluginFileJSON struct {
	Kind         string `json:"kind"`
	State        string `json:"state"`
	Path         string `json:"path"`
	SHA256       string `json:"sha256"`
	PinnedSHA256 string `json:"pinned_sha256"`
	PinnedUnixMs int64  `json:"pinned_unix_ms"`
	PinnedBy     string `json:"pinned_by"`
	Problem      string `json:"problem"`
}

func toPluginFileJSON(p *palyrav1.PluginFile) pluginFileJSON {
	return pluginFileJSON{p.GetKind(), p.GetState(), p.GetPath(), p.GetSha256(), p.GetPinnedSha256(), p.GetPinnedUnixMs(), p.GetPinnedBy(), p.GetProblem()}
}

func newChannelsPluginsCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "plugins",
		Short: "List the connector plugins: built-in kinds and the executables in palyrad's plugin directory, trusted or not",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListPluginsReply, error) {
				return gw.Channels.ListPlugins(ctx, &palyrav1.ListPluginsRequest{})
			})
			if err != nil {
				return err
			}
			if asJSON {
				out := struct {
					Dir     string           `json:"dir"`
					Plugins []pluginFileJSON `json:"plugins"`
				}{Dir: reply.GetDir(), Plugins: []pluginFileJSON{}}
				for _, p := range reply.GetPlugins() {
					out.Plugins = append(out.Plugins, toPluginFileJSON(p))
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			w := cmd.OutOrStdout()
			var rows [][]string
			now := time.Now()
			for _, p := range reply.GetPlugins() {
				sum, pinned := shortSum(p.GetSha256()), "-"
				if p.GetPinnedUnixMs() != 0 {
					pinned = ago(p.GetPinnedUnixMs(), now) + " by " + clean(p.GetPinnedBy())
				}
				path := clean(p.GetPath())
				if p.GetPath() == "" {
					path = "(palyrad)"
				}
				rows = append(rows, []string{clean(p.GetKind()), clean(p.GetState()), path, sum, pinned, clean(p.GetProblem())})
			}
			writeTable(w, tableWidth(w), []column{{header: "KIND"}, {header: "STATE"}, {header: "PATH", min: 12}, {header: "SHA-256"},
				{header: "TRUSTED"}, {header: "NOTE", min: 16, last: true}}, rows)
			fmt.Fprintf(w, "plugin directory: %s\n", clean(reply.GetDir()))
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func shortSum(sum string) string {
	if len(sum) > 12 {
		return sum[:12] + "…"
	}
	if sum == "" {
		return "-"
	}
	return sum
}

func newChannelsTrustCmd(g *globals) *cobra.Command {
	var want string
	cmd := &cobra.Command{
		Use:   "trust KIND",
		Short: "Trust the plugin palyra-connector-KIND in palyrad's plugin directory at the SHA-256 it has now, and start its connectors",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			p, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.PluginFile, error) {
				return gw.Channels.TrustPlugin(ctx, &palyrav1.TrustPluginRequest{Kind: args[0], Sha256: want})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "plugin %s trusted: %s (sha256 %s)\n", clean(p.GetKind()), clean(p.GetPath()), clean(p.GetSha256()))
			return nil
		},
	}
	cmd.Flags().StringVar(&want, "sha256", "", "the SHA-256 (hex) the file must have, as its publisher gives it")
	return cmd
}

func newChannelsUntrustCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "untrust KIND",
		Short: "Forget an external plugin's pin and stop it (remove its connectors first)",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.UntrustPluginReply, error) {
				return gw.Channels.UntrustPlugin(ctx, &palyrav1.UntrustPluginRequest{Kind: args[0]})
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "plugin %s no longer trusted\n", clean(args[0]))
			return nil
		},
	}
}
