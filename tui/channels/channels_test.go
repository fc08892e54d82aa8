package channels

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/internal/cmdtest"
	"github.com/palyra/palyra/tui/internal/golden"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/theme"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func ms(t time.Time) int64 { return t.UnixMilli() }

// fakeChannels is gateway.Channels in memory: it records the calls the pane makes.
type fakeChannels struct {
	mu      sync.Mutex
	calls   []string
	kinds   []*palyrav1.ConnectorKind
	plugins []*palyrav1.PluginFile
	dead    []*palyrav1.DeadLetter
	events  []*palyrav1.ConnectorEventLine
	secrets map[string][]byte
	added   map[string]map[string]string
	fail    error
}

func (f *fakeChannels) record(format string, args ...any) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, fmt.Sprintf(format, args...))
	return f.fail
}

func (f *fakeChannels) WatchConnectors(context.Context) (gateway.ConnectorWatch, error) {
	return nil, errors.New("the pane does not watch; the root does")
}

func (f *fakeChannels) Plugins(context.Context) ([]*palyrav1.PluginFile, error) {
	return f.plugins, f.record("plugins")
}

func (f *fakeChannels) Kinds(context.Context) ([]*palyrav1.ConnectorKind, error) {
	return f.kinds, f.record("kinds")
}

func (f *fakeChannels) Events(_ context.Context, id string, n int) ([]*palyrav1.ConnectorEventLine, error) {
	return f.events, f.record("events %s %d", id, n)
}

func (f *fakeChannels) DeadLetters(_ context.Context, id string, n int) ([]*palyrav1.DeadLetter, error) {
	return f.dead, f.record("dead %s %d", id, n)
}

func (f *fakeChannels) Add(_ context.Context, id string, config map[string]string) (*palyrav1.Connector, error) {
	f.added[id] = config
	return &palyrav1.Connector{Id: id, Readiness: "ready"}, f.record("add %s", id)
}

func (f *fakeChannels) Remove(_ context.Context, id string) error { return f.record("remove %s", id) }

func (f *fakeChannels) Control(_ context.Context, id, action string) (*palyrav1.Connector, error) {
	return &palyrav1.Connector{Id: id}, f.record("%s %s", action, id)
}

func (f *fakeChannels) Send(_ context.Context, id, conversation, text string) ([]*palyrav1.QueuedMessage, error) {
	return []*palyrav1.QueuedMessage{{EnvelopeId: "e1"}}, f.record("send %s %s %q", id, conversation, text)
}

func (f *fakeChannels) Replay(_ context.Context, id string, seq uint64) (*palyrav1.Connector, error) {
	return nil, f.record("replay %s %d", id, seq)
}

func (f *fakeChannels) Discard(_ context.Context, id string, seq uint64) (*palyrav1.Connector, error) {
	return nil, f.record("discard %s %d", id, seq)
}

func (f *fakeChannels) SetSecret(_ context.Context, name string, value []byte) (*palyrav1.Secret, error) {
	f.secrets[name] = value
	return &palyrav1.Secret{Name: name, Fingerprint: "sha256:0123456789ab"}, f.record("secret %s", name)
}

func (f *fakeChannels) took() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.calls)
}

func list() *palyrav1.ListConnectorsReply {
	return &palyrav1.ListConnectorsReply{Connectors: []*palyrav1.Connector{
		{
			Id: "echo:lab", Kind: "echo", Enabled: true, Readiness: "ready",
			Plugin:    &palyrav1.PluginProcess{Pid: 4301, State: "running", StartedUnixMs: ms(t0.Add(-90 * time.Minute))},
			Delivered: 1250, Queued: 2, InFlight: 1,
		},
		{
			Id: "discord:ops", Kind: "discord", Enabled: true, Paused: true, Readiness: "auth_failed",
			Detail:      "Discord refused the token (401)",
			Plugin:      &palyrav1.PluginProcess{Pid: 4302, State: "running", Restarts: 2, StartedUnixMs: ms(t0.Add(-5 * time.Minute)), LastError: "panic: boom"},
			DeadLetters: 3, DeadLettered: 3, Delivered: 40, Inbox: 4,
			LastError: "401: Unauthorized\x1b[31m", LastErrorUnixMs: ms(t0.Add(-time.Minute)),
			Config: map[string]string{"token": "discord-bot", "channels": "123"},
			Facts:  map[string]string{"bot_user": "palyra#0001"},
		},
		{Id: "echo:old", Kind: "echo", Readiness: "", Plugin: &palyrav1.PluginProcess{State: "stopped"}},
	}}
}

