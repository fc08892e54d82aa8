package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// fresh opens an empty store that is closed and consistency-checked at cleanup.
func fresh(t *testing.T) *Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		checkConsistent(t, path)
	})
	return s
}

func auditKinds(t *testing.T, s *Store) []string {
	t.Helper()
	page, err := s.Audit(0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range slices.Backward(page.Entries) {
		kinds = append(kinds, e.Kind)
	}
	return kinds
}

func TestDevicesKeepEveryFieldAndTheirAudit(t *testing.T) {
	s := fresh(t)
	at := time.UnixMilli(1_700_000_000_000)
	d := Device{
		ID: "dev-1", Name: "laptop", Platform: "linux/amd64", Trust: "trusted", PublicKey: []byte{1, 2},
		KeyFingerprint: "kf", CertFingerprint: "c2", CertExpiresAt: at.Add(time.Hour), PrevCertFingerprint: "c1",
		PrevCertExpiresAt: at, ApprovalID: "ap-1", RequestID: "pr-1", PairedAt: at, LastSeen: at, NodeVersion: "1.0",
		Peer: "10.0.0.2", Capabilities: []Capability{{Name: "echo", Available: true}, {Name: "open", Mediated: true}},
		Overrides: map[string]bool{"echo": false},
	}
	if err := s.PutDevice(d, AuditEntry{At: at, Kind: "device.paired", Actor: "admin", Subject: d.ID}); err != nil {
		t.Fatal(err)
	}
	later := at.Add(time.Minute)
	if err := s.TouchDevices(map[string]time.Time{"dev-1": later, "dev-unknown": later}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Devices()
	if err != nil || len(got) != 1 {
		t.Fatalf("devices %v %v", got, err)
	}
	d.LastSeen = later
	if fmt.Sprint(got[0]) != fmt.Sprint(d) {
		t.Errorf("stored\n%+v\nwant\n%+v", got[0], d)
	}
	if kinds := auditKinds(t, s); !slices.Equal(kinds, []string{"device.paired"}) {
		t.Errorf("audit %v", kinds)
	}
}

func TestPairingRequestIsSettledOnce(t *testing.T) {
	s := fresh(t)
	now := time.UnixMilli(1_700_000_000_000)
	req := PairingRequest{ID: "pr-1", DeviceID: "dev-1", State: PairingPending, CreatedAt: now}
	if err := s.CreatePairingRequest(req); err != nil {
		t.Fatal(err)
	}
	if err := s.CreatePairingRequest(req); err == nil {
		t.Error("a second request with the same id was stored")
	}
	if err := s.SetPairingApproval("pr-1", "ap-7"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetPairingApproval("pr-1", "ap-8"); err != nil {
		t.Fatal(err)
	}
	dev := Device{ID: "dev-1", Trust: "trusted", CertExpiresAt: now.Add(time.Hour)}
	got, err := s.ApprovePairing("pr-1", []byte("cert"), dev, now, AuditEntry{At: now, Kind: "device.paired"})
	if err != nil || got.State != PairingApproved || got.ApprovalID != "ap-7" || string(got.ClientCert) != "cert" ||
		!got.CertExpiresAt.Equal(dev.CertExpiresAt) {
		t.Fatalf("approve: %+v %v", got, err)
	}

	if _, err := s.ApprovePairing("pr-1", []byte("other"), Device{ID: "dev-2"}, now, AuditEntry{At: now, Kind: "device.paired"}); !errors.Is(err, ErrPairingSettled) {
		t.Errorf("second approval: %v, want ErrPairingSettled", err)
	}
	if _, err := s.SettlePairing("pr-1", PairingDenied, "no", now); !errors.Is(err, ErrPairingSettled) {
		t.Errorf("denial after approval: %v, want ErrPairingSettled", err)
	}
	if _, err := s.SettlePairing("pr-nope", PairingDenied, "no", now); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown request: %v, want ErrNotFound", err)
	}
	if _, err := s.SettlePairing("pr-1", PairingApproved, "", now); err == nil {
		t.Error("SettlePairing approved a request")
	}
	devices, _ := s.Devices()
	if len(devices) != 1 || devices[0].ID != "dev-1" {
		t.Errorf("devices %v, want dev-1 only", devices)
	}
	if kinds := auditKinds(t, s); !slices.Equal(kinds, []string{"device.paired"}) {
		t.Errorf("audit %v, want one device.paired", kinds)
	}
}

func TestPrunePairingRequestsKeepsPendingAndRecent(t *testing.T) {
	s := fresh(t)
	now := time.UnixMilli(1_700_000_000_000)
	for _, id := range []string{"pr-old", "pr-new", "pr-pending"} {
		if err := s.CreatePairingRequest(PairingRequest{ID: id, DeviceID: "dev-" + id, State: PairingPending, CreatedAt: now}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.SettlePairing("pr-old", PairingExpired, "late", now.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if _, err := s.SettlePairing("pr-new", PairingDenied, "no", now); err != nil {
		t.Fatal(err)
	}
	if n, err := s.PrunePairingRequests(now.Add(-24 * time.Hour)); err != nil || n != 1 {
		t.Fatalf("prune: %d %v, want 1", n, err)
	}
	left, _ := s.PairingRequests()
	var ids []string
	for _, r := range left {
		ids = append(ids, r.ID)
	}
	if !slices.Equal(ids, []string{"pr-new", "pr-pending"}) {
		t.Errorf("left %v", ids)
	}
}

func TestCallsKeepTheNewestPerDevice(t *testing.T) {
	s := fresh(t)
	base := time.UnixMilli(1_700_000_000_000)
	var calls []CapabilityCall
	for i := range 5 {
		calls = append(calls, CapabilityCall{ID: fmt.Sprint("call-", i), DeviceID: "dev-1", State: CallSucceeded,
			CreatedAt: base.Add(time.Duration(i) * time.Second)})
	}
	calls = append(calls, CapabilityCall{ID: "call-other", DeviceID: "dev-2", State: CallDispatched, CreatedAt: base})
	if err := s.PutCalls(calls, 3); err != nil {
		t.Fatal(err)
	}
	// A newer version of a call replaces the old one in place.
	calls[4].State, calls[4].Error = CallFailed, "boom"
	if err := s.PutCalls(calls[4:5], 3); err != nil {
		t.Fatal(err)
	}
	got, err := s.RecentCalls("dev-1", 10)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range got {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"call-4", "call-3", "call-2"}) || got[0].State != CallFailed {
		t.Errorf("recent %v (%+v), want call-4 (failed), call-3, call-2", ids, got[0])
	}

	n, err := s.FailUnfinishedCalls("palyrad restarted", base.Add(time.Minute))
	if err != nil || n != 1 {
		t.Fatalf("fail unfinished: %d %v, want 1", n, err)
	}
	other, _ := s.RecentCalls("dev-2", 1)
	if len(other) != 1 || other[0].State != CallFailed || other[0].Error != "palyrad restarted" {
		t.Errorf("unfinished call %+v", other)
	}
	if none, err := s.RecentCalls("dev-none", 1); err != nil || len(none) != 0 {
		t.Errorf("device without calls: %v %v", none, err)
	}
}
