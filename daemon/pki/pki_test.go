package pki

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// handshake runs a real mutual-TLS handshake on loopback: a server with the CA's server
// certificate requiring a client certificate from the CA, and a client presenting client.
// It returns the server's error and the client certificate the server saw.
func handshake(t *testing.T, ca *CA, client *tls.Certificate, now time.Time) (peer *x509.Certificate, err error) {
	t.Helper()
	serverCert, err := ca.ServerCertificate([]string{"127.0.0.1", "localhost"}, now)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{serverCert},
		ClientCAs:    ca.Pool(),
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	type result struct {
		peer *x509.Certificate
		err  error
	}
	done := make(chan result, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			done <- result{err: err}
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if err := tc.Handshake(); err != nil {
			done <- result{err: err}
			return
		}
		io.WriteString(tc, "ok")
		done <- result{peer: tc.ConnectionState().PeerCertificates[0]}
	}()
	cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	if client != nil {
		cfg.Certificates = []tls.Certificate{*client}
	}
	conn, err := tls.Dial("tcp", l.Addr().String(), cfg)
	if err == nil {
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		io.ReadAll(conn) // in TLS 1.3 a refused client certificate shows on the first read
		conn.Close()
	}
	r := <-done
	return r.peer, r.err
}

func clientCert(t *testing.T, ca *CA, device string, now time.Time) *tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.IssueClient(&key.PublicKey, device, now)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func TestMutualTLSWithIssuedClientCertificate(t *testing.T) {
	now := time.Now()
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), now)
	if err != nil {
		t.Fatal(err)
	}
	cert := clientCert(t, ca, "node-a", now)
	peer, err := handshake(t, ca, cert, now)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	if peer.Subject.CommonName != "node-a" || Fingerprint(peer.Raw) != Fingerprint(cert.Certificate[0]) {
		t.Fatalf("server saw %q %s", peer.Subject.CommonName, Fingerprint(peer.Raw))
	}
	if got := peer.NotAfter.Sub(now); got < ClientLifetime-time.Minute || got > ClientLifetime {
		t.Errorf("client certificate lives %v, want %v", got, ClientLifetime)
	}
}

func TestHandshakeRefusesForeignExpiredAndMissingClientCertificates(t *testing.T) {
	now := time.Now()
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), now)
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "other"), now)
	if err != nil {
		t.Fatal(err)
	}
	for name, cert := range map[string]*tls.Certificate{
		"from another CA": clientCert(t, other, "node-a", now),
		"expired":         clientCert(t, ca, "node-a", now.Add(-ClientLifetime-time.Hour)),
		"none":            nil,
	} {
		if _, err := handshake(t, ca, cert, now); err == nil {
			t.Errorf("%s: handshake succeeded", name)
		}
	}
}

func TestIssueClientRejectsOtherKeys(t *testing.T) {
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rsaKey, _ := rsa.GenerateKey(rand.Reader, 2048)
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for name, tc := range map[string]struct {
		pub    any
		device string
	}{
		"P-384":     {&p384.PublicKey, "n"},
		"RSA":       {&rsaKey.PublicKey, "n"},
		"no device": {&p256.PublicKey, ""},
	} {
		if _, err := ca.IssueClient(tc.pub, tc.device, time.Now()); err == nil {
			t.Errorf("%s: issued", name)
		}
	}
}

func TestCAPersistsAndIsNeverSilentlyReplaced(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	ca, err := LoadOrCreateCA(dir, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{CertFile, KeyFile} {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st.Mode(), err)
		}
	}
	again, err := LoadOrCreateCA(dir, time.Now())
	if err != nil || !bytes.Equal(again.CertPEM(), ca.CertPEM()) {
		t.Fatalf("reload: %v", err)
	}
	// A certificate issued before the restart still passes.
	if _, err := handshake(t, again, clientCert(t, ca, "node-a", time.Now()), time.Now()); err != nil {
		t.Fatalf("after reload: %v", err)
	}

	keyPath := filepath.Join(dir, KeyFile)
	good, _ := os.ReadFile(keyPath)
	for name, damage := range map[string]func(){
		"garbage key": func() { os.WriteFile(keyPath, []byte("not a key"), 0o600) },
		"missing key": func() { os.Remove(keyPath) },
		"another key": func() {
			other, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "o"), time.Now())
			if err != nil {
				t.Fatal(err)
			}
			os.WriteFile(keyPath, other.keyPEM(t), 0o600)
		},
	} {
		damage()
		_, err := LoadOrCreateCA(dir, time.Now())
		if err == nil || !strings.Contains(err.Error(), "backup") {
			t.Errorf("%s: %v, want an error pointing to a backup", name, err)
		}
		if _, statErr := os.Stat(filepath.Join(dir, CertFile)); errors.Is(statErr, os.ErrNotExist) {
			t.Fatalf("%s: the CA certificate was removed", name)
		}
		os.WriteFile(keyPath, good, 0o600)
	}
}

func TestCAKeyReadableByOthersIsRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")
	if _, err := LoadOrCreateCA(dir, time.Now()); err != nil {
		t.Fatal(err)
	}
	keyPath := filepath.Join(dir, KeyFile)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660} {
		if err := os.Chmod(keyPath, mode); err != nil {
			t.Fatal(err)
		}
		_, err := LoadOrCreateCA(dir, time.Now())
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+keyPath) || !strings.Contains(err.Error(), "readable by others") {
			t.Errorf("CA key at %04o: %v, want a refusal saying chmod 600 %s", mode, err, keyPath)
		}
	}
	if err := os.Chmod(keyPath, 0o400); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateCA(dir, time.Now()); err != nil {
		t.Errorf("CA key at 0400: %v", err)
	}
}

// keyPEM re-encodes the CA key, for the test that swaps keys between CAs.
func (ca *CA) keyPEM(t *testing.T) []byte {
	t.Helper()
	der, err := x509.MarshalECPrivateKey(ca.key)
	if err != nil {
		t.Fatal(err)
	}
	return pemBlock("EC PRIVATE KEY", der)
}

func TestServerCertificateNamesItsHosts(t *testing.T) {
	ca, err := LoadOrCreateCA(filepath.Join(t.TempDir(), "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := ca.ServerCertificate([]string{"gw.example", "10.0.0.5"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	if len(leaf.DNSNames) != 1 || leaf.DNSNames[0] != "gw.example" || len(leaf.IPAddresses) != 1 || !leaf.IPAddresses[0].Equal(net.ParseIP("10.0.0.5")) {
		t.Fatalf("names %v %v", leaf.DNSNames, leaf.IPAddresses)
	}
}

func BenchmarkIssueClient(b *testing.B) {
	ca, err := LoadOrCreateCA(filepath.Join(b.TempDir(), "pki"), time.Now())
	if err != nil {
		b.Fatal(err)
	}
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	for b.Loop() {
		if _, err := ca.IssueClient(&key.PublicKey, "node", time.Now()); err != nil {
			b.Fatal(err)
		}
	}
}
