package tui

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/tui/cockpit"
	"github.com/palyra/palyra/tui/internal/cmdtest"
	"github.com/palyra/palyra/tui/internal/golden"
	"github.com/palyra/palyra/tui/status"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)

var errGone = errors.New("the supervisor is not running")

// fakeBackend serves prepared snapshots, log batches and checks, and records verb calls.
type fakeBackend struct {
	mu        sync.Mutex
	snapshots []supervisor.Snapshot // the next snapshot stream takes these, yields them, then fails
	watchErr  error                 // when set, WatchSnapshots fails
	batches   []api.LogBatch
	checks    []supervisor.Check
	calls     []string
	queries   []api.LogQuery
}

func (f *fakeBackend) WatchSnapshots(context.Context) (api.SnapshotStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.watchErr != nil {
		return nil, f.watchErr
	}
	snaps := f.snapshots
	f.snapshots = nil
	return &snapshotStream{snaps: snaps}, nil
}

func (f *fakeBackend) Logs(_ context.Context, q api.LogQuery) (api.LogStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	return &logStream{batches: f.batches}, nil
}

func (f *fakeBackend) verb(v, name string) ([]supervisor.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, v+" "+name)
	return nil, nil
}

func (f *fakeBackend) StartService(_ context.Context, name string) ([]supervisor.ServiceStatus, error) {
	return f.verb("start", name)
}

func (f *fakeBackend) StopService(_ context.Context, name string) ([]supervisor.ServiceStatus, error) {
	return f.verb("stop", name)
}

func (f *fakeBackend) RestartService(_ context.Context, name string) ([]supervisor.ServiceStatus, error) {
	return f.verb("restart", name)
}

func (f *fakeBackend) Preflight(context.Context) ([]supervisor.Check, error) {
	return f.checks, nil
}

func (f *fakeBackend) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

type snapshotStream struct{ snaps []supervisor.Snapshot }

func (s *snapshotStream) Recv() (supervisor.Snapshot, error) {
	if len(s.snaps) == 0 {
		return supervisor.Snapshot{}, errGone
	}
	snap := s.snaps[0]
	s.snaps = s.snaps[1:]
	return snap, nil
}

type logStream struct{ batches []api.LogBatch }

