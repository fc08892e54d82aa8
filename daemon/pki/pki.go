// Package pki is palyrad's own certificate authority: it signs the server certificates of
// the node API and of the admin API served with TLS and, once a pairing is approved, each
// node's client certificate (ECDSA P-256, short-lived, renewable). Certificates are told apart
// by the SHA-256 fingerprint of their DER bytes, which is what revocation lists.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// The files of the CA inside its directory.
const (
	CertFile = "ca.crt"
	KeyFile  = "ca.key"
)

// Lifetimes. A client certificate lives a day and is renewed by its node before it ends.
const (
	caLifetime     = 10 * 365 * 24 * time.Hour
	ClientLifetime = 24 * time.Hour
	serverLifetime = 90 * 24 * time.Hour
	// clockSkew backdates certificates so a peer whose clock runs a little behind accepts them.
	clockSkew = 5 * time.Minute
)

// CA signs certificates with a key that never leaves its directory.
type CA struct {
	cert    *x509.Certificate
	certPEM []byte
	key     *ecdsa.PrivateKey
}

// LoadOrCreateCA loads the CA kept in dir, or makes one there (dir 0700, files 0600) on
// first start. A CA that exists but cannot be read is an error, never silently replaced:
// every certificate it issued would stop working. A key other users can read is refused
// rather than used, as the admin token is: the fix is the operator's call.
func LoadOrCreateCA(dir string, now time.Time) (*CA, error) {
	certPath, keyPath := filepath.Join(dir, CertFile), filepath.Join(dir, KeyFile)
	_, certErr := os.Stat(certPath)
	keyInfo, keyErr := os.Stat(keyPath)
	switch {
	case errors.Is(certErr, fs.ErrNotExist) && errors.Is(keyErr, fs.ErrNotExist):
		return createCA(dir, certPath, keyPath, now)
	case certErr != nil || keyErr != nil:
		return nil, fmt.Errorf("gateway CA in %s is incomplete (%v; %v); restore both %s and %s from a backup, or remove both to make a new CA (every paired node must then pair again)",
			dir, certErr, keyErr, CertFile, KeyFile)
	case keyInfo.Mode().Perm()&0o077 != 0:
		return nil, fmt.Errorf("gateway CA key %s is readable by others (mode %04o): whoever reads it can issue certificates palyrad and every paired node trust; chmod 600 %s (and chmod 700 %s)",
			keyPath, keyInfo.Mode().Perm(), keyPath, dir)
	}
	return loadCA(certPath, keyPath)
}

func createCA(dir, certPath, keyPath string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create CA directory: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "Palyra gateway CA", Organization: []string{"Palyra"}},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(caLifetime),
		IsCA:                  true,
		BasicConstraintsValid: true,
		MaxPathLenZero:        true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	keyDER, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	// The key first: a crash between the two leaves no certificate without its key.
	if err := writeNew(keyPath, pemBlock("EC PRIVATE KEY", keyDER)); err != nil {
		return nil, err
	}
	if err := writeNew(certPath, pemBlock("CERTIFICATE", der)); err != nil {
		os.Remove(keyPath) // nothing was issued with it: leave no half a CA behind
		return nil, err
	}
	return loadCA(certPath, keyPath)
}

func loadCA(certPath, keyPath string) (*CA, error) {
	certPEM, err := os.ReadFile(certPath)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	certBlock, _ := pem.Decode(certPEM)
	keyBlock, _ := pem.Decode(keyPEM)
	if certBlock == nil || keyBlock == nil {
		return nil, fmt.Errorf("gateway CA %s or %s is not PEM; restore it from a backup", certPath, keyPath)
	}
	cert, err := x509.ParseCertificate(certBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA certificate %s: %w", certPath, err)
	}
	key, err := x509.ParseECPrivateKey(keyBlock.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse CA key %s: %w", keyPath, err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("gateway CA key %s does not belong to %s; restore the pair from a backup", keyPath, certPath)
	}
	return &CA{cert: cert, certPEM: certPEM, key: key}, nil
}

// CertDER is the CA certificate, DER-encoded.
func (ca *CA) CertDER() []byte { return ca.cert.Raw }

// CertPEM is the CA certificate, which nodes pin to trust the node API.
func (ca *CA) CertPEM() []byte { return ca.certPEM }

// Pool trusts this CA only.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.cert)
	return p
}

// IssueClient signs a client certificate for deviceID over pub, which must be an ECDSA P-256
// key the node proved it holds. It is valid from now for ClientLifetime.
func (ca *CA) IssueClient(pub crypto.PublicKey, deviceID string, now time.Time) (der []byte, err error) {
	ec, ok := pub.(*ecdsa.PublicKey)
	if !ok || ec.Curve != elliptic.P256() {
		return nil, errors.New("client key must be ECDSA P-256")
	}
	if deviceID == "" {
		return nil, errors.New("client certificate needs a device id")
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: deviceID, Organization: []string{"Palyra node"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(ClientLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	return ca.sign(tmpl, ec)
}

// ServerCertificate signs a server certificate (the node API's, the admin API's) valid for
// hosts, names or IPs; the first also names its subject.
func (ca *CA) ServerCertificate(hosts []string, now time.Time) (tls.Certificate, error) {
	if len(hosts) == 0 {
		return tls.Certificate{}, errors.New("server certificate needs a host")
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0], Organization: []string{"Palyra"}},
		NotBefore:    now.Add(-clockSkew),
		NotAfter:     now.Add(serverLifetime),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := ca.sign(tmpl, &key.PublicKey)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

func (ca *CA) sign(tmpl *x509.Certificate, pub *ecdsa.PublicKey) ([]byte, error) {
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign certificate: %w", err)
	}
	return der, nil
}

// Fingerprint names a certificate: the hex SHA-256 of its DER bytes.
func Fingerprint(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n
}

func pemBlock(kind string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der})
}

// writeNew writes a file that must not exist yet, 0600.
func writeNew(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Close()
}
