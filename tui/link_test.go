package tui

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/internal/admintest"
	"github.com/palyra/palyra/tui/internal/cmdtest"
	"github.com/palyra/palyra/tui/internal/golden"
)

func ms(t time.Time) int64 { return t.UnixMilli() }

func gatewayDevices() []*palyrav1.Device {
	return []*palyrav1.Device{
		{Id: "dev-7f3a9c", Name: "laptop-7", Platform: "linux/amd64", Trust: "trusted", Presence: "online",
			LastSeenUnixMs: ms(t0.Add(-2 * time.Second)), CertExpiresUnixMs: ms(t0.Add(23 * time.Hour)),
			Capabilities: []*palyrav1.Capability{{Name: "echo", Available: true}, {Name: "system.health", Available: true}}},
		{Id: "dev-2b81e0", Name: "pi-kitchen", Platform: "linux/arm64", Trust: "trusted", Presence: "degraded",
			LastSeenUnixMs: ms(t0.Add(-4 * time.Second)), CertExpiresUnixMs: ms(t0.Add(40 * time.Minute)),
			Capabilities: []*palyrav1.Capability{{Name: "system.health", Available: true}, {Name: "camera.snap"}}},
		{Id: "dev-0a1b2c", Name: "old-mac", Platform: "darwin/arm64", Trust: "revoked", Presence: "offline",
			LastSeenUnixMs: ms(t0.Add(-72 * time.Hour))},
	}
}

func gatewayApprovals() []*palyrav1.Approval {
	return []*palyrav1.Approval{
		{Id: "ap-6", SubjectType: "node_capability", SubjectId: "dev-7f3a9c/desktop.open_url", Risk: "medium", Requester: "admin",
			Summary: "Open https://example.org on laptop-7", CreatedUnixMs: ms(t0.Add(-3 * time.Minute)),
			ExpiresUnixMs: ms(t0.Add(7 * time.Minute)), State: "pending"},
		{Id: "ap-7", SubjectType: "device_pairing", SubjectId: "dev-5e6f70", Risk: "high", Requester: "node 192.0.2.44",
			Summary: "Pair laptop-9 (linux/amd64) from 192.0.2.44", CreatedUnixMs: ms(t0.Add(-time.Minute)),
			ExpiresUnixMs: ms(t0.Add(9 * time.Minute)), State: "pending"},
	}
}

// heldStream is a snapshot stream with nothing more to say until the test ends.
type heldStream struct{ done <-chan struct{} }

func (s heldStream) Recv() (supervisor.Snapshot, error) {
	<-s.done
	return supervisor.Snapshot{}, errGone
}

// live is the root model beside an in-memory palyrad, its commands run the way the program
// runs them: each on its own goroutine, their messages fed back one at a time.
type live struct {
	*harness
	srv   *admintest.Server
	loop  *cmdtest.Loop
	held  chan struct{}
	bells int
}

func newLive(t *testing.T, w, h int, token string) *live {
	t.Setenv(adminclient.TokenEnv, "")
	srv := admintest.Start(t)
	srv.SetDevices(gatewayDevices())
	srv.SetApprovals(gatewayApprovals()...)
	srv.SetMint(&palyrav1.MintCodeReply{
		CodeId: "pc-12", Method: "pin", Secret: "482913", ExpiresUnixMs: ms(t0.Add(10 * time.Minute)),
		NodeAddr: "192.0.2.10:7444", CaFingerprint: strings.Repeat("0123456789abcdef", 4),
		Uri: "palyra://pair?addr=192.0.2.10%3A7444&ca=0123456789abcdef0123456789abcdef&code=482913",
	})
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	l := &live{harness: newHarness(t, w, h, Options{TokenFile: tokenFile}), srv: srv, loop: cmdtest.NewLoop(t), held: make(chan struct{})}
	t.Cleanup(func() {
		close(l.held)
		l.m.close()
	})
	return l
}

func (l *live) daemonAt(state supervisor.State) supervisor.Snapshot {
	s := snapshot()
	s.Services[0].State = state
	s.Services[0].Addrs = map[string]string{"admin": l.srv.Addr}
	return s
}

