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
	for _, seed := range [][]byte{tok, aud, code, appr, nil, {0xff}} {
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
	})
}
