package adminapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/reflection"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/pairing"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

const adminToken = "pa_test_admin_token_0123456789abcdef"

// testNodes stands in for the node runtime, whose own tests cover it; here only the
// forwarding and the guard matter.
type testNodes struct {
	mu      sync.Mutex
	revoked []string
}

func (n *testNodes) ListDevices(*palyrav1.ListDevicesRequest) (*palyrav1.ListDevicesReply, error) {
	return &palyrav1.ListDevicesReply{Devices: []*palyrav1.Device{{Id: "dev-1", Name: "laptop"}}, Total: 1}, nil
}
func (n *testNodes) GetDevice(id string) (*palyrav1.DeviceDetail, error) {
	return nil, store.ErrNotFound
}
func (n *testNodes) WatchInventory(int) (<-chan *palyrav1.InventoryEvent, func()) {
	ch := make(chan *palyrav1.InventoryEvent, 1)
	ch <- &palyrav1.InventoryEvent{Kind: "snapshot"}
	return ch, func() {}
}
func (n *testNodes) PairingRequests(string) ([]*palyrav1.PairingRequest, error) { return nil, nil }
func (n *testNodes) Invoke(context.Context, *palyrav1.InvokeRequest, string) (*palyrav1.CapabilityCall, error) {
	return &palyrav1.CapabilityCall{State: "succeeded"}, nil
}
func (n *testNodes) SetCapabilityAvailability(string, string, bool, string) (*palyrav1.Device, error) {
	return &palyrav1.Device{}, nil
}
func (n *testNodes) Revoke(id, reason, actor string) (*palyrav1.Device, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.revoked = append(n.revoked, id+" "+reason+" by "+actor)
	return &palyrav1.Device{Id: id, Trust: "revoked"}, nil
}
func (n *testNodes) Remove(string, string) (*palyrav1.Device, error) { return &palyrav1.Device{}, nil }

type fixture struct {
	addr      string
	store     *store.Store
	access    *access.Access
	nodes     *testNodes
	approvals *approvals.Engine
}

// newServer serves the admin API on loopback; with, if given, adds to its config (say, a
// connector platform) once the stores and engines exist.
func newServer(t testing.TB, with ...func(*fixture, *Config)) *fixture {
	t.Helper()
	st, err := store.Open(filepath.Join(t.TempDir(), store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := approvals.New(st, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go engine.Run(ctx)

	f := &fixture{store: st, access: access.New(adminToken, st), nodes: &testNodes{}, approvals: engine}
	cfg := Config{
		Access: f.access, Approvals: engine, Pairing: pairing.New(st, log), Nodes: f.nodes, Store: st,
		NodeAddr: "192.0.2.10:7444", CAFingerprint: strings.Repeat("ab", 32), Logger: log,
	}
	for _, w := range with {
		w(f, &cfg)
	}
	api := New(cfg)
	srv := newGRPC(api)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	f.addr = lis.Addr().String()
	return f
}

// newGRPC builds the server as palyrad does: health and reflection beside the admin API.
func newGRPC(api *API) *grpc.Server {
	srv := grpc.NewServer(api.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	reflection.Register(srv)
	api.Register(srv)
	return srv
}

func (f *fixture) client(t testing.TB, token string) *adminclient.Client {
	t.Helper()
	c, err := adminclient.Dial(f.addr, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// scoped creates a token with perms and returns a client holding it.
func (f *fixture) scoped(t *testing.T, name string, perms ...access.Permission) *adminclient.Client {
	t.Helper()
	secret, _, err := f.access.Create(name, perms)
	if err != nil {
		t.Fatal(err)
	}
	return f.client(t, secret)
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func wantCode(t *testing.T, err error, want codes.Code, what string) {
	t.Helper()
	if got := status.Code(err); got != want {
		t.Fatalf("%s: got %v (%v), want %v", what, got, err, want)
	}
}

func TestEveryServedMethodHasARuleAndEveryRuleAMethod(t *testing.T) {
	srv := newGRPC(New(Config{Logger: slog.Default()}))
	palyrav1.RegisterVersionServiceServer(srv, palyrav1.UnimplementedVersionServiceServer{})
	served := map[string]bool{}
	for name, info := range srv.GetServiceInfo() {
		for _, m := range info.Methods {
			full := "/" + name + "/" + m.Name
			served[full] = true
			if _, ok := rules[full]; !ok {
				t.Errorf("%s is served but has no rule: it would be refused to everyone", full)
			}
		}
	}
	for method := range rules {
		if !served[method] {
			t.Errorf("rule for %s, which is not served", method)
		}
	}
}

func TestTokensAreCheckedOnEveryCall(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)

	wantCode(t, errOf(f.client(t, "pa_wrong").Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{})),
		codes.Unauthenticated, "wrong token")

	reader := f.scoped(t, "dashboard", access.ObservabilityRead)
	if _, err := reader.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{}); err != nil {
		t.Fatalf("read-only token listing approvals: %v", err)
	}
	err := errOf(reader.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: "ap-1", Approve: true}))
	wantCode(t, err, codes.PermissionDenied, "read-only token deciding")
	if !strings.Contains(err.Error(), "approvals.decide") {
		t.Errorf("refusal does not name the permission: %v", err)
	}
	wantCode(t, errOf(reader.Pairing.MintCode(ctx, &palyrav1.MintCodeRequest{})), codes.PermissionDenied, "read-only token minting")
	wantCode(t, errOf(reader.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "x", Permissions: []string{"trust.operate"}})),
		codes.PermissionDenied, "scoped token creating tokens")

	who, err := reader.Access.WhoAmI(ctx, &palyrav1.WhoAmIRequest{})
	if err != nil || who.GetPrincipal() != "dashboard" || who.GetAdmin() || !slices.Equal(who.GetPermissions(), []string{"observability.read"}) {
		t.Fatalf("WhoAmI = %v, %v", who, err)
	}
}

