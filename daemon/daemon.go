// Package daemon is palyrad's engine: it wires the stores and engines together and serves
// the admin API and the node API.
package daemon

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/adminapi"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/channelgov"
	"github.com/palyra/palyra/daemon/nodes"
	"github.com/palyra/palyra/daemon/pairing"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/daemon/secrets"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/grpcserve"
)

// HealthService is palyrad's name in grpc.health.v1, reported beside the overall "".
const HealthService = "palyra.daemon"

// CADir is where the gateway CA lives inside the state directory.
const CADir = "pki"

// Config is what a Daemon needs.
type Config struct {
	Home       string       // the state directory, for the CA
	Store      *store.Store // daemon.db, opened by the caller
	AdminToken string
	Admin      net.Listener // where the admin gRPC API is served
	Node       net.Listener // where the node API is served (TLS)
	// AdminTLS serves the admin API with TLS 1.3 and a server certificate from the gateway
	// CA (see internal/admintls); without it the API is plaintext, for loopback only.
	AdminTLS bool
	// NodeAdvertise is the node API's address as nodes should dial it; empty means the
	// node listener's own address.
	NodeAdvertise string
	// Connectors is connectors.db, opened by the caller, and Plugins the connector kinds
	// palyrad can run, by kind. Credentials reads an instance's secrets from Secrets, the
	// store the admin API sets them in.
	Connectors  *outbox.Store
	Plugins     map[string]platform.Plugin
	PluginDir   string // external connector plugins, run once trusted; "": none
	Credentials func(outbox.Instance, connectors.Description) (map[string][]byte, error)
	Secrets     *secrets.Store
	Logger      *slog.Logger
}

// Daemon is palyrad's engine.
type Daemon struct {
	cfg       Config
	approvals *approvals.Engine
	nodes     *nodes.Runtime
	platform  *platform.Platform
	governor  *channelgov.Governor
	admin     *grpcserve.Server
}

// New builds a Daemon; it serves nothing until Run.
func New(cfg Config) (*Daemon, error) {
	ca, err := pki.LoadOrCreateCA(filepath.Join(cfg.Home, CADir), time.Now())
	if err != nil {
		return nil, err
	}
	engine := approvals.New(cfg.Store, cfg.Logger.With("subsystem", "approvals"))
	codes := pairing.New(cfg.Store, cfg.Logger.With("subsystem", "pairing"))
	runtime, err := nodes.New(nodes.Config{
		Store: cfg.Store, CA: ca, Pairing: codes, Approvals: engine, Logger: cfg.Logger.With("subsystem", "nodes"),
	})
	if err != nil {
		return nil, err
	}
	advertise := cfg.NodeAdvertise
	if advertise == "" {
		advertise = cfg.Node.Addr().String()
	}
	channels := platform.New(platform.Config{
		Store: cfg.Connectors, Plugins: cfg.Plugins, PluginDir: cfg.PluginDir, Credentials: cfg.Credentials,
		Logger: cfg.Logger.With("subsystem", "connectors"),
	})
	governor := channelgov.New(engine, channels, cfg.Logger.With("subsystem", "channel governance"))
	api := adminapi.New(adminapi.Config{
		Access: access.New(cfg.AdminToken, cfg.Store), Approvals: engine, Pairing: codes, Nodes: runtime,
		Store: cfg.Store, NodeAddr: advertise, CAFingerprint: pki.Fingerprint(ca.CertDER()),
		Platform: channels, Governor: governor, Secrets: cfg.Secrets, Logger: cfg.Logger.With("subsystem", "admin"),
	})
	opts := api.ServerOptions()
	if cfg.AdminTLS {
		cert, err := ca.ServerCertificate(admintls.ServerHosts(cfg.Admin.Addr()), time.Now())
		if err != nil {
			return nil, fmt.Errorf("admin API certificate: %w", err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(&tls.Config{MinVersion: tls.VersionTLS13, Certificates: []tls.Certificate{cert}})))
	}
	admin := grpcserve.New(grpcserve.Config{
		Service:    "daemon",
		HealthName: HealthService,
		Logger:     cfg.Logger.With("subsystem", "admin"),
		Options:    opts,
	})
	api.Register(admin)
	return &Daemon{cfg: cfg, approvals: engine, nodes: runtime, platform: channels, governor: governor, admin: admin}, nil
}

// Run serves until ctx is done, then stops gracefully and returns nil, or returns the first
// error that stopped a part sooner (stopping the rest).
func (d *Daemon) Run(ctx context.Context) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parts := map[string]func(context.Context) error{
		"approvals":          d.approvals.Run,
		"nodes":              d.nodes.Run,
		"connectors":         d.platform.Run,
		"channel governance": d.governor.Run,
		"node API":           func(ctx context.Context) error { return d.nodes.Serve(ctx, d.cfg.Node) },
		"admin API":          func(ctx context.Context) error { return d.admin.Serve(ctx, d.cfg.Admin) },
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for name, run := range parts {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
