package approvals

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/internal/admintest"
	"github.com/palyra/palyra/tui/internal/cmdtest"
	"github.com/palyra/palyra/tui/internal/golden"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)

func ms(t time.Time) int64 { return t.UnixMilli() }

func pending() []*palyrav1.Approval {
	return []*palyrav1.Approval{
		{
			Id: "ap-5", SubjectType: "channel_mutation", SubjectId: "slack/general/1832", Risk: "critical", Requester: "agent:ops",
			Summary: "Delete message 1832 in #general", Details: "The agent wants to delete a message it sent by mistake.",
			CreatedUnixMs: ms(t0.Add(-10 * time.Minute)), ExpiresUnixMs: ms(t0.Add(20 * time.Minute)), State: "pending",
		},
		{
			Id: "ap-6", SubjectType: "node_capability", SubjectId: "dev-7f3a9c/desktop.open_url", Risk: "medium", Requester: "admin",
			Summary: "Open https://example.org on laptop-7", CreatedUnixMs: ms(t0.Add(-3 * time.Minute)),
			ExpiresUnixMs: ms(t0.Add(40 * time.Second)), State: "pending",
		},
		{
			Id: "ap-7", SubjectType: "device_pairing", SubjectId: "dev-5e6f70", Risk: "high", Requester: "node 192.0.2.44",
			Summary: "Pair laptop-9 (linux/amd64) from 192.0.2.44",
			Details: `{"name":"laptop-9","platform":"linux/amd64","peer":"192.0.2.44:51234","method":"pin",` +
				`"key_fingerprint":"c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc"}`,
			CreatedUnixMs: ms(t0.Add(-time.Minute)), ExpiresUnixMs: ms(t0.Add(9 * time.Minute)), State: "pending",
		},
	}
}

func settled() []*palyrav1.Approval {
	return []*palyrav1.Approval{
		{Id: "ap-2", SubjectType: "device_pairing", SubjectId: "dev-999999", Risk: "high", Requester: "node 198.51.100.7",
			Summary: "Pair unknown (linux/amd64) from 198.51.100.7", CreatedUnixMs: ms(t0.Add(-3 * time.Hour)),
			ExpiresUnixMs: ms(t0.Add(-3*time.Hour + 10*time.Minute)), State: "timed_out"},
		{Id: "ap-3", SubjectType: "device_pairing", SubjectId: "dev-7f3a9c", Risk: "high", Requester: "node 192.0.2.44",
			Summary: "Pair laptop-7 (linux/amd64) from 192.0.2.44", CreatedUnixMs: ms(t0.Add(-26 * time.Hour)),
			State: "approved", Scope: "once", Decider: "admin", DecidedUnixMs: ms(t0.Add(-26*time.Hour + time.Minute))},
		{Id: "ap-4", SubjectType: "node_capability", SubjectId: "dev-2b81e0/camera.snap", Risk: "medium", Requester: "agent:home",
			Summary: "Take a photo with pi-kitchen", CreatedUnixMs: ms(t0.Add(-2 * time.Hour)),
			State: "denied", Reason: "not at night", Decider: "alice", DecidedUnixMs: ms(t0.Add(-2*time.Hour + 30*time.Second))},
	}
}

type harness struct {
	*cmdtest.Driver[Model]
	m     Model
	srv   *admintest.Server
	clock *cmdtest.Immediate
}

func newHarness(t *testing.T, w, h int, token string) *harness {
	t.Helper()
	srv := admintest.Start(t)
	srv.SetApprovals(slices.Concat(settled(), pending())...)
	clock := &cmdtest.Immediate{At: t0}
	m := New(theme.New(true), keys.Default(), Options{Now: func() time.Time { return clock.At }, Location: time.UTC, Tick: clock.Tick})
	m.SetSize(w, h)
	conn := gateway.Conn{Client: srv.Client(t, token), Principal: "admin", Admin: true}
	if token == admintest.ReadOnlyToken {
		conn = gateway.Conn{Client: conn.Client, Principal: "grafana", Permissions: []string{gateway.ObservabilityRead}}
	}
	m.SetGateway(conn)
	m.StreamOpened(t0)
	for _, a := range pending() {
		if m.Apply(&palyrav1.ApprovalEvent{Kind: "pending", Approval: a}) {
			t.Fatalf("the initial list rang the bell for %s", a.GetId())
		}
	}
	harness := &harness{m: m, srv: srv, clock: clock}
	harness.Driver = &cmdtest.Driver[Model]{T: t, Model: &harness.m, Update: Model.Update, Drop: isTick}
	return harness
}

