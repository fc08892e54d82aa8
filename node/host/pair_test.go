package host

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/node/gatewaytest"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/paircode"
)

type pairOutcome struct {
	id  *identity.Identity
	err error
}

// startPair runs Pair in the background; the outcome arrives on the returned channel and the
// operator's lines are in out once it has.
func startPair(ctx context.Context, dir *identity.Dir, cfg PairConfig) (<-chan pairOutcome, *bytes.Buffer) {
	out := &bytes.Buffer{}
	cfg.Out = out
	if cfg.Name == "" {
		cfg.Name = "laptop"
	}
	done := make(chan pairOutcome, 1)
	go func() {
		id, err := Pair(ctx, dir, cfg)
		done <- pairOutcome{id, err}
	}()
	return done, out
}

func nextRequest(t *testing.T, gw *gatewaytest.Gateway) *gatewaytest.Request {
	t.Helper()
	select {
	case r := <-gw.Requests:
		return r
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("no pairing request reached the gateway")
		return nil
	}
}

func outcome(t *testing.T, done <-chan pairOutcome) pairOutcome {
	t.Helper()
	select {
	case o := <-done:
		return o
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("Pair did not return")
		return pairOutcome{}
	}
}

func newDir(t *testing.T) *identity.Dir { return identity.At(filepath.Join(t.TempDir(), "node")) }

func assertNotPaired(t *testing.T, dir *identity.Dir) {
	t.Helper()
	if _, err := dir.Load(); !errors.Is(err, identity.ErrNotPaired) {
		t.Errorf("after a failed pairing Load = %v, want ErrNotPaired", err)
	}
	entries, _ := os.ReadDir(dir.Path())
	for _, e := range entries {
		if e.Name() != identity.KeyFile {
			t.Errorf("a failed pairing left %s behind", e.Name())
		}
	}
}

func TestPairApproved(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	full := gw.CAFingerprint()
	prefix, err := paircode.NormalizeFingerprint(strings.ToUpper(full[:32]))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name         string
		fingerprints []string
		wantLine     string
	}{
		{"full fingerprint", []string{full}, "gateway CA " + full + " matches the expected fingerprint"},
		{"uri prefix and flag", []string{prefix, full}, "matches the expected fingerprint"},
		{"trust on first use", nil, "gateway CA fingerprint " + full + "\n  (not checked: trusted on first use"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			code := gw.Mint()
			done, out := startPair(context.Background(), dir, PairConfig{Gateway: gw.Addr, Code: code, CAFingerprints: tt.fingerprints})
			req := nextRequest(t, gw)
			if req.Name != "laptop" || req.Platform != Platform() || req.NodeVersion != buildinfo.Version {
				t.Errorf("request %+v", req)
			}
			req.Approve()
			o := outcome(t, done)
			if o.err != nil {
				t.Fatalf("Pair: %v\n%s", o.err, out)
			}
			if o.id.DeviceID != req.DeviceID || o.id.Gateway != gw.Addr || o.id.Name != "laptop" {
				t.Errorf("identity %+v, want device %s at %s", o.id.Meta, req.DeviceID, gw.Addr)
			}
			if !req.PublicKey.Equal(o.id.Cert.PublicKey) || !bytes.Equal(o.id.CA.Raw, gw.CA.CertDER()) {
				t.Error("saved certificate or CA is not what the gateway issued")
			}
			loaded, err := dir.Load()
			if err != nil || loaded.DeviceID != req.DeviceID {
				t.Fatalf("reload: %v", err)
			}
			text := out.String()
			keyFP := identity.KeyFingerprint(o.id.Key)
			for _, want := range []string{
				tt.wantLine,
				"pairing request " + req.ID + " sent; device " + req.DeviceID + " key fingerprint " + keyFP +
					" — approve it in palyra-tui (Approvals pane, key a)\n",
				"paired as " + req.DeviceID + ", certificate valid until " + o.id.Cert.NotAfter.Local().Format(time.RFC3339) + "\n",
			} {
				if !strings.Contains(text, want) {
					t.Errorf("output lacks %q:\n%s", want, text)
				}
			}
			if strings.Contains(text, code) {
				t.Error("the pairing code was printed")
			}
		})
	}
}

func TestPairDeniedAndExpired(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	tests := []struct {
		name    string
		decide  func(*gatewaytest.Request)
		want    error
		message string
	}{
		{"denied", func(r *gatewaytest.Request) { r.Deny("not one of ours\x1b[31m!") }, ErrDenied, "pairing denied: not one of ours!"},
		{"expired", (*gatewaytest.Request).Expire, ErrExpired, "expired before it was approved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := newDir(t)
			done, _ := startPair(context.Background(), dir, PairConfig{Gateway: gw.Addr, Code: gw.Mint()})
			tt.decide(nextRequest(t, gw))
			o := outcome(t, done)
			if !errors.Is(o.err, tt.want) || !strings.Contains(o.err.Error(), tt.message) {
				t.Fatalf("Pair = %v, want %v saying %q", o.err, tt.want, tt.message)
			}
			if strings.ContainsRune(o.err.Error(), 0x1b) {
				t.Error("the gateway's reason reached the error unsanitized")
			}
			assertNotPaired(t, dir)
		})
	}
}

