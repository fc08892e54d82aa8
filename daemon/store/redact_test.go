package store

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Tokens shaped as daemon/access makes them.
const (
	pastedAdminToken  = "pa_Zm9vYmFyYmF6cXV4cXV1eGNvcmdlZ3JhdWx0Z2FycGw"
	pastedScopedToken = "pt_0a1b2c3d4e5f_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
)

func TestApprovalTextsAndAuditDetailsAreStoredRedacted(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	a, err := s.CreateApproval(Approval{
		SubjectType: "external", SubjectID: "deploy/prod", Risk: "high", Requester: "ci",
		Summary:   "deploy with " + pastedAdminToken,
		Details:   "{\n  \"name\": \"kitchen-pi\",\n  \"auth\": \"Bearer\\tabc123\",\n  \"key\": \"" + pastedScopedToken + "\"\n}",
		CreatedAt: now, ExpiresAt: now.Add(time.Hour),
	}, 1)
	if err != nil {
		t.Fatal(err)
	}
	decided, err := s.DecideApproval(a.Seq, false, Decision{Reason: "you pasted token s3cr3tvalue9 again", Decider: "admin", At: now})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AppendAudit(AuditEntry{At: now, Kind: "device.revoked", Actor: "admin", Subject: "d1", Detail: "leaked " + pastedAdminToken}); err != nil {
		t.Fatal(err)
	}

	stored, err := s.Approval(a.Seq)
	if err != nil {
		t.Fatal(err)
	}
	page, err := s.Audit(0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	audit := page.Entries
	texts := []string{a.Summary, a.Details, decided.Decision.Reason, stored.Summary, stored.Details, stored.Decision.Reason}
	for _, e := range audit {
		texts = append(texts, e.Detail)
	}
	for _, text := range texts {
		for _, secret := range []string{pastedAdminToken, pastedScopedToken, "abc123", "s3cr3tvalue9"} {
			if strings.Contains(text, secret) {
				t.Errorf("%q holds %q", text, secret)
			}
		}
	}
	if stored.Summary != "deploy with pa_<redacted>" || !strings.Contains(stored.Details, `"name": "kitchen-pi"`) ||
		!strings.Contains(stored.Details, `"key": "pt_0a1b2c3d4e5f_<redacted>"`) || stored.Decision.Reason != "you pasted token <redacted> again" {
		t.Errorf("redacted too much or too little: %+v", stored)
	}
	if n, brk, err := s.VerifyAudit(); n != 3 || brk != nil || err != nil {
		t.Fatalf("the journal does not verify after redaction: %d, %+v, %v", n, brk, err)
	}

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{pastedAdminToken, pastedScopedToken[16:], "s3cr3tvalue9"} {
		if bytes.Contains(raw, []byte(secret)) {
			t.Errorf("%s holds %q", FileName, secret)
		}
	}
}
