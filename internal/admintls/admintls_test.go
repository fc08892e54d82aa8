package admintls

import (
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestExposed(t *testing.T) {
	for addr, want := range map[string]bool{
		"127.0.0.1:7443": false, "127.0.0.2:0": false, "[::1]:7443": false, "localhost:0": false, "LOCALHOST:1": false,
		"0.0.0.0:7443": true, ":7443": true, "[::]:0": true, "192.0.2.10:7443": true, "gateway.example:7443": true,
		"not an address": false,
	} {
		if got := Exposed(addr); got != want {
			t.Errorf("Exposed(%q) = %v, want %v", addr, got, want)
		}
	}
}

func TestServerHosts(t *testing.T) {
	bound := ServerHosts(&net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 7443})
	if bound[0] != ServerName || !slices.Contains(bound, "192.0.2.10") || !slices.Contains(bound, "127.0.0.1") || !slices.Contains(bound, "::1") {
		t.Errorf("bound to one IP: %v", bound)
	}
	if name, err := os.Hostname(); err == nil && !slices.Contains(bound, name) {
		t.Errorf("%v lacks the hostname %s", bound, name)
	}
	all := ServerHosts(&net.TCPAddr{IP: net.IPv4zero, Port: 7443})
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if ip, ok := a.(*net.IPNet); ok && !slices.Contains(all, ip.IP.String()) {
			t.Errorf("bound to every interface: %v lacks %s", all, ip.IP)
		}
	}
	if slices.Contains(all, "0.0.0.0") {
		t.Errorf("%v names the unspecified address", all)
	}
}

func TestLoadClientConfigSaysWhatIsWrong(t *testing.T) {
	dir := t.TempDir()
	if _, err := LoadClientConfig(filepath.Join(dir, "missing.crt")); err == nil || !strings.Contains(err.Error(), "missing.crt") {
		t.Errorf("missing file: %v", err)
	}
	junk := filepath.Join(dir, "junk.crt")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadClientConfig(junk); err == nil || !strings.Contains(err.Error(), "pki/ca.crt") {
		t.Errorf("junk file: %v, want a hint at the gateway's pki/ca.crt", err)
	}
}