func TestHealthIsOpenAndReflectionIsNot(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}); err != nil {
		t.Fatalf("health without a token: %v", err)
	}
	wantCode(t, reflectionErr(ctx, conn), codes.Unauthenticated, "reflection without a token")
	authed, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecureCreds()), grpc.WithPerRPCCredentials(adminclient.Bearer(mustSecret(t, f, "explorer"))))
	if err != nil {
		t.Fatal(err)
	}
	defer authed.Close()
	if err := reflectionErr(ctx, authed); err != nil {
		t.Fatalf("reflection with a read token: %v", err)
	}
}

func mustSecret(t *testing.T, f *fixture, name string) string {
	secret, _, err := f.access.Create(name, []access.Permission{access.ObservabilityRead})
	if err != nil {
		t.Fatal(err)
	}
	return secret
}

func TestSecondDeciderIsToldWhoWon(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	alice := f.scoped(t, "alice", access.ApprovalsDecide)
	bob := f.scoped(t, "bob", access.ApprovalsDecide)

	a := ask(t, f, "deploy")
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, c := range []*adminclient.Client{alice, bob} {
		wg.Go(func() {
			_, errs[i] = c.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: a.ID(), Approve: i == 0, Reason: "no"})
		})
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch status.Code(err) {
		case codes.OK:
			won++
		case codes.FailedPrecondition:
			if !regexp.MustCompile(`already (approved \(once\) by alice#[0-9a-f]{12}|denied by bob#[0-9a-f]{12}: no)$`).MatchString(err.Error()) {
				t.Errorf("the loser is not told who won: %v", err)
			}
		default:
			t.Errorf("unexpected error: %v", err)
		}
	}
	if won != 1 {
		t.Fatalf("%d deciders won, want exactly 1 (%v)", won, errs)
	}
	got, err := admin.Approvals.GetApproval(ctx, &palyrav1.GetApprovalRequest{Id: a.ID()})
	if err != nil || got.GetState() == store.ApprovalPending {
		t.Fatalf("approval after the race: %v, %v", got, err)
	}
	wantCode(t, errOf(admin.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: a.ID(), Approve: false})), codes.InvalidArgument, "deny without a reason")
	wantCode(t, errOf(admin.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: "ap-999", Approve: true})), codes.NotFound, "unknown approval")
	wantCode(t, errOf(admin.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: "nonsense", Approve: true})), codes.InvalidArgument, "malformed id")
}

