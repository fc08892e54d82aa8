package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestE2EPastedTokensAreNotKept: an operator denies a pairing with the admin token and other
// credentials pasted into the reason. None of them reaches logs/daemon.log, the approval as
// `approvals show` gives it, or the audit journal, which still verifies.
func TestE2EPastedTokensAreNotKept(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	if out, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("services start all: exit %d\n%s%s", code, out, errOut)
	}
	s.waitStatus("stack healthy", healthy)
	raw, err := os.ReadFile(filepath.Join(s.home, "admin.token"))
	if err != nil {
		t.Fatal(err)
	}
	adminToken := strings.TrimSpace(string(raw))
	secrets := []string{adminToken, "s3cr3tvalue9", "abc12345xyz"}

	n := s.beginPairing("kiosk")
	a := s.pendingPairing(map[string]bool{})
	reason := "wrong box; I pasted " + adminToken + " and token s3cr3tvalue9 and Bearer\tabc12345xyz by mistake"
	if out, errOut, code := s.run("approvals", "deny", a.ID, "--reason", reason); code != 0 {
		t.Fatalf("deny: exit %d\n%s%s", code, out, errOut)
	}
	if code := n.wait(t, "pair after the denial"); code != 1 {
		t.Fatalf("palyra-node pair exit %d after a denial, want 1", code)
	}

	logFile := filepath.Join(s.home, "logs", "daemon.log")
	deadline := time.Now().Add(30 * time.Second)
	var logged []byte
	for !strings.Contains(string(logged), "pairing request settled") {
		if time.Now().After(deadline) {
			t.Fatalf("daemon.log never logged the settled request:\n%s", logged)
		}
		time.Sleep(50 * time.Millisecond)
		logged, _ = os.ReadFile(logFile)
	}
	shown, _, _ := s.run("approvals", "show", a.ID, "--json")
	audit, _, _ := s.run("audit", "list", "--json")
	for what, text := range map[string]string{"daemon.log": string(logged), "approvals show": shown, "audit list": audit} {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q:\n%s", what, secret, text)
			}
		}
	}
	if !strings.Contains(shown, "I pasted pa_<redacted> and token <redacted>") {
		t.Errorf("the reason lost more than its secrets:\n%s", shown)
	}
	if out, errOut, code := s.run("audit", "verify"); code != 0 {
		t.Fatalf("audit verify: exit %d\n%s%s", code, out, errOut)
	}
}
