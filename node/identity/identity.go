// Package identity keeps a node's identity on disk: its private key (made once, never sent
// anywhere), the client certificate the gateway issued for it, the gateway CA it trusts and a
// small record of the pairing. Every file is 0600 in a 0700 directory and is replaced
// atomically, so a crash or a Ctrl-C never leaves half a file behind.
package identity

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/palyra/palyra/internal/pairproof"
)

// The files of an identity directory.
const (
	KeyFile  = "node.key"  // ECDSA P-256 private key, PKCS #8 PEM
	CertFile = "node.crt"  // client certificate, PEM
	CAFile   = "ca.crt"    // gateway CA certificate, PEM
	MetaFile = "node.json" // Meta; written last, so its presence means "paired"
)

// maxFile bounds what is read from any identity file; real ones are a few hundred bytes.
const maxFile = 64 << 10

// ErrNotPaired means the directory holds no pairing yet.
var ErrNotPaired = errors.New("this node is not paired: run `palyra-node pair --code CODE --gateway HOST:PORT`")

// Meta is what node.json records about the pairing.
type Meta struct {
	DeviceID    string    `json:"device_id"`
	Name        string    `json:"name"`
	Gateway     string    `json:"gateway"` // the node API address, host:port
	PairedAt    time.Time `json:"paired_at"`
	CertExpires time.Time `json:"cert_expires_at"`
}

// Identity is a paired node's complete identity.
type Identity struct {
	Meta
	Key  *ecdsa.PrivateKey
	Cert *x509.Certificate
	CA   *x509.Certificate
}

// DamagedError names an identity file that cannot be used and says what to do.
type DamagedError struct {
	Path    string
	Problem string
	Fix     string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is damaged (%s); %s", e.Path, e.Problem, e.Fix)
}

// repair is what an operator does about a damaged file of a paired node.
const repair = "run `palyra-node unpair --local-only` and pair again"

// Dir is an identity directory. Nothing touches the disk until a method is called.
type Dir struct{ path string }

// At returns the identity directory at path.
func At(path string) *Dir { return &Dir{path: path} }

// Path is the directory's path.
func (d *Dir) Path() string { return d.path }

func (d *Dir) file(name string) string { return filepath.Join(d.path, name) }

// ensure creates the directory (0700) if needed and refuses one that others may write, where
// anyone could swap the files under us.
func (d *Dir) ensure() error {
	if err := os.MkdirAll(d.path, 0o700); err != nil {
		return fmt.Errorf("identity directory: %w", err)
	}
	info, err := os.Stat(d.path)
	if err != nil {
		return fmt.Errorf("identity directory: %w", err)
	}
	if !info.IsDir() {
		return fmt.Errorf("identity directory %s is not a directory", d.path)
	}
	if info.Mode().Perm()&0o022 != 0 {
		return fmt.Errorf("identity directory %s may be written by group or others (mode %04o); run chmod 700 %s or choose another --home",
			d.path, info.Mode().Perm(), d.path)
	}
	return nil
}

// LoadOrCreateKey returns the node's private key, making it on first use. A key that exists
// is never replaced: the gateway knows the node by it.
func (d *Dir) LoadOrCreateKey() (*ecdsa.PrivateKey, error) {
	if err := d.ensure(); err != nil {
		return nil, err
	}
	key, err := d.loadKey()
	if !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	err = writeAtomic(d.path, KeyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), false)
	if errors.Is(err, fs.ErrExist) {
		return d.loadKey() // another palyra-node made it at the same moment: use that one
	}
	if err != nil {
		return nil, err
	}
	return key, nil
}

// loadKey reads node.key; a missing key is fs.ErrNotExist.
func (d *Dir) loadKey() (*ecdsa.PrivateKey, error) {
	path := d.file(KeyFile)
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if perm := info.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%s may be read by group or others (mode %04o), so it is not used; if nobody else could have read it run chmod 600 %s, otherwise %s",
			path, perm, path, "run `palyra-node unpair` and pair again with a new key")
	}
	block, err := readPEM(path, "PRIVATE KEY")
	if err != nil {
		return nil, keyDamaged(path, err.Error())
	}
	parsed, err := x509.ParsePKCS8PrivateKey(block)
	if err != nil {
		return nil, keyDamaged(path, err.Error())
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || key.Curve != elliptic.P256() {
		return nil, keyDamaged(path, "not an ECDSA P-256 key")
	}
	return key, nil
}

