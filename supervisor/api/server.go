// Package api serves the supervisor over gRPC on a unix socket and is the client adapter the
// TUI and the headless commands use.
package api

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"regexp"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/logtext"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

// Engine is what the server needs from the supervisor.
type Engine interface {
	Snapshot() supervisor.Snapshot
	Watch() (<-chan struct{}, func())
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	Restart(ctx context.Context, name string) error
}

// LogSource is what the server needs from the log store.
type LogSource interface {
	Read(q logs.Query, yield func(logs.Line) bool) error
	Follow(services []string) *logs.Follower
}

// Server is the supervisor's gRPC API.
type Server struct {
	palyrav1.UnimplementedSupervisorServiceServer

	engine    Engine
	logs      LogSource
	preflight func(ctx context.Context) []supervisor.Check
	shutdown  func()
	logger    *slog.Logger
	grpc      *grpc.Server
	closing   chan struct{} // closed by Stop to end the open streams
	stopOnce  sync.Once
}

// Config wires a Server.
type Config struct {
	Engine    Engine
	Logs      LogSource
	Preflight func(ctx context.Context) []supervisor.Check
	// Shutdown is called once the Shutdown RPC has answered; it should stop the services and
	// then the server.
	Shutdown func()
	Logger   *slog.Logger
}

// NewServer builds the gRPC server; Serve starts it.
func NewServer(cfg Config) *Server {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{engine: cfg.Engine, logs: cfg.Logs, preflight: cfg.Preflight, shutdown: cfg.Shutdown, logger: cfg.Logger, closing: make(chan struct{})}
	s.grpc = grpc.NewServer(
		grpc.Creds(peerCreds{}),
		// A log follower moves hundreds of MB in a flood: fewer, larger socket writes.
		grpc.WriteBufferSize(streamBuffer), grpc.InitialWindowSize(streamWindow), grpc.InitialConnWindowSize(streamWindow),
		grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := sameUID(ctx); err != nil {
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.StreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := sameUID(ss.Context()); err != nil {
				return err
			}
			return h(srv, ss)
		}),
	)
	palyrav1.RegisterSupervisorServiceServer(s.grpc, s)
	return s
}

// Listen binds the unix socket at path, replacing a stale socket file left by a crash. The
// caller must hold the state directory's supervisor lock, so nothing live can own the file.
func Listen(path string) (net.Listener, error) {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", path, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, fmt.Errorf("restrict socket %s: %w", path, err)
	}
	return l, nil
}

// Serve answers requests on l until Stop.
func (s *Server) Serve(l net.Listener) error { return s.grpc.Serve(l) }

// Stop ends the open streams, lets calls in flight (such as the Shutdown that caused the stop)
// send their replies, and stops serving.
func (s *Server) Stop() {
	s.stopOnce.Do(s.stop)
}

func (s *Server) stop() {
	close(s.closing)
	done := make(chan struct{})
	go func() {
		s.grpc.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		s.grpc.Stop()
	}
}

// GetSnapshot implements the RPC.
func (s *Server) GetSnapshot(context.Context, *palyrav1.GetSnapshotRequest) (*palyrav1.Snapshot, error) {
	return snapshotToProto(s.engine.Snapshot()), nil
}

// WatchSnapshots sends the current snapshot, then the latest one after every change. Changes
// that come during a send are coalesced; Client coalesces what the transport buffered.
func (s *Server) WatchSnapshots(_ *palyrav1.WatchSnapshotsRequest, stream grpc.ServerStreamingServer[palyrav1.Snapshot]) error {
	changed, stop := s.engine.Watch()
	defer stop()
	for {
		if err := stream.Send(snapshotToProto(s.engine.Snapshot())); err != nil {
			return err
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-s.closing:
			return status.Error(codes.Unavailable, "the supervisor is shutting down")
		case <-changed:
		}
	}
}

// Logs implements the RPC: stored lines first, then live ones when following.
func (s *Server) Logs(req *palyrav1.LogsRequest, stream grpc.ServerStreamingServer[palyrav1.LogBatch]) error {
	var grep *regexp.Regexp
	if req.GetGrep() != "" {
		re, err := regexp.Compile(req.GetGrep())
		if err != nil {
			return status.Errorf(codes.InvalidArgument, "--grep: %v", err)
		}
		grep = re
	}
	if err := s.checkServices(req.GetServices()); err != nil {
		return err
	}
	services := req.GetServices()

	// Follow before reading the stored lines so nothing falls between the two; the
	// overlap is dropped by sequence number.
	var follower *logs.Follower
	if req.GetFollow() {
		follower = s.logs.Follow(services)
		defer follower.Close()
	}

	var last uint64 // the newest line sent; the follower sends only newer ones
	if tail := int(req.GetTail()); req.GetSince() != nil || tail != 0 {
		// The last N matching lines, as journalctl -g -n gives, not the matches among the last N.
		q := logs.Query{Services: services, Last: max(tail, 0)}
		if req.GetSince() != nil {
			q.Since = req.GetSince().AsTime()
		}
		if grep != nil {
			q.Match = func(l logs.Line) bool { return matches(grep, l) }
		}
		var err error
		if last, err = s.sendStored(stream, q); err != nil {
			return err
		}
	}
	if follower == nil {
		return nil
	}
	follower.SkipThrough(last)
	return s.follow(stream, follower, grep)
}

