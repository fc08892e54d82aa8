package cockpit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/internal/cmdtest"
	"github.com/palyra/palyra/tui/internal/golden"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)

// fakeController records verb calls; err, when set, is what every call returns.
type fakeController struct {
	mu    sync.Mutex
	calls []string
	err   error
}

func (f *fakeController) call(verb, name string) ([]supervisor.ServiceStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, verb+" "+name)
	return nil, f.err
}

func (f *fakeController) StartService(_ context.Context, name string) ([]supervisor.ServiceStatus, error) {
	return f.call("start", name)
}

func (f *fakeController) StopService(_ context.Context, name string) ([]supervisor.ServiceStatus, error) {
	return f.call("stop", name)
}

func (f *fakeController) RestartService(_ context.Context, name string) ([]supervisor.ServiceStatus, error) {
	return f.call("restart", name)
}

func (f *fakeController) Calls() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.calls...)
}

func info() supervisor.Info {
	return supervisor.Info{PID: 4100, Version: "v0.4.0", Home: "/home/op/.palyra", StartedAt: t0.Add(-3*time.Hour - 5*time.Minute)}
}

func daemonRunning() supervisor.ServiceStatus {
	return supervisor.ServiceStatus{
		Name: "daemon", State: supervisor.StateRunning, Health: supervisor.HealthHealthy, HealthDetail: "SERVING",
		PID: 4242, Addrs: map[string]string{"admin": "127.0.0.1:7443", "node": "0.0.0.0:7444"},
		StartedAt: t0.Add(-2*time.Hour - 13*time.Minute - 7*time.Second), Restarts: 1,
		LastExit:    &supervisor.Exit{At: t0.Add(-2*time.Hour - 13*time.Minute - 8*time.Second), Code: -1, Signal: "SIGKILL", Ran: 20 * time.Minute},
		RecentExits: []supervisor.Exit{{At: t0.Add(-2*time.Hour - 13*time.Minute - 8*time.Second), Code: -1, Signal: "SIGKILL", Ran: 20 * time.Minute}},
		CPUPercent:  1.5, RSSBytes: 48 << 20,
		Command: []string{"/usr/local/bin/palyrad", "--home", "/home/op/.palyra", "--admin-addr", "127.0.0.1:7443"},
		LogFile: "/home/op/.palyra/logs/daemon.log", Version: "v0.4.0",
	}
}

func browserdRunning() supervisor.ServiceStatus {
	return supervisor.ServiceStatus{
		Name: "browserd", State: supervisor.StateRunning, Health: supervisor.HealthHealthy,
		PID: 4243, Addrs: map[string]string{"grpc": "127.0.0.1:7543"},
		StartedAt: t0.Add(-2*time.Hour - 13*time.Minute), CPUPercent: 0.3, RSSBytes: 21<<20 + 300<<10,
		Command: []string{"/usr/local/bin/palyra-browserd"}, LogFile: "/home/op/.palyra/logs/browserd.log",
	}
}

func healthy() supervisor.Snapshot {
	return supervisor.Snapshot{
		GeneratedAt: t0, Overall: supervisor.OverallHealthy, Supervisor: info(),
		Services: []supervisor.ServiceStatus{daemonRunning(), browserdRunning()},
	}
}

func degraded() supervisor.Snapshot {
	b := browserdRunning()
	b.State, b.Health, b.PID, b.StartedAt = supervisor.StateBackoff, supervisor.HealthUnknown, 0, time.Time{}
	b.Restarts, b.Attempt, b.NextRestart = 3, 3, t0.Add(3*time.Second+400*time.Millisecond)
	exit := supervisor.Exit{At: t0.Add(-time.Second), Code: 1, Ran: 200 * time.Millisecond}
	b.LastExit, b.RecentExits = &exit, []supervisor.Exit{exit, exit}
	b.DroppedLines = 12
	return supervisor.Snapshot{
		GeneratedAt: t0, Overall: supervisor.OverallDegraded, Supervisor: info(),
		Reasons:  []string{"browserd is restarting (attempt 3)"},
		Services: []supervisor.ServiceStatus{daemonRunning(), b},
	}
}

