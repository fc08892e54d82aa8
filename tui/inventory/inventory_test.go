package inventory

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
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

func devices() []*palyrav1.Device {
	return []*palyrav1.Device{
		{
			Id: "dev-7f3a9c", Name: "laptop-7", Platform: "linux/amd64", Trust: "trusted", Presence: "online",
			LastSeenUnixMs: ms(t0.Add(-2 * time.Second)), PairedUnixMs: ms(t0.Add(-26 * time.Hour)),
			Capabilities: []*palyrav1.Capability{
				{Name: "echo", Available: true}, {Name: "system.health", Available: true},
				{Name: "system.identity", Available: true}, {Name: "desktop.open_url", Available: false, Mediated: true},
			},
			CertFingerprint: "9a0b1c2d3e4f5a6b7c8d9e0f1a2b3c4d5e6f7a8b9c0d1e2f3a4b5c6d7e8f9a0b", CertExpiresUnixMs: ms(t0.Add(23*time.Hour + 12*time.Minute)),
			KeyFingerprint: "c0ffee00112233445566778899aabbccddeeff00112233445566778899aabbcc", ApprovalId: "ap-3",
			NodeVersion: "v0.4.0", Peer: "192.0.2.44:51234",
		},
		{
			Id: "dev-2b81e0", Name: "pi-kitchen", Platform: "linux/arm64", Trust: "trusted", Presence: "degraded",
			LastSeenUnixMs: ms(t0.Add(-4 * time.Second)), CertExpiresUnixMs: ms(t0.Add(40 * time.Minute)),
			Capabilities: []*palyrav1.Capability{{Name: "system.health", Available: true}, {Name: "camera.snap", Available: false}},
		},
		{
			Id: "dev-c4d5e6", Name: "build-box", Platform: "linux/amd64", Trust: "trusted", Presence: "stale",
			LastSeenUnixMs: ms(t0.Add(-6 * time.Minute)), CertExpiresUnixMs: ms(t0.Add(5 * time.Hour)),
			Capabilities: []*palyrav1.Capability{{Name: "system.health", Available: true}},
		},
		{
			Id: "dev-0a1b2c", Name: "old-mac", Platform: "darwin/arm64", Trust: "revoked", Presence: "offline",
			LastSeenUnixMs: ms(t0.Add(-3 * 24 * time.Hour)), CertExpiresUnixMs: ms(t0.Add(-48 * time.Hour)),
			RevokedReason: "lost at the airport", RevokedUnixMs: ms(t0.Add(-2 * 24 * time.Hour)),
		},
	}
}

func laptopDetail() *palyrav1.DeviceDetail {
	return &palyrav1.DeviceDetail{
		Device: devices()[0],
		RecentCalls: []*palyrav1.CapabilityCall{
			{Id: "call-41", DeviceId: "dev-7f3a9c", Capability: "system.health", State: "succeeded", Requester: "admin",
				CreatedUnixMs: ms(t0.Add(-time.Minute)), UpdatedUnixMs: ms(t0.Add(-time.Minute + 12*time.Millisecond)), InputSummary: "{}"},
			{Id: "call-40", DeviceId: "dev-7f3a9c", Capability: "desktop.open_url", State: "failed", Requester: "admin",
				CreatedUnixMs: ms(t0.Add(-5 * time.Minute)), Error: "capability is unavailable", InputSummary: `{"url":"https://example.org"}`},
		},
		Pairings: []*palyrav1.PairingRequest{
			{Id: "pr-9", DeviceId: "dev-7f3a9c", Method: "pin", State: "approved", Peer: "192.0.2.44:51200",
				ApprovalId: "ap-3", CreatedUnixMs: ms(t0.Add(-26 * time.Hour))},
		},
	}
}

func summary() *palyrav1.InventorySummary {
	return &palyrav1.InventorySummary{Devices: 4, Trusted: 3, Online: 1, Degraded: 1, Stale: 1, Offline: 1, Revoked: 1, PendingPairings: 1}
}

