// Package browserdmain is palyra-browserd's main: flags, logger, signals and wiring. Both
// cmd/palyra-browserd and `palyra-tui browserd` run it.
package browserdmain

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"

	"github.com/palyra/palyra/browserd"
	"github.com/palyra/palyra/browserd/engine"
	"github.com/palyra/palyra/cmd/internal/servicemain"
	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/pidlock"
	"github.com/palyra/palyra/internal/procname"
	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/internal/statedir"
)

// LockFile, inside the state directory, makes one palyra-browserd its owner.
const LockFile = "browserd.lock"

type config struct {
	home         string
	addr         string
	chromium     string
	maxSessions  int
	allowPrivate bool
}

// Main runs palyra-browserd with args (without the program name) until SIGTERM or SIGINT and
// returns its exit code. Stdout carries only the ready line; logs go to stderr as JSON.
func Main(args []string) int {
	procname.Set("palyra-browserd")
	fs := flag.NewFlagSet("palyra-browserd", flag.ContinueOnError)
	var cfg config
	fs.StringVar(&cfg.home, "home", statedir.Default(), "state directory (env PALYRA_HOME)")
	fs.StringVar(&cfg.addr, "addr", servicemain.EnvOr("PALYRA_BROWSERD_ADDR", "127.0.0.1:7543"),
		"gRPC address; port 0 picks a free port (env PALYRA_BROWSERD_ADDR)")
	fs.StringVar(&cfg.chromium, "chromium", os.Getenv("PALYRA_CHROMIUM"),
		"Chromium binary; empty finds chromium on PATH, then /usr/bin/chromium (env PALYRA_CHROMIUM)")
	maxSessions, err := envInt("PALYRA_BROWSER_MAX_SESSIONS", 16)
	if err != nil {
		fmt.Fprintln(os.Stderr, "palyra-browserd:", err)
		return 2
	}
	fs.IntVar(&cfg.maxSessions, "max-sessions", maxSessions, "browser sessions open at once (env PALYRA_BROWSER_MAX_SESSIONS)")
	fs.BoolVar(&cfg.allowPrivate, "allow-private", os.Getenv("PALYRA_BROWSER_ALLOW_PRIVATE") == "1",
		"let sessions that ask for it open loopback and private networks (env PALYRA_BROWSER_ALLOW_PRIVATE=1)")
	return servicemain.Run(fs, args, func(ctx context.Context, log *slog.Logger, stdout io.Writer) error {
		return run(ctx, cfg, log, stdout)
	})
}

func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 {
		return 0, fmt.Errorf("%s=%q: want a whole number of at least 1", key, v)
	}
	return n, nil
}

func run(ctx context.Context, cfg config, log *slog.Logger, stdout io.Writer) (err error) {
	if admintls.Exposed(cfg.addr) {
		return fmt.Errorf("address %s is reachable from other machines, and the browser API's bearer token would cross the network in the clear: bind it to 127.0.0.1 (--addr 127.0.0.1:7543); palyrad is its client", cfg.addr)
	}
	home, err := filepath.Abs(cfg.home)
	if err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}

	lock, err := pidlock.Acquire(filepath.Join(home, LockFile))
	var held *pidlock.HeldError
	if errors.As(err, &held) {
		return fmt.Errorf("%w (another palyra-browserd on this home?)", err)
	}
	if err != nil {
		return err
	}
	defer func() {
		if releaseErr := lock.Release(); releaseErr != nil {
			err = errors.Join(err, releaseErr)
		}
	}()

	if cfg.maxSessions < 1 || cfg.maxSessions > 1024 {
		return fmt.Errorf("--max-sessions %d: want 1 to 1024", cfg.maxSessions)
	}
	lis, err := grpcserve.Listen(cfg.addr, "palyra-browserd", "--addr/PALYRA_BROWSERD_ADDR")
	if err != nil {
		return err
	}
	b, err := browserd.New(browserd.Config{
		Listener:     lis,
		Home:         home,
		Logger:       log,
		Engine:       engine.Config{ChromiumPath: cfg.chromium, MaxSessions: cfg.maxSessions},
		AllowPrivate: cfg.allowPrivate,
	})
	if err != nil {
		lis.Close()
		return err
	}

	addr := lis.Addr().String()
	err = ready.Print(stdout, ready.Line{
		Service: "browserd",
		Version: buildinfo.Version,
		PID:     os.Getpid(),
		Addrs:   map[string]string{"grpc": addr},
	})
	if err != nil {
		lis.Close()
		return err
	}
	log.Info("palyra-browserd started", "version", buildinfo.Version, "pid", os.Getpid(), "home", home, "addr", addr,
		"max_sessions", cfg.maxSessions, "allow_private", cfg.allowPrivate)
	if err := b.Run(ctx); err != nil {
		return err
	}
	log.Info("palyra-browserd stopped")
	return nil
}
