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

	"github.com/palyra/palyra/internal/nodeport"
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