func pinReply() *palyrav1.MintCodeReply {
	return &palyrav1.MintCodeReply{
		CodeId: "pc-12", Method: "pin", Secret: "482913", ExpiresUnixMs: ms(t0.Add(10 * time.Minute)),
		NodeAddr: "192.0.2.10:7444", CaFingerprint: "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
		Uri: "palyra://pair?addr=192.0.2.10%3A7444&ca=0123456789abcdef0123456789abcdef&code=482913",
	}
}

func qrReply() *palyrav1.MintCodeReply {
	r := pinReply()
	r.Method, r.Secret = "qr", "pq_Zk3v0Q9xT2mB7yW4nR8sL1cH6jD5fG0aE3uI9oP2kYq"
	r.Uri = "palyra://pair?addr=192.0.2.10%3A7444&ca=0123456789abcdef0123456789abcdef&code=" + r.Secret
	return r
}

// harness is the pane connected to an in-memory palyrad, with a fixed clock.
type harness struct {
	*cmdtest.Driver[Model]
	m     Model
	srv   *admintest.Server
	clock *cmdtest.Immediate
}

func newHarness(t *testing.T, w, h int, token string) *harness {
	t.Helper()
	srv := admintest.Start(t)
	srv.SetDevices(devices(), laptopDetail())
	srv.SetMint(pinReply())
	clock := &cmdtest.Immediate{At: t0}
	m := New(theme.New(true), keys.Default(), Options{Now: func() time.Time { return clock.At }, Location: time.UTC, Tick: clock.Tick})
	m.SetSize(w, h)
	conn := gateway.Conn{Client: srv.Client(t, token), Principal: "admin", Admin: true}
	if token == admintest.ReadOnlyToken {
		conn = gateway.Conn{Client: conn.Client, Principal: "grafana", Permissions: []string{gateway.ObservabilityRead}}
	}
	m.SetGateway(conn)
	m.SetInstances([]supervisor.ServiceStatus{{Name: "daemon", State: supervisor.StateRunning}, {Name: "browserd", State: supervisor.StateBackoff}})
	m.Apply(&palyrav1.InventoryEvent{Kind: "snapshot", Devices: devices(), Summary: summary()})
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
		{"sorted_by_presence_reversed", admintest.AdminToken, func(h *harness) { h.Press("s", "S") }},
		{"filter", admintest.AdminToken, func(h *harness) { h.Press("/"); h.Type("linux/a"); h.Press("enter") }},
		{"filter_typing", admintest.AdminToken, func(h *harness) { h.Press("/"); h.Type("kit") }},
		{"filter_no_match", admintest.AdminToken, func(h *harness) { h.Press("/"); h.Type("zzz"); h.Press("enter") }},
		{"detail", admintest.AdminToken, func(h *harness) { h.Press("j", "enter", "j", "j", "j") }},
		{"detail_not_found", admintest.AdminToken, func(h *harness) { h.Press("enter") }},
		{"detail_revoked", admintest.AdminToken, func(h *harness) { h.Press("j", "j", "enter") }},
		{"revoke_reason", admintest.AdminToken, func(h *harness) { h.Press("x") }},
		{"revoke_confirm", admintest.AdminToken, func(h *harness) { h.Press("x"); h.Type("stolen"); h.Press("enter") }},
		{"remove_confirm", admintest.AdminToken, func(h *harness) { h.Press("enter", "D") }},
		{"invoke_capability", admintest.AdminToken, func(h *harness) { h.Press("i"); h.Type("sys") }},
		{"invoke_result", admintest.AdminToken, func(h *harness) {
			h.srv.SetCall(&palyrav1.CapabilityCall{
				Id: "call-42", DeviceId: "dev-7f3a9c", Capability: "system.health", State: "succeeded", Requester: "admin",
				CreatedUnixMs: ms(t0), UpdatedUnixMs: ms(t0.Add(12 * time.Millisecond)), InputSummary: "{}",
				Output: []byte(`{"ok":true,"load":[0.12,0.3,0.25],"disk":{"free_gib":41,"note":"\u001b[31mred\u001b[0m"}}`),
			})
			h.Press("i", "enter", "enter")
		}},
		{"invoke_failed", admintest.AdminToken, func(h *harness) {
			h.srv.SetCall(&palyrav1.CapabilityCall{Id: "call-43", Capability: "desktop.open_url", State: "timed_out",
				Error: "the node did not answer within 30s", CreatedUnixMs: ms(t0), UpdatedUnixMs: ms(t0.Add(30 * time.Second))})
			h.Press("i")
			h.Type("desktop.open_url")
			h.Press("enter")
			h.Type(`{"url":"https://example.org"}`)
			h.Press("enter")
		}},
		{"pairing_pin", admintest.AdminToken, func(h *harness) { h.Press("p") }},
		{"pairing_qr", admintest.AdminToken, func(h *harness) { h.srv.SetMint(qrReply()); h.Press("P") }},
		{"disconnected", admintest.AdminToken, func(h *harness) {
			h.m.SetGateway(gateway.Conn{Problem: "gateway unreachable: connection refused"})
		}},
		{"empty", admintest.AdminToken, func(h *harness) {
			h.m.Apply(&palyrav1.InventoryEvent{Kind: "snapshot", Summary: &palyrav1.InventorySummary{}})
		}},
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
		for _, keys := range [][]string{nil, {"enter"}, {"x"}, {"p"}, {"i", "enter", "enter"}} {
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

func rowNames(m Model) []string {
	var names []string
	for _, e := range m.table.rows {
		names = append(names, e.name)
	}
	return names
}

func TestSortCyclesAndReverses(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	steps := []struct {
		keys []string
		want string
	}{
		{nil, "build-box laptop-7 old-mac pi-kitchen"},
		{[]string{"s"}, "laptop-7 pi-kitchen build-box old-mac"},      // presence
		{[]string{"s"}, "laptop-7 pi-kitchen build-box old-mac"},      // last seen, newest first
		{[]string{"S"}, "old-mac build-box pi-kitchen laptop-7"},      // reversed
		{[]string{"s", "S"}, "build-box laptop-7 pi-kitchen old-mac"}, // trust
		{[]string{"s", "s"}, "laptop-7 build-box pi-kitchen old-mac"}, // capabilities, most available first
		{[]string{"s"}, "old-mac pi-kitchen build-box laptop-7"},      // certificate expiry, soonest first
		{[]string{"s"}, "build-box laptop-7 old-mac pi-kitchen"},      // back to name
	}
	for i, s := range steps {
		h.Press(s.keys...)
		if got := strings.Join(rowNames(h.m), " "); got != s.want {
			t.Fatalf("step %d (%v, sorted by %s): %s, want %s", i, s.keys, sortNames[h.m.table.sortBy], got, s.want)
		}
	}
}

func TestSelectionFollowsTheDevice(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("j") // laptop-7
	if h.m.Selected() != "dev-7f3a9c" {
		t.Fatalf("selected %q", h.m.Selected())
	}
	// Renamed so it sorts first: the selection moves with it.
	d := proto.Clone(devices()[0]).(*palyrav1.Device)
	d.Name = "aardvark"
	h.m.Apply(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{d}})
	if h.m.Selected() != "dev-7f3a9c" || h.m.table.cursor != 0 {
		t.Fatalf("selected %q at %d after the rename", h.m.Selected(), h.m.table.cursor)
	}
	// Gone: the selection stays on the same row.
	h.m.Apply(&palyrav1.InventoryEvent{Kind: "removed", Devices: []*palyrav1.Device{d}})
	if h.m.Len() != 3 || h.m.Selected() != "dev-c4d5e6" {
		t.Fatalf("after removal: %d rows, selected %q", h.m.Len(), h.m.Selected())
	}
	// A device whose trust is "removed" leaves the table too; a new one joins in order.
	gone := proto.Clone(devices()[1]).(*palyrav1.Device)
	gone.Trust = "removed"
	fresh := &palyrav1.Device{Id: "dev-new", Name: "camera-1", Trust: "trusted", Presence: "online"}
	h.m.Apply(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{gone, fresh}, Summary: &palyrav1.InventorySummary{Devices: 3}})
	if got := strings.Join(rowNames(h.m), " "); got != "build-box camera-1 old-mac" {
		t.Fatalf("rows = %s", got)
	}
	if h.m.Summary().GetDevices() != 3 {
		t.Fatal("the summary was not taken")
	}
}