type harness struct {
	*cmdtest.Driver[Model]
	m   Model
	api *fakeChannels
}

func newHarness(t *testing.T, w, h int, readOnly bool) *harness {
	t.Helper()
	api := &fakeChannels{
		secrets: map[string][]byte{}, added: map[string]map[string]string{},
		kinds: []*palyrav1.ConnectorKind{
			{Kind: "echo", Settings: []*palyrav1.ConnectorSetting{{Name: "ledger", Label: "Ledger", Type: "string"}}},
			{Kind: "discord", Settings: []*palyrav1.ConnectorSetting{
				{Name: "token", Label: "Bot token", Type: "secret", Required: true},
				{Name: "channels", Label: "Channels", Type: "string"},
			}},
			{Kind: "broken", Error: "plugin will not start"},
		},
		dead: []*palyrav1.DeadLetter{
			{Seq: 7, ConversationId: "123", Attempts: 5, Reason: "rate limited", Text: "hello"},
			{Seq: 9, ConversationId: "123", Attempts: 1, Reason: "403 Missing Access", Text: "second"},
		},
		events: []*palyrav1.ConnectorEventLine{
			{UnixMs: ms(t0.Add(-time.Minute)), Kind: "auth_failed", Level: "error", Message: "token refused"},
		},
	}
	m := New(theme.New(true), keys.Default(), Options{Now: func() time.Time { return t0 }})
	m.SetSize(w, h)
	conn := gateway.Conn{Channels: api, Principal: "admin", Admin: true}
	if readOnly {
		conn = gateway.Conn{Channels: api, Principal: "grafana", Permissions: []string{gateway.ObservabilityRead}}
	}
	m.SetGateway(conn)
	m.Focus()
	m.SetList(list())
	harness := &harness{m: m, api: api}
	harness.Driver = &cmdtest.Driver[Model]{T: t, Model: &harness.m, Update: Model.Update, Drop: isTick}
	return harness
}

func (h *harness) view() string { return ansi.Strip(h.m.View()) }

func TestView(t *testing.T) {
	for _, size := range []struct{ w, h int }{{80, 24}, {160, 48}} {
		cases := []struct {
			name  string
			setup func(h *harness)
		}{
			{"list", func(*harness) {}},
			{"detail", func(h *harness) { h.Press("enter") }}, // the first by id: discord:ops
			{"add_form", func(h *harness) { h.Press("a"); h.Type("discord"); h.Press("enter") }},
			{"secret_form", func(h *harness) {
				h.Press("S")
				h.Type("discord-bot")
				h.Press("enter")
				h.Type("s3cr3t-token")
			}},
			{"remove_confirm", func(h *harness) { h.Press("X") }},
			{"empty", func(h *harness) { h.m.SetList(&palyrav1.ListConnectorsReply{}) }},
			{"unavailable", func(h *harness) { h.m.SetUnavailable("this palyrad runs no connectors") }},
		}
		for _, c := range cases {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, size.w, size.h), func(t *testing.T) {
				h := newHarness(t, size.w, size.h, false)
				c.setup(h)
				golden.Require(t, h.view())
			})
		}
	}
}

func TestViewFitsAnySize(t *testing.T) {
	h := newHarness(t, 80, 24, false)
	for _, mode := range []func(){func() {}, func() { h.Press("enter") }} {
		mode()
		for w := 1; w <= 120; w += 7 {
			for ht := 1; ht <= 40; ht += 5 {
				h.m.SetSize(w, ht)
				lines := strings.Split(h.view(), "\n")
				if len(lines) != ht {
					t.Fatalf("%dx%d: %d lines", w, ht, len(lines))
				}
				for _, l := range lines {
					if ansi.StringWidth(l) > w {
						t.Fatalf("%dx%d: a line %d wide: %q", w, ht, ansi.StringWidth(l), l)
					}
				}
			}
		}
	}
}

