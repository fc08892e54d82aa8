package adminapi

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func request(subject string) *palyrav1.RequestApprovalRequest {
	return &palyrav1.RequestApprovalRequest{SubjectType: approvals.External, SubjectId: subject, Risk: "low", Summary: "run " + subject}
}

// withClock runs the API's clock from at for the test; advance moves it.
func withClock(t *testing.T, at time.Time) (advance func(time.Duration)) {
	saved := now
	t.Cleanup(func() { now = saved })
	now = func() time.Time { return at }
	return func(d time.Duration) {
		at = at.Add(d)
		now = func() time.Time { return at }
	}
}

func TestRequestApprovalRefusesWhatIsTooBig(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	ro := f.scoped(t, "grafana", access.ObservabilityRead)
	for name, change := range map[string]func(*palyrav1.RequestApprovalRequest){
		"a 3.9 MB summary":      func(r *palyrav1.RequestApprovalRequest) { r.Summary = strings.Repeat("s", 3_900_000) },
		"17 KiB of details":     func(r *palyrav1.RequestApprovalRequest) { r.Details = strings.Repeat("d", 17<<10) },
		"a 300-byte subject":    func(r *palyrav1.RequestApprovalRequest) { r.SubjectId = strings.Repeat("x", 300) },
		"a TTL of 60 years":     func(r *palyrav1.RequestApprovalRequest) { r.TtlMs = (60 * 365 * 24 * time.Hour).Milliseconds() },
		"a TTL of a second":     func(r *palyrav1.RequestApprovalRequest) { r.TtlMs = 1000 },
		"a negative TTL":        func(r *palyrav1.RequestApprovalRequest) { r.TtlMs = -1 },
		"a pairing of its own":  func(r *palyrav1.RequestApprovalRequest) { r.SubjectType = approvals.DevicePairing },
		"a risk nobody defined": func(r *palyrav1.RequestApprovalRequest) { r.Risk = "extreme" },
	} {
		r := request("deploy")
		change(r)
		wantCode(t, errOf(ro.Approvals.RequestApproval(ctx, r)), codes.InvalidArgument, name)
	}
	page, err := f.store.Approvals("", 0, 10, 1<<20)
	if err != nil || len(page.Approvals) != 0 {
		t.Fatalf("refused requests were stored: %d, %v", len(page.Approvals), err)
	}
}

func TestRequestApprovalIsRateLimitedPerToken(t *testing.T) {
	advance := withClock(t, time.Now())
	f := newServer(t)
	ctx := ctxT(t)
	ci, other := f.scoped(t, "ci", access.ObservabilityRead), f.scoped(t, "other", access.ObservabilityRead)
	for i := range requestBurst {
		if _, err := ci.Approvals.RequestApproval(ctx, request(fmt.Sprint("job-", i))); err != nil {
			t.Fatalf("request %d of a burst: %v", i+1, err)
		}
	}
	err := errOf(ci.Approvals.RequestApproval(ctx, request("one-too-many")))
	wantCode(t, err, codes.ResourceExhausted, "a request past the burst")
	if !strings.Contains(err.Error(), "at most 60 approvals a minute; try again in 1s") {
		t.Errorf("the refusal does not say when to try again: %v", err)
	}
	if _, err := other.Approvals.RequestApproval(ctx, request("another-token")); err != nil {
		t.Fatalf("another token is held back by ci's rate: %v", err)
	}
	advance(time.Second)
	if _, err := ci.Approvals.RequestApproval(ctx, request("a-second-later")); err != nil {
		t.Fatalf("a second later: %v", err)
	}
}

func TestATokenMayHaveSoManyPending(t *testing.T) {
	advance := withClock(t, time.Now())
	f := newServer(t)
	ctx := ctxT(t)
	ci := f.scoped(t, "ci", access.ObservabilityRead)
	for i := range approvals.MaxPendingPerRequester {
		advance(time.Second) // within the rate
		if _, err := ci.Approvals.RequestApproval(ctx, request(fmt.Sprint("job-", i))); err != nil {
			t.Fatalf("pending %d: %v", i+1, err)
		}
	}
	advance(time.Second)
	err := errOf(ci.Approvals.RequestApproval(ctx, request("one-too-many")))
	wantCode(t, err, codes.ResourceExhausted, "one pending too many")
	if !strings.Contains(err.Error(), fmt.Sprintf("has %d waiting for a decision", approvals.MaxPendingPerRequester)) {
		t.Errorf("the refusal does not say why: %v", err)
	}
}

