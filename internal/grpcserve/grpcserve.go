// Package grpcserve runs the gRPC server every Palyra process has: the standard
// grpc.health.v1 service, palyra.v1.VersionService and server reflection on one listener,
// stopped gracefully within a bounded time.
package grpcserve

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// DefaultStopTimeout bounds a graceful stop when Config.StopTimeout is zero. It stays well
// under the supervisor's 10 s between SIGTERM and SIGKILL.
const DefaultStopTimeout = 5 * time.Second

// Config describes the process a Server speaks for.
type Config struct {
	Service     string // "daemon" or "browserd", as GetVersion reports it
	HealthName  string // the health service name reported beside the overall ""
	Logger      *slog.Logger
	StopTimeout time.Duration       // how long in-flight RPCs may run on after shutdown begins
	Options     []grpc.ServerOption // e.g. the admin API's authentication interceptors
}

// HealthDetailKey is the response header in which a health Check that is not SERVING says
// why, in words for an operator ("Chromium not found: install it: apt-get install
// chromium"). It is a binary header, so the text may be any UTF-8. The supervisor shows it
// as the service's health detail.
const HealthDetailKey = "palyra-health-detail-bin"

// Server is a gRPC server with the health, version and reflection services registered.
type Server struct {
	cfg    Config
	grpc   *grpc.Server
	health *health.Server

	mu       sync.Mutex
	started  bool
	serving  bool          // what SetHealth last said; true until it says otherwise
	detail   string        // why not serving
	changed  chan struct{} // closed and replaced when health changes, for Watch
	stopping atomic.Bool
}

// New builds a Server; it serves nothing until Serve.
func New(cfg Config) *Server {
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	s := &Server{cfg: cfg, grpc: grpc.NewServer(cfg.Options...), health: health.NewServer(), serving: true, changed: make(chan struct{})}
	healthpb.RegisterHealthServer(s.grpc, endingHealth{s.health, s})
	palyrav1.RegisterVersionServiceServer(s.grpc, &versionServer{info: &palyrav1.VersionInfo{
		Service:       cfg.Service,
		Version:       buildinfo.Version,
		GoVersion:     runtime.Version(),
		Pid:           int32(os.Getpid()),
		StartedUnixMs: time.Now().UnixMilli(),
	}})
	reflection.Register(s.grpc)
	return s
}

// RegisterService adds a service of the process's own; call it before Serve.
func (s *Server) RegisterService(desc *grpc.ServiceDesc, impl any) {
	s.grpc.RegisterService(desc, impl)
}

// SetHealth says whether the process can do its work: its health ("" and HealthName) is
// SERVING when serving is true, NOT_SERVING otherwise, with detail saying why in the
// HealthDetailKey header of every Check. It may be called before Serve and at any time
// after; once shutdown begins health stays NOT_SERVING. The detail is cleaned for a
// terminal and cut to maxDetail bytes.
func (s *Server) SetHealth(serving bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if serving {
		detail = ""
	}
	detail = textsafe.Clean(detail) // it goes into a header: valid UTF-8, no controls, bounded
	if len(detail) > maxDetail {
		detail = strings.ToValidUTF8(detail[:maxDetail], "") + "…"
	}
	changed := s.serving != serving
	s.serving, s.detail = serving, detail
	if s.started && changed {
		s.setStatus(serving)
	}
}

func (s *Server) setStatus(serving bool) {
	st := healthpb.HealthCheckResponse_NOT_SERVING
	if serving {
		st = healthpb.HealthCheckResponse_SERVING
	}
	s.health.SetServingStatus("", st)
	if s.cfg.HealthName != "" {
		s.health.SetServingStatus(s.cfg.HealthName, st)
	}
	s.notifyLocked()
}

func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// maxDetail bounds the reason SetHealth carries.
const maxDetail = 1024

// shutdownHealth turns health NOT_SERVING for good and wakes every Watch, which then ends.
func (s *Server) shutdownHealth() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.health.Shutdown() // before stopping is seen, so a Watch that sees it reads NOT_SERVING
	s.stopping.Store(true)
	s.notifyLocked()
}

// watchState is the channel that the next health change closes.
func (s *Server) watchState() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.changed
}

// healthDetail is why the process is not serving, "" when it is or nobody said.
func (s *Server) healthDetail() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping.Load() {
		return "shutting down"
	}
	return s.detail
}

// Serve reports SERVING (or what SetHealth said) and serves lis until ctx is done. Then it reports NOT_SERVING, lets
// in-flight RPCs finish for up to StopTimeout and cuts the rest off. It returns nil after
// such a shutdown, or the error that made serving fail.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	log := s.cfg.Logger.With("addr", lis.Addr().String())
	s.mu.Lock()
	s.started = true
	s.setStatus(s.serving)
	s.mu.Unlock()

	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(lis) }()
	log.Info("serving gRPC")

	select {
	case err := <-served:
		s.shutdownHealth()
		s.grpc.Stop()
		return fmt.Errorf("serve gRPC on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}

	log.Info("stopping gRPC", "timeout", s.cfg.StopTimeout.String())
	s.shutdownHealth()
	stopped := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(s.cfg.StopTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		log.Warn("graceful stop timed out; cancelling the remaining RPCs")
		s.grpc.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve gRPC on %s: %w", lis.Addr(), err)
	}
	log.Info("gRPC stopped")
	return nil
}

type versionServer struct {
	palyrav1.UnimplementedVersionServiceServer
	info *palyrav1.VersionInfo
}

func (v *versionServer) GetVersion(context.Context, *palyrav1.GetVersionRequest) (*palyrav1.VersionInfo, error) {
	return v.info, nil
}

// endingHealth serves grpc.health.v1 from the stock health.Server's statuses, with two
// changes. Check adds the health detail when not SERVING. Watch reports every change, and
// ends right after it reports NOT_SERVING during shutdown: the stock Watch would stay open
// and hold GracefulStop until its deadline, and it sends nothing at shutdown to a watcher
// that already saw NOT_SERVING (a process that is up but cannot work, SetHealth).
type endingHealth struct {
	*health.Server
	srv *Server
}

func (h endingHealth) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	resp, err := h.Server.Check(ctx, req)
	if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		if detail := h.srv.healthDetail(); detail != "" {
			grpc.SetHeader(ctx, metadata.Pairs(HealthDetailKey, detail))
		}
	}
	return resp, err
}

var errStreamEnded = errors.New("server shutting down")

func (h endingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	ctx := stream.Context()
	last := healthpb.HealthCheckResponse_ServingStatus(-1)
	for {
		changed := h.srv.watchState()
		stopping := h.srv.stopping.Load()
		st := healthpb.HealthCheckResponse_SERVICE_UNKNOWN
		if resp, err := h.Server.Check(ctx, req); err == nil {
			st = resp.GetStatus()
		}
		if st != last {
			if err := stream.Send(&healthpb.HealthCheckResponse{Status: st}); err != nil {
				return err
			}
			last = st
		}
		if stopping {
			return errStreamEnded
		}
		select {
		case <-ctx.Done():
			return status.Error(codes.Canceled, "stream has ended")
		case <-changed:
		}
	}
}

// Listen binds addr for program, and says in its error what to do: a busy port usually means
// another copy of program runs, and setting names the flag and variable that move it.
func Listen(addr, program, setting string) (net.Listener, error) {
	lis, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		return nil, fmt.Errorf("listen %s: address already in use; another %s may be running, or set %s", addr, program, setting)
	}
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w; check %s", addr, err, setting)
	}
	return lis, nil
}