func fatal() supervisor.Snapshot {
	d := daemonRunning()
	d.State, d.Health, d.HealthDetail, d.PID, d.StartedAt = supervisor.StateFatal, supervisor.HealthUnknown, "", 0, time.Time{}
	d.Restarts, d.Attempt = 10, 10
	exit := supervisor.Exit{At: t0.Add(-time.Minute), Code: 1, Ran: 150 * time.Millisecond}
	d.LastExit, d.RecentExits = &exit, []supervisor.Exit{exit}
	d.Reason = "10 failed starts in a row: listen tcp 127.0.0.1:7443: bind: address already in use"
	return supervisor.Snapshot{
		GeneratedAt: t0, Overall: supervisor.OverallDown, Supervisor: info(),
		Reasons:  []string{"daemon is fatal"},
		Services: []supervisor.ServiceStatus{d, browserdRunning()},
	}
}

func newTestModel(snap supervisor.Snapshot, w, h int) (Model, *fakeController, *cmdtest.Immediate) {
	ctrl := &fakeController{}
	clock := &cmdtest.Immediate{At: t0.Add(time.Second)}
	m := New(ctrl, theme.New(true), keys.Default(), Options{
		Now: func() time.Time { return clock.At }, Location: time.UTC, Tick: clock.Tick,
	})
	m.SetSize(w, h)
	m.SetSnapshot(snap, t0)
	return m, ctrl, clock
}

func press(m Model, keys ...string) (Model, tea.Cmd) {
	var cmd tea.Cmd
	for _, k := range keys {
		m, cmd = m.Update(cmdtest.Key(k))
	}
	return m, cmd
}

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

func TestView(t *testing.T) {
	cases := []struct {
		name string
		snap supervisor.Snapshot
		keys []string
	}{
		{"healthy", healthy(), nil},
		{"degraded_backoff", degraded(), []string{"j"}},
		{"fatal", fatal(), nil},
		{"detail", degraded(), []string{"enter"}},
		{"detail_fatal", fatal(), []string{"enter"}},
		{"stop_confirm", healthy(), []string{"x"}},
	}
	for _, c := range cases {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, s.w, s.h), func(t *testing.T) {
				m, _, _ := newTestModel(c.snap, s.w, s.h)
				m, _ = press(m, c.keys...)
				golden.RequireView(t, m.View(), s.w, s.h)
			})
		}
	}
}

func TestViewNarrow(t *testing.T) {
	for _, w := range []int{30, 50, 64} {
		t.Run(fmt.Sprint(w), func(t *testing.T) {
			m, _, _ := newTestModel(degraded(), w, 12)
			golden.RequireView(t, m.View(), w, 12)
		})
	}
}

func TestWaitingView(t *testing.T) {
	m := New(&fakeController{}, theme.New(true), keys.Default(), Options{})
	m.SetSize(80, 24)
	if got := m.View(); !strings.Contains(got, "waiting for the supervisor") {
		t.Fatalf("view before any snapshot = %q", got)
	}
}

func TestSelection(t *testing.T) {
	m, _, _ := newTestModel(healthy(), 80, 24)
	if m.Selected() != "daemon" {
		t.Fatalf("first selection = %q, want daemon", m.Selected())
	}
	m, _ = press(m, "j")
	if m.Selected() != "browserd" {
		t.Fatalf("after j = %q, want browserd", m.Selected())
	}
	m, _ = press(m, "down")
	if m.Selected() != "browserd" {
		t.Fatalf("down past the end = %q, want browserd", m.Selected())
	}
	m, _ = press(m, "k", "up")
	if m.Selected() != "daemon" {
		t.Fatalf("after k, up = %q, want daemon", m.Selected())
	}

	// A new snapshot keeps the selection by name, whatever the order.
	m, _ = press(m, "j")
	s := healthy()
	s.Services[0], s.Services[1] = s.Services[1], s.Services[0]
	m.SetSnapshot(s, t0)
	if m.Selected() != "browserd" {
		t.Fatalf("after reorder = %q, want browserd", m.Selected())
	}
}

