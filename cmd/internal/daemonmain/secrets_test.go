package daemonmain_test

import (
	"context"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/daemon/secrets"
	"github.com/palyra/palyra/internal/grpcserve/servicetest"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// TestSecretsKeptAcrossRestarts sets a secret through palyrad's admin API and finds it, with
// the same fingerprint, after a restart; the store's files are the owner's alone and hold no
// value in the clear.
func TestSecretsKeptAcrossRestarts(t *testing.T) {
	home := t.TempDir()
	p, addr := start(t, home)
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	const value = "bot-token-kept-sealed"
	set, err := adminClient(t, home, addr).Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "discord-ops", Value: []byte(value)})
	if err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGTERM)
	if code := p.Wait(t); code != 0 {
		t.Fatalf("exit code %d; stderr:\n%s", code, p.Stderr())
	}
	dir := filepath.Join(home, secrets.DirName)
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, secrets.KeyFile), 0o600)
	assertMode(t, filepath.Join(dir, secrets.SealedFile), 0o600)
	for _, path := range []string{filepath.Join(dir, secrets.SealedFile), filepath.Join(home, outbox.FileName)} {
		if data, _ := os.ReadFile(path); strings.Contains(string(data), value) {
			t.Errorf("%s holds the value in the clear", path)
		}
	}
	if strings.Contains(p.Stderr(), value) {
		t.Error("the value reached palyrad's log")
	}

	_, addr = start(t, home)
	list, err := adminClient(t, home, addr).Secrets.ListSecrets(ctx, &palyrav1.ListSecretsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.GetSecrets()) != 1 || !proto.Equal(list.GetSecrets()[0], set) {
		t.Errorf("after a restart ListSecrets = %v, want %v", list, set)
	}
}

func TestDamagedSecretStoreRefusedUntouched(t *testing.T) {
	home := t.TempDir()
	p, addr := start(t, home)
	ctx, cancel := context.WithTimeout(context.Background(), servicetest.Deadline)
	defer cancel()
	if _, err := adminClient(t, home, addr).Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: "token", Value: []byte("v")}); err != nil {
		t.Fatal(err)
	}
	p.Signal(t, syscall.SIGTERM)
	p.Wait(t)
	path := filepath.Join(home, secrets.DirName, secrets.SealedFile)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)/2] ^= 0x20
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}

	p = servicetest.Exec(t, palyrad, nil, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	if code := p.Wait(t); code == 0 {
		t.Fatal("palyrad exited 0 on a damaged secret store")
	}
	if want := path + " is damaged"; !strings.Contains(p.Stderr(), want) {
		t.Errorf("stderr does not say %q:\n%s", want, p.Stderr())
	}
	if after, _ := os.ReadFile(path); sha256.Sum256(after) != sha256.Sum256(data) {
		t.Error("the sealed file was modified")
	}
}
