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
	"syscall"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"

	"github.com/palyra/palyra/internal/buildinfo"
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

// Server is a gRPC server with the health, version and reflection services registered.
type Server struct {
	cfg    Config
	grpc   *grpc.Server
	health *health.Server
}

// New builds a Server; it serves nothing until Serve.
func New(cfg Config) *Server {
	if cfg.StopTimeout == 0 {
		cfg.StopTimeout = DefaultStopTimeout
	}
	s := &Server{cfg: cfg, grpc: grpc.NewServer(cfg.Options...), health: health.NewServer()}
	healthpb.RegisterHealthServer(s.grpc, endingHealth{s.health})
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

// Serve reports SERVING and serves lis until ctx is done. Then it reports NOT_SERVING, lets
// in-flight RPCs finish for up to StopTimeout and cuts the rest off. It returns nil after
// such a shutdown, or the error that made serving fail.
func (s *Server) Serve(ctx context.Context, lis net.Listener) error {
	log := s.cfg.Logger.With("addr", lis.Addr().String())
	s.health.SetServingStatus("", healthpb.HealthCheckResponse_SERVING)
	s.health.SetServingStatus(s.cfg.HealthName, healthpb.HealthCheckResponse_SERVING)

	served := make(chan error, 1)
	go func() { served <- s.grpc.Serve(lis) }()
	log.Info("serving gRPC")

	select {
	case err := <-served:
		s.health.Shutdown()
		s.grpc.Stop()
		return fmt.Errorf("serve gRPC on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}

	log.Info("stopping gRPC", "timeout", s.cfg.StopTimeout.String())
	s.health.Shutdown()
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

// endingHealth ends a Watch stream right after it reports NOT_SERVING. Only shutdown reports
// NOT_SERVING, and the stock Watch would otherwise stay open and hold GracefulStop until its
// deadline.
type endingHealth struct {
	*health.Server
}

func (h endingHealth) Watch(req *healthpb.HealthCheckRequest, stream healthpb.Health_WatchServer) error {
	return h.Server.Watch(req, endingStream{stream})
}

type endingStream struct {
	healthpb.Health_WatchServer
}

var errStreamEnded = errors.New("server shutting down")

func (s endingStream) Send(resp *healthpb.HealthCheckResponse) error {
	if err := s.Health_WatchServer.Send(resp); err != nil {
		return err
	}
	if resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING {
		return errStreamEnded
	}
	return nil
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
