// Package browserd is palyra-browserd's engine: it serves the browser automation gRPC API.
package browserd

import (
	"context"
	"log/slog"
	"net"

	"github.com/palyra/palyra/internal/grpcserve"
)

// HealthService is palyra-browserd's name in grpc.health.v1, reported beside the overall "".
const HealthService = "palyra.browserd"

// Config is what a Browserd needs.
type Config struct {
	Listener net.Listener // where the gRPC API is served
	Logger   *slog.Logger
}

// Browserd is palyra-browserd's engine.
type Browserd struct {
	listener net.Listener
	server   *grpcserve.Server
}

// New builds a Browserd; it serves nothing until Run.
func New(cfg Config) *Browserd {
	return &Browserd{
		listener: cfg.Listener,
		server: grpcserve.New(grpcserve.Config{
			Service:    "browserd",
			HealthName: HealthService,
			Logger:     cfg.Logger.With("subsystem", "grpc"),
		}),
	}
}

// Run serves until ctx is done, then stops gracefully and returns nil, or returns the error
// that stopped it sooner.
func (b *Browserd) Run(ctx context.Context) error {
	return b.server.Serve(ctx, b.listener)
}