// snapshot hands the model a snapshot as its stream would.
func (l *live) snapshot(s supervisor.Snapshot) {
	l.loop.Go(l.send(snapshotMsg{gen: l.m.snapGen, stream: heldStream{l.held}, snap: s, at: t0}))
}

// until feeds messages back until cond holds, counting the bells.
func (l *live) until(what string, cond func() bool) {
	l.t.Helper()
	for !cond() {
		msg := l.loop.Next()
		if raw, ok := msg.(tea.RawMsg); ok && raw.Msg == "\a" {
			l.bells++
		}
		if msg == nil {
			l.t.Fatalf("waiting for %s: no message", what)
		}
		l.loop.Go(l.send(msg))
	}
}

func (l *live) connected() bool {
	return l.m.link.conn.Connected() && l.m.inventory.Len() == 3 && l.m.approvals.Pending() == 2
}

func (l *live) press(keys ...string) {
	for _, k := range keys {
		l.loop.Go(l.send(cmdtest.Key(k)))
	}
}

func (l *live) screen() string { return ansi.Strip(l.m.View().Content) }

func TestGatewayFillsThePanesAndRingsForNewApprovals(t *testing.T) {
	l := newLive(t, 80, 24, admintest.AdminToken)
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the first lists", l.connected)
	if l.bells != 0 {
		t.Fatalf("the initial list rang %d times", l.bells)
	}
	screen := l.screen()
	if !strings.Contains(screen, "2 pending") || !strings.Contains(screen, "gateway 2/3 devices online · 2 pending approvals") {
		t.Fatalf("cockpit:\n%s", screen)
	}

	fresh := &palyrav1.Approval{Id: "ap-8", SubjectType: "device_pairing", SubjectId: "dev-9", Risk: "high", State: "pending",
		Summary: "Pair camera-1", CreatedUnixMs: ms(t0.Add(time.Second)), ExpiresUnixMs: ms(t0.Add(10 * time.Minute))}
	l.srv.PushApproval(&palyrav1.ApprovalEvent{Kind: "requested", Approval: fresh})
	l.until("the new approval", func() bool { return l.m.approvals.Pending() == 3 })
	l.until("the bell", func() bool { return l.bells == 1 })
	l.press("2")
	l.until("the inventory pane", func() bool { return l.m.focus == paneInventory })
	if !strings.Contains(l.screen(), "3 pending") {
		t.Fatalf("no badge on the inventory pane:\n%s", l.screen())
	}

	decided := &palyrav1.Approval{Id: "ap-8", State: "approved", Scope: "once", Decider: "alice"}
	l.srv.PushApproval(&palyrav1.ApprovalEvent{Kind: "decided", Approval: decided})
	changed := gatewayDevices()[1]
	changed.Presence = "online"
	l.srv.PushInventory(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{changed},
		Summary: &palyrav1.InventorySummary{Devices: 3, Online: 2}})
	l.until("the decision and the change", func() bool {
		return l.m.approvals.Pending() == 2 && l.m.inventory.Summary().GetOnline() == 2
	})
	if l.bells != 1 {
		t.Fatalf("%d bells, want 1", l.bells)
	}
}

func TestGatewayReconnectsWhenTheStreamsEnd(t *testing.T) {
	l := newLive(t, 80, 24, admintest.AdminToken)
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the first lists", l.connected)
	l.srv.EndWatches()
	l.until("new watches", func() bool { return l.srv.Watches("inventory") == 2 && l.srv.Watches("approvals") == 2 })
	// An event through each new stream shows both are live.
	l.srv.PushInventory(&palyrav1.InventoryEvent{Kind: "changed", Summary: &palyrav1.InventorySummary{Devices: 3, Online: 3}})
	fresh := &palyrav1.Approval{Id: "ap-8", State: "pending", CreatedUnixMs: ms(t0.Add(time.Second))}
	l.srv.PushApproval(&palyrav1.ApprovalEvent{Kind: "requested", Approval: fresh})
	l.until("the streams back", func() bool {
		return l.m.link.conn.Connected() && l.m.inventory.Summary().GetOnline() == 3 && l.m.approvals.Pending() == 3
	})
	// The stream lists the known approvals before the new one, so a bell for them would
	// come first.
	l.until("the bell for the new approval", func() bool { return l.bells > 0 })
	if l.bells != 1 {
		t.Fatalf("%d bells, want 1: for the new approval, none for those listed again", l.bells)
	}
	if got := fmt.Sprint(l.clock.Durations); got != "[1s]" {
		t.Fatalf("retry delays = %s, want [1s]", got)
	}
	// Events flowed, so the next loss waits 1 s again.
	if l.m.link.retry != firstRetry {
		t.Fatalf("retry = %v", l.m.link.retry)
	}
}

