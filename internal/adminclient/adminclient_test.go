package adminclient

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
)

func TestLoadTokenPrefersEnvThenFileThenHome(t *testing.T) {
	home := t.TempDir()
	if err := os.WriteFile(filepath.Join(home, AdminTokenFile), []byte("pa_home\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(t.TempDir(), "ro.token")
	if err := os.WriteFile(other, []byte("pt_file"), 0o600); err != nil {
		t.Fatal(err)
	}

	t.Setenv(TokenEnv, "")
	if got, err := LoadToken(home, ""); err != nil || got != "pa_home" {
		t.Fatalf("home token: %q, %v", got, err)
	}
	if got, err := LoadToken(home, other); err != nil || got != "pt_file" {
		t.Fatalf("token file: %q, %v", got, err)
	}
	t.Setenv(TokenEnv, "pt_env")
	if got, err := LoadToken(home, other); err != nil || got != "pt_env" {
		t.Fatalf("env token: %q, %v", got, err)
	}
}

func TestLoadTokenRefusesLooseModesAndSaysWhatToDo(t *testing.T) {
	t.Setenv(TokenEnv, "")
	home := t.TempDir()
	if _, err := LoadToken(home, ""); err == nil || !strings.Contains(err.Error(), "first start") {
		t.Fatalf("missing token: %v", err)
	}
	path := filepath.Join(home, AdminTokenFile)
	if err := os.WriteFile(path, []byte("pa_x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadToken(home, ""); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("group-readable token: %v", err)
	}
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadToken(home, ""); err == nil || !strings.Contains(err.Error(), "empty") {
		t.Fatalf("empty token: %v", err)
	}
}

func TestAdminAddrOnlyWhileTheDaemonRuns(t *testing.T) {
	snap := supervisor.Snapshot{Services: []supervisor.ServiceStatus{
		{Name: "browserd", State: supervisor.StateRunning, Addrs: map[string]string{"grpc": "127.0.0.1:1"}},
		{Name: "daemon", State: supervisor.StateRunning, Addrs: map[string]string{"admin": "127.0.0.1:7443"}},
	}}
	if got := AdminAddr(snap); got != "127.0.0.1:7443" {
		t.Fatalf("running daemon: %q", got)
	}
	snap.Services[1].State = supervisor.StateBackoff
	if got := AdminAddr(snap); got != "" {
		t.Fatalf("daemon in backoff: %q", got)
	}
}

type whoAmI struct {
	palyrav1.UnimplementedAccessServiceServer
}

func (whoAmI) WhoAmI(ctx context.Context, _ *palyrav1.WhoAmIRequest) (*palyrav1.WhoAmIReply, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if got := md.Get("authorization"); len(got) != 1 || got[0] != "Bearer pa_secret" {
		return nil, status.Error(codes.Unauthenticated, "no bearer")
	}
	return &palyrav1.WhoAmIReply{Principal: "admin", Admin: true}, nil
}

func TestEveryCallCarriesTheBearerToken(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	palyrav1.RegisterAccessServiceServer(srv, whoAmI{})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)

	c, err := Dial(lis.Addr().String(), "pa_secret")
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	reply, err := c.Access.WhoAmI(context.Background(), &palyrav1.WhoAmIRequest{})
	if err != nil || reply.GetPrincipal() != "admin" {
		t.Fatalf("WhoAmI: %v, %v", reply, err)
	}
	if _, err := Dial(lis.Addr().String(), ""); err == nil {
		t.Fatal("dial without a token succeeded")
	}
}

func TestDialSendsNoTokenInTheClearOffLoopback(t *testing.T) {
	for _, addr := range []string{"192.0.2.10:7443", "0.0.0.0:7443", "gateway.example:7443", "10.0.0.5", "dns:///10.0.0.5:7443", "passthrough:///10.0.0.5:7443", "[::ffff:10.0.0.5]:7443", "unix:///tmp/x"} {
		_, err := Dial(addr, "pa_secret")
		if err == nil || !strings.Contains(err.Error(), "--gateway-ca") || !strings.Contains(err.Error(), "--admin-tls") {
			t.Errorf("plaintext dial of %s: %v, want a refusal naming --admin-tls and --gateway-ca", addr, err)
		}
	}
	for _, addr := range []string{"127.0.0.1:7443", "[::1]:7443"} {
		c, err := Dial(addr, "pa_secret")
		if err != nil {
			t.Fatalf("plaintext dial of %s: %v", addr, err)
		}
		c.Close()
	}
	c, err := Dial("localhost:7443", "pa_secret")
	if err != nil {
		t.Fatalf("plaintext dial of localhost: %v", err)
	}
	c.Close()
	if _, err := Dial("192.0.2.10:7443", "pa_secret", WithGatewayCA(filepath.Join(t.TempDir(), "ca.crt"))); err == nil || !strings.Contains(err.Error(), "ca.crt") {
		t.Errorf("dial with a missing CA file: %v", err)
	}
}
