// Package servicetest drives a built Palyra service binary from tests: it builds it, starts it
// with its ready line awaited, dials its gRPC address and waits for its exit.
package servicetest

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"

	"github.com/palyra/palyra/internal/ready"
)

// Deadline bounds every wait, generous for a loaded 2-core machine.
const Deadline = 10 * time.Second

// Build compiles the main package pkg with the race detector into dir and returns the
// binary's path. It is meant for TestMain, which has no *testing.T.
func Build(dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.Command("go", "build", "-race", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// Process is a started service binary.
type Process struct {
	Cmd    *exec.Cmd
	stdout *output
	stderr *output
	exited chan struct{}
}

// Exec starts bin with args and env appended to the test's environment. The process dies with
// the test binary and is killed at cleanup if still running.
func Exec(t testing.TB, bin string, env []string, args ...string) *Process {
	t.Helper()
	p := &Process{
		Cmd:    exec.Command(bin, args...),
		stdout: newOutput(),
		stderr: newOutput(),
		exited: make(chan struct{}),
	}
	// A race-enabled binary otherwise sleeps a second before every exit.
	p.Cmd.Env = append(append(os.Environ(), "GORACE=atexit_sleep_ms=0"), env...)
	p.Cmd.Stdout = p.stdout
	p.Cmd.Stderr = p.stderr
	p.Cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.Cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.Cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		p.Cmd.Process.Kill()
		<-p.exited
	})
	return p
}

// Start execs bin like Exec and waits for its ready line.
func Start(t testing.TB, bin string, env []string, args ...string) (*Process, ready.Line) {
	t.Helper()
	p := Exec(t, bin, env, args...)
	timer := time.NewTimer(Deadline)
	defer timer.Stop()
	select {
	case <-p.stdout.firstLine:
	case <-p.exited:
		t.Fatalf("%s exited (%v) before its ready line; stderr:\n%s", filepath.Base(bin), p.Cmd.ProcessState, p.Stderr())
	case <-timer.C:
		t.Fatalf("%s printed no ready line within %v; stderr:\n%s", filepath.Base(bin), Deadline, p.Stderr())
	}
	line, _, _ := bytes.Cut(p.stdout.bytes(), []byte("\n"))
	l, ok := ready.Parse(line)
	if !ok {
		t.Fatalf("first stdout line %q is no ready line", line)
	}
	return p, l
}

// Wait waits for the process to exit and returns its exit code.
func (p *Process) Wait(t testing.TB) int {
	t.Helper()
	timer := time.NewTimer(Deadline)
	defer timer.Stop()
	select {
	case <-p.exited:
		return p.Cmd.ProcessState.ExitCode()
	case <-timer.C:
		t.Fatalf("%s still running after %v; stderr:\n%s", filepath.Base(p.Cmd.Path), Deadline, p.Stderr())
		return -1
	}
}

// Signal sends sig to the process.
func (p *Process) Signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// Stdout returns what the process wrote to stdout so far.
func (p *Process) Stdout() string { return string(p.stdout.bytes()) }

// Stderr returns what the process wrote to stderr so far.
func (p *Process) Stderr() string { return string(p.stderr.bytes()) }

// Dial connects to a plaintext gRPC address; the connection is closed at cleanup.
func Dial(t testing.TB, addr string, opts ...grpc.DialOption) *grpc.ClientConn {
	t.Helper()
	opts = append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, opts...)
	conn, err := grpc.NewClient("passthrough:///"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

// output collects a stream and tells when its first line is complete.
type output struct {
	mu        sync.Mutex
	buf       bytes.Buffer
	firstLine chan struct{}
	once      sync.Once
}

func newOutput() *output { return &output{firstLine: make(chan struct{})} }

func (o *output) Write(b []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.buf.Write(b)
	if bytes.IndexByte(b, '\n') >= 0 {
		o.once.Do(func() { close(o.firstLine) })
	}
	return len(b), nil
}

func (o *output) bytes() []byte {
	o.mu.Lock()
	defer o.mu.Unlock()
	return bytes.Clone(o.buf.Bytes())
}

// Health returns the health status of service name ("" for the whole server).
func Health(t testing.TB, conn grpc.ClientConnInterface, name string) healthpb.HealthCheckResponse_ServingStatus {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name})
	if err != nil {
		t.Fatalf("health check %q: %v", name, err)
	}
	return resp.GetStatus()
}

// ReflectedServices returns the services server reflection lists.
func ReflectedServices(t testing.TB, conn grpc.ClientConnInterface) map[string]bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), Deadline)
	defer cancel()
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer stream.CloseSend()
	// A failed Send says only that the stream ended (io.EOF); Recv returns its status.
	stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	})
	resp, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	listed := make(map[string]bool)
	for _, s := range resp.GetListServicesResponse().GetService() {
		listed[s.GetName()] = true
	}
	return listed
}