func (s *logStream) Recv() (api.LogBatch, error) {
	if len(s.batches) == 0 {
		return api.LogBatch{}, io.EOF
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b, nil
}

func snapshot() supervisor.Snapshot {
	return supervisor.Snapshot{
		GeneratedAt: t0, Overall: supervisor.OverallDegraded,
		Reasons:    []string{"browserd is restarting (attempt 2)"},
		Supervisor: supervisor.Info{PID: 4100, Version: "v0.4.0", Home: "/home/op/.palyra", StartedAt: t0.Add(-time.Hour)},
		Services: []supervisor.ServiceStatus{
			{
				Name: "daemon", State: supervisor.StateRunning, Health: supervisor.HealthHealthy, PID: 4242,
				Addrs: map[string]string{"admin": "127.0.0.1:7443"}, StartedAt: t0.Add(-59 * time.Minute),
				CPUPercent: 0.8, RSSBytes: 40 << 20,
			},
			{
				Name: "browserd", State: supervisor.StateBackoff, Health: supervisor.HealthUnknown,
				Restarts: 2, Attempt: 2, NextRestart: t0.Add(2 * time.Second),
				LastExit: &supervisor.Exit{At: t0.Add(-time.Second), Code: 2, Ran: 300 * time.Millisecond},
			},
		},
	}
}

func checks() []supervisor.Check {
	return []supervisor.Check{
		{Key: "home", Label: "state directory", Status: supervisor.CheckOK, Detail: "/home/op/.palyra is writable"},
		{Key: "port.admin", Label: "admin port 7443", Status: supervisor.CheckBlocked, Detail: "in use by pid 812 (nginx)", Fix: "stop that process or set --admin-addr to a free port"},
		{Key: "chromium", Label: "chromium", Status: supervisor.CheckWarning, Detail: "not found; browser automation is off", Fix: "apt-get install chromium"},
		{Key: "disk", Label: "disk space", Status: supervisor.CheckOK, Detail: "41 GiB free"},
	}
}

// harness is the root model with fakes, a fixed clock and timers that fire at once.
type harness struct {
	t     *testing.T
	m     model
	b     *fakeBackend
	clock *cmdtest.Immediate
}

func newHarness(t *testing.T, w, h int, opts Options) *harness {
	b := &fakeBackend{checks: checks()}
	clock := &cmdtest.Immediate{At: t0}
	opts.Now = func() time.Time { return t0 }
	opts.Location = time.UTC
	m := newModel(b, opts, slog.New(slog.DiscardHandler), clock.Tick)
	m.resize(w, h)
	return &harness{t: t, m: m, b: b, clock: clock}
}

// send feeds msg to the model and returns the command it gave back.
func (h *harness) send(msg tea.Msg) tea.Cmd {
	h.t.Helper()
	next, cmd := h.m.Update(msg)
	h.m = next.(model)
	return cmd
}

// keys presses each key in turn and returns the last command.
func (h *harness) keys(names ...string) tea.Cmd {
	h.t.Helper()
	var cmd tea.Cmd
	for _, n := range names {
		cmd = h.send(cmdtest.Key(n))
	}
	return cmd
}

func (h *harness) typeText(s string) {
	for _, r := range s {
		h.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

// run executes cmd and feeds every resulting message back, like the program's loop, for at
// most steps messages (streams that fail retry at once with the fake timers).
func (h *harness) run(cmd tea.Cmd, steps int) {
	h.t.Helper()
	queue := cmdtest.Run(h.t, cmd)
	for ; steps > 0 && len(queue) > 0; steps-- {
		msg := queue[0]
		queue = queue[1:]
		queue = append(queue, cmdtest.Run(h.t, h.send(msg))...)
	}
}

func (h *harness) snapshot(s supervisor.Snapshot) {
	h.m.cockpit.SetSnapshot(s, t0)
	h.m.logs.SetServices(s.Services)
	h.m.snap = s
	h.m.palette.SetSuggestions(suggestions(s.Services))
}

func isQuit(t *testing.T, cmd tea.Cmd) bool {
	t.Helper()
	for _, msg := range cmdtest.Run(t, cmd) {
		if _, ok := msg.(tea.QuitMsg); ok {
			return true
		}
	}
	return false
}

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

func TestView(t *testing.T) {
	logLines := []logs.Line{
		{Seq: 1, Time: t0, Service: "daemon", Level: "info", Text: "admin gRPC listening on 127.0.0.1:7443"},
		{Seq: 2, Time: t0.Add(time.Second), Service: "browserd", Stream: logs.Supervisor, Text: "exited with code 2; restart in 2s"},
	}
	cases := []struct {
		name  string
		setup func(h *harness)
	}{
		{"cockpit", func(h *harness) {}},
		{"logs", func(h *harness) {
			h.keys("5")
			h.b.batches = []api.LogBatch{{Lines: logLines}}
			h.run(h.m.logs.Start(), 2) // the stream opens, then brings one batch
		}},
		{"help_cockpit", func(h *harness) { h.keys("?") }},
		{"help_logs", func(h *harness) { h.keys("5", "?") }},
		{"palette", func(h *harness) { h.keys(":"); h.typeText("restart b") }},
		{"preflight", func(h *harness) { h.run(h.m.runPreflight(), 1) }},
		{"preflight_loading", func(h *harness) { h.m.runPreflight() }},
		{"disconnected", func(h *harness) { h.m.down = true }},
		{"notice_error", func(h *harness) { h.send(status.Msg{Kind: status.KindError, Text: "restart daemon: service is fatal"}) }},
	}
	for _, c := range cases {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, s.w, s.h), func(t *testing.T) {
				h := newHarness(t, s.w, s.h, Options{})
				h.snapshot(snapshot())
				c.setup(h)
				v := h.m.View()
				if !v.AltScreen {
					t.Error("the view does not ask for the alternate screen")
				}
				golden.RequireView(t, v.Content, s.w, s.h)
			})
		}
	}
}

