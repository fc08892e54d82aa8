// Package daemonmain is palyrad's main: flags, logger, signals and wiring. Both cmd/palyrad
// and `palyra-tui daemon` run it.
package daemonmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"

	"github.com/palyra/palyra/cmd/internal/servicemain"
	"github.com/palyra/palyra/daemon"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/internal/statedir"
)

type config struct {
	home      string
	adminAddr string
}

// Main runs palyrad with args (without the program name) until SIGTERM or SIGINT and returns
// its exit code. Stdout carries only the ready line; logs go to stderr as JSON.
func Main(args []string) int {
	fs := flag.NewFlagSet("palyrad", flag.ContinueOnError)
	var cfg config
	fs.StringVar(&cfg.home, "home", statedir.Default(), "state directory (env PALYRA_HOME)")
	fs.StringVar(&cfg.adminAddr, "admin-addr", servicemain.EnvOr("PALYRA_ADMIN_ADDR", "127.0.0.1:7443"),
		"admin gRPC address; port 0 picks a free port (env PALYRA_ADMIN_ADDR)")
	return servicemain.Run(fs, args, func(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
		return run(ctx, cfg, log, stdout)
	})
}

func run(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) (err error) {
	home, err := filepath.Abs(cfg.home)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}

	st, err := store.Open(filepath.Join(home, store.FileName))
	if err != nil {
		return err
	}
	defer func() {
		if closeErr := st.Close(); closeErr != nil {
			err = errors.Join(err, closeErr)
		}
	}()
	// The admin token exists from the first start, so operators and the UI can read it from
	// the state directory; it never goes into arguments or logs.
	if _, err := access.LoadOrCreateAdminToken(filepath.Join(home, access.AdminTokenFile)); err != nil {
		return err
	}

	admin, err := grpcserve.Listen(cfg.adminAddr, "palyrad", "--admin-addr/PALYRA_ADMIN_ADDR")
	if err != nil {
		return err
	}
	d := daemon.New(daemon.Config{Admin: admin, Logger: log})

	addr := admin.Addr().String()
	err = ready.Print(stdout, ready.Line{
		Service: "daemon",
		Version: buildinfo.Version,
		PID:     os.Getpid(),
		Addrs:   map[string]string{"admin": addr},
	})
	if err != nil {
		admin.Close()
		return err
	}
	log.Info("palyrad started", "version", buildinfo.Version, "pid", os.Getpid(), "home", home, "admin_addr", addr)
	if err := d.Run(ctx); err != nil {
		return err
	}
	log.Info("palyrad stopped")
	return nil
}
