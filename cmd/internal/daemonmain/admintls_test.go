package daemonmain_test

import (
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/admintls"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func TestAdminAddrOffLoopbackWithoutTLSRefused(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "[::]:0"} {
		t.Run(addr, func(t *testing.T) {
			home := t.TempDir()
			p := servicetest.Exec(t, palyrad, nil, "--home", home, "--admin-addr", addr, "--node-addr", "127.0.0.1:0")
			if code := p.Wait(t); code != 1 {
				t.Fatalf("exit code %d, want 1; stderr:\n%s", code, p.Stderr())
			}
			for _, want := range []string{"admin address " + addr + " is reachable from other machines", "--admin-tls", "127.0.0.1"} {
				if !strings.Contains(p.Stderr(), want) {
					t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
				}
			}
			if p.Stdout() != "" {
				t.Errorf("refused palyrad printed %q", p.Stdout())
			}
			if entries, _ := os.ReadDir(home); len(entries) != 0 {
				t.Errorf("refused palyrad left %v in its home", entries)
			}
		})
	}
}

func TestAdminAPIWithTLS(t *testing.T) {
	home := t.TempDir()
	_, l := servicetest.Start(t, palyrad, []string{"PALYRA_ADMIN_TLS=1"}, "--home", home, "--admin-addr", "0.0.0.0:0", "--node-addr", "127.0.0.1:0")
	_, port, err := net.SplitHostPort(l.Addrs["admin"])
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	token, err := os.ReadFile(filepath.Join(home, access.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(home, daemon.CADir, pki.CertFile)

	// A client that pins the gateway CA gets in.
	c, err := adminclient.Dial(addr, strings.TrimSpace(string(token)), adminclient.WithGatewayCA(caFile))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	if who, err := c.Access.WhoAmI(ctx, &palyrav1.WhoAmIRequest{}); err != nil || !who.GetAdmin() {
		t.Fatalf("WhoAmI over TLS: %v, %v", who, err)
	}

	// The certificate is TLS 1.3, from the gateway CA, for its fixed name and the addresses.
	pinned, err := admintls.LoadClientConfig(caFile)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", addr, pinned)
	if err != nil {
		t.Fatal(err)
	}
	state := conn.ConnectionState()
	conn.Close()
	leaf := state.PeerCertificates[0]
	if state.Version != tls.VersionTLS13 || !slices.Contains(leaf.DNSNames, admintls.ServerName) || len(leaf.IPAddresses) < 2 {
		t.Errorf("TLS %x, names %v, IPs %v", state.Version, leaf.DNSNames, leaf.IPAddresses)
	}
	byIP := pinned.Clone()
	byIP.ServerName = "127.0.0.1" // how a client of its own (grpcurl -cacert) checks it
	if conn, err := tls.Dial("tcp", addr, byIP); err != nil {
		t.Errorf("dialing by IP with the CA: %v", err)
	} else {
		conn.Close()
	}

	// One that does not know the CA (the system roots) fails the handshake; one without TLS
	// gets nothing.
	unpinned := servicetest.Dial(t, addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{ServerName: admintls.ServerName})))
	_, err = healthpb.NewHealthClient(unpinned).Check(ctx, &healthpb.HealthCheckRequest{})
	if err == nil || !strings.Contains(status.Convert(err).Message(), "certificate signed by unknown authority") {
		t.Errorf("without the CA: %v, want a failed handshake", err)
	}
	plain := servicetest.Dial(t, addr)
	if _, err := healthpb.NewHealthClient(plain).Check(ctx, &healthpb.HealthCheckRequest{}); err == nil {
		t.Error("a plaintext client got an answer from the TLS admin API")
	}
}