func TestGatewayFollowsTheDaemon(t *testing.T) {
	l := newLive(t, 80, 24, admintest.AdminToken)
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the first lists", l.connected)
	backoff := l.daemonAt(supervisor.StateBackoff)
	backoff.Services[0].Attempt = 2
	l.snapshot(backoff)
	if l.m.link.conn.Connected() || l.m.link.conn.Problem != "palyrad is restarting (attempt 2)" {
		t.Fatalf("conn = %+v", l.m.link.conn)
	}
	l.press("2")
	l.until("the inventory pane", func() bool { return l.m.focus == paneInventory })
	if !strings.Contains(l.screen(), "palyrad is restarting (attempt 2) · showing the last known devices") {
		t.Fatalf("inventory:\n%s", l.screen())
	}
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the streams back", func() bool { return l.srv.Watches("inventory") == 2 && l.connected() })
}

func TestGatewaySaysWhatTheSupervisorSays(t *testing.T) {
	l := newLive(t, 80, 24, admintest.AdminToken)
	l.snapshot(l.daemonAt(supervisor.StateStarting))
	l.until("the first snapshot", func() bool { return l.m.link.tried })
	if got := l.m.link.conn.Problem; got != "palyrad is starting" {
		t.Fatalf("problem while starting = %q", got)
	}
	fatal := l.daemonAt(supervisor.StateFatal)
	fatal.Services[0].Reason = "10 failed starts in a row: listen 127.0.0.1:7443: address already in use\x1b]0;pwned\x07"
	l.snapshot(fatal)
	want := "palyrad is fatal: 10 failed starts in a row: listen 127.0.0.1:7443: address already in use"
	l.until("the fatal state", func() bool { return l.m.link.conn.Problem == want })
	if !strings.Contains(l.screen(), "gateway palyrad is fatal: 10 failed starts in a row") {
		t.Fatalf("cockpit:\n%s", l.screen())
	}
}

func TestGatewayTokenRefused(t *testing.T) {
	l := newLive(t, 80, 24, "pa_wrong")
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the refusal", func() bool { return strings.HasPrefix(l.m.link.conn.Problem, "token refused: unknown token") })
	l.until("the retry timer", func() bool { return len(l.clock.Durations) > 0 })
	if l.clock.Durations[0] != refusedRetry {
		t.Fatalf("retry after %v, want %v", l.clock.Durations[0], refusedRetry)
	}
	for _, k := range []string{"2", "3"} {
		l.press(k)
		l.until("the pane", func() bool { return l.m.focus == pane(k[0]-'0') })
		if !strings.Contains(l.screen(), "token refused: unknown token") {
			t.Fatalf("pane %s:\n%s", k, l.screen())
		}
	}
}

func TestGatewayWithoutToken(t *testing.T) {
	l := newLive(t, 80, 24, admintest.AdminToken)
	l.m.opts.TokenFile = filepath.Join(t.TempDir(), "missing")
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the problem", func() bool { return strings.HasPrefix(l.m.link.conn.Problem, "no admin token: no token at ") })
}

func TestReadOnlyTokenHidesAndRefusesDecisions(t *testing.T) {
	l := newLive(t, 120, 40, admintest.ReadOnlyToken)
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the first lists", l.connected)
	l.press("3")
	l.until("the approvals pane", func() bool { return l.m.focus == paneApprovals })
	if s := l.screen(); strings.Contains(s, "allow once") || !strings.Contains(s, "read-only") {
		t.Fatalf("approvals:\n%s", s)
	}
	l.press("a")
	l.until("the refusal", func() bool {
		return strings.Contains(l.screen(), "cannot decide approvals: it lacks approvals.decide")
	})
	for _, r := range l.srv.Requests() {
		if _, ok := r.(*palyrav1.DecideRequest); ok {
			t.Fatal("a read-only token sent a decision")
		}
	}
}