func TestFilter(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("/")
	if !h.m.CapturesInput() {
		t.Fatal("the filter does not capture input")
	}
	h.Type("ARM64")
	if got := strings.Join(rowNames(h.m), " "); got != "old-mac pi-kitchen" {
		t.Fatalf("while typing: %s", got)
	}
	h.Press("enter")
	if h.m.CapturesInput() || h.m.Len() != 2 {
		t.Fatalf("after enter: captures %v, %d rows", h.m.CapturesInput(), h.m.Len())
	}
	// A change that stops matching leaves the rows.
	d := proto.Clone(devices()[1]).(*palyrav1.Device)
	d.Platform = "linux/riscv64"
	h.m.Apply(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{d}})
	if got := strings.Join(rowNames(h.m), " "); got != "old-mac" {
		t.Fatalf("after the change: %s", got)
	}
	h.Press("esc")
	if h.m.Len() != 4 {
		t.Fatalf("esc left %d rows", h.m.Len())
	}
	// Ids match too.
	h.Press("/")
	h.Type("dev-2b")
	if got := strings.Join(rowNames(h.m), " "); got != "pi-kitchen" {
		t.Fatalf("by id: %s", got)
	}
	h.Press("esc")
	if h.m.Len() != 4 || h.m.CapturesInput() {
		t.Fatalf("esc while typing left %d rows", h.m.Len())
	}
}