func TestVerbs(t *testing.T) {
	cases := []struct {
		name      string
		keys      []string
		wantCalls []string
		wantLast  string
	}{
		{"start", []string{"s"}, []string{"start daemon"}, "started daemon"},
		{"restart", []string{"j", "r"}, []string{"restart browserd"}, "restarted browserd"},
		{"stop confirmed", []string{"x", "y"}, []string{"stop daemon"}, "stopped daemon"},
		{"stop denied", []string{"x", "n"}, nil, ""},
		{"stop cancelled with esc", []string{"x", "esc"}, nil, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, ctrl, _ := newTestModel(healthy(), 80, 24)
			m, cmd := press(m, c.keys...)
			if m.CapturesInput() {
				t.Fatal("still asking for confirmation")
			}
			msgs := cmdtest.Run(t, cmd)
			if got := ctrl.Calls(); strings.Join(got, ",") != strings.Join(c.wantCalls, ",") {
				t.Fatalf("calls = %q, want %q", got, c.wantCalls)
			}
			if c.wantLast == "" {
				if len(msgs) != 0 {
					t.Fatalf("messages = %v, want none", msgs)
				}
				return
			}
			last, ok := msgs[len(msgs)-1].(status.Msg)
			if !ok || last.Text != c.wantLast || last.Kind != status.KindInfo {
				t.Fatalf("last message = %#v, want notice %q", msgs[len(msgs)-1], c.wantLast)
			}
		})
	}
}

func TestStopConfirmCapturesInput(t *testing.T) {
	m, ctrl, _ := newTestModel(healthy(), 80, 24)
	m, _ = press(m, "x")
	if !m.CapturesInput() {
		t.Fatal("the confirmation does not capture input")
	}
	m, cmd := press(m, "q", "s", "j")
	if cmd != nil || m.Selected() != "daemon" || !m.CapturesInput() {
		t.Fatalf("other keys acted during the confirmation: selected %q, cmd %v", m.Selected(), cmd)
	}
	if len(ctrl.Calls()) != 0 {
		t.Fatalf("calls = %v", ctrl.Calls())
	}
}

func TestVerbError(t *testing.T) {
	m, ctrl, _ := newTestModel(healthy(), 80, 24)
	ctrl.err = errors.New("service is fatal")
	_, cmd := press(m, "r")
	msgs := cmdtest.Run(t, cmd)
	last := msgs[len(msgs)-1].(status.Msg)
	if last.Kind != status.KindError || last.Text != "restart daemon: service is fatal" {
		t.Fatalf("last = %#v", last)
	}
}

func TestOpenLogs(t *testing.T) {
	m, _, _ := newTestModel(healthy(), 80, 24)
	_, cmd := press(m, "j", "l")
	msgs := cmdtest.Run(t, cmd)
	if len(msgs) != 1 || msgs[0] != (OpenLogsMsg{Service: "browserd"}) {
		t.Fatalf("messages = %#v", msgs)
	}
}

func TestDetailAndBack(t *testing.T) {
	m, _, _ := newTestModel(healthy(), 80, 24)
	m, _ = press(m, "enter")
	if !strings.Contains(m.View(), "/home/op/.palyra/logs/daemon.log") {
		t.Fatal("detail does not show the log file")
	}
	m, _ = press(m, "esc")
	if !strings.Contains(m.View(), "NAME") {
		t.Fatal("esc did not return to the table")
	}
}

func TestTickOnlyWhileFocused(t *testing.T) {
	m, _, clock := newTestModel(degraded(), 80, 24)
	cmd := m.Focus()
	if cmd == nil {
		t.Fatal("focus did not start the clock")
	}
	if again := m.Focus(); again != nil {
		t.Fatal("a second focus started a second clock")
	}
	msgs := cmdtest.Run(t, cmd)
	m, cmd = m.Update(msgs[0])
	if cmd == nil {
		t.Fatal("a tick while focused did not re-arm")
	}
	if !strings.Contains(m.View(), "restarts in 3s") {
		t.Fatalf("countdown did not advance to 3s:\n%s", m.View())
	}
	m.Blur()
	msgs = cmdtest.Run(t, cmd)
	if _, cmd = m.Update(msgs[0]); cmd != nil {
		t.Fatal("a tick while hidden re-armed")
	}
	if len(clock.Durations) != 2 || clock.Durations[0] != time.Second {
		t.Fatalf("timers = %v, want two of 1s", clock.Durations)
	}
}

