package grpcserve_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
)

// served runs s on a loopback port until the test stops it; stop cancels and returns Serve's
// result.
func served(t *testing.T, s *grpcserve.Server) (addr string, stop func() error) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan error, 1)
	go func() { result <- s.Serve(ctx, lis) }()
	var once sync.Once
	var serveErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case serveErr = <-result:
			case <-time.After(servicetest.Deadline):
				serveErr = errors.New("Serve did not return after cancellation")
			}
		})
		return serveErr
	}
	t.Cleanup(func() { stop() })
	return lis.Addr().String(), stop
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestHealthFollowsLifecycle(t *testing.T) {
	// A stop timeout longer than the test lets it pass only if the watch ends by itself.
	s := grpcserve.New(grpcserve.Config{Service: "test", HealthName: "palyra.test", Logger: discard(), StopTimeout: time.Minute})
	addr, stop := served(t, s)
	conn := servicetest.Dial(t, addr)
	for _, name := range []string{"", "palyra.test"} {
		if got := servicetest.Health(t, conn, name); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q is %v, want SERVING", name, got)
		}
	}

	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{Service: "palyra.test"})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first status %v, %v; want SERVING", resp.GetStatus(), err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status during shutdown %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	if _, err := watch.Recv(); err == nil {
		t.Error("the watch stream stayed open after NOT_SERVING")
	}
	if err := <-stopped; err != nil {
		t.Errorf("Serve: %v", err)
	}
}

func TestStopCutsOffLingeringStreams(t *testing.T) {
	var logs bytes.Buffer
	s := grpcserve.New(grpcserve.Config{
		Service:     "test",
		Logger:      slog.New(slog.NewTextHandler(&logs, nil)),
		StopTimeout: 50 * time.Millisecond,
	})
	addr, stop := served(t, s)

	// A reflection stream stays open until its client ends it, which this one never does.
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(servicetest.Dial(t, addr)).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// A failed Send says only that the stream ended (io.EOF); Recv returns its status.
	stream.Send(&reflectionpb.ServerReflectionRequest{MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{}})
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := stream.Recv(); err == nil {
		t.Error("the lingering stream survived the stop")
	}
	if !strings.Contains(logs.String(), "graceful stop timed out") {
		t.Errorf("no timeout logged:\n%s", logs.String())
	}
}

func TestServeReportsListenerFailure(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lis.Close()
	s := grpcserve.New(grpcserve.Config{Service: "test", Logger: discard()})
	if err := s.Serve(context.Background(), lis); err == nil {
		t.Error("Serve on a closed listener returned nil")
	}
}

func TestSetHealthReportsTheDetail(t *testing.T) {
	s := grpcserve.New(grpcserve.Config{Service: "test", HealthName: "palyra.test", Logger: discard()})
	s.SetHealth(false, "Chromium not found — install it")
	addr, _ := served(t, s)
	conn := servicetest.Dial(t, addr)
	check := func(name string) (healthpb.HealthCheckResponse_ServingStatus, string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
		defer cancel()
		var md metadata.MD
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name}, grpc.Header(&md))
		if err != nil {
			t.Fatal(err)
		}
		return resp.GetStatus(), strings.Join(md.Get(grpcserve.HealthDetailKey), "")
	}
	for _, name := range []string{"", "palyra.test"} {
		if st, detail := check(name); st != healthpb.HealthCheckResponse_NOT_SERVING || detail != "Chromium not found — install it" {
			t.Errorf("health %q is %v %q, want NOT_SERVING with the detail", name, st, detail)
		}
	}
	s.SetHealth(true, "ignored")
	if st, detail := check(""); st != healthpb.HealthCheckResponse_SERVING || detail != "" {
		t.Errorf("health is %v %q, want SERVING without a detail", st, detail)
	}
}

func TestWatchFollowsSetHealthAndEndsAtShutdown(t *testing.T) {
	s := grpcserve.New(grpcserve.Config{Service: "test", HealthName: "palyra.test", Logger: discard(), StopTimeout: time.Minute})
	s.SetHealth(false, "not yet")
	addr, stop := served(t, s)
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	watch, err := healthpb.NewHealthClient(servicetest.Dial(t, addr)).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []healthpb.HealthCheckResponse_ServingStatus{healthpb.HealthCheckResponse_NOT_SERVING, healthpb.HealthCheckResponse_SERVING, healthpb.HealthCheckResponse_NOT_SERVING} {
		if resp, err := watch.Recv(); err != nil || resp.GetStatus() != want {
			t.Fatalf("status %v, %v; want %v", resp.GetStatus(), err, want)
		}
		s.SetHealth(want == healthpb.HealthCheckResponse_NOT_SERVING, "")
	}
	// Health is SERVING now (the last SetHealth); make it NOT_SERVING again and then stop:
	// the watch must end although shutdown reports no change to it.
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("status %v, %v; want SERVING", resp.GetStatus(), err)
	}
	s.SetHealth(false, "degraded")
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("status %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	start := time.Now()
	if err := stop(); err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := watch.Recv(); err == nil {
		t.Error("the watch stream stayed open after shutdown")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("stop took %v; the watch held it", d)
	}
}
