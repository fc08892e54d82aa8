// Package cockpit is the TUI's first pane: the stack's overall status and a table of the
// supervised services, with verbs (start, stop, restart, logs, detail) on the selected one.
package cockpit

import (
	"context"
	"errors"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

// Controller runs service verbs. The supervisor client satisfies it.
type Controller interface {
	StartService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
	StopService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
	RestartService(ctx context.Context, name string) ([]supervisor.ServiceStatus, error)
}

// Verb is an operator action on a service.
type Verb string

// The verbs.
const (
	VerbStart   Verb = "start"
	VerbStop    Verb = "stop"
	VerbRestart Verb = "restart"
)

// verbTimeout bounds one verb call; a stop waits for the child's grace period (10 s by default).
const verbTimeout = 30 * time.Second

// OpenLogsMsg asks the root to show the Logs pane for one service.
type OpenLogsMsg struct{ Service string }

// TickMsg moves the cockpit's clock, so uptimes and countdowns advance while it is visible.
type TickMsg struct {
	At  time.Time
	gen int // the clock that sent it; older ones are dropped
}

// DaemonFacts are what the cockpit shows of palyrad's gateway: its devices and approvals.
type DaemonFacts struct {
	Known   bool   // the TUI has tried to reach palyrad; nothing is shown before
	Problem string // why palyrad cannot be reached, "" when connected
	Devices int    // paired devices
	Online  int    // devices online or degraded
	Pending int    // approvals waiting for a decision
	// Channels is the connectors' state, nil until palyrad listed them.
	Channels *ChannelFacts
}

// ChannelFacts counts palyrad's connectors for the header.
type ChannelFacts struct {
	Connectors, Failing, DeadLetters, Inbox int
	Agent                                   bool
}

// Options are the cockpit's settings.
type Options struct {
	Now      func() time.Time                                     // the clock; time.Now when nil
	Location *time.Location                                       // for wall-clock times; time.Local when nil
	Tick     func(time.Duration, func(time.Time) tea.Msg) tea.Cmd // timers; tea.Tick when nil
}

type mode int

const (
	modeTable mode = iota
	modeDetail
	modeConfirmStop
)

// Model is the cockpit pane.
type Model struct {
	ctrl   Controller
	styles theme.Styles
	keys   keys.KeyMap
	now    func() time.Time
	loc    *time.Location
	tick   func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	width, height int

	snap     supervisor.Snapshot
	hasSnap  bool
	daemon   DaemonFacts
	at       time.Time // the time uptimes and countdowns are measured at
	selected string    // the selected service's name
	mode     mode
	back     mode   // where a confirmation returns to
	refusal  string // why this UI may not start or stop services; "" when it may

	focused bool
	tickDue time.Time // when the TickMsg on its way fires; zero when none is
	tickGen int
}

// New returns a cockpit that runs verbs through ctrl.
func New(ctrl Controller, st theme.Styles, km keys.KeyMap, opts Options) Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Tick == nil {
		opts.Tick = tea.Tick
	}
	return Model{ctrl: ctrl, styles: st, keys: km, now: opts.Now, loc: opts.Location, tick: opts.Tick}
}

// Init starts nothing; the root feeds snapshots in.
func (m Model) Init() tea.Cmd { return nil }

// SetSize sets the pane's size in cells.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// SetStyles replaces the styles, e.g. after the terminal reported its background.
func (m *Model) SetStyles(st theme.Styles) { m.styles = st }

// SetSnapshot shows a new snapshot received at the time at.
func (m *Model) SetSnapshot(s supervisor.Snapshot, at time.Time) {
	m.snap, m.hasSnap, m.at = s, true, at
	if m.index() < 0 && len(s.Services) > 0 {
		m.selected = s.Services[0].Name
	}
}

// SetDaemonFacts shows the gateway's latest counts, or why it cannot be reached.
func (m *Model) SetDaemonFacts(f DaemonFacts) { m.daemon = f }

// Focus marks the pane visible and starts its clock unless a tick is already due.
func (m *Model) Focus() tea.Cmd {
	m.focused = true
	return m.armClock()
}

// Reschedule is the clock's tick after a new snapshot, when it must come sooner than the one
// on its way (a service restarted and shows seconds again); nil otherwise.
func (m *Model) Reschedule() tea.Cmd { return m.armClock() }

// armClock sends the next tick when the first of the shown durations changes text, once a
// second at most: each second while one shows seconds, each minute once they show only hours
// and minutes.
func (m *Model) armClock() tea.Cmd {
	if !m.focused {
		return nil
	}
	now := m.now()
	// At most once a second: uptimes started at different instants change within the same
	// second, and one frame for all of them is enough.
	wait := max(m.nextChange(now), time.Second)
	due := now.Add(wait)
	if !m.tickDue.IsZero() && !m.tickDue.After(due) {
		return nil
	}
	m.tickDue = due
	m.tickGen++
	gen, clockNow := m.tickGen, m.now
	return m.tick(wait, func(time.Time) tea.Msg { return TickMsg{At: clockNow(), gen: gen} })
}