func (h *harness) view() string { return ansi.Strip(h.m.View()) }

var sizes = []struct{ w, h int }{{80, 24}, {160, 48}}

func TestView(t *testing.T) {
	cases := []struct {
		name  string
		token string
		setup func(h *harness)
	}{
		{"list", admintest.AdminToken, func(h *harness) {}},
		{"list_read_only", admintest.ReadOnlyToken, func(h *harness) {}},
		{"detail", admintest.AdminToken, func(h *harness) { h.Press("enter") }},
		{"detail_json", admintest.AdminToken, func(h *harness) { h.Press("G", "enter") }},
		{"time_box_prompt", admintest.AdminToken, func(h *harness) { h.Press("j", "t") }},
		{"deny_prompt", admintest.AdminToken, func(h *harness) { h.Press("G", "enter", "d"); h.Type("not my laptop") }},
		{"history", admintest.AdminToken, func(h *harness) { h.Press("h") }},
		{"history_detail", admintest.AdminToken, func(h *harness) { h.Press("h", "j", "enter") }},
		{"disconnected", admintest.AdminToken, func(h *harness) {
			h.m.SetGateway(gateway.Conn{Problem: "palyrad is not running (backoff)"})
		}},
		{"empty", admintest.AdminToken, func(h *harness) { h.m.StreamOpened(t0) }},
	}
	for _, c := range cases {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, s.w, s.h), func(t *testing.T) {
				h := newHarness(t, s.w, s.h, c.token)
				c.setup(h)
				golden.RequireView(t, h.m.View(), s.w, s.h)
			})
		}
	}
}

func TestViewFitsAnySize(t *testing.T) {
	for _, s := range []struct{ w, h int }{{20, 3}, {40, 8}, {80, 24}, {200, 60}} {
		for _, keys := range [][]string{nil, {"enter"}, {"t"}, {"h"}} {
			t.Run(fmt.Sprintf("%dx%d_%v", s.w, s.h, keys), func(t *testing.T) {
				h := newHarness(t, 80, 24, admintest.AdminToken)
				h.m.SetSize(s.w, s.h)
				h.Press(keys...)
				lines := strings.Split(h.m.View(), "\n")
				if len(lines) != s.h {
					t.Errorf("%d lines, want %d", len(lines), s.h)
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > s.w {
						t.Errorf("line %d is %d wide: %q", i, w, ansi.Strip(l))
					}
				}
			})
		}
	}
}

func TestOldestFirst(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	if h.m.Selected() != "ap-5" || h.m.Pending() != 3 {
		t.Fatalf("selected %q of %d", h.m.Selected(), h.m.Pending())
	}
}

func TestDecisions(t *testing.T) {
	cases := []struct {
		name   string
		keys   []string
		text   string
		want   *palyrav1.DecideRequest
		notice string
	}{
		{"allow once", []string{"a"}, "", &palyrav1.DecideRequest{Id: "ap-5", Approve: true, Scope: "once"}, "allowed ap-5 once"},
		{"allow for the session", []string{"j", "A"}, "", &palyrav1.DecideRequest{Id: "ap-6", Approve: true, Scope: "session"}, "allowed ap-6 for the session"},
		{"time box default", []string{"t", "enter"}, "", &palyrav1.DecideRequest{Id: "ap-5", Approve: true, Scope: "ttl", GrantMs: 3_600_000}, "allowed ap-5 for 1h"},
		{"time box typed", []string{"t"}, "15m", &palyrav1.DecideRequest{Id: "ap-5", Approve: true, Scope: "ttl", GrantMs: 900_000}, "allowed ap-5 for 15m"},
		{"deny with reason", []string{"G", "d"}, "not my laptop", &palyrav1.DecideRequest{Id: "ap-7", Reason: "not my laptop"}, "denied ap-7"},
		{"from the detail view", []string{"enter", "a"}, "", &palyrav1.DecideRequest{Id: "ap-5", Approve: true, Scope: "once"}, "allowed ap-5 once"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 80, 24, admintest.AdminToken)
			h.Press(c.keys...)
			if c.text != "" {
				h.Type(c.text)
				h.Press("enter")
			}
			reqs := h.srv.Requests()
			if len(reqs) != 1 || !proto.Equal(reqs[0], c.want) {
				t.Fatalf("requests = %v, want %v", reqs, c.want)
			}
			if n := h.LastNotice(); n.Kind != status.KindInfo || n.Text != c.notice {
				t.Fatalf("notice = %+v, want %q", n, c.notice)
			}
			if h.m.Pending() != 2 || h.m.CapturesInput() {
				t.Fatalf("after the decision: %d pending, captures input %v", h.m.Pending(), h.m.CapturesInput())
			}
		})
	}
}