func TestRevoke(t *testing.T) {
	cases := []struct {
		name, reason, want string
	}{
		{"default reason", "", DefaultRevokeReason},
		{"typed reason", "stolen from the car", "stolen from the car"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			h := newHarness(t, 80, 24, admintest.AdminToken)
			h.Press("j", "x")
			h.Type(c.reason)
			h.Press("enter")
			if len(h.srv.Requests()) != 0 {
				t.Fatal("revoked before the confirmation")
			}
			h.Press("y")
			reqs := h.srv.Requests()
			want := &palyrav1.RevokeRequest{DeviceId: "dev-7f3a9c", Reason: c.want}
			if len(reqs) != 1 || !proto.Equal(reqs[0], want) {
				t.Fatalf("requests = %v, want %v", reqs, want)
			}
			if n := h.LastNotice(); n.Kind != status.KindInfo || n.Text != "revoked laptop-7: its node is refused from now on" {
				t.Fatalf("notice = %+v", n)
			}
			if d := h.m.table.byID["dev-7f3a9c"].dev; d.GetTrust() != "revoked" {
				t.Fatalf("the table still shows %s", d.GetTrust())
			}
		})
	}
}

func TestRevokeCancelled(t *testing.T) {
	for _, keys := range [][]string{{"x", "esc"}, {"x", "enter", "n"}, {"x", "enter", "esc"}} {
		h := newHarness(t, 80, 24, admintest.AdminToken)
		h.Press(keys...)
		if h.m.CapturesInput() || h.m.mode != modeList {
			t.Fatalf("%v: still in mode %d", keys, h.m.mode)
		}
		if len(h.srv.Requests()) != 0 {
			t.Fatalf("%v: requests %v", keys, h.srv.Requests())
		}
	}
}