func TestViewFitsAnySize(t *testing.T) {
	for _, s := range []struct{ w, h int }{{20, 5}, {40, 10}, {80, 24}, {200, 60}} {
		for _, keys := range [][]string{nil, {"2"}, {"3"}, {"5"}, {"?"}, {":"}} {
			t.Run(fmt.Sprintf("%dx%d_%v", s.w, s.h, keys), func(t *testing.T) {
				h := newHarness(t, 80, 24, Options{})
				h.snapshot(snapshot())
				h.keys(keys...)
				h.send(tea.WindowSizeMsg{Width: s.w, Height: s.h})
				lines := strings.Split(h.m.View().Content, "\n")
				if len(lines) != s.h {
					t.Errorf("%d lines, want %d", len(lines), s.h)
				}
				for i, l := range lines {
					if w := ansi.StringWidth(l); w > s.w {
						t.Errorf("line %d is %d wide: %q", i, w, ansi.Strip(l))
					}
				}
				if h.m.showHelp && !strings.Contains(ansi.Strip(h.m.View().Content), "╰") {
					t.Errorf("the help box lost its bottom border:\n%s", ansi.Strip(h.m.View().Content))
				}
			})
		}
	}
}

func TestPaneSwitching(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	steps := []struct {
		key  string
		want pane
	}{
		{"5", paneLogs}, {"1", paneCockpit}, {"2", paneInventory}, {"3", paneApprovals}, {"4", paneChannels}, {"1", paneCockpit},
		{"tab", paneInventory}, {"tab", paneApprovals}, {"tab", paneChannels}, {"tab", paneLogs}, {"tab", paneCockpit},
		{"shift+tab", paneLogs}, {"shift+tab", paneChannels}, {"shift+tab", paneApprovals},
	}
	for _, s := range steps {
		h.keys(s.key)
		if h.m.focus != s.want {
			t.Fatalf("after %s: focus %d, want %d", s.key, h.m.focus, s.want)
		}
	}
	if !strings.Contains(ansi.Strip(h.m.View().Content), "1 Cockpit  2 Inventory  3 Approvals  4 Channels  5 Logs") {
		t.Fatalf("tab bar:\n%s", ansi.Strip(h.m.View().Content))
	}
}

func TestCockpitClockStopsWhenHidden(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.snapshot(snapshot())
	focus := h.m.cockpit.Focus() // as on start
	h.keys("5")
	msgs := cmdtest.Run(t, focus)
	if _, ok := msgs[0].(cockpit.TickMsg); !ok {
		t.Fatalf("focus gave %#v", msgs)
	}
	if cmd := h.send(msgs[0]); cmd != nil {
		t.Fatal("the cockpit's clock kept running while the Logs pane was shown")
	}
	if cmd := h.keys("1"); cmd == nil {
		t.Fatal("showing the cockpit again did not restart its clock")
	}
}

func TestQuit(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	if !isQuit(t, h.keys("q")) {
		t.Fatal("q did not quit")
	}
}

func TestGlobalsIgnoredWhileTyping(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.keys("5", "/")
	for _, k := range []string{"q", "1", "?", ":"} {
		if cmd := h.keys(k); isQuit(t, cmd) {
			t.Fatalf("%s quit while the filter had focus", k)
		}
	}
	if h.m.focus != paneLogs || h.m.showHelp || h.m.palette.Focused() {
		t.Fatalf("a global key acted: focus %d help %v palette %v", h.m.focus, h.m.showHelp, h.m.palette.Focused())
	}
	if !strings.Contains(ansi.Strip(h.m.View().Content), "/q1?:") {
		t.Fatalf("the filter did not get the keys:\n%s", ansi.Strip(h.m.View().Content))
	}
	if !isQuit(t, h.keys("ctrl+c")) {
		t.Fatal("ctrl+c did not quit while typing")
	}
}

func TestHelpOverlay(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.keys("?")
	if !h.m.showHelp {
		t.Fatal("? did not open help")
	}
	h.keys("5")
	if h.m.focus != paneCockpit {
		t.Fatal("a pane key acted under the help overlay")
	}
	h.keys("esc")
	if h.m.showHelp {
		t.Fatal("esc did not close help")
	}
	h.keys("?")
	if !isQuit(t, h.keys("q")) {
		t.Fatal("q under help did not quit")
	}
}

