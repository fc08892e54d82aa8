package daemonmain_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	"github.com/palyra/palyra/internal/nodeport"
)

// restartNode starts palyrad on home with node port 0, stops it and returns the node address
// it bound.
func restartNode(t *testing.T, home string) string {
	t.Helper()
	p, l := servicetest.Start(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
	return l.Addrs["node"]
}

func TestNodePortZeroKeepsItsPortAcrossRestarts(t *testing.T) {
	home := t.TempDir()
	first := restartNode(t, home)
	_, port, _ := net.SplitHostPort(first)
	saved, err := os.ReadFile(filepath.Join(home, nodeport.FileName))
	if err != nil || strings.TrimSpace(string(saved)) != port {
		t.Fatalf("node-port holds %q (%v), want %s", saved, err, port)
	}
	assertMode(t, filepath.Join(home, nodeport.FileName), 0o600)
	if again := restartNode(t, home); again != first {
		t.Fatalf("after a restart the node API is on %s, want %s, where its nodes were paired", again, first)
	}
}

func TestNodePortTakenSinceThePairingIsAnError(t *testing.T) {
	home := t.TempDir()
	addr := restartNode(t, home)
	taken, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()

	p := servicetest.Exec(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	if code := p.Wait(t); code != 1 {
		t.Fatalf("exit code %d with the remembered node port taken, want 1; stdout:\n%s", code, p.Stdout())
	}
	for _, want := range []string{
		"listen " + addr + ": address already in use by pid " + strconv.Itoa(os.Getpid()),
		nodeport.Path(home), "--node-addr/PALYRA_NODE_ADDR", "pair the nodes again",
	} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
		}
	}
}

func TestNodePortFileThatIsNoPortIsRefusedUntouched(t *testing.T) {
	home := t.TempDir()
	path := filepath.Join(home, nodeport.FileName)
	if err := os.WriteFile(path, []byte("seventy\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := servicetest.Exec(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	if code := p.Wait(t); code != 1 {
		t.Fatalf("exit code %d, want 1", code)
	}
	for _, want := range []string{path + ` holds \"seventy\", not a port`, "delete it"} {
		if !strings.Contains(p.Stderr(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
		}
	}
	if b, _ := os.ReadFile(path); string(b) != "seventy\n" {
		t.Errorf("node-port was changed to %q", b)
	}
}
