package preflight

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/palyra/palyra/supervisor"
)

func find(t *testing.T, checks []supervisor.Check, key string) supervisor.Check {
	t.Helper()
	for _, c := range checks {
		if c.Key == key {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", key, checks)
	return supervisor.Check{}
}

func TestPortInUseIsBlockedAndNamesHolder(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	self, _ := os.Executable()
	checks := Run(context.Background(), Target{
		Home:     t.TempDir(),
		Services: []Service{{Name: "daemon", Path: self, Ports: []Port{{Addr: l.Addr().String(), Env: "PALYRA_ADMIN_ADDR"}}}},
	})
	c := find(t, checks, "daemon_port")
	if c.Status != supervisor.CheckBlocked {
		t.Fatalf("status %s, want blocked: %+v", c.Status, c)
	}
	want := "by pid " + strconv.Itoa(os.Getpid())
	if !strings.Contains(c.Detail, want) || !strings.Contains(c.Fix, "PALYRA_ADMIN_ADDR") {
		t.Fatalf("detail %q / fix %q: want %q and the variable", c.Detail, c.Fix, want)
	}
	if !Blocked(checks) {
		t.Fatal("Blocked() = false")
	}
}

func TestPortZeroAndRunningServiceAreOK(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	self, _ := os.Executable()
	checks := Run(context.Background(), Target{Home: filepath.Join(t.TempDir(), "home"), Services: []Service{
		{Name: "daemon", Path: self, Ports: []Port{{Addr: "127.0.0.1:0"}}},
		// This process holds the port, as the running service would.
		{Name: "browserd", Path: self, Ports: []Port{{Addr: l.Addr().String()}}, PID: os.Getpid()},
		// The service runs this process as its child, as a wrapper script would.
		{Name: "node", Path: self, Ports: []Port{{Label: "wrapped", Addr: l.Addr().String()}}, PID: os.Getppid()},
	}})
	for _, key := range []string{"daemon_port", "browserd_port", "node_wrapped_port", "daemon_binary", "state_dir"} {
		if c := find(t, checks, key); c.Status != supervisor.CheckOK {
			t.Errorf("%s: %+v", key, c)
		}
	}
}

func TestMissingBinaryAndUnwritableHome(t *testing.T) {
	home := filepath.Join(t.TempDir(), "home")
	if err := os.WriteFile(home, nil, 0o600); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	checks := Run(context.Background(), Target{Home: home, Services: []Service{
		{Name: "browserd", Path: "/nonexistent/palyra-browserd", Ports: []Port{{Addr: "127.0.0.1:0"}}},
	}})
	if c := find(t, checks, "state_dir"); c.Status != supervisor.CheckBlocked || c.Fix == "" {
		t.Errorf("state_dir: %+v", c)
	}
	if c := find(t, checks, "browserd_binary"); c.Status != supervisor.CheckBlocked || !strings.Contains(c.Fix, "PALYRA_BROWSERD_BIN") {
		t.Errorf("browserd_binary: %+v", c)
	}
}

func TestPortHeldByAnotherHomesServiceIsBlocked(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	// This home's daemon is another process, which does not hold the port.
	ours := exec.Command("sleep", "60")
	if err := ours.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { ours.Process.Kill(); ours.Wait() }()
	self, _ := os.Executable()
	checks := Run(context.Background(), Target{Home: t.TempDir(), Services: []Service{
		{Name: "daemon", Path: self, Ports: []Port{{Addr: l.Addr().String(), Env: "PALYRA_ADMIN_ADDR"}}, PID: ours.Process.Pid},
	}})
	c := find(t, checks, "daemon_port")
	if c.Status != supervisor.CheckBlocked || !strings.Contains(c.Detail, "by pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("%+v, want blocked naming pid %d", c, os.Getpid())
	}
}

func TestKeptPortIsNeverToldToUsePortZero(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	self, _ := os.Executable()
	checks := Run(context.Background(), Target{Home: t.TempDir(), Services: []Service{{Name: "daemon", Path: self, Ports: []Port{
		{Label: "node API", Addr: l.Addr().String(), Env: "PALYRA_NODE_ADDR", Kept: true},
		{Label: "typo", Addr: "127.0.0.1", Env: "PALYRA_NODE_ADDR", Kept: true},
	}}}})
	for _, key := range []string{"daemon_node_api_port", "daemon_typo_port"} {
		c := find(t, checks, key)
		if c.Status != supervisor.CheckBlocked || !strings.Contains(c.Fix, "PALYRA_NODE_ADDR") ||
			strings.Contains(c.Fix, "port 0") || strings.Contains(c.Fix, ":0") {
			t.Errorf("%s: %+v; want blocked, with a fix that keeps a fixed port", key, c)
		}
	}
}

func TestUnknownPortBlocksWithItsReason(t *testing.T) {
	self, _ := os.Executable()
	checks := Run(context.Background(), Target{Home: t.TempDir(), Services: []Service{{Name: "daemon", Path: self, Ports: []Port{
		{Label: "node API", Addr: "127.0.0.1:0", Unknown: errors.New("node-port holds \"x\", not a port; delete it")},
	}}}})
	if c := find(t, checks, "daemon_node_api_port"); c.Status != supervisor.CheckBlocked || !strings.Contains(c.Detail, "not a port") {
		t.Errorf("%+v, want blocked with the reason", c)
	}
}

func TestSecretFilesReadableByOthersBlock(t *testing.T) {
	home := t.TempDir()
	token, caKey, nodeKey := filepath.Join(home, "admin.token"), filepath.Join(home, "pki", "ca.key"), filepath.Join(home, "node", "node.key")
	target := Target{Home: home, Secrets: []string{token, caKey, nodeKey}, PrivateDirs: []string{filepath.Join(home, "pki")}}

	if c := find(t, Run(context.Background(), target), "secret_files"); c.Status != supervisor.CheckOK || !strings.Contains(c.Detail, "none yet") {
		t.Errorf("no secrets yet: %+v", c)
	}
	for _, dir := range []string{"pki", "node"} {
		if err := os.Mkdir(filepath.Join(home, dir), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{token, caKey, nodeKey} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if c := find(t, Run(context.Background(), target), "secret_files"); c.Status != supervisor.CheckOK {
		t.Errorf("secrets at 0600: %+v", c)
	}

	if err := os.Chmod(filepath.Join(home, "pki"), 0o755); err != nil {
		t.Fatal(err)
	}
	c := find(t, Run(context.Background(), target), "secret_files")
	if c.Status != supervisor.CheckWarning || c.Fix != "chmod 700 "+filepath.Join(home, "pki") {
		t.Errorf("pki/ at 0755: %+v, want a warning saying chmod 700", c)
	}

	for _, f := range []string{caKey, nodeKey} {
		if err := os.Chmod(f, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	checks := Run(context.Background(), target)
	c = find(t, checks, "secret_files")
	if c.Status != supervisor.CheckBlocked || !Blocked(checks) {
		t.Fatalf("keys at 0644: %+v, want blocked", c)
	}
	if want := "chmod 600 " + caKey + " " + nodeKey + "; chmod 700 " + filepath.Join(home, "pki"); c.Fix != want {
		t.Errorf("fix %q, want %q", c.Fix, want)
	}
	if !strings.Contains(c.Detail, caKey+" is readable by others (mode 0644)") || strings.Contains(c.Detail, token) {
		t.Errorf("detail %q: want the loose key named and the sound token not", c.Detail)
	}
}

func TestAdminAPIOffLoopbackNeedsTLS(t *testing.T) {
	tests := []struct {
		addr string
		tls  bool
		want supervisor.CheckStatus
	}{
		{"127.0.0.1:7443", false, supervisor.CheckOK},
		{"localhost:0", false, supervisor.CheckOK},
		{"[::1]:7443", false, supervisor.CheckOK},
		{"0.0.0.0:7443", false, supervisor.CheckBlocked},
		{":7443", false, supervisor.CheckBlocked},
		{"[::]:0", false, supervisor.CheckBlocked},
		{"192.0.2.10:7443", false, supervisor.CheckBlocked},
		{"gateway.example:7443", false, supervisor.CheckBlocked},
		{"0.0.0.0:7443", true, supervisor.CheckOK},
		{"127.0.0.1:7443", true, supervisor.CheckOK},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s tls=%v", tt.addr, tt.tls), func(t *testing.T) {
			checks := Run(context.Background(), Target{Home: t.TempDir(), Admin: AdminAPI{Addr: tt.addr, TLS: tt.tls, Env: "PALYRA_ADMIN_ADDR"}})
			c := find(t, checks, "admin_api")
			if c.Status != tt.want {
				t.Fatalf("%+v, want %s", c, tt.want)
			}
			if c.Status == supervisor.CheckBlocked && (!strings.Contains(c.Fix, "--admin-tls") || !strings.Contains(c.Fix, "PALYRA_ADMIN_ADDR=127.0.0.1")) {
				t.Errorf("fix %q: want --admin-tls or a loopback address", c.Fix)
			}
		})
	}
}