// follow sends what the follower reads from the files, in blocks of records as they lie
// there, until the client goes or the store closes. A client slower than the services
// falls behind and catches up from the files; the batches say how far behind it is.
func (s *Server) follow(stream grpc.ServerStreamingServer[palyrav1.LogBatch], f *logs.Follower, grep *regexp.Regexp) error {
	for {
		changed := f.Changed()
		ch, err := f.Read(maxBatchBytes)
		if err != nil {
			return status.Errorf(codes.Internal, "%v", err)
		}
		if len(ch.Blocks) > 0 || ch.Skipped > 0 || ch.Unstored > 0 {
			batch := &palyrav1.LogBatch{Dropped: ch.Skipped, Unstored: ch.Unstored, BehindBytes: ch.Behind}
			for _, b := range ch.Blocks {
				records := b.Records
				if grep != nil {
					records = logs.FilterRecords(b, func(l logs.Line) bool { return matches(grep, l) })
				}
				if len(records) > 0 {
					batch.Blocks = append(batch.Blocks, &palyrav1.LogBlock{Service: b.Service, Records: records})
				}
			}
			if err := stream.Send(batch); err != nil {
				return err
			}
			continue
		}
		if f.Done() {
			return nil
		}
		select {
		case <-stream.Context().Done():
			return nil
		case <-s.closing:
			return status.Error(codes.Unavailable, "the supervisor is shutting down")
		case <-changed:
		}
	}
}

// sendStored sends the stored lines q selects, in batches as they are read, and returns the
// Seq of the last one.
func (s *Server) sendStored(stream grpc.ServerStreamingServer[palyrav1.LogBatch], q logs.Query) (last uint64, err error) {
	var batch []logs.Line
	size := 0
	var sendErr error
	readErr := s.logs.Read(q, func(l logs.Line) bool {
		batch = append(batch, l)
		last = l.Seq
		if size += len(l.Text) + lineOverhead; size >= maxBatchBytes {
			sendErr = sendLines(stream, batch, 0)
			batch, size = nil, 0
		}
		return sendErr == nil
	})
	switch {
	case sendErr != nil:
		return 0, sendErr
	case readErr != nil:
		return 0, status.Errorf(codes.Internal, "%v", readErr)
	}
	return last, sendLines(stream, batch, 0)
}

// matches reports whether grep matches the text as operators read it: a JSON line compacted
// to `msg k=v`.
func matches(grep *regexp.Regexp, l logs.Line) bool {
	return grep.MatchString(logtext.Compact(l.Text))
}

// The socket's buffers and flow-control windows, for the log stream's throughput.
const (
	streamBuffer = 256 << 10
	streamWindow = 4 << 20
)

// maxBatchBytes keeps each message well under gRPC's 4 MiB default; lineOverhead estimates
// a line's encoded fields besides its text.
const (
	maxBatchBytes = 1 << 20
	lineOverhead  = 48
)

func sendLines(stream grpc.ServerStreamingServer[palyrav1.LogBatch], lines []logs.Line, dropped uint64) error {
	if len(lines) == 0 && dropped == 0 {
		return nil
	}
	for first := true; first || len(lines) > 0; first = false {
		n, size := 0, 0
		for n < len(lines) && (n == 0 || size+len(lines[n].Text) < maxBatchBytes) {
			size += len(lines[n].Text) + lineOverhead
			n++
		}
		batch := &palyrav1.LogBatch{Lines: linesToProto(lines[:n])}
		if first {
			batch.Dropped = dropped
		}
		if err := stream.Send(batch); err != nil {
			return err
		}
		lines = lines[n:]
	}
	return nil
}

func (s *Server) checkServices(names []string) error {
	known := s.serviceNames()
	for _, n := range names {
		if !slices.Contains(known, n) {
			return status.Errorf(codes.NotFound, "no service %q (services: %v)", n, known)
		}
	}
	return nil
}

func (s *Server) serviceNames() []string {
	var names []string
	for _, svc := range s.engine.Snapshot().Services {
		names = append(names, svc.Name)
	}
	return names
}

type serviceVerb func(ctx context.Context, name string) error

func (s *Server) act(ctx context.Context, name string, verb serviceVerb) (*palyrav1.ServiceReply, error) {
	if name != "all" {
		if err := s.checkServices([]string{name}); err != nil {
			return nil, err
		}
	}
	if err := verb(ctx, name); err != nil {
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, status.FromContextError(ctxErr).Err()
		}
		return nil, status.Errorf(codes.FailedPrecondition, "%v", err)
	}
	snap := s.engine.Snapshot()
	reply := &palyrav1.ServiceReply{}
	for _, svc := range snap.Services {
		if name == "all" || svc.Name == name {
			reply.Services = append(reply.Services, statusToProto(svc))
		}
	}
	return reply, nil
}

// StartService implements the RPC.
func (s *Server) StartService(ctx context.Context, req *palyrav1.ServiceRequest) (*palyrav1.ServiceReply, error) {
	return s.act(ctx, req.GetName(), s.engine.Start)
}

// StopService implements the RPC.
func (s *Server) StopService(ctx context.Context, req *palyrav1.ServiceRequest) (*palyrav1.ServiceReply, error) {
	return s.act(ctx, req.GetName(), s.engine.Stop)
}

// RestartService implements the RPC.
func (s *Server) RestartService(ctx context.Context, req *palyrav1.ServiceRequest) (*palyrav1.ServiceReply, error) {
	return s.act(ctx, req.GetName(), s.engine.Restart)
}

// Preflight implements the RPC.
func (s *Server) Preflight(ctx context.Context, _ *palyrav1.PreflightRequest) (*palyrav1.PreflightReport, error) {
	return &palyrav1.PreflightReport{Checks: checksToProto(s.preflight(ctx))}, nil
}

// Shutdown implements the RPC. The stop happens after the reply is on its way.
func (s *Server) Shutdown(context.Context, *palyrav1.ShutdownRequest) (*palyrav1.ShutdownReply, error) {
	s.logger.Info("shutdown requested over the API")
	go s.shutdown()
	return &palyrav1.ShutdownReply{}, nil
}