func TestPairRefusesAnotherCA(t *testing.T) {
	other, err := pki.LoadOrCreateCA(t.TempDir(), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("fingerprint mismatch", func(t *testing.T) {
		gw := gatewaytest.Start(t, gatewaytest.Options{})
		dir := newDir(t)
		wrong := pki.Fingerprint(other.CertDER())
		done, _ := startPair(context.Background(), dir, PairConfig{Gateway: gw.Addr, Code: gw.Mint(), CAFingerprints: []string{wrong}})
		o := outcome(t, done)
		if !errors.Is(o.err, ErrCAMismatch) || !strings.Contains(o.err.Error(), wrong) || !strings.Contains(o.err.Error(), gw.CAFingerprint()) {
			t.Fatalf("Pair = %v, want ErrCAMismatch naming both fingerprints", o.err)
		}
		if n := gw.Completes(); n != 0 {
			t.Errorf("the node sent its proof %d times to a gateway it did not trust", n)
		}
		assertNotPaired(t, dir)
	})
	t.Run("server certificate not from the CA sent", func(t *testing.T) {
		gw := gatewaytest.Start(t, gatewaytest.Options{SentCA: other.CertDER()})
		dir := newDir(t)
		done, _ := startPair(context.Background(), dir, PairConfig{Gateway: gw.Addr, Code: gw.Mint()})
		o := outcome(t, done)
		if !errors.Is(o.err, ErrImpersonation) {
			t.Fatalf("Pair = %v, want ErrImpersonation", o.err)
		}
		if gw.Completes() != 0 {
			t.Error("the node sent its proof to an impostor")
		}
	})
}

func TestPairCancelledWhileWaitingLeavesNothingHalfWritten(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	done, _ := startPair(ctx, dir, PairConfig{Gateway: gw.Addr, Code: gw.Mint()})
	req := nextRequest(t, gw)
	cancel()
	o := outcome(t, done)
	if !errors.Is(o.err, context.Canceled) {
		t.Fatalf("Pair = %v, want context.Canceled", o.err)
	}
	req.Approve() // too late: nobody is listening
	assertNotPaired(t, dir)
}

func TestPairGivesUpAfterWait(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	done, _ := startPair(context.Background(), dir, PairConfig{Gateway: gw.Addr, Code: gw.Mint(), Wait: 50 * time.Millisecond})
	req := nextRequest(t, gw)
	o := outcome(t, done)
	if o.err == nil || !strings.Contains(o.err.Error(), "no decision within 50ms; request "+req.ID+" stays pending") {
		t.Fatalf("Pair = %v", o.err)
	}
	assertNotPaired(t, dir)
}

func TestPairFailures(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := closed.Addr().String()
	closed.Close()

	t.Run("wrong code", func(t *testing.T) {
		done, _ := startPair(context.Background(), newDir(t), PairConfig{Gateway: gw.Addr, Code: "000000"})
		if o := outcome(t, done); o.err == nil || !strings.Contains(o.err.Error(), "refused the pairing code: invalid pairing code; ask the operator for a new one") {
			t.Errorf("Pair = %v", o.err)
		}
	})
	t.Run("code used twice", func(t *testing.T) {
		code := gw.Mint()
		done, _ := startPair(context.Background(), newDir(t), PairConfig{Gateway: gw.Addr, Code: code})
		nextRequest(t, gw).Deny("test")
		outcome(t, done)
		done, _ = startPair(context.Background(), newDir(t), PairConfig{Gateway: gw.Addr, Code: code})
		if o := outcome(t, done); o.err == nil || !strings.Contains(o.err.Error(), "refused the pairing code") {
			t.Errorf("second use: %v", o.err)
		}
	})
	t.Run("unreachable", func(t *testing.T) {
		done, _ := startPair(context.Background(), newDir(t), PairConfig{Gateway: deadAddr, Code: "123456"})
		if o := outcome(t, done); o.err == nil || !strings.Contains(o.err.Error(), "gateway "+deadAddr+" unreachable") {
			t.Errorf("Pair = %v", o.err)
		}
	})
	t.Run("already paired", func(t *testing.T) {
		dir := newDir(t)
		id := gw.Enroll(t, dir, time.Now())
		done, _ := startPair(context.Background(), dir, PairConfig{Gateway: gw.Addr, Code: gw.Mint()})
		if o := outcome(t, done); o.err == nil || !strings.Contains(o.err.Error(), "already paired as "+id.DeviceID) {
			t.Errorf("Pair = %v", o.err)
		}
	})
}