func ask(t testing.TB, f *fixture, subject string) store.Approval {
	t.Helper()
	a, err := f.store.CreateApproval(store.Approval{SubjectType: approvals.External, SubjectID: subject, Risk: "medium",
		Requester: "ci", Summary: "deploy " + subject, CreatedAt: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}, approvals.MaxPendingPerRequester)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestRequestApprovalAnswersAtOnceAndWaitApprovalWaits(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	secret, tok, err := f.access.Create("ci", []access.Permission{access.ObservabilityRead})
	if err != nil {
		t.Fatal(err)
	}
	ci := f.client(t, secret)

	watch, err := admin.Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	asked, err := ci.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
		SubjectType: approvals.External, SubjectId: "release-42", Risk: "high", Summary: "ship release 42",
	})
	if err != nil || asked.GetState() != store.ApprovalPending || asked.GetRequester() != "ci#"+tok.ID {
		t.Fatalf("RequestApproval = %v, %v; want it pending at once, asked by ci#%s", asked, err, tok.ID)
	}
	// Nothing decided: the wait ends with the approval as it stands.
	still, err := ci.Approvals.WaitApproval(ctx, &palyrav1.WaitApprovalRequest{Id: asked.GetId(), WaitMs: 50})
	if err != nil || still.GetState() != store.ApprovalPending {
		t.Fatalf("a short wait: %v, %v; want still pending", still, err)
	}
	answered := make(chan *palyrav1.Approval, 1)
	go func() {
		a, err := ci.Approvals.WaitApproval(ctx, &palyrav1.WaitApprovalRequest{Id: asked.GetId()})
		if err != nil {
			t.Error(err)
		}
		answered <- a
	}()
	// The request may land before the watch subscribes ("pending") or after ("requested").
	ev, err := watch.Recv()
	if err != nil || (ev.GetKind() != "requested" && ev.GetKind() != "pending") || ev.GetApproval().GetId() != asked.GetId() {
		t.Fatalf("watch saw %v, %v; want the request", ev, err)
	}
	if _, err := admin.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: ev.GetApproval().GetId(), Approve: true, Scope: "ttl", GrantMs: 60_000}); err != nil {
		t.Fatal(err)
	}
	a := <-answered
	if a.GetState() != store.ApprovalApproved || a.GetDecider() != "admin" || a.GetScope() != "ttl" {
		t.Fatalf("waiter got %v", a)
	}
	if ev, err := watch.Recv(); err != nil || ev.GetKind() != "decided" {
		t.Fatalf("watch then saw %v, %v; want the decision", ev, err)
	}
	again, err := ci.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
		SubjectType: approvals.External, SubjectId: "release-42", Risk: "medium", Summary: "ship release 42 again",
	})
	if err != nil || again.GetState() != store.ApprovalApproved || again.GetDecider() != "grant" {
		t.Fatalf("a request inside the time box: %v, %v; want allowed by the grant", again, err)
	}
	wantCode(t, errOf(ci.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
		SubjectType: approvals.DevicePairing, SubjectId: "x", Risk: "low", Summary: "pair me",
	})), codes.InvalidArgument, "a client asking about device pairing")
	wantCode(t, errOf(ci.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
		SubjectType: approvals.ChannelMutation, SubjectId: "x", Risk: "low", Summary: "delete it", Details: `{"kind":"delete"}`,
	})), codes.InvalidArgument, "a client asking about a channel mutation, which palyrad would run once allowed")
}

func TestWatchStartsWithThePendingApprovals(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	first, second := ask(t, f, "one"), ask(t, f, "two")
	watch, err := f.client(t, adminToken).Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []store.Approval{first, second} {
		ev, err := watch.Recv()
		if err != nil || ev.GetKind() != "pending" || ev.GetApproval().GetId() != want.ID() {
			t.Fatalf("got %v, %v; want %s pending", ev, err, want.ID())
		}
	}
}