// nextChange is how long after now an uptime or countdown the pane shows changes text; a
// minute at most, so that nothing is ever much later than the wall clock.
func (m Model) nextChange(now time.Time) time.Duration {
	wait := time.Minute
	if !m.snap.Supervisor.StartedAt.IsZero() {
		wait = min(wait, clock.ShortChangesIn(now.Sub(m.snap.Supervisor.StartedAt)))
	}
	for _, s := range m.snap.Services {
		if !s.StartedAt.IsZero() {
			wait = min(wait, clock.ShortChangesIn(now.Sub(s.StartedAt)))
		}
		if s.NextRestart.After(now) {
			wait = min(wait, time.Second) // a countdown
		}
	}
	return wait
}

// Blur marks the pane hidden; the clock stops at its next tick.
func (m *Model) Blur() { m.focused = false }

// CapturesInput reports whether the pane wants every key, as while it asks for a confirmation.
func (m Model) CapturesInput() bool { return m.mode == modeConfirmStop }

// Selected returns the selected service's name, or "" when there is none.
func (m Model) Selected() string { return m.selected }

// SetOperate says why this UI may not start, stop or restart services ("" when it may): its
// verbs are hidden and refused meanwhile.
func (m *Model) SetOperate(refusal string) { m.refusal = refusal }

// Run returns the command that applies verb v to the service name ("all" for every service)
// and reports the outcome on the status line.
func (m Model) Run(v Verb, name string) tea.Cmd {
	if m.refusal != "" {
		return status.Error(errors.New(m.refusal))
	}
	var call func(context.Context, string) ([]supervisor.ServiceStatus, error)
	var doing, done string
	switch v {
	case VerbStart:
		call, doing, done = m.ctrl.StartService, "starting", "started"
	case VerbStop:
		call, doing, done = m.ctrl.StopService, "stopping", "stopped"
	case VerbRestart:
		call, doing, done = m.ctrl.RestartService, "restarting", "restarted"
	default:
		return status.Error(fmt.Errorf("unknown verb %q", v))
	}
	target := name
	if name == "all" {
		target = "all services"
	}
	return tea.Sequence(status.Info(doing+" "+target+"…"), func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), verbTimeout)
		defer cancel()
		if _, err := call(ctx, name); err != nil {
			return status.ErrorMsg(fmt.Errorf("%s %s: %w", v, name, err))
		}
		return status.Msg{Text: done + " " + target}
	})
}

// Update handles keys and the clock.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case TickMsg:
		if msg.gen != m.tickGen {
			return m, nil
		}
		m.tickDue = time.Time{}
		if !m.focused {
			return m, nil
		}
		m.at = msg.At
		return m, m.armClock()
	case tea.KeyPressMsg:
		switch m.mode {
		case modeConfirmStop:
			return m.updateConfirm(msg)
		case modeDetail:
			if key.Matches(msg, m.keys.Back) {
				m.mode = modeTable
				return m, nil
			}
		}
		return m.updateTable(msg)
	}
	return m, nil
}

func (m Model) updateTable(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	i := m.index()
	if i < 0 {
		return m, nil
	}
	switch {
	case key.Matches(msg, m.keys.Up):
		m.selected = m.snap.Services[max(i-1, 0)].Name
	case key.Matches(msg, m.keys.Down):
		m.selected = m.snap.Services[min(i+1, len(m.snap.Services)-1)].Name
	case key.Matches(msg, m.keys.Top):
		m.selected = m.snap.Services[0].Name
	case key.Matches(msg, m.keys.Bottom):
		m.selected = m.snap.Services[len(m.snap.Services)-1].Name
	case key.Matches(msg, m.keys.Start):
		return m, m.Run(VerbStart, m.selected)
	case key.Matches(msg, m.keys.Stop) && m.refusal != "":
		return m, m.Run(VerbStop, m.selected)
	case key.Matches(msg, m.keys.Stop):
		m.back, m.mode = m.mode, modeConfirmStop
	case key.Matches(msg, m.keys.Restart):
		return m, m.Run(VerbRestart, m.selected)
	case key.Matches(msg, m.keys.ShowLogs):
		name := m.selected
		return m, func() tea.Msg { return OpenLogsMsg{Service: name} }
	case key.Matches(msg, m.keys.Detail):
		m.mode = modeDetail
	}
	return m, nil
}

func (m Model) updateConfirm(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Confirm):
		m.mode = m.back
		return m, m.Run(VerbStop, m.selected)
	case key.Matches(msg, m.keys.Deny):
		m.mode = m.back
	}
	return m, nil
}

// index is the selected service's position in the snapshot, or -1.
func (m Model) index() int {
	for i, s := range m.snap.Services {
		if s.Name == m.selected {
			return i
		}
	}
	return -1
}

// ShortHelp lists the bindings for the status line.
func (m Model) ShortHelp() []key.Binding {
	switch m.mode {
	case modeConfirmStop:
		return []key.Binding{m.keys.Confirm, m.keys.Deny}
	case modeDetail:
		return append(append([]key.Binding{m.keys.Back}, m.verbs()...), m.keys.ShowLogs)
	}
	return append(m.verbs(), m.keys.ShowLogs, m.keys.Detail)
}

// FullHelp lists the bindings for the help overlay, in columns.
func (m Model) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{m.keys.Up, m.keys.Down, m.keys.Top, m.keys.Bottom},
		m.verbs(),
		{m.keys.ShowLogs, m.keys.Detail, m.keys.Back},
	}
}

// verbs are the bindings that act on services, none while this UI may not.
func (m Model) verbs() []key.Binding {
	if m.refusal != "" {
		return nil
	}
	return []key.Binding{m.keys.Start, m.keys.Stop, m.keys.Restart}
}
