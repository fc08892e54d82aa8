// Package admintls is the transport rule of palyrad's admin API, which carries bearer
// tokens: plaintext on loopback only; anywhere else TLS 1.3 with a server certificate from
// the gateway CA, which clients pin. palyrad, the supervisor's checks and the clients share
// it, so they agree on what is exposed and on the name the certificate carries.
package admintls

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
)

// ServerName is the name in the admin API's certificate that clients check, whatever
// address they dial: a gateway reached by NAT, a tunnel or a new IP is still the gateway.
const ServerName = "palyrad-admin"

// maxCAFile bounds what is read from a CA file; a certificate is under 1 KiB.
const maxCAFile = 64 << 10

// Exposed reports whether addr (host:port) listens on, or dials, more than this machine:
// anything but a loopback IP or "localhost", an empty host (every interface) included. What
// is not host:port at all is left to the listener or dialer to refuse.
func Exposed(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || strings.EqualFold(host, "localhost") {
		return false
	}
	ip := net.ParseIP(host)
	return ip == nil || !ip.IsLoopback()
}

// LoopbackTarget reports whether a client may dial addr without TLS: a plain host:port whose
// host is a loopback IP or "localhost". Anything else (another host, no port, a gRPC target
// such as dns:///host:port) fails closed: the dialer would take it somewhere this rule
// cannot see.
func LoopbackTarget(addr string) bool {
	host, port, err := net.SplitHostPort(addr)
	if err != nil || port == "" || strings.ContainsAny(addr, "/") {
		return false
	}
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ClientConfig trusts the gateway CA in caPEM only, and checks ServerName.
func ClientConfig(caPEM []byte) (*tls.Config, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no PEM certificate in it")
	}
	return &tls.Config{MinVersion: tls.VersionTLS13, RootCAs: pool, ServerName: ServerName}, nil
}

// LoadClientConfig is ClientConfig for the CA certificate in file, such as a gateway's
// <home>/pki/ca.crt.
func LoadClientConfig(file string) (*tls.Config, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("gateway CA: %w", err)
	}
	defer f.Close()
	pem, err := io.ReadAll(io.LimitReader(f, maxCAFile))
	if err != nil {
		return nil, fmt.Errorf("gateway CA %s: %w", file, err)
	}
	cfg, err := ClientConfig(pem)
	if err != nil {
		return nil, fmt.Errorf("gateway CA %s: %w; copy the gateway's <home>/pki/ca.crt", file, err)
	}
	return cfg, nil
}

// ServerHosts are the names and IPs the admin API's certificate carries for a listener bound
// to addr: ServerName first, then this machine's names, the loopback IPs and the bound IP, or
// every interface's IPs when it is bound to all of them. Clients of their own (grpcurl
// -cacert) can then dial any of them.
func ServerHosts(addr net.Addr) []string {
	hosts := []string{ServerName, "localhost"}
	if name, err := os.Hostname(); err == nil && name != "" && name != "localhost" {
		hosts = append(hosts, name)
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	if tcp, ok := addr.(*net.TCPAddr); ok && !tcp.IP.IsUnspecified() {
		ips = append(ips, tcp.IP)
	} else if all, err := net.InterfaceAddrs(); err == nil {
		for _, a := range all {
			if ipNet, ok := a.(*net.IPNet); ok {
				ips = append(ips, ipNet.IP)
			}
		}
	}
	seen := map[string]bool{}
	for _, ip := range ips {
		if s := ip.String(); !seen[s] {
			seen[s] = true
			hosts = append(hosts, s)
		}
	}
	return hosts
}