func keyDamaged(path, problem string) error {
	return &DamagedError{Path: path, Problem: problem,
		Fix: "move it away (a new key is made at the next pairing); if this node was paired, " + repair}
}

// PublicKeyDER is the node's public key as PKIX DER, as the gateway and pairproof see it.
func PublicKeyDER(key *ecdsa.PrivateKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		panic(err) // a P-256 public key always marshals
	}
	return der
}

// KeyFingerprint is the fingerprint the operator compares when approving the node.
func KeyFingerprint(key *ecdsa.PrivateKey) string {
	return pairproof.KeyFingerprint(PublicKeyDER(key))
}

// SavePairing records a completed pairing: the CA, the client certificate and node.json,
// that last, so the node only counts as paired once everything else is on disk.
func (d *Dir) SavePairing(caDER, certDER []byte, meta Meta) error {
	if err := d.ensure(); err != nil {
		return err
	}
	if err := writeAtomic(d.path, CAFile, certPEM(caDER), true); err != nil {
		return err
	}
	return d.SaveCertificate(certDER, meta)
}

// SaveCertificate replaces the client certificate (after a renewal) and node.json.
func (d *Dir) SaveCertificate(certDER []byte, meta Meta) error {
	if err := writeAtomic(d.path, CertFile, certPEM(certDER), true); err != nil {
		return err
	}
	data, err := json.MarshalIndent(meta, "", "  ")
	if err != nil {
		return err
	}
	return writeAtomic(d.path, MetaFile, append(data, '\n'), true)
}

// Load reads the whole identity. It returns ErrNotPaired when node.json does not exist and a
// *DamagedError naming the file when one cannot be used.
func (d *Dir) Load() (*Identity, error) {
	metaPath := d.file(MetaFile)
	data, err := readFile(metaPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotPaired
	}
	if err != nil {
		return nil, err
	}
	var id Identity
	if err := json.Unmarshal(data, &id.Meta); err != nil {
		return nil, &DamagedError{Path: metaPath, Problem: err.Error(), Fix: repair}
	}
	if id.DeviceID == "" || id.Gateway == "" {
		return nil, &DamagedError{Path: metaPath, Problem: "no device_id or gateway", Fix: repair}
	}
	if id.Key, err = d.loadKey(); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, &DamagedError{Path: d.file(KeyFile), Problem: "missing", Fix: repair}
		}
		return nil, err
	}
	if id.Cert, err = loadCert(d.file(CertFile)); err != nil {
		return nil, err
	}
	if id.CA, err = loadCert(d.file(CAFile)); err != nil {
		return nil, err
	}
	if !id.Key.PublicKey.Equal(id.Cert.PublicKey) {
		return nil, &DamagedError{Path: d.file(CertFile), Problem: "it certifies another key than " + KeyFile, Fix: repair}
	}
	id.CertExpires = id.Cert.NotAfter // the certificate, not the record, is the truth
	return &id, nil
}

// Remove deletes the identity, node.json first so that an interrupted removal leaves a node
// that is simply not paired. The key goes too: nothing secret stays behind.
func (d *Dir) Remove() error {
	for _, name := range []string{MetaFile, CertFile, CAFile, KeyFile} {
		if err := os.Remove(d.file(name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove identity: %w", err)
		}
	}
	if _, err := os.Stat(d.path); errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return syncDir(d.path)
}

// TLSCertificate is the identity as a TLS client certificate.
func (id *Identity) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{id.Cert.Raw}, PrivateKey: id.Key, Leaf: id.Cert}
}

func loadCert(path string) (*x509.Certificate, error) {
	block, err := readPEM(path, "CERTIFICATE")
	if errors.Is(err, fs.ErrNotExist) {
		return nil, &DamagedError{Path: path, Problem: "missing", Fix: repair}
	}
	if err != nil {
		return nil, &DamagedError{Path: path, Problem: err.Error(), Fix: repair}
	}
	cert, err := x509.ParseCertificate(block)
	if err != nil {
		return nil, &DamagedError{Path: path, Problem: err.Error(), Fix: repair}
	}
	return cert, nil
}

// readPEM returns the DER bytes of the single PEM block of kind in path.
func readPEM(path, kind string) ([]byte, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, err
	}
	block, rest := pem.Decode(data)
	if block == nil || block.Type != kind {
		return nil, fmt.Errorf("no %s PEM block", kind)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, errors.New("trailing data after the PEM block")
	}
	return block.Bytes, nil
}

func readFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFile+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxFile {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFile)
	}
	return data, nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
