package browserdmain_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"

	"github.com/palyra/palyra/browserd"
	"github.com/palyra/palyra/cmd/internal/browserdmain"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

var browserdBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "browserd-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	browserdBin, err = servicetest.Build(dir, "github.com/palyra/palyra/cmd/palyra-browserd")
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

// noChromium is a Chromium path that does not exist: the lifecycle tests need no browser,
// and a palyra-browserd without one is up but NOT_SERVING.
const noChromium = "/nonexistent/chromium"

func start(t *testing.T, home string) (*servicetest.Process, string) {
	t.Helper()
	p, l := servicetest.Start(t, browserdBin, nil, "--home", home, "--addr", "127.0.0.1:0", "--chromium", noChromium)
	return p, l.Addrs["grpc"]
}

// health checks the overall health and returns its status and detail.
func health(t *testing.T, conn grpc.ClientConnInterface, name string) (healthpb.HealthCheckResponse_ServingStatus, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	var md metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: name}, grpc.Header(&md))
	if err != nil {
		t.Fatalf("health check %q: %v", name, err)
	}
	return resp.GetStatus(), strings.Join(md.Get(grpcserve.HealthDetailKey), "")
}

func TestServesHealthVersionAndReflection(t *testing.T) {
	home := t.TempDir()
	p, l := servicetest.Start(t, browserdBin, nil, "--home", home, "--addr", "127.0.0.1:0", "--chromium", noChromium)
	if l.Service != "browserd" || l.Version != buildinfo.Version || l.PID != p.Cmd.Process.Pid {
		t.Errorf("ready line %+v, want service browserd, version %s, pid %d", l, buildinfo.Version, p.Cmd.Process.Pid)
	}
	host, port, err := net.SplitHostPort(l.Addrs["grpc"])
	if err != nil || host != "127.0.0.1" || port == "0" {
		t.Fatalf("grpc address %q, want 127.0.0.1 with the bound port", l.Addrs["grpc"])
	}

	conn := servicetest.Dial(t, l.Addrs["grpc"])
	for _, name := range []string{"", browserd.HealthService} {
		st, detail := health(t, conn, name)
		// Until the first launch attempt fails, health says it is starting.
		for deadline := time.Now().Add(servicetest.Deadline); detail == "starting the browser" && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			st, detail = health(t, conn, name)
		}
		if st != healthpb.HealthCheckResponse_NOT_SERVING || !strings.Contains(detail, "chromium not found at "+noChromium+"; install it: apt-get install chromium") {
			t.Errorf("health %q is %v %q, want NOT_SERVING saying Chromium is missing", name, st, detail)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	v, err := palyrav1.NewVersionServiceClient(conn).GetVersion(ctx, &palyrav1.GetVersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetService() != "browserd" || v.GetVersion() != buildinfo.Version || int(v.GetPid()) != p.Cmd.Process.Pid {
		t.Errorf("GetVersion = %v", v)
	}
	if !servicetest.ReflectedServices(t, conn)["palyra.v1.VersionService"] {
		t.Error("reflection does not list palyra.v1.VersionService")
	}

	lockPath := filepath.Join(home, browserdmain.LockFile)
	info, err := os.Stat(lockPath)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("%s has mode %v, want 0600", browserdmain.LockFile, info.Mode().Perm())
	}
	if pid, _ := os.ReadFile(lockPath); strings.TrimSpace(string(pid)) != strconv.Itoa(p.Cmd.Process.Pid) {
		t.Errorf("%s holds %q, want %d", browserdmain.LockFile, pid, p.Cmd.Process.Pid)
	}

	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
	if lines := strings.Split(strings.TrimSpace(p.Stdout()), "\n"); len(lines) != 1 {
		t.Errorf("stdout has %d lines, want only the ready line:\n%s", len(lines), p.Stdout())
	}
}

func TestShutdownReportsNotServing(t *testing.T) {
	p, addr := start(t, t.TempDir())
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	watch, err := healthpb.NewHealthClient(servicetest.Dial(t, addr)).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("first health status %v, %v; want NOT_SERVING (no Chromium)", resp.GetStatus(), err)
	}

	p.Signal(t, syscall.SIGTERM)
	if _, err := watch.Recv(); err == nil {
		t.Fatal("the health watch stayed open during shutdown")
	}
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
}