func TestPalette(t *testing.T) {
	cases := []struct {
		line      string
		wantCalls []string
		wantErr   string
		wantFocus pane
		wantSvc   string
		quit      bool
	}{
		{line: "restart daemon", wantCalls: []string{"restart daemon"}, wantFocus: paneCockpit},
		{line: "stop all", wantCalls: []string{"stop all"}, wantFocus: paneCockpit},
		{line: "start browserd", wantCalls: []string{"start browserd"}, wantFocus: paneCockpit},
		{line: "logs browserd", wantFocus: paneLogs, wantSvc: "browserd"},
		{line: "logs", wantFocus: paneLogs},
		{line: "quit", quit: true, wantFocus: paneCockpit},
		{line: "stop", wantErr: "usage: stop NAME|all", wantFocus: paneCockpit},
		{line: "stop nosuch", wantErr: `unknown service "nosuch"`, wantFocus: paneCockpit},
		{line: "pair", wantErr: "not connected to palyrad yet", wantFocus: paneInventory},
		{line: "pair qr code", wantErr: "usage: pair [qr]", wantFocus: paneCockpit},
		{line: "frobnicate", wantErr: `unknown command "frobnicate": try start, stop, restart, logs, pair or quit`, wantFocus: paneCockpit},
	}
	for _, c := range cases {
		t.Run(c.line, func(t *testing.T) {
			h := newHarness(t, 80, 24, Options{})
			h.snapshot(snapshot())
			h.keys(":")
			if !h.m.palette.Focused() {
				t.Fatal(": did not open the palette")
			}
			h.typeText(c.line)
			cmd := h.keys("enter")
			if h.m.palette.Focused() {
				t.Fatal("enter did not close the palette")
			}
			msgs := cmdtest.Run(t, cmd)
			var notices []status.Msg
			quit := false
			for _, msg := range msgs {
				switch msg := msg.(type) {
				case status.Msg:
					notices = append(notices, msg)
				case tea.QuitMsg:
					quit = true
				}
			}
			if got := h.b.Calls(); strings.Join(got, ",") != strings.Join(c.wantCalls, ",") {
				t.Errorf("calls = %q, want %q", got, c.wantCalls)
			}
			if c.wantErr != "" && (len(notices) != 1 || notices[0].Kind != status.KindError || notices[0].Text != c.wantErr) {
				t.Errorf("notices = %#v, want the error %q", notices, c.wantErr)
			}
			if quit != c.quit || h.m.focus != c.wantFocus || h.m.logs.Service() != c.wantSvc {
				t.Errorf("quit %v focus %d service %q", quit, h.m.focus, h.m.logs.Service())
			}
		})
	}
}

func TestPaletteCompletesAndCancels(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.snapshot(snapshot())
	h.keys(":")
	h.typeText("restart b")
	h.keys("tab")
	if got := h.m.palette.Value(); got != "restart browserd" {
		t.Fatalf("tab completed to %q", got)
	}
	if h.m.focus != paneCockpit {
		t.Fatal("tab switched panes while the palette was open")
	}
	h.keys("esc")
	if h.m.palette.Focused() || len(h.b.Calls()) != 0 {
		t.Fatal("esc did not cancel the palette")
	}
}

func TestOpenLogsFromCockpit(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.snapshot(snapshot())
	h.run(h.keys("j", "l"), 3)
	if h.m.focus != paneLogs || h.m.logs.Service() != "browserd" {
		t.Fatalf("focus %d service %q", h.m.focus, h.m.logs.Service())
	}
	q := h.b.queries[len(h.b.queries)-1]
	if len(q.Services) != 1 || q.Services[0] != "browserd" || !q.Follow {
		t.Fatalf("query = %+v", q)
	}
}

