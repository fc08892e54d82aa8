package preflight

import (
	"context"
	"errors"
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