func TestDenyNeedsAReason(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("d", "enter")
	if n := h.LastNotice(); n.Kind != status.KindError || !strings.Contains(n.Text, "reason is required") {
		t.Fatalf("notice = %+v", n)
	}
	if !h.m.CapturesInput() || len(h.srv.Requests()) != 0 {
		t.Fatalf("captures %v, requests %v", h.m.CapturesInput(), h.srv.Requests())
	}
	h.Press("esc")
	if h.m.CapturesInput() || len(h.srv.Requests()) != 0 {
		t.Fatal("esc did not cancel the denial")
	}
}

func TestTimeBoxNeedsADuration(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	for _, typed := range []string{"soon", "-5m"} {
		h.Press("t")
		h.Type(typed)
		h.Press("enter")
		if n := h.LastNotice(); n.Kind != status.KindError || !strings.Contains(n.Text, "like 15m, 1h or 8h") {
			t.Fatalf("%q: notice = %+v", typed, n)
		}
		h.Press("esc")
	}
	if len(h.srv.Requests()) != 0 {
		t.Fatalf("requests = %v", h.srv.Requests())
	}
}

func TestAlreadyDecidedIsCalm(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.srv.SetDecideErr(grpcstatus.Error(codes.FailedPrecondition, "ap-7 was already approved (once) by alice"))
	h.Press("a")
	n := h.LastNotice()
	if n.Kind != status.KindInfo || n.Text != "already decided: ap-7 was already approved (once) by alice" {
		t.Fatalf("notice = %+v", n)
	}
}

func TestDecideErrorSaysWhy(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.srv.SetDecideErr(grpcstatus.Error(codes.Unavailable, "connection refused"))
	h.Press("a")
	if n := h.LastNotice(); n.Kind != status.KindError || n.Text != "decide ap-5: gateway unreachable: connection refused" {
		t.Fatalf("notice = %+v", n)
	}
	if h.m.Pending() != 3 {
		t.Fatal("a failed decision removed the approval")
	}
}

func TestReadOnlyTokenSeesEverythingButCannotDecide(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.ReadOnlyToken)
	for _, k := range []string{"a", "A", "t", "d"} {
		h.Press(k)
		n := h.LastNotice()
		if n.Kind != status.KindError || n.Text != "this token (grafana) cannot decide approvals: it lacks approvals.decide" || h.m.CapturesInput() {
			t.Fatalf("%s: notice %+v, captures %v", k, n, h.m.CapturesInput())
		}
	}
	for _, b := range slices.Concat(h.m.ShortHelp(), slices.Concat(h.m.FullHelp()...)) {
		if k := b.Help().Key; slices.Contains([]string{"a", "A", "t", "d"}, k) {
			t.Fatalf("help offers %s", k)
		}
	}
	h.Press("enter")
	if !strings.Contains(h.view(), "deletes a message it sent by mistake") && !strings.Contains(h.view(), "delete a message") {
		t.Fatalf("the detail is not shown:\n%s", h.view())
	}
	h.Press("esc", "h")
	if !strings.Contains(h.view(), "not at night") && !strings.Contains(h.view(), "denied") {
		t.Fatalf("the history is not shown:\n%s", h.view())
	}
	if reqs := h.srv.Requests(); len(reqs) != 1 { // ListApprovals only
		t.Fatalf("requests = %v", reqs)
	}
}

