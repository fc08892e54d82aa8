package access

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/palyra/palyra/daemon/store"
)

func openStore(t testing.TB, path string) *store.Store {
	t.Helper()
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func newAccess(t testing.TB) (*Access, *store.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), store.FileName)
	st := openStore(t, path)
	t.Cleanup(func() { st.Close() })
	return New("pa_the-admin-token-of-this-test-000000000", st), st, path
}

func TestAdminMayDoEverything(t *testing.T) {
	a, _, _ := newAccess(t)
	p, err := a.Authenticate("pa_the-admin-token-of-this-test-000000000")
	if err != nil {
		t.Fatal(err)
	}
	for _, perm := range Permissions {
		if !p.Admin || !p.Can(perm) {
			t.Errorf("admin cannot %s", perm)
		}
	}
}

func TestScopedTokenHasItsPermissionsOnly(t *testing.T) {
	a, _, _ := newAccess(t)
	secret, tok, err := a.Create("grafana", []Permission{ObservabilityRead, ObservabilityRead})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, "pt_"+tok.ID+"_") || len(tok.Permissions) != 1 {
		t.Fatalf("secret %q, token %+v", secret, tok)
	}
	p, err := a.Authenticate(secret)
	if err != nil {
		t.Fatal(err)
	}
	if p.Admin || p.Name != "grafana" || p.TokenID != tok.ID || !p.Can(ObservabilityRead) || p.Can(ApprovalsDecide) {
		t.Fatalf("principal %+v", p)
	}
}

func TestUnknownEmptyAndRevokedTokensAreRefusedAlike(t *testing.T) {
	a, _, _ := newAccess(t)
	secret, tok, err := a.Create("ci", []Permission{ServicesOperate})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	for _, bearer := range []string{"", "pt_nope", secret, secret + "x", "pa_the-admin-token-of-this-test-00000000"} {
		if _, err := a.Authenticate(bearer); !errors.Is(err, ErrUnauthenticated) {
			t.Errorf("Authenticate(%q) = %v, want ErrUnauthenticated", bearer, err)
		}
	}
	if _, err := a.Revoke("nosuchid"); err == nil || !strings.Contains(err.Error(), `no token "nosuchid"`) {
		t.Errorf("revoke unknown: %v", err)
	}
	list, err := a.List()
	if err != nil || len(list) != 1 || list[0].RevokedAt.IsZero() {
		t.Fatalf("list %+v, %v", list, err)
	}
	first := list[0].RevokedAt
	if _, err := a.Revoke(tok.ID); err != nil {
		t.Fatal(err)
	}
	if list, _ := a.List(); !list[0].RevokedAt.Equal(first) {
		t.Errorf("a second revoke moved the time from %v to %v", first, list[0].RevokedAt)
	}
}

func TestCreateRejectsBadInput(t *testing.T) {
	a, _, _ := newAccess(t)
	for _, tc := range []struct {
		name  string
		perms []Permission
		want  string
	}{
		{"", []Permission{ObservabilityRead}, "needs a name"},
		{"x", nil, "at least one permission"},
		{"x", []Permission{"root"}, `unknown permission "root"`},
	} {
		if _, _, err := a.Create(tc.name, tc.perms); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Create(%q, %v) = %v, want %q", tc.name, tc.perms, err, tc.want)
		}
	}
	if list, _ := a.List(); len(list) != 0 {
		t.Errorf("a rejected token was stored: %+v", list)
	}
}

func TestSecretsAreNotStoredAndTokensSurviveARestart(t *testing.T) {
	a, st, path := newAccess(t)
	secret, _, err := a.Create("ops", []Permission{ApprovalsDecide})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(secret[len(secret)-20:])) {
		t.Fatal("daemon.db holds the token's secret")
	}
	reopened := openStore(t, path)
	defer reopened.Close()
	p, err := New("pa_the-admin-token-of-this-test-000000000", reopened).Authenticate(secret)
	if err != nil || !p.Can(ApprovalsDecide) {
		t.Fatalf("after reopening: %+v, %v", p, err)
	}
}

func TestAdminTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), AdminTokenFile)
	tok, err := LoadOrCreateAdminToken(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("admin token file: %v, %v", st.Mode(), err)
	}
	again, err := LoadOrCreateAdminToken(path)
	if err != nil || again != tok || len(tok) < 40 {
		t.Fatalf("second load %q, first %q, %v", again, tok, err)
	}

	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateAdminToken(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("readable by others: %v", err)
	}
	if err := os.WriteFile(path, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadOrCreateAdminToken(path); err == nil || !strings.Contains(err.Error(), "too short") {
		t.Errorf("short token: %v", err)
	}
}

func BenchmarkAuthenticate(b *testing.B) {
	a, _, _ := newAccess(b)
	secret, _, err := a.Create("bench", []Permission{ObservabilityRead})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("admin", func(b *testing.B) {
		for b.Loop() {
			a.Authenticate("pa_the-admin-token-of-this-test-000000000")
		}
	})
	b.Run("scoped", func(b *testing.B) {
		for b.Loop() {
			a.Authenticate(secret)
		}
	})
}

func TestTokenNamesAreUniqueAmongLiveTokensAndAdminIsReserved(t *testing.T) {
	a, _, _ := newAccess(t)
	for _, name := range []string{"admin", "ADMIN", "", "two words", "ci\x1b[2J", strings.Repeat("n", MaxNameLen+1)} {
		if _, _, err := a.Create(name, []Permission{ObservabilityRead}); !errors.Is(err, ErrInvalid) {
			t.Errorf("Create(%q) = %v, want ErrInvalid", name, err)
		}
	}
	_, first, err := a.Create("ci", []Permission{ObservabilityRead})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := a.Create("ci", []Permission{ApprovalsDecide}); !errors.Is(err, store.ErrNameTaken) {
		t.Fatalf("a second live token named ci: %v, want ErrNameTaken", err)
	}
	if _, err := a.Revoke(first.ID); err != nil {
		t.Fatal(err)
	}
	secret, second, err := a.Create("ci", []Permission{ObservabilityRead})
	if err != nil {
		t.Fatalf("the name of a revoked token: %v", err)
	}
	p, err := a.Authenticate(secret)
	if err != nil || p.Actor() != "ci#"+second.ID || p.Actor() == TokenActor("ci", first.ID) {
		t.Fatalf("actor %q, %v; want ci#%s, unlike its predecessor's", p.Actor(), err, second.ID)
	}
	admin, _ := a.Authenticate("pa_the-admin-token-of-this-test-000000000")
	if admin.Actor() != AdminName {
		t.Fatalf("the admin's actor is %q", admin.Actor())
	}
}

func TestLiveTokensAreBounded(t *testing.T) {
	a, _, _ := newAccess(t)
	for i := range MaxLiveTokens {
		if _, _, err := a.Create(fmt.Sprint("t", i), []Permission{ObservabilityRead}); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := a.Create("one-more", []Permission{ObservabilityRead}); !errors.Is(err, store.ErrTooMany) {
		t.Fatalf("token %d: %v, want ErrTooMany", MaxLiveTokens+1, err)
	}
}