func TestRevokedDeviceIsNotRevokedAgain(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("j", "j", "x")
	if h.m.mode != modeList || h.LastNotice().Text != "old-mac is already revoked" {
		t.Fatalf("mode %d, notices %v", h.m.mode, h.Notices)
	}
}

func TestRemoveFromDetail(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("j", "j", "enter", "D", "y")
	reqs := h.srv.Requests()
	if !proto.Equal(reqs[len(reqs)-1], &palyrav1.RemoveRequest{DeviceId: "dev-0a1b2c"}) {
		t.Fatalf("requests = %v", reqs)
	}
	if h.m.mode != modeList || h.m.Len() != 3 {
		t.Fatalf("mode %d, %d rows", h.m.mode, h.m.Len())
	}
}

func TestInvoke(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.srv.SetCall(&palyrav1.CapabilityCall{Id: "call-9", State: "succeeded", Output: []byte(`{"uptime_s":42}`)})
	h.Press("j", "i")
	h.Type("system.id")
	h.Press("tab") // completes from the device's capabilities
	if got := h.m.prompt.Value(); got != "system.identity" {
		t.Fatalf("tab completed to %q", got)
	}
	h.Press("enter")
	h.Type(`{"verbose": true`)
	h.Press("enter")
	if n := h.LastNotice(); n.Kind != status.KindError || !strings.Contains(n.Text, "not valid JSON") || h.m.mode != modeArguments {
		t.Fatalf("invalid JSON: notice %+v, mode %d", n, h.m.mode)
	}
	h.Type("}")
	h.Press("enter")
	reqs := h.srv.Requests()
	want := &palyrav1.InvokeRequest{DeviceId: "dev-7f3a9c", Capability: "system.identity", Input: []byte(`{"verbose": true}`)}
	if !proto.Equal(reqs[len(reqs)-1], want) {
		t.Fatalf("request = %v, want %v", reqs[len(reqs)-1], want)
	}
	if v := h.view(); !strings.Contains(v, `"uptime_s": 42`) || !strings.Contains(v, "succeeded") {
		t.Fatalf("result view:\n%s", v)
	}
	h.Press("esc")
	if h.m.mode != modeList {
		t.Fatalf("esc left mode %d", h.m.mode)
	}
}

func TestInvokeDefaults(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.srv.SetCall(&palyrav1.CapabilityCall{State: "succeeded"})
	h.Press("i", "enter", "enter")
	reqs := h.srv.Requests()
	want := &palyrav1.InvokeRequest{DeviceId: "dev-c4d5e6", Capability: DefaultCapability, Input: []byte("{}")}
	if !proto.Equal(reqs[len(reqs)-1], want) {
		t.Fatalf("request = %v, want %v", reqs[len(reqs)-1], want)
	}
}

func TestResultOfAnAbandonedCallIsANotice(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.srv.SetCall(&palyrav1.CapabilityCall{State: "succeeded"})
	h.Press("i", "enter")
	var cmd tea.Cmd
	h.m, cmd = h.m.Update(cmdtest.Key("enter"))
	h.m, _ = h.m.Update(cmdtest.Key("esc")) // leave before the result arrives
	h.Run(cmd)
	if n := h.LastNotice(); n.Text != "system.health on build-box: succeeded" {
		t.Fatalf("notice = %+v", n)
	}
}

