package e2e

// What a holder of a token, or anyone who can reach a port or the state directory, may try
// against the real product, and what stops it. Each test is one scenario; read them in order:
//
//   - what a token can store is bounded, and no stored history breaks a list (bounds);
//   - identities are token ids, and permissions hold in the UI and commands (identity);
//   - secrets stay out of files, environments and the terminal (secrets).
//
// The admin API off loopback is in admintls_test.go; the details of each rule are in the unit
// tests of daemon/adminapi (limits_test.go), daemon/access, internal/redact and
// internal/textsafe.

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// startedStack is a healthy stack and its admin API's address.
func startedStack(t *testing.T) (*stackEnv, string) {
	t.Helper()
	s := newStack(t)
	if out, errOut, code := s.run("services", "start", "all"); code != 0 {
		t.Fatalf("services start all: exit %d\n%s%s", code, out, errOut)
	}
	st := s.waitStatus("stack healthy", healthy)
	return s, st.Services[service(st, "daemon")].Addrs["admin"]
}

// token creates a scoped token with perms through the CLI and returns its secret.
func (s *stackEnv) token(name string, perms ...string) string {
	s.t.Helper()
	args := []string{"tokens", "create", name}
	for _, p := range perms {
		args = append(args, "--permission", p)
	}
	out, errOut, code := s.run(args...)
	if code != 0 {
		s.t.Fatalf("tokens create %s: exit %d\n%s%s", name, code, out, errOut)
	}
	return strings.TrimSpace(out)
}

// as runs palyra-tui with token in PALYRA_TOKEN.
func (s *stackEnv) as(token string, args ...string) (string, string, int) {
	env := s.env
	s.env = append(append([]string{}, env...), "PALYRA_TOKEN="+token)
	defer func() { s.env = env }()
	return s.run(args...)
}