func TestBellOnlyForNewApprovals(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken) // the initial list rang nothing
	fresh := &palyrav1.Approval{Id: "ap-8", SubjectType: "device_pairing", SubjectId: "dev-1", Risk: "high", State: "pending",
		CreatedUnixMs: ms(t0.Add(time.Second)), ExpiresUnixMs: ms(t0.Add(10 * time.Minute))}
	if !h.m.Apply(&palyrav1.ApprovalEvent{Kind: "requested", Approval: fresh}) {
		t.Fatal("a new approval did not ring")
	}
	if h.m.Apply(&palyrav1.ApprovalEvent{Kind: "requested", Approval: fresh}) {
		t.Fatal("the same approval rang twice")
	}
	if h.m.Pending() != 4 {
		t.Fatalf("%d pending", h.m.Pending())
	}
	done := proto.Clone(fresh).(*palyrav1.Approval)
	done.State, done.Decider = "approved", "alice"
	if h.m.Apply(&palyrav1.ApprovalEvent{Kind: "decided", Approval: done}) || h.m.Pending() != 3 {
		t.Fatalf("a decision rang or was not applied: %d pending", h.m.Pending())
	}

	// A reconnect lists the pending ones again: those known ring nothing, one that arrived
	// while the stream was down does.
	h.m.StreamOpened(t0.Add(time.Minute))
	if h.m.Pending() != 0 {
		t.Fatal("a new stream did not start from an empty list")
	}
	for _, a := range pending() {
		if h.m.Apply(&palyrav1.ApprovalEvent{Kind: "pending", Approval: a}) {
			t.Fatalf("%s rang again after a reconnect", a.GetId())
		}
	}
	missed := proto.Clone(fresh).(*palyrav1.Approval)
	missed.Id, missed.CreatedUnixMs = "ap-9", ms(t0.Add(30*time.Second))
	if !h.m.Apply(&palyrav1.ApprovalEvent{Kind: "pending", Approval: missed}) {
		t.Fatal("an approval that came while disconnected did not ring")
	}
}

func TestSelectionSurvivesOthersBeingDecided(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("j") // ap-6
	done := pending()[2]
	done.State = "denied"
	h.m.Apply(&palyrav1.ApprovalEvent{Kind: "decided", Approval: done})
	if h.m.Selected() != "ap-6" {
		t.Fatalf("selected %q", h.m.Selected())
	}
	// Settled while open in the detail view: the detail says how, and esc goes back.
	h.Press("enter")
	done = pending()[1]
	done.State, done.Scope, done.Decider = "approved", "once", "alice"
	h.m.Apply(&palyrav1.ApprovalEvent{Kind: "decided", Approval: done})
	if v := h.view(); !strings.Contains(v, "approved (once) by alice") {
		t.Fatalf("detail after the decision:\n%s", v)
	}
	h.Press("esc")
	if h.m.Selected() != "ap-5" {
		t.Fatalf("selected %q after esc", h.m.Selected())
	}
}

func TestHistory(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("h")
	reqs := h.srv.Requests()
	if len(reqs) != 1 || !proto.Equal(reqs[0], &palyrav1.ListApprovalsRequest{PageSize: historyPage}) {
		t.Fatalf("requests = %v", reqs)
	}
	ids := func() string {
		var s []string
		for _, a := range h.m.history {
			s = append(s, a.GetId())
		}
		return strings.Join(s, " ")
	}
	if got := ids(); got != "ap-4 ap-2 ap-3" {
		t.Fatalf("history = %s", got)
	}
	done := pending()[0]
	done.State, done.Decider, done.DecidedUnixMs = "denied", "bob", ms(t0)
	h.m.Apply(&palyrav1.ApprovalEvent{Kind: "decided", Approval: done})
	if got := ids(); got != "ap-5 ap-4 ap-2 ap-3" {
		t.Fatalf("history after a decision = %s", got)
	}
	h.Press("a")
	if n := h.LastNotice(); !strings.Contains(n.Text, "is settled") {
		t.Fatalf("deciding in the history: %+v", n)
	}
	h.Press("h")
	if h.m.Selected() != "ap-6" {
		t.Fatalf("back to pending: selected %q", h.m.Selected())
	}
}