func TestToggleCapability(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("j", "enter", "j", "j", "j", "c") // desktop.open_url, unavailable
	reqs := h.srv.Requests()
	want := &palyrav1.SetCapabilityAvailabilityRequest{DeviceId: "dev-7f3a9c", Capability: "desktop.open_url", Available: true}
	if !slices.ContainsFunc(reqs, func(m proto.Message) bool { return proto.Equal(m, want) }) {
		t.Fatalf("requests = %v", reqs)
	}
	if n := h.LastNotice(); n.Text != "switched on desktop.open_url on laptop-7" {
		t.Fatalf("notice = %+v", n)
	}
	if caps := h.m.table.byID["dev-7f3a9c"].dev.GetCapabilities(); !caps[3].GetAvailable() {
		t.Fatal("the table does not show the capability on")
	}
}

func TestMint(t *testing.T) {
	for _, c := range []struct {
		key, method string
		reply       *palyrav1.MintCodeReply
	}{{"p", "pin", pinReply()}, {"P", "qr", qrReply()}} {
		h := newHarness(t, 160, 48, admintest.AdminToken)
		h.srv.SetMint(c.reply)
		h.Press(c.key)
		reqs := h.srv.Requests()
		if len(reqs) != 1 || !proto.Equal(reqs[0], &palyrav1.MintCodeRequest{Method: c.method}) {
			t.Fatalf("%s: requests = %v", c.key, reqs)
		}
		v := h.view()
		for _, want := range []string{"PALYRA_PAIR_CODE=" + c.reply.GetSecret(), "palyra-node pair", "--gateway 192.0.2.10:7444", "in 10m00s", "▀"} {
			if !strings.Contains(v, want) {
				t.Fatalf("%s: the overlay lacks %q:\n%s", c.key, want, v)
			}
		}
		h.Press(c.key) // a new code over the old one
		if n := len(h.srv.Requests()); n != 2 || h.m.mode != modePairing {
			t.Fatalf("%s again: %d requests, mode %d", c.key, n, h.m.mode)
		}
		h.Press("esc")
		if h.m.mode != modeList {
			t.Fatalf("esc left mode %d", h.m.mode)
		}
	}
}

func TestPairingCountdownTicks(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("p")
	tick := h.m.Focus()
	h.clock.At = t0.Add(9*time.Minute + 58*time.Second + 500*time.Millisecond)
	msgs := cmdtest.Run(t, tick)
	var again tea.Cmd
	h.m, again = h.m.Update(msgs[0])
	if again == nil {
		t.Fatal("the clock stopped while the pane is visible")
	}
	if !strings.Contains(h.view(), "in 2s") {
		t.Fatalf("countdown did not advance:\n%s", h.view())
	}
	h.clock.At = t0.Add(11 * time.Minute)
	h.m, again = h.m.Update(cmdtest.Run(t, again)[0])
	if !strings.Contains(h.view(), "expired") {
		t.Fatalf("no expiry shown:\n%s", h.view())
	}
	h.m.Blur()
	if h.m, again = h.m.Update(cmdtest.Run(t, again)[0]); again != nil {
		t.Fatal("the clock kept running while hidden")
	}
	if n := len(h.clock.Durations); n != 3 || h.clock.Durations[0] != time.Second {
		t.Fatalf("timers = %v, want three of 1s", h.clock.Durations)
	}
}

func TestReadOnlyTokenIsRefusedAndSeesNoVerbs(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.ReadOnlyToken)
	for _, k := range []string{"x", "D", "i", "p", "P"} {
		h.Press(k)
		n := h.LastNotice()
		if n.Kind != status.KindError || !strings.Contains(n.Text, "lacks trust.operate") || h.m.mode != modeList {
			t.Fatalf("%s: notice %+v mode %d", k, n, h.m.mode)
		}
	}
	h.Press("enter", "c")
	if n := h.LastNotice(); !strings.Contains(n.Text, "cannot switch capabilities") {
		t.Fatalf("c: notice %+v", n)
	}
	if len(h.srv.Requests()) != 1 { // only GetDevice
		t.Fatalf("requests = %v", h.srv.Requests())
	}
	for _, mode := range []mode{modeList, modeDetail} {
		h.m.mode = mode
		for _, b := range slices.Concat(h.m.ShortHelp(), slices.Concat(h.m.FullHelp()...)) {
			if k := b.Help().Key; slices.Contains([]string{"x", "D", "i", "p", "P", "c"}, k) {
				t.Fatalf("mode %d: help offers %s", mode, k)
			}
		}
	}
}