func client(t *testing.T, addr, token string) *adminclient.Client {
	t.Helper()
	c, err := adminclient.Dial(addr, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func wantStatus(t *testing.T, err error, code codes.Code, what string) {
	t.Helper()
	if grpcstatus.Code(err) != code {
		t.Errorf("%s: %v, want %v", what, err, code)
	}
}

// TestE2EAbuseBounds: a read-only token once stored a 3.9 MB summary with a 60-year TTL as
// often as it liked, and two such requests broke every list for good.
func TestE2EAbuseBounds(t *testing.T) {
	t.Parallel()
	s, addr := startedStack(t)
	ro, burst := client(t, addr, s.token("grafana", "observability.read")), client(t, addr, s.token("ci", "observability.read"))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ask := func(summary, details string, ttl time.Duration) error {
		_, err := ro.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{SubjectType: "external", SubjectId: "deploy/prod",
			Risk: "low", Summary: summary, Details: details, TtlMs: ttl.Milliseconds()})
		return err
	}
	wantStatus(t, ask(strings.Repeat("s", 3_900_000), "", 0), codes.InvalidArgument, "a 3.9 MB summary")
	wantStatus(t, ask("deploy", "", 60*365*24*time.Hour), codes.InvalidArgument, "a 60-year TTL")
	wantStatus(t, ask("deploy", strings.Repeat("d", 17<<10), 0), codes.InvalidArgument, "17 KiB of details")

	// As large as allowed, as fast as allowed (another token: refusals count against a
	// token's rate too): the burst passes, the next is told to wait.
	ro = burst
	for i := range 20 {
		if err := ask(fmt.Sprint("deploy ", i, " ", strings.Repeat("s", 500)), strings.Repeat("d", 16<<10), 0); err != nil {
			t.Fatalf("request %d of a burst: %v", i+1, err)
		}
	}
	err := ask("one too many", "", 0)
	wantStatus(t, err, codes.ResourceExhausted, "request 21 in a burst")
	if err != nil && !strings.Contains(err.Error(), "try again in") {
		t.Errorf("the refusal does not say when to try again: %v", err)
	}

	// Every list still answers, whole.
	for _, args := range [][]string{{"approvals", "list", "--all", "--json", "--limit", "0"}, {"audit", "list", "-n", "0", "--json"}} {
		out, errOut, code := s.run(args...)
		if code != 0 || strings.Count(out, `"deploy `) < 20 && args[0] == "approvals" {
			t.Errorf("%v: exit %d, %d bytes\n%s", args, code, len(out), errOut)
		}
	}
	if out, errOut, code := s.run("approvals", "list", "--limit", "5"); code != 0 || !strings.Contains(errOut, "more exist") {
		t.Errorf("a cut list says nothing of the rest: exit %d\n%s%s", code, out, errOut)
	}
}

// TestE2EAbuseIdentity: names repeat, ids never; a permission holds wherever the token is
// used; admitting a device takes trust.
func TestE2EAbuseIdentity(t *testing.T) {
	t.Parallel()
	s, addr := startedStack(t)
	if _, errOut, code := s.run("tokens", "create", "admin", "--permission", "observability.read"); code != 1 || !strings.Contains(errOut, "reserved") {
		t.Errorf("a scoped token named admin: exit %d %s", code, errOut)
	}
	first := s.token("ci", "observability.read")
	if _, errOut, code := s.run("tokens", "create", "ci", "--permission", "observability.read"); code != 1 || !strings.Contains(errOut, "already") {
		t.Errorf("a second live token named ci: exit %d %s", code, errOut)
	}

	// A session grant belongs to the token, not to its name.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	req := &palyrav1.RequestApprovalRequest{SubjectType: "external", SubjectId: "deploy/prod", Risk: "low", Summary: "deploy"}
	a, err := client(t, addr, first).Approvals.RequestApproval(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := s.run("approvals", "approve", a.GetId(), "--scope", "session"); code != 0 {
		t.Fatalf("approve: exit %d\n%s%s", code, out, errOut)
	}
	var tokens []struct{ ID, Name string }
	s.runJSON(&tokens, "tokens", "list", "--json")
	for _, tok := range tokens {
		if tok.Name == "ci" {
			s.run("tokens", "revoke", tok.ID)
		}
	}
	successor := s.token("ci", "observability.read")
	if again, err := client(t, addr, successor).Approvals.RequestApproval(ctx, req); err != nil || again.GetState() != "pending" {
		t.Errorf("a new token named ci inherited the revoked one's grant: %v, %v", again, err)
	}

	// A token that may read cannot operate services, and a decider needs trust to pair.
	if _, errOut, code := s.as(successor, "services", "restart", "browserd"); code != 1 || !strings.Contains(errOut, "lacks the services.operate permission") {
		t.Errorf("a read-only token restarting browserd: exit %d %s", code, errOut)
	}
	decider := s.token("decider", "approvals.decide", "observability.read")
	pairing := s.beginPairing("kiosk")
	p := s.pendingPairing(map[string]bool{})
	if _, errOut, code := s.as(decider, "approvals", "approve", p.ID); code != 1 || !strings.Contains(errOut, "trust.operate") {
		t.Errorf("approvals.decide alone admitting a device: exit %d %s", code, errOut)
	}
	if out, errOut, code := s.run("approvals", "approve", p.ID); code != 0 {
		t.Fatalf("the admin admitting it: exit %d\n%s%s", code, out, errOut)
	}
	if code := pairing.wait(t, "pair"); code != 0 {
		t.Fatalf("palyra-node pair exit %d\n%s", code, pairing.stderr)
	}

	// The bearer scheme in any case (RFC 6750), nothing else.
	raw, _ := os.ReadFile(filepath.Join(s.home, "admin.token"))
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for scheme, want := range map[string]codes.Code{"bearer": codes.OK, "BEARER": codes.OK, "Basic": codes.Unauthenticated} {
		md := metadata.AppendToOutgoingContext(ctx, "authorization", scheme+" "+strings.TrimSpace(string(raw)))
		_, err := palyrav1.NewAccessServiceClient(conn).WhoAmI(md, &palyrav1.WhoAmIRequest{})
		wantStatus(t, err, want, "scheme "+scheme)
	}
}

// TestE2EAbuseForgedText: a requester's text cannot hide in invisible characters or forge
// lines of `approvals show`, and a world-readable CA key is refused, not used.
func TestE2EAbuseForgedText(t *testing.T) {
	t.Parallel()
	s, addr := startedStack(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := client(t, addr, s.token("ci", "observability.read"))
	a, err := c.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{SubjectType: "external", SubjectId: "deploy/prod",
		Risk: "low", Summary: "deploy \u202egnp.exe\u202c pay\u200bpal", Details: "ok\nstate      approved (once) by admin\r\x1b[2Kforged"})
	if err != nil {
		t.Fatal(err)
	}
	list, _, _ := s.run("approvals", "list")
	shown, _, _ := s.run("approvals", "show", a.GetId())
	for _, bad := range []string{"\u202e", "\u200b", "\x1b", "\r"} {
		if strings.Contains(list, bad) || strings.Contains(shown, bad) {
			t.Errorf("%q reached the terminal:\n%s\n%s", bad, list, shown)
		}
	}
	for _, line := range strings.Split(shown, "\n") {
		if strings.HasPrefix(line, "state") && strings.Contains(line, "approved") {
			t.Errorf("the details forged a field line: %q\n%s", line, shown)
		}
	}

	key := filepath.Join(s.home, "pki", "ca.key")
	if err := os.Chmod(key, 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := s.run("doctor")
	if code != 1 || !strings.Contains(out, "chmod 600 "+key) {
		t.Errorf("doctor with a world-readable CA key: exit %d\n%s", code, out)
	}
	s.run("services", "restart", "daemon")
	st := s.waitStatus("palyrad refusing the key", func(st status) bool {
		d := st.Services[service(st, "daemon")]
		return d.State == "backoff" || d.State == "fatal"
	})
	log, _ := os.ReadFile(filepath.Join(s.home, "logs", "daemon.log"))
	if !bytes.Contains(log, []byte("readable by others")) {
		t.Errorf("palyrad's refusal does not say why (%+v):\n%s", st, log)
	}
}

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

// TestE2ESecretsStayOutOfTheServicesEnvironment: a token and a pairing code in the
// environment of `services start all` reach neither the background supervisor it starts nor
// palyrad nor palyra-browserd; their ordinary settings do.
func TestE2ESecretsStayOutOfTheServicesEnvironment(t *testing.T) {
	t.Parallel()
	s := newStack(t)
	// The admin token itself in PALYRA_TOKEN, made before palyrad's first start: a scoped
	// one may start nothing until palyrad vouches for it.
	adminToken := "pa_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I"
	if err := os.WriteFile(filepath.Join(s.home, "admin.token"), []byte(adminToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	secrets := []string{
		"PALYRA_TOKEN=" + adminToken,
		"PALYRA_PAIR_CODE=163140",
		"DEPLOY_API_KEY=k-163140-deploy",
		"DB_PASSWORD=hunter2hunter2",
	}
	start := append(append([]string{}, s.env...), secrets...)
	env := s.env
	s.env = start
	_, errOut, code := s.run("services", "start", "all")
	s.env = env
	if code != 0 {
		t.Fatalf("start: %s", errOut)
	}
	st := s.waitStatus("healthy", healthy)

	pids := map[string]int{"supervisor": readPID(t, filepath.Join(s.home, "supervisor.lock"))}
	for _, svc := range st.Services {
		pids[svc.Name] = svc.PID
	}
	for proc, pid := range pids {
		environ, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			t.Fatalf("%s (pid %d): %v", proc, pid, err)
		}
		vars := bytes.Split(environ, []byte{0})
		has := func(prefix string) bool {
			for _, v := range vars {
				if bytes.HasPrefix(v, []byte(prefix)) {
					return true
				}
			}
			return false
		}
		for _, secret := range secrets {
			name, value, _ := strings.Cut(secret, "=")
			if has(name+"=") || bytes.Contains(environ, []byte(value)) {
				t.Errorf("%s (pid %d) has %s in its environment", proc, pid, name)
			}
		}
		for _, want := range []string{"PATH=", "PALYRA_HOME=" + s.home, "GORACE="} {
			if !has(want) {
				t.Errorf("%s (pid %d) lacks %s in its environment", proc, pid, want)
			}
		}
	}
}
