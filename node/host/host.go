// Package host is the node's side of the node API: it pairs the node with a gateway, keeps
// its session (hello, heartbeats, capability calls pushed by the gateway, certificate
// renewal, reconnection) and answers the status and unpair questions.
package host

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"runtime"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/identity"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// ServerName is the name in the node API's certificate, checked whatever address is dialled:
// nodes reach the gateway by IP, tunnel or DNS name alike.
const ServerName = "palyrad-node"

// ErrRefused means the gateway refused the node's certificate (revoked or removed device, or
// no certificate): retrying cannot help.
var ErrRefused = errors.New("the gateway refused this node")

// Platform is what the node reports as its platform, e.g. "linux/amd64".
func Platform() string { return runtime.GOOS + "/" + runtime.GOARCH }

// dial prepares a connection to the node API at addr (host:port); it connects on first use.
func dial(addr string, cfg *tls.Config) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+addr,
		grpc.WithTransportCredentials(credentials.NewTLS(cfg)),
		grpc.WithUserAgent("palyra-node/"+buildinfo.Version))
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", addr, err)
	}
	return conn, nil
}

// trusting is TLS that trusts only the gateway CA ca.
func trusting(ca *x509.Certificate) *tls.Config {
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	return &tls.Config{RootCAs: pool, ServerName: ServerName, MinVersion: tls.VersionTLS13}
}

// mutual is TLS with the node's client certificate.
func mutual(id *identity.Identity) *tls.Config {
	cfg := trusting(id.CA)
	cert := id.TLSCertificate()
	cfg.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	return cfg
}

// checkIssued parses a client certificate the gateway issued and makes sure it is for key
// and chains to ca, before anything is saved.
func checkIssued(der []byte, key *ecdsa.PrivateKey, ca *x509.Certificate) (*x509.Certificate, error) {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("the gateway sent a certificate that does not parse: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, errors.New("the gateway issued a certificate for another key")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		return nil, fmt.Errorf("the certificate the gateway issued does not verify under its CA: %w", err)
	}
	return cert, nil
}

// hello is the first message of a session.
func hello(deviceID string, caps []capabilities.Capability) *palyrav1.NodeMessage {
	h := &palyrav1.NodeHello{DeviceId: deviceID, Platform: Platform(), NodeVersion: buildinfo.Version}
	for _, c := range caps {
		h.Capabilities = append(h.Capabilities, &palyrav1.NodeCapability{Name: c.Name, Available: c.Available, Mediated: c.Mediated})
	}
	return &palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Hello{Hello: h}}
}

// classify turns a refusal into ErrRefused, with the gateway's reason made safe to print.
func classify(err error) error {
	switch status.Code(err) {
	case codes.PermissionDenied, codes.Unauthenticated:
		return fmt.Errorf("%w: %s", ErrRefused, textsafe.Clean(status.Convert(err).Message()))
	}
	return err
}

// rpcError describes a failed call for the operator, the gateway's text made safe to print.
func rpcError(what, addr string, err error) error {
	st := status.Convert(err)
	if st.Code() == codes.Unavailable {
		return fmt.Errorf("%s: gateway %s unreachable: %s", what, addr, textsafe.Clean(st.Message()))
	}
	return fmt.Errorf("%s: %s (%s)", what, textsafe.Clean(st.Message()), st.Code())
}
