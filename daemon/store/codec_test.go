package store

import (
	"testing"
	"time"
)

// FuzzDecode feeds arbitrary bytes to every record decoder: a damaged daemon.db must give
// errors, never a panic, and what decodes must encode again.
func FuzzDecode(f *testing.F) {
	tok, _ := encodeToken(Token{ID: "t", Name: "n", Permissions: []string{"observability.read"}, CreatedAt: time.UnixMilli(1)})
	aud, _ := encodeAudit(AuditEntry{Seq: 1, At: time.UnixMilli(1), Kind: "k"})
	code, _ := encodeCode(PairingCode{ID: "c", Method: "pin", ExpiresAt: time.UnixMilli(2)})
	appr, _ := encodeApproval(Approval{Seq: 1, SubjectType: "external", State: ApprovalPending, ExpiresAt: time.UnixMilli(3)})
	dev, _ := encodeDevice(Device{ID: "dev-1", Trust: "trusted", Capabilities: []Capability{{Name: "echo", Available: true}},
		Overrides: map[string]bool{"echo": false}, PairedAt: time.UnixMilli(4)})
	req, _ := encodePairingRequest(PairingRequest{ID: "pr-1", DeviceID: "dev-1", State: PairingPending, CreatedAt: time.UnixMilli(5)})
	call, _ := encodeCall(CapabilityCall{ID: "call-1", DeviceID: "dev-1", State: CallQueued, CreatedAt: time.UnixMilli(6)})
	for _, seed := range [][]byte{tok, aud, code, appr, dev, req, call, nil, {0xff}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if tk, err := decodeToken(raw); err == nil {
			if _, err := encodeToken(tk); err != nil {
				t.Fatal(err)
			}
		}
		if e, err := decodeAudit(raw); err == nil {
			if _, err := encodeAudit(e); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := decodeCode(raw); err == nil {
			if _, err := encodeCode(c); err != nil {
				t.Fatal(err)
			}
		}
		if a, err := decodeApproval(raw); err == nil {
			if _, err := encodeApproval(a); err != nil {
				t.Fatal(err)
			}
		}
		if d, err := decodeDevice(raw); err == nil {
			if _, err := encodeDevice(d); err != nil {
				t.Fatal(err)
			}
		}
		if r, err := decodePairingRequest(raw); err == nil {
			if _, err := encodePairingRequest(r); err != nil {
				t.Fatal(err)
			}
		}
		if c, err := decodeCall(raw); err == nil {
			if _, err := encodeCall(c); err != nil {
				t.Fatal(err)
			}
		}
	})
}
