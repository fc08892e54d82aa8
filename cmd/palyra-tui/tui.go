package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"google.golang.org/grpc/grpclog"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/stack"
	"github.com/palyra/palyra/tui"
)

func runTUI(ctx context.Context, g *globals, embedded bool) error {
	// gRPC's own logger writes to stderr, which is the UI's screen. It must be replaced
	// before any gRPC use.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
	cfg := g.cfg
	if err := cfg.Validate(); err != nil {
		return err
	}
	// A state directory no supervisor has served yet: show the preflight results first.
	_, statErr := os.Stat(cfg.LockPath())
	firstRun := errors.Is(statErr, os.ErrNotExist)

	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM)
	defer stopSignals()

	// Read here, not in the UI: it is a file read. A scoped token's UI starts nothing: it
	// attaches to the stack the admin started.
	scoped, err := adminclient.ScopedToken(cfg.Home, g.tokenFile)
	if err != nil {
		return err
	}
	var client *api.Client
	switch {
	case scoped && embedded:
		return errors.New("--embedded starts the services, which a scoped token may not: use the admin token (without " + adminclient.TokenEnv + " or --token-file)")
	case scoped:
		if client, err = stack.Attach(ctx, cfg); errors.Is(err, api.ErrNotRunning) {
			return fmt.Errorf("no supervisor runs for %s, and a scoped token does not start one: start it with the admin token (`palyra-tui services start all`)", cfg.Home)
		} else if err != nil {
			return err
		}
	case embedded:
		failed, stop, err := serveInProcess(ctx, cfg, cfg.ServeLog())
		if err != nil {
			return err
		}
		defer stop()
		client, err = attachWithin(ctx, cfg, failed, 10*time.Second)
		if err != nil {
			return err
		}
	default:
		client, _, err = stack.Ensure(ctx, cfg)
		if err != nil {
			return err
		}
	}
	defer client.Close()

	return tui.Run(ctx, client, tui.Options{
		Home:        cfg.Home,
		TokenFile:   g.tokenFile,
		ScopedToken: scoped,
		Gateway:     g.gateway,
		GatewayCA:   g.gatewayCA,
		FirstRun:    firstRun,
		LogFile:     filepath.Join(cfg.Home, "tui.log"),
		SaveDir:     cfg.Home,
	})
}

// attachWithin waits for the in-process server to answer, or fails with its error (a
// supervisor already serving this state directory, say).
func attachWithin(ctx context.Context, cfg stack.Config, failed <-chan error, d time.Duration) (*api.Client, error) {
	deadline := time.Now().Add(d)
	for {
		select {
		case err := <-failed:
			return nil, err
		default:
		}
		client, err := stack.Attach(ctx, cfg)
		if err == nil || time.Now().After(deadline) {
			return client, err
		}
		select {
		case err := <-failed:
			if client != nil {
				client.Close()
			}
			return nil, err
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
