package stack

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/nodeport"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/preflight"
)

func names(c Config) []string {
	var out []string
	for _, s := range c.Specs() {
		out = append(out, s.Name)
	}
	return out
}

func TestLocalNodeIsSupervisedOnceItIsPaired(t *testing.T) {
	c := Config{Home: t.TempDir(), AdminAddr: "127.0.0.1:0", NodeAddr: "127.0.0.1:0", BrowserdAddr: "127.0.0.1:0"}
	if got := names(c); !slices.Equal(got, []string{Daemon, Browserd}) {
		t.Fatalf("services before pairing: %v", got)
	}
	if err := os.MkdirAll(c.NodeHome(), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(c.NodeHome(), "node.json"), []byte("{}"), 0o600); err != nil {
		t.Fatal(err)
	}
	specs := c.Specs()
	if got := names(c); !slices.Equal(got, []string{Daemon, Browserd, Node}) {
		t.Fatalf("services after pairing: %v", got)
	}
	node := specs[2]
	if !slices.Contains(node.Args, c.NodeHome()) || !slices.Contains(node.Args, "deny") {
		t.Errorf("node runs with %v; want its home and mediation denied (no terminal to ask on)", node.Args)
	}
}

func TestPreflightChecksTheNodePortPalyradKept(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	c := Config{Home: t.TempDir(), AdminAddr: "127.0.0.1:0", NodeAddr: "127.0.0.1:0", BrowserdAddr: "127.0.0.1:0"}
	if err := nodeport.Save(c.Home, taken.Addr().(*net.TCPAddr).Port); err != nil {
		t.Fatal(err)
	}
	check := nodeCheck(t, c)
	if check.Status != supervisor.CheckBlocked || !strings.Contains(check.Detail, taken.Addr().String()+" is already in use by pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("%+v; want the kept port blocked, naming this process", check)
	}
	if strings.Contains(check.Fix, "port 0") {
		t.Errorf("fix %q suggests port 0 for the node API", check.Fix)
	}

	if err := os.WriteFile(nodeport.Path(c.Home), []byte("nonsense"), 0o600); err != nil {
		t.Fatal(err)
	}
	if check := nodeCheck(t, c); check.Status != supervisor.CheckBlocked || !strings.Contains(check.Detail, "not a port") {
		t.Fatalf("with a damaged node-port: %+v", check)
	}
}

func nodeCheck(t *testing.T, c Config) supervisor.Check {
	t.Helper()
	for _, check := range preflight.Run(context.Background(), c.PreflightTarget(nil)) {
		if check.Key == "daemon_node_api_port" {
			return check
		}
	}
	t.Fatal("no node API port check")
	return supervisor.Check{}
}

func TestSecretPathsAreTheServicesOwn(t *testing.T) {
	c := Config{Home: "/h"}
	for got, want := range map[string]string{
		c.AdminTokenFile(): filepath.Join("/h", access.AdminTokenFile),
		c.CACert():         filepath.Join("/h", daemon.CADir, pki.CertFile),
		c.CAKey():          filepath.Join("/h", daemon.CADir, pki.KeyFile),
		c.NodeKey():        filepath.Join(c.NodeHome(), identity.KeyFile),
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}

func TestAdminTLSReachesPalyradAndReadsBack(t *testing.T) {
	c := Config{Home: t.TempDir(), AdminAddr: "0.0.0.0:0", NodeAddr: "127.0.0.1:0", BrowserdAddr: "127.0.0.1:0"}
	plain := c.Specs()[0]
	if !slices.Contains(plain.Args, "--admin-tls=false") || plain.HealthTLS != nil || !slices.Contains(c.serveArgs(), "--admin-tls=false") {
		t.Fatalf("TLS off, yet palyrad runs with %v (health TLS %v), serve with %v", plain.Args, plain.HealthTLS != nil, c.serveArgs())
	}
	snap := func(s supervisor.Spec) supervisor.Snapshot {
		return supervisor.Snapshot{Services: []supervisor.ServiceStatus{{Name: s.Name, Command: append([]string{s.Path}, s.Args...)}}}
	}
	if AdminTLS(snap(plain)) {
		t.Error("AdminTLS of a plaintext palyrad")
	}

	c.AdminTLS = true
	tlsSpec := c.Specs()[0]
	if !slices.Contains(tlsSpec.Args, "--admin-tls=true") || !slices.Contains(c.serveArgs(), "--admin-tls=true") {
		t.Fatalf("TLS on, yet palyrad runs with %v, serve with %v", tlsSpec.Args, c.serveArgs())
	}
	if !AdminTLS(snap(tlsSpec)) {
		t.Error("AdminTLS does not read --admin-tls back from the snapshot")
	}
	if _, err := tlsSpec.HealthTLS(); err == nil || !strings.Contains(err.Error(), c.CACert()) {
		t.Errorf("health TLS before palyrad made its CA: %v, want an error naming %s", err, c.CACert())
	}
	if _, err := pki.LoadOrCreateCA(c.CADir(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if cfg, err := tlsSpec.HealthTLS(); err != nil || cfg.RootCAs == nil || cfg.ServerName != admintls.ServerName {
		t.Errorf("health TLS: %+v, %v", cfg, err)
	}
	if target := c.PreflightTarget(nil); !target.Admin.TLS || target.Admin.Addr != c.AdminAddr || len(target.Secrets) != 3 {
		t.Errorf("preflight target %+v", target)
	}
}
