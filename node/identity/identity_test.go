package identity

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned makes a certificate over pub, standing in for the gateway's issuance.
func selfSigned(t *testing.T, pub *ecdsa.PublicKey, notAfter time.Time) []byte {
	t.Helper()
	signer, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "d1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: notAfter}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, pub, signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func paired(t *testing.T) (*Dir, Meta) {
	t.Helper()
	d := At(filepath.Join(t.TempDir(), "node"))
	key, err := d.LoadOrCreateKey()
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Now().Add(24 * time.Hour).Truncate(time.Second)
	meta := Meta{DeviceID: "d1", Name: "laptop", Gateway: "127.0.0.1:7444", PairedAt: time.Now().UTC(), CertExpires: expires}
	if err := d.SavePairing(selfSigned(t, &key.PublicKey, time.Now()), selfSigned(t, &key.PublicKey, expires), meta); err != nil {
		t.Fatal(err)
	}
	return d, meta
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestPairedIdentityRoundTripsWithPrivateModes(t *testing.T) {
	d, meta := paired(t)
	id, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if id.DeviceID != meta.DeviceID || id.Name != meta.Name || id.Gateway != meta.Gateway || !id.CertExpires.Equal(meta.CertExpires) {
		t.Errorf("loaded %+v, saved %+v", id.Meta, meta)
	}
	if got := mode(t, d.Path()); got != 0o700 {
		t.Errorf("directory mode %04o, want 0700", got)
	}
	entries, err := os.ReadDir(d.Path())
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
		if got := mode(t, filepath.Join(d.Path(), e.Name())); got != 0o600 {
			t.Errorf("%s mode %04o, want 0600", e.Name(), got)
		}
	}
	if strings.Join(names, " ") != "ca.crt node.crt node.json node.key" {
		t.Errorf("directory holds %v, want exactly the four identity files (no temporary files left)", names)
	}
}

func TestKeyIsMadeOnceAndKept(t *testing.T) {
	d := At(t.TempDir())
	first, err := d.LoadOrCreateKey()
	if err != nil {
		t.Fatal(err)
	}
	second, err := At(d.Path()).LoadOrCreateKey()
	if err != nil {
		t.Fatal(err)
	}
	if !first.Equal(second) {
		t.Error("a second LoadOrCreateKey made a new key")
	}
	if KeyFingerprint(first) != KeyFingerprint(second) || len(KeyFingerprint(first)) != 64 {
		t.Errorf("fingerprint %q", KeyFingerprint(first))
	}
}

func TestReadableKeyRefused(t *testing.T) {
	d, _ := paired(t)
	keyPath := filepath.Join(d.Path(), KeyFile)
	for _, perm := range []os.FileMode{0o640, 0o604} {
		if err := os.Chmod(keyPath, perm); err != nil {
			t.Fatal(err)
		}
		_, err := d.Load()
		if err == nil || !strings.Contains(err.Error(), "may be read by group or others") || !strings.Contains(err.Error(), "chmod 600") {
			t.Errorf("mode %04o: Load = %v, want a refusal saying how to fix it", perm, err)
		}
		if _, err := d.LoadOrCreateKey(); err == nil {
			t.Errorf("mode %04o: LoadOrCreateKey accepted the key", perm)
		}
	}
}