func TestHumanBytes(t *testing.T) {
	cases := map[uint64]string{0: "0B", 1023: "1023B", 1024: "1.0K", 48 << 20: "48M", 9<<20 + 512<<10: "9.5M", 10<<20 - 1<<10: "10M", 3 << 30: "3.0G"}
	for n, want := range cases {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHostileText(t *testing.T) {
	s := healthy()
	s.Services[0].Name = "dae\x1b[31mmon"
	s.Reasons = []string{"\x1b]0;pwned\x07bad"}
	s.Overall = supervisor.OverallDegraded
	m, _, _ := newTestModel(s, 80, 24)
	if v := m.View(); strings.Contains(v, "\x1b]0;") || strings.Contains(v, "\x1b[31m") {
		t.Fatalf("escape sequences from the snapshot reached the view: %q", v)
	}
}

func TestViewDaemonFacts(t *testing.T) {
	cases := []struct {
		name  string
		facts DaemonFacts
	}{
		{"connected", DaemonFacts{Known: true, Devices: 12, Online: 9, Pending: 2}},
		{"one_pending", DaemonFacts{Known: true, Devices: 1, Online: 1, Pending: 1}},
		{"unreachable", DaemonFacts{Known: true, Problem: "gateway unreachable: connection refused"}},
		{"channels_failing", DaemonFacts{Known: true, Devices: 1, Online: 1,
			Channels: &ChannelFacts{Connectors: 3, Failing: 1, DeadLetters: 3, Inbox: 4}}},
		{"channels_ok", DaemonFacts{Known: true, Devices: 1, Online: 1, Channels: &ChannelFacts{Connectors: 2, Agent: true, Inbox: 1}}},
		{"no_channels", DaemonFacts{Known: true, Channels: &ChannelFacts{}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m, _, _ := newTestModel(healthy(), 80, 24)
			m.SetDaemonFacts(c.facts)
			golden.RequireView(t, m.View(), 80, 24)
		})
	}
}

// TestEveryColumnAt80 holds the README's promise: at 80 columns the table shows every
// column, for the snapshots an operator meets, with real-sized pids.
func TestEveryColumnAt80(t *testing.T) {
	withPIDs := func(s supervisor.Snapshot, pid int) supervisor.Snapshot {
		for i := range s.Services {
			if s.Services[i].PID != 0 {
				s.Services[i].PID = pid + i
			}
		}
		return s
	}
	unhealthy := healthy()
	unhealthy.Services[1].Health, unhealthy.Services[1].HealthDetail = supervisor.HealthUnhealthy, "NOT_SERVING"
	snaps := map[string]supervisor.Snapshot{"healthy": healthy(), "degraded": degraded(), "fatal": fatal(), "unhealthy": unhealthy}
	for name, snap := range snaps {
		for _, pid := range []int{4242, 20877, 812345} {
			t.Run(fmt.Sprintf("%s_pid%d", name, pid), func(t *testing.T) {
				m, _, _ := newTestModel(withPIDs(snap, pid), 80, 24)
				header := lineWith(t, m.View(), "NAME")
				for _, title := range []string{"NAME", "STATE", "HEALTH", "PID", "PORTS", "UPTIME", "RST", "CPU", "MEM", "EXIT"} {
					if !strings.Contains(header, title) {
						t.Errorf("no %s column at 80 columns:\n%s", title, m.View())
					}
				}
			})
		}
	}
}

func lineWith(t *testing.T, view, part string) string {
	t.Helper()
	for line := range strings.SplitSeq(view, "\n") {
		if strings.Contains(line, part) {
			return line
		}
	}
	t.Fatalf("no line with %q in:\n%s", part, view)
	return ""
}

func TestClockTicksWhenTheShownTextChanges(t *testing.T) {
	m, _, clock := newTestModel(healthy(), 80, 24)
	// Only hours and minutes show; the daemon's uptime, 2h13m08s at t0+1s, turns first.
	stale := m.Focus()
	if fmt.Sprint(clock.Durations) != "[52s]" {
		t.Fatalf("timers = %v, want one of 52s", clock.Durations)
	}
	restarted := healthy()
	restarted.Services[1].StartedAt = t0
	m.SetSnapshot(restarted, t0.Add(time.Second))
	fresh := m.Reschedule()
	if fresh == nil || fmt.Sprint(clock.Durations) != "[52s 1s]" {
		t.Fatalf("timers = %v after a restart, want a second one of 1s", clock.Durations)
	}
	if again := m.Reschedule(); again != nil {
		t.Fatal("a second snapshot started a third clock")
	}
	m, cmd := m.Update(cmdtest.Run(t, stale)[0])
	if cmd != nil {
		t.Fatal("the replaced tick re-armed")
	}
	if _, cmd = m.Update(cmdtest.Run(t, fresh)[0]); cmd == nil {
		t.Fatal("the current tick did not re-arm")
	}
}