func TestMintedCodeCarriesWhereAndWhomToTrust(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	code, err := admin.Pairing.MintCode(ctx, &palyrav1.MintCodeRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^\d{6}$`).MatchString(code.GetSecret()) || code.GetMethod() != pairing.PIN {
		t.Fatalf("default code %q (%s), want a 6-digit PIN", code.GetSecret(), code.GetMethod())
	}
	if d := time.Until(time.UnixMilli(code.GetExpiresUnixMs())); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expires in %v, want 10 min", d)
	}
	u, err := url.Parse(code.GetUri())
	if err != nil || u.Scheme != "palyra" || u.Query().Get("code") != code.GetSecret() ||
		u.Query().Get("addr") != "192.0.2.10:7444" || u.Query().Get("ca") != strings.Repeat("ab", 16) {
		t.Fatalf("uri %q", code.GetUri())
	}
	wantCode(t, errOf(admin.Pairing.MintCode(ctx, &palyrav1.MintCodeRequest{TtlMs: 1000})), codes.InvalidArgument, "a 1 s code")

	page, err := f.store.Audit(0, 10, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range page.Entries {
		if strings.Contains(e.Detail, code.GetSecret()) {
			t.Fatalf("the code's secret is in the audit journal: %+v", e)
		}
	}
}

func TestRevokedTokenIsRefusedAtOnce(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	created, err := admin.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "ci", Permissions: []string{"observability.read"}})
	if err != nil {
		t.Fatal(err)
	}
	ci := f.client(t, created.GetSecret())
	if _, err := ci.Audit.VerifyAudit(ctx, &palyrav1.VerifyAuditRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Access.RevokeToken(ctx, &palyrav1.RevokeTokenRequest{Id: created.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, errOf(ci.Audit.VerifyAudit(ctx, &palyrav1.VerifyAuditRequest{})), codes.Unauthenticated, "revoked token")
	wantCode(t, errOf(admin.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "bad", Permissions: []string{"root"}})),
		codes.InvalidArgument, "unknown permission")

	list, err := admin.Access.ListTokens(ctx, &palyrav1.ListTokensRequest{})
	if err != nil || len(list.GetTokens()) != 1 || list.GetTokens()[0].GetRevokedUnixMs() == 0 {
		t.Fatalf("tokens after revoking: %v, %v", list, err)
	}
	verify, err := admin.Audit.VerifyAudit(ctx, &palyrav1.VerifyAuditRequest{})
	if err != nil || !verify.GetOk() || verify.GetChecked() < 2 {
		t.Fatalf("audit after create and revoke: %v, %v", verify, err)
	}
	tail, err := admin.Audit.ListAudit(ctx, &palyrav1.ListAuditRequest{PageSize: 2})
	if err != nil || len(tail.GetEntries()) != 2 || tail.GetEntries()[0].GetKind() != "token.revoked" {
		t.Fatalf("audit tail: %v, %v", tail, err)
	}
}

func TestNodeVerbsNameTheOperator(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	secret, tok, err := f.access.Create("oncall", []access.Permission{access.TrustOperate})
	if err != nil {
		t.Fatal(err)
	}
	ops := f.client(t, secret)
	if _, err := ops.Nodes.Revoke(ctx, &palyrav1.RevokeRequest{DeviceId: "dev-1"}); err != nil {
		t.Fatal(err)
	}
	if got := f.nodes.revoked; len(got) != 1 || got[0] != "dev-1 revoked by operator by oncall#"+tok.ID {
		t.Fatalf("runtime saw %v", got)
	}
	wantCode(t, errOf(ops.Inventory.GetDevice(ctx, &palyrav1.GetDeviceRequest{Id: "dev-x"})), codes.PermissionDenied, "trust.operate token reading the inventory")
	wantCode(t, errOf(f.client(t, adminToken).Inventory.GetDevice(ctx, &palyrav1.GetDeviceRequest{Id: "dev-x"})), codes.NotFound, "unknown device")
}

func errOf[T any](_ T, err error) error { return err }

func TestRevokedTokenLosesItsOpenWatch(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	secret, tok, err := f.access.Create("dashboard", []access.Permission{access.ObservabilityRead})
	if err != nil {
		t.Fatal(err)
	}
	watch, err := f.client(t, secret).Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	admin := f.client(t, adminToken)
	if _, err := admin.Access.RevokeToken(ctx, &palyrav1.RevokeTokenRequest{Id: tok.ID}); err != nil {
		t.Fatal(err)
	}
	// The next event would tell the revoked token about this request; the stream ends instead.
	go admin.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
		SubjectType: approvals.External, SubjectId: "secret-plan", Risk: "low", Summary: "after the revocation",
	})
	for {
		ev, err := watch.Recv()
		if err != nil {
			wantCode(t, err, codes.Unauthenticated, "watch after its token was revoked")
			return
		}
		if ev.GetApproval().GetSubjectId() == "secret-plan" {
			t.Fatalf("a revoked token was sent %v", ev)
		}
	}
}

func TestHealthWatchNeedsNoToken(t *testing.T) {
	f := newServer(t)
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecureCreds()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	watch, err := healthpb.NewHealthClient(conn).Watch(ctxT(t), &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := watch.Recv(); err != nil {
		t.Fatalf("health watch without a token: %v", err)
	}
}

// A watch opened while requests arrive sends each request once: as listed, or as requested.
func TestWatchSendsARequestMadeWhileItOpensOnce(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	for round := range 20 {
		watchCtx, cancel := context.WithCancel(ctx)
		watch, err := admin.Approvals.WatchApprovals(watchCtx, &palyrav1.WatchApprovalsRequest{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := f.approvals.Ask(approvals.Request{SubjectType: approvals.External, SubjectID: fmt.Sprint("s", round),
			Risk: "low", Requester: fmt.Sprint("r", round), Summary: "race the watch"})
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for len(kinds) == 0 || kinds[len(kinds)-1] != "decided" {
			ev, err := watch.Recv()
			if err != nil {
				t.Fatalf("round %d: %v after %v", round, err, kinds)
			}
			if ev.GetApproval().GetId() != a.ID() {
				continue // an earlier round's
			}
			kinds = append(kinds, ev.GetKind())
			if len(kinds) == 1 { // decide once the watch has it, so a second copy comes first
				if _, err := f.approvals.Decide(a.ID(), true, "once", 0, "", "admin"); err != nil {
					t.Fatal(err)
				}
			}
		}
		if len(kinds) > 2 {
			t.Fatalf("round %d: the watch sent %v; want the request once, then its decision", round, kinds)
		}
		cancel()
	}
}
