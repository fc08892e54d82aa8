package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/procname"
	"github.com/palyra/palyra/supervisor/stack"
)

func newServeCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the supervisor in the foreground (for systemd); the UI starts one itself otherwise",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			procname.Set(stack.ServerName) // started in the background as /proc/self/exe
			// A closed terminal must not take the supervisor down; only TERM/INT stop it.
			signal.Ignore(syscall.SIGHUP)
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, syscall.SIGINT)
			defer stop()
			logger := slog.New(slog.NewJSONHandler(os.Stderr, nil))
			if err := stack.Serve(ctx, g.cfg, logger); err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			return nil
		},
	}
	return cmd
}

// addStackFlags adds the flags that shape the stack a server runs. Every command takes them:
// the UI and `services start` start a server when none runs.
func addStackFlags(cmd *cobra.Command, cfg *stack.Config) {
	f := cmd.PersistentFlags()
	f.StringVar(&cfg.AdminAddr, "admin-addr", cfg.AdminAddr, "palyrad admin gRPC address; port 0 picks a free one; off loopback it needs --admin-tls (env PALYRA_ADMIN_ADDR)")
	f.BoolVar(&cfg.AdminTLS, "admin-tls", cfg.AdminTLS, "palyrad serves its admin API with TLS from the gateway CA (env "+stack.AdminTLSEnv+"=1)")
	f.StringVar(&cfg.NodeAddr, "node-addr", cfg.NodeAddr, "palyrad node API address (TLS); 0.0.0.0:7444 lets other machines pair (env PALYRA_NODE_ADDR)")
	f.StringVar(&cfg.BrowserdAddr, "browserd-addr", cfg.BrowserdAddr, "palyra-browserd gRPC address (env PALYRA_BROWSERD_ADDR)")
	f.StringVar(&cfg.DaemonBin, "daemon-bin", cfg.DaemonBin, "run this palyrad binary instead of this program (env PALYRA_DAEMON_BIN)")
	f.StringVar(&cfg.BrowserdBin, "browserd-bin", cfg.BrowserdBin, "run this palyra-browserd binary instead of this program (env PALYRA_BROWSERD_BIN)")
}

// serveInProcess runs a server in this process for --embedded. failed yields the server's
// error if it ends on its own; stop ends it and waits.
func serveInProcess(ctx context.Context, cfg stack.Config, logPath string) (failed <-chan error, stop func() error, err error) {
	if err := os.MkdirAll(cfg.Home, 0o700); err != nil {
		return nil, nil, err
	}
	f, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, nil, err
	}
	logger := slog.New(slog.NewJSONHandler(f, nil))
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	result := make(chan error, 1)
	go func() {
		err := stack.Serve(ctx, cfg, logger)
		result <- err
		done <- err
	}()
	return result, func() error {
		cancel()
		err := <-done
		f.Close()
		return err
	}, nil
}