func TestVerbsWhileDisconnected(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.m.SetGateway(gateway.Conn{Problem: "token refused: unknown token"})
	h.Press("p")
	if n := h.LastNotice(); n.Text != "not connected to palyrad: token refused: unknown token" {
		t.Fatalf("notice = %+v", n)
	}
}

func TestHostileText(t *testing.T) {
	h := newHarness(t, 160, 48, admintest.AdminToken)
	d := devices()[0]
	d.Name, d.Platform = "evil\x1b]0;pwned\x07name", "linux\x1b[2J"
	d.Capabilities[0].Name = "echo\x1b[31m"
	h.m.Apply(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{d}})
	detail := laptopDetail()
	detail.RecentCalls[0].InputSummary = "\x1b[1mbold"
	h.srv.SetDevices([]*palyrav1.Device{d}, detail)
	views := []string{h.m.View()}
	h.Press("/")
	h.Type("evil")
	h.Press("enter", "enter")
	views = append(views, h.m.View())
	for _, v := range views {
		if strings.Contains(v, "\x1b]0;") || strings.Contains(v, "\x1b[2J") || strings.Contains(v, "\x1b[31m") || strings.Contains(v, "\x1b[1mbold") {
			t.Fatalf("escape sequences from palyrad reached the view: %q", v)
		}
	}
}

func TestBigDigits(t *testing.T) {
	lines, ok := bigDigits("482913")
	if !ok || len(lines) != 3 {
		t.Fatalf("bigDigits = %q, %v", lines, ok)
	}
	if _, ok := bigDigits("pq_abc"); ok {
		t.Fatal("a token drew as digits")
	}
}

func TestNodeCommandWraps(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	one := nodeCommand("482913", "192.0.2.10:7444", fp, 200)
	if len(one) != 1 || one[0] != "PALYRA_PAIR_CODE=482913 palyra-node pair --gateway 192.0.2.10:7444 --ca-fingerprint "+fp[:32] {
		t.Fatalf("wide: %q", one)
	}
	for _, w := range []int{commandWidth("482913"), 40, 60} {
		lines := nodeCommand("482913", "192.0.2.10:7444", fp, w)
		joined := strings.ReplaceAll(strings.Join(lines, "\n"), " \\\n ", "")
		if strings.Join(strings.Fields(joined), " ") != one[0] {
			t.Fatalf("width %d: %q does not join back to the command", w, lines)
		}
		for _, l := range lines {
			if len(l) > w {
				t.Fatalf("width %d: line %q is too long", w, l)
			}
		}
	}
}

func TestVerbsWithoutADeviceSaySo(t *testing.T) {
	h := newHarness(t, 80, 24, admintest.AdminToken)
	h.m.Apply(&palyrav1.InventoryEvent{Kind: "snapshot", Summary: &palyrav1.InventorySummary{}})
	for _, k := range []string{"i", "x", "D"} {
		h.Notices = nil
		h.Press(k)
		if h.m.mode != modeList || h.LastNotice().Text != "no device selected: pair one with p" {
			t.Errorf("%s with no devices: mode %d, notices %v", k, h.m.mode, h.Notices)
		}
	}
	h = newHarness(t, 80, 24, admintest.AdminToken)
	h.Press("/")
	h.Type("zzz")
	h.Press("enter", "i")
	if h.LastNotice().Text != "no device selected" {
		t.Errorf("i with every device filtered out: %v", h.Notices)
	}
}

// isTick is the pane's own clock, which the tests drive on their own.
func isTick(msg tea.Msg) bool { _, ok := msg.(TickMsg); return ok }