func TestWritableDirectoryRefused(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	_, err := At(dir).LoadOrCreateKey()
	if err == nil || !strings.Contains(err.Error(), "chmod 700") {
		t.Fatalf("LoadOrCreateKey in a 0777 directory: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, KeyFile)); !errors.Is(err, os.ErrNotExist) {
		t.Error("a key was written into the shared directory")
	}
}

func TestNotPaired(t *testing.T) {
	if _, err := At(filepath.Join(t.TempDir(), "absent")).Load(); !errors.Is(err, ErrNotPaired) {
		t.Fatalf("Load of an empty home = %v, want ErrNotPaired", err)
	}
	d := At(t.TempDir())
	if _, err := d.LoadOrCreateKey(); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Load(); !errors.Is(err, ErrNotPaired) {
		t.Fatalf("Load with only a key = %v, want ErrNotPaired", err)
	}
}

func TestDamagedFilesNamed(t *testing.T) {
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tests := []struct {
		name    string
		file    string
		content func(t *testing.T) []byte // nil removes the file
		problem string
	}{
		{"garbage key", KeyFile, func(*testing.T) []byte { return []byte("not a key") }, "no PRIVATE KEY PEM block"},
		{"truncated cert", CertFile, func(*testing.T) []byte { return []byte("-----BEGIN CERTIFICATE-----\nMIIB\n") }, "no CERTIFICATE PEM block"},
		{"empty ca", CAFile, func(*testing.T) []byte { return nil }, "no CERTIFICATE PEM block"},
		{"missing cert", CertFile, nil, "missing"},
		{"bad json", MetaFile, func(*testing.T) []byte { return []byte(`{"device_id":`) }, "unexpected end of JSON input"},
		{"json without device", MetaFile, func(*testing.T) []byte { return []byte(`{"gateway":"x:1"}`) }, "no device_id"},
		{"cert for another key", CertFile, func(t *testing.T) []byte {
			return certPEM(selfSigned(t, &otherKey.PublicKey, time.Now().Add(time.Hour)))
		}, "another key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, _ := paired(t)
			path := filepath.Join(d.Path(), tt.file)
			if tt.content == nil {
				os.Remove(path)
			} else if err := os.WriteFile(path, tt.content(t), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := d.Load()
			var damaged *DamagedError
			if !errors.As(err, &damaged) {
				t.Fatalf("Load = %v, want a DamagedError", err)
			}
			if damaged.Path != path || !strings.Contains(damaged.Problem, tt.problem) || damaged.Fix == "" {
				t.Errorf("DamagedError %+v, want path %s, problem containing %q and a fix", damaged, path, tt.problem)
			}
			if !strings.Contains(err.Error(), "palyra-node") {
				t.Errorf("error %q does not say what to do", err)
			}
		})
	}
}

func TestSaveCertificateReplacesAtomically(t *testing.T) {
	d, meta := paired(t)
	id, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	later := time.Now().Add(48 * time.Hour).Truncate(time.Second)
	meta.CertExpires = later
	if err := d.SaveCertificate(selfSigned(t, &id.Key.PublicKey, later), meta); err != nil {
		t.Fatal(err)
	}
	again, err := d.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !again.CertExpires.Equal(later) || again.Cert.Equal(id.Cert) {
		t.Errorf("after renewal the certificate expires %v, want %v", again.CertExpires, later)
	}
	if got := mode(t, filepath.Join(d.Path(), CertFile)); got != 0o600 {
		t.Errorf("renewed node.crt mode %04o", got)
	}
}

func TestWriteAtomicKeepsOldContentOnFailure(t *testing.T) {
	dir := t.TempDir()
	if err := writeAtomic(dir, "f", []byte("old"), true); err != nil {
		t.Fatal(err)
	}
	// A directory in the file's place makes the rename fail after the data was written.
	if err := os.Mkdir(filepath.Join(dir, "g"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "g", "x"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeAtomic(dir, "g", []byte("new"), true); err == nil {
		t.Fatal("rename over a non-empty directory succeeded")
	}
	if err := writeAtomic(dir, "f", []byte("kept"), false); !errors.Is(err, os.ErrExist) {
		t.Fatalf("no-replace write over an existing file = %v, want ErrExist", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "f")); string(got) != "old" {
		t.Errorf("f holds %q, want the old content", got)
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestRemoveDeletesEverything(t *testing.T) {
	d, _ := paired(t)
	if err := d.Remove(); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(d.Path())
	if len(entries) != 0 {
		t.Errorf("left %v", entries)
	}
	if _, err := d.Load(); !errors.Is(err, ErrNotPaired) {
		t.Errorf("Load after Remove = %v", err)
	}
	if err := At(filepath.Join(t.TempDir(), "never")).Remove(); err != nil {
		t.Errorf("Remove of a missing home: %v", err)
	}
}