func TestGatewayView(t *testing.T) {
	cases := []struct {
		name  string
		token string
		keys  []string // pressed in turn; the commands of all but a pairing key are not needed
	}{
		{"cockpit", admintest.AdminToken, nil},
		{"inventory", admintest.AdminToken, []string{"2"}},
		{"approvals", admintest.AdminToken, []string{"3"}},
		{"approvals_read_only", admintest.ReadOnlyToken, []string{"3"}},
		{"pairing", admintest.AdminToken, []string{"2", "p"}},
		{"help_inventory", admintest.AdminToken, []string{"2", "?"}},
		{"help_approvals", admintest.AdminToken, []string{"3", "?"}},
	}
	for _, c := range cases {
		for _, s := range []struct{ w, h int }{{80, 24}, {160, 48}} {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, s.w, s.h), func(t *testing.T) {
				l := newLive(t, s.w, s.h, c.token)
				// The cockpit would show the server's random port: name the gateway instead.
				l.m.opts.Gateway = l.srv.Addr
				l.snapshot(snapshot())
				l.until("the first lists", l.connected)
				for _, k := range c.keys {
					cmd := l.send(cmdtest.Key(k))
					if k == "p" {
						l.loop.Go(cmd)
						l.until("the pairing code", func() bool { return strings.Contains(l.screen(), "482 913") })
					}
				}
				golden.RequireView(t, l.m.View().Content, s.w, s.h)
			})
		}
	}
}

func TestPalettePairs(t *testing.T) {
	l := newLive(t, 80, 24, admintest.AdminToken)
	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the first lists", l.connected)
	l.send(cmdtest.Key(":"))
	l.typeText("pair")
	l.loop.Go(l.send(cmdtest.Key("enter")))
	l.until("the pairing code", func() bool { return strings.Contains(l.screen(), "PALYRA_PAIR_CODE=482913") })
	if l.m.focus != paneInventory {
		t.Fatalf("focus %d", l.m.focus)
	}
	reqs := l.srv.Requests()
	if mint, ok := reqs[len(reqs)-1].(*palyrav1.MintCodeRequest); !ok || mint.GetMethod() != "pin" {
		t.Fatalf("requests = %v", reqs)
	}
}

// TestScopedTokenOperatesServicesOnlyWithServicesOperate: the supervisor's socket admits this
// uid whatever the token; a scoped token's UI stays read-only unless palyrad says it holds
// services.operate, before it connects too.
func TestScopedTokenOperatesServicesOnlyWithServicesOperate(t *testing.T) {
	l := newLive(t, 120, 40, admintest.ReadOnlyToken)
	l.m.opts.ScopedToken = true
	l.m.cockpit.SetOperate(l.m.operateRefusal())
	l.snapshot(l.daemonAt(supervisor.StateStopped))
	l.until("the cockpit", func() bool { return l.m.cockpit.Selected() != "" })
	if s := l.screen(); strings.Contains(s, "r restart") || strings.Contains(s, "s start") {
		t.Fatalf("the cockpit offers verbs before palyrad vouched for the token:\n%s", s)
	}
	l.loop.Go(l.send(cmdtest.Key("r")))
	l.until("the refusal", func() bool { return strings.Contains(l.screen(), "use the admin token meanwhile") })

	l.snapshot(l.daemonAt(supervisor.StateRunning))
	l.until("the first lists", l.connected)
	l.loop.Go(l.send(cmdtest.Key("r")))
	l.until("the refusal", func() bool {
		return strings.Contains(l.screen(), "cannot start or stop services: it lacks services.operate")
	})
	l.send(cmdtest.Key("x"))
	if l.m.cockpit.CapturesInput() {
		t.Fatal("x asks to confirm a stop the token may not make")
	}
	l.send(cmdtest.Key(":"))
	l.typeText("restart all")
	l.loop.Go(l.send(cmdtest.Key("enter")))
	l.until("the palette's refusal", func() bool { return strings.Contains(l.screen(), "lacks services.operate") })
	if calls := l.b.Calls(); len(calls) != 0 {
		t.Fatalf("the supervisor was asked to %q", calls)
	}
}