func TestHistoryPagesAsTheSelectionNearsItsEnd(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	const n = 2*historyPage + 5
	var history []*palyrav1.Approval
	for i := range n {
		history = append(history, &palyrav1.Approval{Id: fmt.Sprint("ap-", 100+i), SubjectType: "external", SubjectId: "deploy",
			Risk: "low", Requester: "ci#0a1b2c3d4e5f", Summary: "deploy", CreatedUnixMs: ms(t0.Add(-time.Hour)),
			State: "approved", Scope: "once", Decider: "admin", DecidedUnixMs: ms(t0.Add(time.Duration(i-n) * time.Second))})
	}
	h.srv.SetApprovals(history...)
	h.Press("h")
	if len(h.m.history) != historyPage || !strings.Contains(h.view(), "100 loaded, more as you scroll") {
		t.Fatalf("first page: %d loaded\n%s", len(h.m.history), h.view())
	}
	h.Press("G")
	if len(h.m.history) != 2*historyPage {
		t.Fatalf("after G: %d loaded, want the second page too", len(h.m.history))
	}
	h.Press("G")
	if len(h.m.history) != n || strings.Contains(h.view(), "more as you scroll") {
		t.Fatalf("after G again: %d loaded, want all %d\n%s", len(h.m.history), n, h.view())
	}
	if h.m.history[0].GetId() != fmt.Sprint("ap-", 100+n-1) || h.m.history[n-1].GetId() != "ap-100" {
		t.Fatalf("history is not newest first: %s … %s", h.m.history[0].GetId(), h.m.history[n-1].GetId())
	}
	reqs := h.srv.Requests()
	if len(reqs) != 3 || reqs[2].(*palyrav1.ListApprovalsRequest).GetPageToken() == "" {
		t.Fatalf("requests = %v, want three pages", reqs)
	}
}

func TestTickOnlyWhileFocused(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	tick := h.m.Focus()
	h.clock.At = t0.Add(30 * time.Second)
	var again tea.Cmd
	h.m, again = h.m.Update(cmdtest.Run(t, tick)[0])
	if again == nil || !strings.Contains(h.view(), "10s") {
		t.Fatalf("the countdown did not advance:\n%s", h.view())
	}
	h.m.Blur()
	if h.m, again = h.m.Update(cmdtest.Run(t, again)[0]); again != nil {
		t.Fatal("the clock ran on while hidden")
	}
}

func TestHostileText(t *testing.T) {
	h := newHarness(t, 160, 48, admintest.AdminToken)
	a := pending()[2]
	a.Summary = "Pair \x1b]0;pwned\x07laptop"
	a.Details = "line one\n\x1b[2Jline two\x1b[31m"
	a.Requester = "node\x1b[1m"
	h.m.Apply(&palyrav1.ApprovalEvent{Kind: "requested", Approval: a})
	views := []string{h.m.View()}
	h.Press("G", "enter")
	views = append(views, h.m.View())
	for _, v := range views {
		if strings.Contains(v, "\x1b]0;") || strings.Contains(v, "\x1b[2J") || strings.Contains(v, "\x1b[31m") {
			t.Fatalf("escape sequences from palyrad reached the view: %q", v)
		}
	}
	if !strings.Contains(ansi.Strip(views[1]), "line two") {
		t.Fatalf("the details lost a line:\n%s", ansi.Strip(views[1]))
	}
}

func TestDetailsCannotForgeFieldLines(t *testing.T) {
	h := newHarness(t, 160, 48, admintest.AdminToken)
	a := pending()[2]
	a.Summary = "Pair laptop\nstate      approved"
	a.Details = "harmless\nstate      approved\r\nrequester  admin\rrisk       low"
	h.m.Apply(&palyrav1.ApprovalEvent{Kind: "requested", Approval: a})
	h.Press("G", "enter")
	v := ansi.Strip(h.m.View())
	if strings.ContainsAny(v, "\r\u2028") {
		t.Fatalf("a carriage return reached the view: %q", v)
	}
	var states, details int
	for _, l := range strings.Split(v, "\n") {
		switch {
		case strings.HasPrefix(l, "state"):
			states++
		case strings.HasPrefix(l, "  state") || strings.HasPrefix(l, "  requester"):
			details++
		}
	}
	if states != 1 || details != 2 {
		t.Fatalf("%d field lines named state (want 1), %d indented detail lines (want 2):\n%s", states, details, v)
	}
}

// isTick is the pane's own clock, which the tests drive on their own.
func isTick(msg tea.Msg) bool { _, ok := msg.(TickMsg); return ok }
