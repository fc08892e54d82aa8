package daemonmain_test

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/grpc"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/palyra/palyra/cmd/internal/daemonmain"
	"github.com/palyra/palyra/daemon"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

var palyrad string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "palyrad-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	palyrad, err = servicetest.Build(dir, "github.com/palyra/palyra/cmd/palyrad")
	code := 1
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
	} else {
		code = m.Run()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}

func start(t *testing.T, home string) (*servicetest.Process, string) {
	t.Helper()
	p, l := servicetest.Start(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	return p, l.Addrs["admin"]
}

func TestServesHealthVersionAndReflection(t *testing.T) {
	home := t.TempDir()
	p, l := servicetest.Start(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	if l.Service != "daemon" || l.Version != buildinfo.Version || l.PID != p.Cmd.Process.Pid {
		t.Errorf("ready line %+v, want service daemon, version %s, pid %d", l, buildinfo.Version, p.Cmd.Process.Pid)
	}
	for _, name := range []string{"admin", "node"} {
		host, port, err := net.SplitHostPort(l.Addrs[name])
		if err != nil || host != "127.0.0.1" || port == "0" {
			t.Fatalf("%s address %q, want 127.0.0.1 with the bound port", name, l.Addrs[name])
		}
	}

	conn := servicetest.Dial(t, l.Addrs["admin"])
	for _, name := range []string{"", daemon.HealthService} {
		if got := servicetest.Health(t, conn, name); got != healthpb.HealthCheckResponse_SERVING {
			t.Errorf("health %q is %v, want SERVING", name, got)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	v, err := palyrav1.NewVersionServiceClient(conn).GetVersion(ctx, &palyrav1.GetVersionRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if v.GetService() != "daemon" || v.GetVersion() != buildinfo.Version || int(v.GetPid()) != p.Cmd.Process.Pid ||
		v.GetGoVersion() == "" || v.GetStartedUnixMs() == 0 {
		t.Errorf("GetVersion = %v", v)
	}
	token, err := os.ReadFile(filepath.Join(home, access.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	authed := servicetest.Dial(t, l.Addrs["admin"], grpc.WithPerRPCCredentials(adminclient.Bearer(strings.TrimSpace(string(token)))))
	listed := servicetest.ReflectedServices(t, authed)
	for _, name := range []string{"palyra.v1.VersionService", "grpc.health.v1.Health", "palyra.v1.ApprovalsService", "palyra.v1.InventoryService"} {
		if !listed[name] {
			t.Errorf("reflection does not list %s (lists %v)", name, listed)
		}
	}

	dbPath := filepath.Join(home, store.FileName)
	assertMode(t, dbPath, 0o600)
	tokenPath := filepath.Join(home, access.AdminTokenFile)
	assertMode(t, tokenPath, 0o600)
	assertMode(t, filepath.Join(home, daemon.CADir, pki.KeyFile), 0o600)
	assertMode(t, dbPath+".pid", 0o600)
	if pid, _ := os.ReadFile(dbPath + ".pid"); strings.TrimSpace(string(pid)) != strconv.Itoa(p.Cmd.Process.Pid) {
		t.Errorf("daemon.db.pid holds %q, want %d", pid, p.Cmd.Process.Pid)
	}

	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
	if lines := strings.Split(strings.TrimSpace(p.Stdout()), "\n"); len(lines) != 1 {
		t.Errorf("stdout has %d lines, want only the ready line:\n%s", len(lines), p.Stdout())
	}
	assertJSONLines(t, p.Stderr())
	token, err = os.ReadFile(tokenPath)
	if err != nil || len(token) < 40 {
		t.Fatalf("admin token %q, %v", token, err)
	}
	if strings.Contains(p.Stderr(), strings.TrimSpace(string(token))) || strings.Contains(p.Stdout(), strings.TrimSpace(string(token))) {
		t.Error("the admin token reached palyrad's output")
	}
}

func TestShutdownReportsNotServing(t *testing.T) {
	p, addr := start(t, t.TempDir())
	conn := servicetest.Dial(t, addr)
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		t.Fatalf("first health status %v, %v; want SERVING", resp.GetStatus(), err)
	}

	p.Signal(t, syscall.SIGTERM)
	if resp, err := watch.Recv(); err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_NOT_SERVING {
		t.Fatalf("health status during shutdown %v, %v; want NOT_SERVING", resp.GetStatus(), err)
	}
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; stderr:\n%s", code, p.Stderr())
	}
	if strings.Contains(p.Stderr(), "graceful stop timed out") {
		t.Error("the open health watch held up the graceful stop")
	}
}

func TestInterruptStops(t *testing.T) {
	p, _ := start(t, t.TempDir())
	p.Signal(t, os.Interrupt)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d after SIGINT; stderr:\n%s", code, p.Stderr())
	}
}

func TestSecondDaemonOnSameHomeRefused(t *testing.T) {
	home := t.TempDir()
	first, addr := start(t, home)

	second := servicetest.Exec(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	if code := second.Wait(t); code == 0 {
		t.Fatal("second palyrad exited 0")
	}
	want := fmt.Sprintf("daemon.db is locked by pid %d (another palyrad on this home?)", first.Cmd.Process.Pid)
	if !strings.Contains(second.Stderr(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, second.Stderr())
	}
	if second.Stdout() != "" {
		t.Errorf("refused palyrad printed %q on stdout", second.Stdout())
	}
	if got := servicetest.Health(t, servicetest.Dial(t, addr), ""); got != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("first palyrad health is %v after the refusal, want SERVING", got)
	}
}

func TestDamagedStoreRefusedUntouched(t *testing.T) {
	sound := soundStore(t)
	tests := []struct {
		name string
		data []byte
	}{
		{"garbage", []byte(strings.Repeat("not a bbolt database ", 1000))},
		{"truncated", sound[:3*4096]},
		{"empty", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			home := t.TempDir()
			dbPath := filepath.Join(home, store.FileName)
			if err := os.WriteFile(dbPath, tt.data, 0o600); err != nil {
				t.Fatal(err)
			}

			p := servicetest.Exec(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
			if code := p.Wait(t); code == 0 {
				t.Fatal("palyrad exited 0 on a damaged daemon.db")
			}
			for _, want := range []string{dbPath + " is damaged", "move it aside", "backup"} {
				if !strings.Contains(p.Stderr(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
				}
			}
			after, err := os.ReadFile(dbPath)
			if err != nil {
				t.Fatal(err)
			}
			if sha256.Sum256(after) != sha256.Sum256(tt.data) {
				t.Error("daemon.db was modified")
			}
		})
	}
}

func TestPortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	p := servicetest.Exec(t, palyrad, nil, "--home", t.TempDir(), "--admin-addr", addr, "--node-addr", "127.0.0.1:0")
	if code := p.Wait(t); code == 0 {
		t.Fatal("palyrad exited 0 on a taken port")
	}
	for _, want := range []string{"listen " + addr + ": address already in use", "--admin-addr/PALYRA_ADMIN_ADDR"} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
		}
	}
}

func TestNodePortInUse(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	addr := taken.Addr().String()

	p := servicetest.Exec(t, palyrad, nil, "--home", t.TempDir(), "--admin-addr", "127.0.0.1:0", "--node-addr", addr)
	if code := p.Wait(t); code == 0 {
		t.Fatal("palyrad exited 0 on a taken node port")
	}
	for _, want := range []string{"listen " + addr + ": address already in use", "--node-addr/PALYRA_NODE_ADDR"} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
		}
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	home := filepath.Join(t.TempDir(), "state")
	p, l := servicetest.Start(t, palyrad, []string{"PALYRA_HOME=" + home, "PALYRA_ADMIN_ADDR=127.0.0.1:0", "PALYRA_NODE_ADDR=127.0.0.1:0"})
	if _, err := os.Stat(filepath.Join(home, store.FileName)); err != nil {
		t.Errorf("PALYRA_HOME not used: %v", err)
	}
	if l.Addrs["admin"] == "" || strings.HasSuffix(l.Addrs["admin"], ":7443") {
		t.Errorf("PALYRA_ADMIN_ADDR not used: admin address %q", l.Addrs["admin"])
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
			if code := daemonmain.Main(tt.args); code != 2 {
				t.Errorf("Main(%q) = %d, want 2", tt.args, code)
			}
		})
	}
}

// soundStore returns the bytes of the daemon.db a palyrad run leaves behind.
func soundStore(t *testing.T) []byte {
	t.Helper()
	home := t.TempDir()
	p, _ := start(t, home)
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
	data, err := os.ReadFile(filepath.Join(home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := info.Mode().Perm(); got != want {
		t.Errorf("%s has mode %v, want %v", filepath.Base(path), got, want)
	}
}

func assertJSONLines(t *testing.T, text string) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("stderr line is not JSON: %q", line)
		}
	}
}
