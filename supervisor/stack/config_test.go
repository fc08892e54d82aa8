package stack

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/node/identity"
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

func TestSecretPathsAreTheServicesOwn(t *testing.T) {
	c := Config{Home: "/h"}
	for got, want := range map[string]string{
		c.AdminTokenFile(): filepath.Join("/h", access.AdminTokenFile),
		c.CAKey():          filepath.Join("/h", "pki", pki.KeyFile),
		c.NodeKey():        filepath.Join(c.NodeHome(), identity.KeyFile),
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
}