func TestSecondBrowserdOnSameHomeRefused(t *testing.T) {
	home := t.TempDir()
	first, addr := start(t, home)

	second := servicetest.Exec(t, browserdBin, nil, "--home", home, "--addr", "127.0.0.1:0", "--chromium", noChromium)
	if code := second.Wait(t); code == 0 {
		t.Fatal("second palyra-browserd exited 0")
	}
	want := fmt.Sprintf("browserd.lock is locked by pid %d (another palyra-browserd on this home?)", first.Cmd.Process.Pid)
	if !strings.Contains(second.Stderr(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, second.Stderr())
	}
	if second.Stdout() != "" {
		t.Errorf("refused palyra-browserd printed %q on stdout", second.Stdout())
	}
	if got, _ := health(t, servicetest.Dial(t, addr), ""); got != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Errorf("first palyra-browserd health is %v after the refusal, want it still answering NOT_SERVING", got)
	}
}

func TestRestartOnSameHome(t *testing.T) {
	home := t.TempDir()
	first, _ := start(t, home)
	first.Signal(t, syscall.SIGTERM)
	if code := first.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, first.Stderr())
	}
	start(t, home)
}

func TestPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	p := servicetest.Exec(t, browserdBin, nil, "--home", t.TempDir(), "--addr", addr, "--chromium", noChromium)
	if code := p.Wait(t); code == 0 {
		t.Fatal("palyra-browserd exited 0 on a taken port")
	}
	for _, want := range []string{"listen " + addr + ": address already in use", "--addr/PALYRA_BROWSERD_ADDR"} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	home := filepath.Join(t.TempDir(), "state")
	p, l := servicetest.Start(t, browserdBin, []string{
		"PALYRA_HOME=" + home, "PALYRA_BROWSERD_ADDR=127.0.0.1:0", "PALYRA_CHROMIUM=" + noChromium,
		"PALYRA_BROWSER_MAX_SESSIONS=3", "PALYRA_BROWSER_ALLOW_PRIVATE=1",
	})
	if _, err := os.Stat(filepath.Join(home, browserdmain.LockFile)); err != nil {
		t.Errorf("PALYRA_HOME not used: %v", err)
	}
	if l.Addrs["grpc"] == "" || strings.HasSuffix(l.Addrs["grpc"], ":7543") {
		t.Errorf("PALYRA_BROWSERD_ADDR not used: grpc address %q", l.Addrs["grpc"])
	}
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	client := palyrav1.NewBrowserServiceClient(servicetest.Dial(t, l.Addrs["grpc"]))
	var h *palyrav1.BrowserHealth
	for { // the engine starts after the ready line
		var err error
		if h, err = client.Health(ctx, &palyrav1.BrowserHealthRequest{}); err != nil {
			t.Fatal(err)
		}
		if h.GetStatus() != "starting" {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if h.GetMaxSessions() != 3 || !h.GetAllowPrivate() || h.GetStatus() != "degraded" || !strings.Contains(h.GetReason(), noChromium) {
		t.Errorf("BrowserService.Health = %v; want max 3 sessions, private allowed, degraded for want of %s", h, noChromium)
	}
	info, err := os.Stat(filepath.Join(home, browserd.TokenFile))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Errorf("token file: %v, mode %v; want 0600", err, info.Mode().Perm())
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
	}{
		{"unknown flag", []string{"--no-such-flag"}},
		{"stray argument", []string{"--home", t.TempDir(), "extra"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code := browserdmain.Main(tt.args); code != 2 {
				t.Errorf("Main(%q) = %d, want 2", tt.args, code)
			}
		})
	}
}

func TestServingWithChromium(t *testing.T) {
	if _, err := os.Stat("/usr/bin/chromium"); err != nil && os.Getenv("CI") != "1" {
		t.Skip("no Chromium at /usr/bin/chromium")
	}
	p, l := servicetest.Start(t, browserdBin, nil, "--home", t.TempDir(), "--addr", "127.0.0.1:0", "--chromium", "/usr/bin/chromium")
	conn := servicetest.Dial(t, l.Addrs["grpc"])
	deadline := time.Now().Add(30 * time.Second)
	for {
		st, detail := health(t, conn, browserd.HealthService)
		if st == healthpb.HealthCheckResponse_SERVING {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("health still %v %q; stderr:\n%s", st, detail, p.Stderr())
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
}

func TestMaxSessionsBounded(t *testing.T) {
	p := servicetest.Exec(t, browserdBin, nil, "--home", t.TempDir(), "--addr", "127.0.0.1:0", "--max-sessions", "0")
	if code := p.Wait(t); code == 0 || !strings.Contains(p.Stderr(), "--max-sessions 0: want 1 to 1024") {
		t.Errorf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
}

func TestAddressOffLoopbackRefused(t *testing.T) {
	p := servicetest.Exec(t, browserdBin, nil, "--home", t.TempDir(), "--addr", "0.0.0.0:0", "--chromium", noChromium)
	if code := p.Wait(t); code == 0 || !strings.Contains(p.Stderr(), "reachable from other machines") {
		t.Fatalf("palyra-browserd off loopback: exit %d\n%s", code, p.Stderr())
	}
}