func TestStartAndSnapshotStream(t *testing.T) {
	h := newHarness(t, 80, 24, Options{FirstRun: true})
	h.b.snapshots = []supervisor.Snapshot{snapshot()}
	cmd := h.send(startMsg{})
	// Run until the snapshot stream has failed and been retried a few times.
	h.run(cmd, 40)
	if !h.m.preflight.open || len(h.m.preflight.checks) != 4 {
		t.Fatalf("preflight overlay: %+v", h.m.preflight)
	}
	if len(h.m.snap.Services) != 2 {
		t.Fatal("the snapshot did not reach the model")
	}
	if !h.m.down {
		t.Fatal("a failed stream did not show as disconnected")
	}
	h.keys("enter")
	if h.m.preflight.open {
		t.Fatal("enter did not close the preflight overlay")
	}
	view := ansi.Strip(h.m.View().Content)
	if !strings.Contains(view, "disconnected from supervisor — retrying") || !strings.Contains(view, "DEGRADED") {
		t.Fatalf("view:\n%s", view)
	}

	// Back: the status line clears and the retry delay starts again from 1 s.
	h.b.snapshots = []supervisor.Snapshot{snapshot()}
	h.run(func() tea.Msg { return snapshotRetryMsg{gen: h.m.snapGen} }, 2) // reopen, one snapshot
	if h.m.down || h.m.retry != firstRetry {
		t.Fatalf("after reconnect: down %v retry %v", h.m.down, h.m.retry)
	}
}

func TestSnapshotRetryBackoff(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.b.watchErr = errGone
	h.run(h.m.openSnapshots(), 12)
	want := "[1s 2s 4s 5s 5s 5s]"
	if got := fmt.Sprint(h.clock.Durations[:6]); got != want {
		t.Fatalf("retry delays = %s, want %s", got, want)
	}
}

func TestStaleSnapshotIgnored(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.m.openSnapshots()
	old := h.m.snapGen
	h.m.openSnapshots()
	if cmd := h.send(snapshotMsg{gen: old, err: errGone}); cmd != nil || h.m.down {
		t.Fatal("an error from a replaced stream was acted on")
	}
}

func TestNoticeClears(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	cmd := h.send(status.Msg{Text: "restarted daemon"})
	if !strings.Contains(ansi.Strip(h.m.View().Content), "restarted daemon") {
		t.Fatal("the notice is not shown")
	}
	// A newer notice outlives the older one's timer.
	h.send(status.Msg{Kind: status.KindError, Text: "stop browserd: boom"})
	h.run(cmd, 1)
	if !strings.Contains(ansi.Strip(h.m.View().Content), "stop browserd: boom") {
		t.Fatal("an old timer cleared a newer notice")
	}
	if fmt.Sprint(h.clock.Durations) != "[5s 15s]" {
		t.Fatalf("notice lifetimes = %v", h.clock.Durations)
	}
	h.send(clearNoticeMsg{id: h.m.noticeID})
	if strings.Contains(ansi.Strip(h.m.View().Content), "boom") {
		t.Fatal("the notice did not clear")
	}
}

func TestBackgroundColor(t *testing.T) {
	h := newHarness(t, 80, 24, Options{})
	h.snapshot(snapshot())
	dark := h.m.View().Content
	h.send(tea.BackgroundColorMsg{Color: lightGrey{}})
	if h.m.View().Content == dark {
		t.Fatal("a light background did not change the styles")
	}
	if ansi.Strip(h.m.View().Content) != ansi.Strip(dark) {
		t.Fatal("the text changed with the background")
	}
}

type lightGrey struct{}

func (lightGrey) RGBA() (r, g, b, a uint32) { return 0xeeee, 0xeeee, 0xeeee, 0xffff }

func TestPreflightScroll(t *testing.T) {
	h := newHarness(t, 80, 10, Options{})
	h.run(h.m.runPreflight(), 1)
	first := ansi.Strip(h.m.View().Content)
	if !strings.Contains(first, "j/k scroll") {
		t.Fatalf("a short terminal does not offer scrolling:\n%s", first)
	}
	h.keys("j", "j")
	if ansi.Strip(h.m.View().Content) == first {
		t.Fatal("j did not scroll the checks")
	}
	h.keys("esc")
	if h.m.preflight.open {
		t.Fatal("esc did not close the overlay")
	}
}
