package stack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/pidlock"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/supervisor/preflight"
)

// Serve runs the supervisor server for c until ctx ends or a client asks it to shut down; then
// it stops every service and returns. Only one server may own a state directory.
func Serve(ctx context.Context, c Config, logger *slog.Logger) error {
	if err := c.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(c.Home, 0o700); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	lock, err := pidlock.Acquire(c.LockPath())
	if err != nil {
		var held *pidlock.HeldError
		if errors.As(err, &held) {
			return fmt.Errorf("another supervisor (pid %d) already serves %s; attach to it with `palyra-tui`, or stop it with `palyra-tui shutdown`", held.PID, c.Home)
		}
		return err
	}
	defer lock.Release()

	store, err := logs.Open(logs.Options{Dir: c.LogDir(), Logger: logger.With("subsystem", "logs")})
	if err != nil {
		return fmt.Errorf("open log store: %w", err)
	}
	defer store.Close()

	sup := supervisor.New(supervisor.Config{
		Specs:   c.Specs(),
		Policy:  supervisor.DefaultPolicy(),
		Logs:    store,
		Logger:  logger.With("subsystem", "supervisor"),
		Home:    c.Home,
		Socket:  c.Socket(),
		Version: buildinfo.Version,
	})

	ctx, shutdown := context.WithCancel(ctx)
	defer shutdown()
	srv := api.NewServer(api.Config{
		Engine: sup,
		Logs:   store,
		Preflight: func(ctx context.Context) []supervisor.Check {
			return preflight.Run(ctx, c.PreflightTarget(Running(sup.Snapshot())))
		},
		Shutdown: shutdown,
		Logger:   logger.With("subsystem", "api"),
	})
	l, err := api.Listen(c.Socket())
	if err != nil {
		return err
	}
	defer os.Remove(c.Socket())
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	logger.Info("supervisor serving", "home", c.Home, "socket", c.Socket(), "pid", os.Getpid())

	runErr := sup.Run(ctx)
	srv.Stop()
	<-served
	logger.Info("supervisor stopped")
	return runErr
}

// Running gives the pid of each service whose process is up in s.
func Running(s supervisor.Snapshot) map[string]int {
	running := map[string]int{}
	for _, svc := range s.Services {
		if svc.PID > 0 {
			running[svc.Name] = svc.PID
		}
	}
	return running
}
