package e2e

import (
	"net"
	"path/filepath"
	"strings"
	"testing"
)

// TestE2EAdminAPIOffLoopback: doctor blocks an admin API on every interface without TLS; with
// PALYRA_ADMIN_TLS=1 the stack comes up healthy (the supervisor probes it over TLS), the
// gateway commands and the UI find the local CA on their own, and a client given the address
// by hand needs --gateway-ca.
func TestE2EAdminAPIOffLoopback(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	s.env = append(s.env, "PALYRA_ADMIN_ADDR=0.0.0.0:0")

	out, _, code := s.run("doctor")
	if code != 1 || lineWith(out, "blocked", "Admin API", "without TLS") == "" || !strings.Contains(out, "--admin-tls") {
		t.Fatalf("doctor with the admin API on 0.0.0.0 and no TLS: exit %d\n%s", code, out)
	}

	s.env = append(s.env, "PALYRA_ADMIN_TLS=1")
	if out, _, code := s.run("doctor"); code != 0 || lineWith(out, "ok", "Admin API", "with TLS") == "" {
		t.Fatalf("doctor with TLS: exit %d\n%s", code, out)
	}
	if _, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	st := s.waitStatus("healthy over TLS", healthy)
	if out, errOut, code := s.run("inventory"); code != 0 || !strings.Contains(out, "0 devices") {
		t.Fatalf("inventory through the supervisor: exit %d\n%s%s", code, out, errOut)
	}

	_, port, err := net.SplitHostPort(st.Services[service(st, "daemon")].Addrs["admin"])
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	if out, errOut, code := s.run("--gateway", addr, "inventory"); code != 1 || !strings.Contains(errOut, "--gateway-ca") {
		t.Errorf("--gateway without the CA: exit %d, want 1 with a hint at --gateway-ca\n%s%s", code, out, errOut)
	}
	ca := filepath.Join(s.home, "pki", "ca.crt")
	if out, errOut, code := s.run("--gateway", addr, "--gateway-ca", ca, "inventory"); code != 0 {
		t.Errorf("--gateway with --gateway-ca: exit %d\n%s%s", code, out, errOut)
	}
	s.env = append(s.env, "PALYRA_GATEWAY="+addr, "PALYRA_GATEWAY_CA="+ca)
	if out, errOut, code := s.run("inventory"); code != 0 {
		t.Errorf("PALYRA_GATEWAY with PALYRA_GATEWAY_CA: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, code := s.run("doctor"); code != 0 || lineWith(out, "ok", "Admin API", "with TLS") == "" {
		t.Errorf("doctor of the running stack: exit %d\n%s", code, out)
	}

	tm := startTmux(t, s.env[:len(s.env)-2], 100, 32)
	tm.until("the daemon healthy", func(sc string) bool { return lineWith(sc, "daemon", "running", "healthy") != "" })
	tm.keys("2")
	tm.until("the inventory, connected", func(sc string) bool { return strings.Contains(sc, "p pair") })
}