// TestListsStayBelowTheMessageLimit: the largest approvals a token may ask for, as many as
// it may, never make a list fail for good, as unbounded ones once did.
func TestListsStayBelowTheMessageLimit(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	now := time.Now()
	const n = 300
	for i := range n {
		a, err := f.store.CreateApproval(store.Approval{SubjectType: approvals.External, SubjectID: strings.Repeat("s", approvals.MaxSubjectID),
			Risk: "low", Requester: fmt.Sprint("ci#", i), Summary: strings.Repeat("m", approvals.MaxSummary),
			Details: strings.Repeat("d", approvals.MaxDetails), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 1)
		if err != nil {
			t.Fatal(err)
		}
		if i%2 == 0 {
			if _, err := f.store.DecideApproval(a.Seq, false, store.Decision{Reason: strings.Repeat("r", approvals.MaxReason), Decider: "admin", At: now}); err != nil {
				t.Fatal(err)
			}
		}
	}
	for _, state := range []string{"", store.ApprovalPending, store.ApprovalDenied} {
		seen, pages := 0, 0
		for token := ""; ; pages++ {
			reply, err := admin.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: state, PageSize: maxApprovalsPage, PageToken: token})
			if err != nil {
				t.Fatalf("list %q, page %d: %v", state, pages+1, err)
			}
			seen += len(reply.GetApprovals())
			if token = reply.GetNextPageToken(); token == "" {
				break
			}
		}
		want := map[string]int{"": n, store.ApprovalPending: n / 2, store.ApprovalDenied: n / 2}[state]
		if seen != want || pages == 0 && state == "" {
			t.Errorf("list %q: %d approvals in %d pages, want %d over more than one page", state, seen, pages+1, want)
		}
	}
	wantCode(t, errOf(admin.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{PageToken: "ap-3"})), codes.InvalidArgument, "a forged page token")
	wantCode(t, errOf(admin.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: "denid"})), codes.InvalidArgument, "a state that does not exist")
	wantCode(t, errOf(admin.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{PageSize: maxApprovalsPage + 1})), codes.InvalidArgument, "a page too big")
	watch, err := admin.Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range n / 2 {
		if ev, err := watch.Recv(); err != nil || ev.GetKind() != "pending" {
			t.Fatalf("watch event %d: %v, %v", i, ev, err)
		}
	}
}

// TestBearerSchemeIsCaseInsensitive, as RFC 6750 says, and any other scheme is refused.
func TestBearerSchemeIsCaseInsensitive(t *testing.T) {
	f := newServer(t)
	conn, err := grpc.NewClient(f.addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := palyrav1.NewAccessServiceClient(conn)
	for header, want := range map[string]codes.Code{
		"Bearer " + adminToken:       codes.OK,
		"bearer " + adminToken:       codes.OK,
		"BEARER " + adminToken:       codes.OK,
		"  Bearer   " + adminToken:   codes.OK,
		"Basic " + adminToken:        codes.Unauthenticated,
		"Bearer":                     codes.Unauthenticated,
		adminToken:                   codes.Unauthenticated,
		"Bearer " + adminToken + "x": codes.Unauthenticated,
		"Bearerx " + adminToken:      codes.Unauthenticated,
		"Bearer " + adminToken[:10]:  codes.Unauthenticated,
		"Bearer   ":                  codes.Unauthenticated,
	} {
		ctx := metadata.AppendToOutgoingContext(ctxT(t), "authorization", header)
		_, err := c.WhoAmI(ctx, &palyrav1.WhoAmIRequest{})
		if got := status.Code(err); got != want {
			t.Errorf("authorization %q: %v, want %v", header, got, want)
		}
	}
}

// TestAdmittingADeviceNeedsTrust: deciding a device_pairing approval admits a device, so it
// needs trust.operate as well as approvals.decide.
func TestAdmittingADeviceNeedsTrust(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	decider := f.scoped(t, "decider", access.ApprovalsDecide)
	trusted := f.scoped(t, "trusted", access.ApprovalsDecide, access.TrustOperate)
	now := time.Now()
	pair, err := f.store.CreateApproval(store.Approval{SubjectType: approvals.DevicePairing, SubjectID: "pr-1", Risk: "high",
		Requester: "node laptop from 192.0.2.7:5000", Summary: "pair laptop", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 1)
	if err != nil {
		t.Fatal(err)
	}
	err = errOf(decider.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: pair.ID(), Approve: true}))
	wantCode(t, err, codes.PermissionDenied, "approvals.decide alone admitting a device")
	if !strings.Contains(err.Error(), "trust.operate") {
		t.Errorf("the refusal does not name the permission: %v", err)
	}
	other := ask(t, f, "deploy")
	if _, err := decider.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: other.ID(), Approve: true}); err != nil {
		t.Fatalf("approvals.decide on an external approval: %v", err)
	}
	if a, err := trusted.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: pair.ID(), Approve: true}); err != nil || a.GetState() != store.ApprovalApproved {
		t.Fatalf("with trust.operate too: %v, %v", a, err)
	}
}

