// Package browserd is palyra-browserd: it serves palyra.v1.BrowserService, browser
// automation over one headless Chromium (browserd/engine), with every session's targets
// checked by browserd/netguard. Its gRPC health is SERVING only while the browser runs; when
// it is not, the health check says why (grpcserve.HealthDetailKey), which the supervisor
// shows.
package browserd

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	"github.com/palyra/palyra/browserd/engine"
	"github.com/palyra/palyra/browserd/netguard"
	"github.com/palyra/palyra/internal/grpcserve"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// HealthService is palyra-browserd's name in grpc.health.v1, reported beside the overall "".
const HealthService = "palyra.browserd"

// healthEvery is how often the engine's Health is copied into the gRPC health, and how often
// the proxies of ended sessions are looked for.
const healthEvery = 250 * time.Millisecond

// Config is what a Browserd needs.
type Config struct {
	Listener net.Listener // where the gRPC API is served
	Home     string       // the state directory: browserd.token and the download directory live here
	Logger   *slog.Logger

	// Engine configures the browser. Its Guard, Logger and (when empty) DownloadDir are
	// browserd's.
	Engine engine.Config
	// AllowPrivate lets CreateSession's allow_private_targets open loopback and private
	// networks to a session. Without it such a request is refused.
	AllowPrivate bool
	// Resolver resolves the names sessions open; nil is the system's. Tests set their own.
	Resolver netguard.Resolver
}

// Browserd is palyra-browserd.
type Browserd struct {
	listener net.Listener
	server   *grpcserve.Server
	engine   *engine.Engine
	guard    *guard
	log      *slog.Logger
	startErr atomic.Pointer[error]

	allowPrivate bool
	maxSessions  int
	maxTypeBytes int
	maxWait      time.Duration // the longest WaitFor the engine runs
}

// New builds a Browserd and creates its token file if there is none; nothing runs until Run.
func New(cfg Config) (*Browserd, error) {
	if cfg.Home == "" {
		return nil, errors.New("browserd: no state directory")
	}
	token, err := LoadOrCreateToken(filepath.Join(cfg.Home, TokenFile))
	if err != nil {
		return nil, err
	}
	log := cfg.Logger
	g, err := newGuard(log.With("subsystem", "netguard"))
	if err != nil {
		return nil, err
	}
	g.resolver = cfg.Resolver
	ecfg := cfg.Engine
	ecfg.Guard = g
	ecfg.Logger = log.With("subsystem", "engine")
	if ecfg.DownloadDir == "" {
		ecfg.DownloadDir = filepath.Join(cfg.Home, "browserd-downloads")
	}
	if err := os.MkdirAll(ecfg.DownloadDir, 0o700); err != nil {
		g.closeAll()
		return nil, fmt.Errorf("download directory: %w", err)
	}
	b := &Browserd{
		listener:     cfg.Listener,
		engine:       engine.New(ecfg),
		guard:        g,
		log:          log,
		allowPrivate: cfg.AllowPrivate,
		maxSessions:  orDefault(ecfg.MaxSessions, 16),
		maxTypeBytes: orDefault(ecfg.MaxTypeBytes, 4<<10),
		maxWait:      cmp.Or(ecfg.NavigateTimeout, 15*time.Second), // the engine's cap on a wait
		server: grpcserve.New(grpcserve.Config{
			Service:    "browserd",
			HealthName: HealthService,
			Logger:     log.With("subsystem", "grpc"),
			Options: []grpc.ServerOption{
				grpc.ChainUnaryInterceptor(unaryAuth(token)),
				grpc.ChainStreamInterceptor(streamAuth(token)),
			},
		}),
	}
	b.server.SetHealth(false, "starting the browser")
	b.server.RegisterService(&palyrav1.BrowserService_ServiceDesc, &api{b: b})
	g.onRefuse = func(r netguard.Refusal) { b.engine.NoteRefusal(r.Session, r.Target, r.Err.Error()) }
	return b, nil
}

func orDefault(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// Run starts the browser and serves until ctx is done, then stops gracefully, closes every
// session and the browser, and returns nil; or it returns the error that stopped it sooner.
// A missing or failing Chromium does not stop it: health turns NOT_SERVING with the reason
// and the engine keeps trying.
func (b *Browserd) Run(ctx context.Context) (err error) {
	// The browser starts while the API is already served, so health can say "starting".
	started := make(chan struct{})
	go func() {
		defer close(started)
		if err := b.engine.Start(ctx); err != nil { // gives up once ctx is done
			b.log.Error("browser engine cannot work", "err", err)
			b.startErr.Store(&err)
		}
	}()
	watchCtx, stopWatch := context.WithCancel(ctx)
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		b.watch(watchCtx)
	}()
	defer func() {
		stopWatch()
		<-watched
		<-started
		b.guard.closeAll()
		if closeErr := b.engine.Close(); closeErr != nil {
			err = errors.Join(err, fmt.Errorf("close browser engine: %w", closeErr))
		}
	}()
	return b.server.Serve(ctx, b.listener)
}

// watch copies the engine's health into the gRPC health, logs its changes, and closes the
// proxies of sessions that ended.
func (b *Browserd) watch(ctx context.Context) {
	tick := time.NewTicker(healthEvery)
	defer tick.Stop()
	var last engine.Health
	for {
		h := b.engine.Health()
		if p := b.startErr.Load(); p != nil {
			h = engine.Health{Status: engine.StatusDegraded, Reason: "browser engine: " + (*p).Error()}
		}
		b.server.SetHealth(h.Status == engine.StatusOK, healthDetail(h))
		if h.Status != last.Status || h.Reason != last.Reason {
			b.log.Info("browser health", "status", h.Status, "reason", h.Reason, "pid", h.BrowserPID, "version", h.BrowserVersion)
		}
		last = h
		b.guard.reap(b.engine.List)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

func healthDetail(h engine.Health) string {
	switch {
	case h.Status == engine.StatusOK:
		return ""
	case h.Reason != "":
		return h.Reason
	case h.Status == engine.StatusStarting:
		return "starting the browser"
	}
	return "browser " + string(h.Status)
}