func TestTextFromOutsideIsCleaned(t *testing.T) {
	h := newHarness(t, 160, 48, false)
	if strings.Contains(h.m.View(), "\x1b[31m") {
		t.Fatal("an escape sequence from a connector's error reached the terminal")
	}
}

func TestVerbsCallPalyrad(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	// The list is by id: discord:ops (paused), echo:lab, echo:old (disabled).
	h.Press("p")
	h.Press("down", "p", "D", "R")
	h.Press("down", "e")
	want := []string{"resume discord:ops", "pause echo:lab", "drain echo:lab", "restart echo:lab", "enable echo:old"}
	if got := h.api.took(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if got := h.LastNotice().Text; got != "enabled echo:old" {
		t.Fatalf("notice %q", got)
	}
}

func TestTestSendUsesTheDefaultsOrWhatIsTyped(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.Press("down", "t", "enter", "enter")
	h.Press("t")
	h.Type("room-2")
	h.Press("enter")
	h.Type("hi there")
	h.Press("enter")
	want := []string{`send echo:lab general "test message from palyra-tui"`, `send echo:lab room-2 "hi there"`}
	if got := h.api.took(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if got := h.LastNotice().Text; got != "queued 1 message(s) to room-2 on echo:lab" {
		t.Fatalf("notice %q", got)
	}
}

func TestAddFormIsBuiltFromTheKindsSettings(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.Press("a")
	h.Press("enter") // no kind typed
	if got := h.LastNotice().Text; !strings.Contains(got, "kind is required") {
		t.Fatalf("notice %q", got)
	}
	h.Type("broken")
	h.Press("enter")
	if got := h.LastNotice().Text; !strings.Contains(got, `no connector kind "broken"`) {
		t.Fatalf("a kind whose plugin fails was offered: %q", got)
	}
	for range len("broken") {
		h.Press("backspace")
	}
	h.Type("discord")
	h.Press("enter")
	h.Type("ops")
	h.Press("enter")
	h.Press("enter") // the token setting: its default secret name, discord-token
	h.Type("s3cr3t")
	if v := h.view(); strings.Contains(v, "s3cr3t") {
		t.Fatalf("a secret is shown while typed:\n%s", v)
	}
	h.Press("enter")
	h.Type("123,456")
	h.Press("enter")
	if got := h.api.took(); !slices.Equal(got, []string{"kinds", "secret discord-token", "add discord:ops"}) {
		t.Fatalf("calls %q", got)
	}
	if got := fmt.Sprint(h.api.added["discord:ops"]); got != "map[channels:123,456 token:discord-token]" {
		t.Fatalf("config %s", got)
	}
	if string(h.api.secrets["discord-token"]) != "s3cr3t" {
		t.Fatalf("secrets %q", h.api.secrets)
	}
	if got := h.LastNotice().Text; got != "added discord:ops: ready" {
		t.Fatalf("notice %q", got)
	}
	if h.m.CapturesInput() {
		t.Fatal("the form stayed open")
	}
}

func TestEscapeCancelsAForm(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.Press("S")
	h.Type("name")
	h.Press("esc")
	if h.m.CapturesInput() || len(h.api.took()) != 0 {
		t.Fatalf("form open %v, calls %q", h.m.CapturesInput(), h.api.took())
	}
}

func TestRemoveAsksFirst(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.Press("X", "n")
	if len(h.api.took()) != 0 {
		t.Fatalf("removed without a yes: %q", h.api.took())
	}
	h.Press("X", "y")
	if got := h.api.took(); !slices.Equal(got, []string{"remove discord:ops"}) {
		t.Fatalf("calls %q", got)
	}
}

func TestDeadLettersReplayAndDiscard(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.Press("enter")
	if v := h.view(); !strings.Contains(v, "#7") || !strings.Contains(v, "#9") || !strings.Contains(v, "token refused") {
		t.Fatalf("detail:\n%s", v)
	}
	h.Press("r", "down", "x")
	want := []string{"events discord:ops 20", "dead discord:ops 20", "replay discord:ops 7", "events discord:ops 20", "dead discord:ops 20",
		"discard discord:ops 9", "events discord:ops 20", "dead discord:ops 20"}
	if got := h.api.took(); !slices.Equal(got, want) {
		t.Fatalf("calls %q, want %q", got, want)
	}
	if got := h.LastNotice().Text; got != "discarded dead letter 9 of discord:ops" {
		t.Fatalf("notice %q", got)
	}
}

func TestAFailedCallSaysWhy(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.api.fail = errors.New("connector echo:lab is removed")
	h.Press("down", "D")
	if got := h.LastNotice().Text; !strings.Contains(got, "drain echo:lab:") || !strings.Contains(got, "is removed") {
		t.Fatalf("notice %q", got)
	}
}

func TestReadOnlyTokenSeesEverythingButChangesNothing(t *testing.T) {
	h := newHarness(t, 120, 40, true)
	if v := h.view(); !strings.Contains(v, "discord:ops") || strings.Contains(v, "Press a") {
		t.Fatalf("list:\n%s", v)
	}
	h.Press("a", "p", "D", "t", "X", "S", "enter", "r")
	if got := h.api.took(); !slices.Equal(got, []string{"events discord:ops 20", "dead discord:ops 20"}) {
		t.Fatalf("a read-only token called %q", got)
	}
	if got := h.LastNotice().Text; !strings.Contains(got, "lacks channels.operate") {
		t.Fatalf("notice %q", got)
	}
	for _, b := range h.m.ShortHelp() {
		if b.Help().Key == "r" {
			t.Fatal("replay offered to a read-only token")
		}
	}
}

func TestSelectionFollowsTheConnectorAcrossLists(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	h.Press("down") // echo:lab
	r := list()
	r.Connectors = slices.DeleteFunc(r.Connectors, func(c *palyrav1.Connector) bool { return c.GetId() == "discord:ops" })
	h.m.SetList(r)
	if h.m.Selected() != "echo:lab" {
		t.Fatalf("selected %q", h.m.Selected())
	}
	h.Press("enter")
	h.m.SetList(&palyrav1.ListConnectorsReply{})
	if h.m.Selected() != "" || !strings.Contains(h.view(), "No connectors yet") {
		t.Fatalf("after removal: %q\n%s", h.m.Selected(), h.view())
	}
}

func TestSummaryForTheCockpit(t *testing.T) {
	h := newHarness(t, 120, 40, false)
	s := h.m.Summary()
	// discord:ops is not ready; echo:old is disabled, so not failing.
	if !s.Known || s.Connectors != 3 || s.Failing != 1 || s.DeadLetters != 3 || s.Inbox != 4 || s.AgentAttached {
		t.Fatalf("summary %+v", s)
	}
	h.m.SetGateway(gateway.Conn{Problem: "connection refused"})
	if h.m.Summary().Known {
		t.Fatal("a lost gateway kept the list")
	}
}

// isTick is the pane's own clock, which the tests drive on their own.
func isTick(msg tea.Msg) bool { _, ok := msg.(TickMsg); return ok }

// Plugins palyrad will not run are named above the list, with where to look.
func TestPluginsNotRunAreNamed(t *testing.T) {
	h := newHarness(t, 160, 24, false)
	h.api.plugins = []*palyrav1.PluginFile{
		{Kind: "echo", State: "built-in"},
		{Kind: "matrix", State: "untrusted"},
		{Kind: "node-echo", State: "trusted"},
		{Kind: "slack", State: "changed"},
	}
	h.Run(h.m.Focus())
	line := ""
	for _, l := range strings.Split(h.view(), "\n") {
		if strings.Contains(l, "plugins not run") {
			line = l
		}
	}
	if !strings.Contains(line, "matrix untrusted, slack changed") || strings.Contains(line, "echo") || !strings.Contains(line, "channels plugins") {
		t.Fatalf("the hint: %q\n%s", line, h.view())
	}
	h.api.plugins = h.api.plugins[:1]
	h.Run(h.m.Focus())
	if strings.Contains(h.view(), "plugins not run") {
		t.Fatalf("the hint stays once every plugin runs:\n%s", h.view())
	}
}
