// Package daemon is palyrad's engine: it serves the admin gRPC API.
package daemon

import (
	"context"
	"log/slog"
	"net"

	"github.com/palyra/palyra/internal/grpcserve"
)

// HealthService is palyrad's name in grpc.health.v1, reported beside the overall "".
const HealthService = "palyra.daemon"

// Config is what a Daemon needs.
type Config struct {
	Admin  net.Listener // where the admin gRPC API is served
	Logger *slog.Logger
}

// Daemon is palyrad's engine.
type Daemon struct {
	admin  net.Listener
	server *grpcserve.Server
}

// New builds a Daemon; it serves nothing until Run.
func New(cfg Config) *Daemon {
	return &Daemon{
		admin: cfg.Admin,
		server: grpcserve.New(grpcserve.Config{
			Service:    "daemon",
			HealthName: HealthService,
			Logger:     cfg.Logger.With("subsystem", "admin"),
		}),
	}
}

// Run serves until ctx is done, then stops gracefully and returns nil, or returns the error
// that stopped it sooner.
func (d *Daemon) Run(ctx context.Context) error {
	return d.server.Serve(ctx, d.admin)
}