// TestIdentitiesAreTokenIDs: names repeat over time, ids never; grants, requests and the
// journal follow the id.
func TestIdentitiesAreTokenIDs(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	admin := f.client(t, adminToken)
	wantCode(t, errOf(admin.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "admin", Permissions: []string{"observability.read"}})),
		codes.InvalidArgument, "a scoped token named admin")
	first, err := admin.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "ci", Permissions: []string{"observability.read"}})
	if err != nil {
		t.Fatal(err)
	}
	wantCode(t, errOf(admin.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "ci", Permissions: []string{"observability.read"}})),
		codes.AlreadyExists, "a second live token named ci")

	ci := f.client(t, first.GetSecret())
	asked, err := ci.Approvals.RequestApproval(ctx, request("deploy"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := admin.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: asked.GetId(), Approve: true, Scope: approvals.Session}); err != nil {
		t.Fatal(err)
	}
	if again, err := ci.Approvals.RequestApproval(ctx, request("deploy")); err != nil || again.GetState() != store.ApprovalApproved {
		t.Fatalf("within its session grant: %v, %v", again, err)
	}
	if _, err := admin.Access.RevokeToken(ctx, &palyrav1.RevokeTokenRequest{Id: first.GetToken().GetId()}); err != nil {
		t.Fatal(err)
	}
	second, err := admin.Access.CreateToken(ctx, &palyrav1.CreateTokenRequest{Name: "ci", Permissions: []string{"observability.read"}})
	if err != nil {
		t.Fatalf("the name of a revoked token: %v", err)
	}
	successor := f.client(t, second.GetSecret())
	next, err := successor.Approvals.RequestApproval(ctx, request("deploy"))
	if err != nil || next.GetState() != store.ApprovalPending || next.GetRequester() != "ci#"+second.GetToken().GetId() {
		t.Fatalf("the successor's request: %v, %v; want pending, asked by ci#%s", next, err, second.GetToken().GetId())
	}

	page, err := f.store.Audit(0, 100, 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	actors := map[string]bool{}
	for _, e := range page.Entries {
		if e.Kind == "approval.requested" {
			actors[e.Actor] = true
		}
	}
	if !actors["ci#"+first.GetToken().GetId()] || !actors["ci#"+second.GetToken().GetId()] || len(actors) != 2 {
		t.Fatalf("the journal's requesters %v, want the two tokens by id", actors)
	}
}

func TestWaitApprovalShowsATokenOnlyItsOwn(t *testing.T) {
	f := newServer(t)
	ctx := ctxT(t)
	a := f.scoped(t, "a", access.ServicesOperate)
	b := f.scoped(t, "b", access.ServicesOperate)
	reader := f.scoped(t, "reader", access.ObservabilityRead)
	asked, err := a.Approvals.RequestApproval(ctx, request("deploy"))
	if err != nil {
		t.Fatal(err)
	}
	wait := &palyrav1.WaitApprovalRequest{Id: asked.GetId(), WaitMs: 10}
	if got, err := a.Approvals.WaitApproval(ctx, wait); err != nil || got.GetState() != store.ApprovalPending {
		t.Fatalf("its own: %v, %v", got, err)
	}
	wantCode(t, errOf(b.Approvals.WaitApproval(ctx, wait)), codes.NotFound, "another token's approval")
	if _, err := reader.Approvals.WaitApproval(ctx, wait); err != nil {
		t.Fatalf("observability.read waiting on any: %v", err)
	}
	wantCode(t, errOf(a.Approvals.WaitApproval(ctx, &palyrav1.WaitApprovalRequest{Id: asked.GetId(), WaitMs: -1})), codes.InvalidArgument, "a negative wait")
	wantCode(t, errOf(a.Approvals.WaitApproval(ctx, &palyrav1.WaitApprovalRequest{Id: asked.GetId(), WaitMs: (11 * time.Minute).Milliseconds()})),
		codes.InvalidArgument, "a wait too long")
}
