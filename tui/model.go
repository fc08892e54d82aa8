package tui

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"charm.land/bubbles/v2/help"
	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/tui/approvals"
	"github.com/palyra/palyra/tui/channels"
	"github.com/palyra/palyra/tui/cockpit"
	"github.com/palyra/palyra/tui/inventory"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/logview"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/termtext"
	"github.com/palyra/palyra/tui/theme"
)

// pane identifies a pane. Its number is its key; the gap keeps the place of the pane to come
// (6 Browser).
type pane int

const (
	paneCockpit   pane = 1
	paneInventory pane = 2
	paneApprovals pane = 3
	paneChannels  pane = 4
	paneLogs      pane = 5
)

// panes lists the panes that exist, in tab order.
var panes = []struct {
	id    pane
	title string
}{
	{paneCockpit, "Cockpit"},
	{paneInventory, "Inventory"},
	{paneApprovals, "Approvals"},
	{paneChannels, "Channels"},
	{paneLogs, "Logs"},
}

const (
	chromeHeight  = 2 // the tab bar above the pane and the status line below it
	firstRetry    = time.Second
	lastRetry     = 5 * time.Second
	infoLifetime  = 5 * time.Second
	errorLifetime = 15 * time.Second
	rpcTimeout    = 30 * time.Second
)

// startMsg opens the streams once the program runs.
type startMsg struct{}

type snapshotMsg struct {
	gen    int
	stream api.SnapshotStream // read again for the next snapshot
	snap   supervisor.Snapshot
	at     time.Time
	err    error
}

type snapshotRetryMsg struct{ gen int }

type clearNoticeMsg struct{ id int }

// model is the root model, the only tea.Model of the TUI.
type model struct {
	backend Backend
	opts    Options
	styles  theme.Styles
	keys    keys.KeyMap
	logger  *slog.Logger
	tick    tickFunc

	width, height int
	focus         pane
	cockpit       cockpit.Model
	inventory     inventory.Model
	approvals     approvals.Model
	channels      channels.Model
	logs          logview.Model

	link link // palyrad's admin API

	// The snapshot stream. gen tells the messages of the current stream from those of one replaced.
	snap       supervisor.Snapshot
	snapGen    int
	snapCancel context.CancelFunc
	down       bool
	retry      time.Duration

	notice   status.Msg
	noticeID int // the notice shown; 0 for none

	help      help.Model
	showHelp  bool
	palette   textinput.Model
	preflight preflight
}

// tickFunc is tea.Tick's signature; tests pass one that fires at once.
type tickFunc = func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

func newModel(b Backend, opts Options, logger *slog.Logger, tick tickFunc) model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	st, km := theme.New(true), keys.Default()
	m := model{
		backend: b, opts: opts, styles: st, keys: km, logger: logger, tick: tick,
		focus:     paneCockpit,
		cockpit:   cockpit.New(b, st, km, cockpit.Options{Now: opts.Now, Location: opts.Location, Tick: tick}),
		inventory: inventory.New(st, km, inventory.Options{Now: opts.Now, Location: opts.Location, Tick: tick}),
		approvals: approvals.New(st, km, approvals.Options{Now: opts.Now, Location: opts.Location, Tick: tick}),
		channels:  channels.New(st, km, channels.Options{Now: opts.Now}),
		logs: logview.New(b, st, km, logview.Options{
			Now: opts.Now, Location: opts.Location, SaveDir: opts.SaveDir,
			MaxLines: opts.MaxLogLines, Logger: logger, Tick: tick,
		}),
		retry:   firstRetry,
		help:    help.New(),
		palette: textinput.New(),
	}
	m.palette.Prompt = ":"
	m.palette.Placeholder = "start|stop|restart NAME|all · logs [NAME] · pair [qr] · quit"
	m.palette.ShowSuggestions = true
	m.setStyles(st)
	m.resize(80, 24)
	m.cockpit.SetOperate(m.operateRefusal())
	return m
}

// Init asks for the terminal's background and starts the streams.
func (m model) Init() tea.Cmd {
	return tea.Batch(tea.RequestBackgroundColor, func() tea.Msg { return startMsg{} })
}

// close ends the streams when the program is over.
func (m model) close() {
	if m.snapCancel != nil {
		m.snapCancel()
	}
	if m.link.cancel != nil {
		m.link.cancel()
	}
	if m.link.conn.Client != nil {
		m.link.conn.Client.Close()
	}
	m.logs.Close()
}

// Update routes: broadcasts to every pane, keys to the globals then the focused pane,
// results to the pane that declares them.
func (m model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case startMsg:
		cmds := []tea.Cmd{m.openSnapshots(), m.logs.Start(), m.cockpit.Focus()}
		if m.opts.Gateway != "" {
			// A named gateway needs no snapshot to be found.
			cmds = append(cmds, m.followDaemon(m.snap))
		}
		if m.opts.FirstRun {
			cmds = append(cmds, m.runPreflight())
		}
		return m, tea.Batch(cmds...)
	case tea.WindowSizeMsg:
		m.resize(msg.Width, msg.Height)
		return m, nil
	case tea.BackgroundColorMsg:
		m.setStyles(theme.New(msg.IsDark()))
		return m, nil
	case tea.KeyPressMsg:
		return m.updateKey(msg)
	case status.Msg:
		m.notice = msg
		m.noticeID++
		lifetime, id := infoLifetime, m.noticeID
		if msg.Kind == status.KindError {
			lifetime = errorLifetime
			m.logger.Warn("notice", "text", msg.Text)
		}
		return m, m.tick(lifetime, func(time.Time) tea.Msg { return clearNoticeMsg{id: id} })
	case clearNoticeMsg:
		if msg.id == m.noticeID {
			m.noticeID = 0
		}
		return m, nil
	case snapshotMsg, snapshotRetryMsg:
		return m.updateSnapshots(msg)
	case gatewayMsg, gatewayRetryMsg, inventoryMsg, approvalMsg, channelsMsg:
		return m.updateGateway(msg)
	case preflightMsg:
		// Shown unless the operator dismissed the overlay while the checks ran.
		m.preflight = preflight{open: m.preflight.open, checks: msg.checks, err: msg.err}
		return m, nil
	case cockpit.OpenLogsMsg:
		return m, m.showLogs(msg.Service)
	case cockpit.TickMsg:
		var cmd tea.Cmd
		m.cockpit, cmd = m.cockpit.Update(msg)
		return m, cmd
	}
	// Everything else belongs to a pane's package or to a text input; each ignores the rest.
	cmds := make([]tea.Cmd, 6)
	m.cockpit, cmds[0] = m.cockpit.Update(msg)
	m.inventory, cmds[1] = m.inventory.Update(msg)
	m.approvals, cmds[2] = m.approvals.Update(msg)
	m.channels, cmds[3] = m.channels.Update(msg)
	m.logs, cmds[4] = m.logs.Update(msg)
	m.palette, cmds[5] = m.palette.Update(msg)
	return m, tea.Batch(cmds...)
}

func (m model) updateKey(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.ForceQuit):
		return m, tea.Quit
	case m.preflight.open:
		return m.updatePreflight(msg)
	case m.palette.Focused():
		return m.updatePalette(msg)
	case m.showHelp:
		switch {
		case key.Matches(msg, m.keys.Help, m.keys.Back):
			m.showHelp = false
		case key.Matches(msg, m.keys.Quit):
			return m, tea.Quit
		}
		return m, nil
	case m.focusCapturesInput():
		return m.updateFocused(msg)
	case key.Matches(msg, m.keys.Quit):
		return m, tea.Quit
	case key.Matches(msg, m.keys.Help):
		m.showHelp = true
		return m, nil
	case key.Matches(msg, m.keys.Palette):
		m.palette.Reset()
		return m, m.palette.Focus()
	case key.Matches(msg, m.keys.NextPane):
		return m, m.setFocus(m.neighbour(+1))
	case key.Matches(msg, m.keys.PrevPane):
		return m, m.setFocus(m.neighbour(-1))
	case key.Matches(msg, m.keys.Cockpit):
		return m, m.setFocus(paneCockpit)
	case key.Matches(msg, m.keys.Inventory):
		return m, m.setFocus(paneInventory)
	case key.Matches(msg, m.keys.Approvals):
		return m, m.setFocus(paneApprovals)
	case key.Matches(msg, m.keys.Channels):
		return m, m.setFocus(paneChannels)
	case key.Matches(msg, m.keys.Logs):
		return m, m.setFocus(paneLogs)
	}
	return m.updateFocused(msg)
}

func (m model) updateFocused(msg tea.Msg) (tea.Model, tea.Cmd) {
	var cmd tea.Cmd
	switch m.focus {
	case paneCockpit:
		m.cockpit, cmd = m.cockpit.Update(msg)
	case paneInventory:
		m.inventory, cmd = m.inventory.Update(msg)
	case paneApprovals:
		m.approvals, cmd = m.approvals.Update(msg)
	case paneChannels:
		m.channels, cmd = m.channels.Update(msg)
	case paneLogs:
		m.logs, cmd = m.logs.Update(msg)
	}
	return m, cmd
}

func (m model) focusCapturesInput() bool {
	switch m.focus {
	case paneCockpit:
		return m.cockpit.CapturesInput()
	case paneInventory:
		return m.inventory.CapturesInput()
	case paneApprovals:
		return m.approvals.CapturesInput()
	case paneChannels:
		return m.channels.CapturesInput()
	case paneLogs:
		return m.logs.CapturesInput()
	}
	return false
}

// setFocus shows pane p; a pane's clock runs only while it is visible.
func (m *model) setFocus(p pane) tea.Cmd {
	m.focus = p
	m.cockpit.Blur()
	m.inventory.Blur()
	m.approvals.Blur()
	m.channels.Blur()
	switch p {
	case paneCockpit:
		return m.cockpit.Focus()
	case paneInventory:
		return m.inventory.Focus()
	case paneApprovals:
		return m.approvals.Focus()
	case paneChannels:
		return m.channels.Focus()
	}
	return nil
}

func (m model) neighbour(step int) pane {
	for i, p := range panes {
		if p.id == m.focus {
			return panes[(i+step+len(panes))%len(panes)].id
		}
	}
	return panes[0].id
}

func (m *model) showLogs(service string) tea.Cmd {
	return tea.Batch(m.setFocus(paneLogs), m.logs.ShowService(service))
}

func (m *model) resize(w, h int) {
	m.width, m.height = w, h
	paneHeight := max(h-chromeHeight, 1)
	m.cockpit.SetSize(w, paneHeight)
	m.inventory.SetSize(w, paneHeight)
	m.approvals.SetSize(w, paneHeight)
	m.channels.SetSize(w, paneHeight)
	m.logs.SetSize(w, paneHeight)
	m.help.SetWidth(w)
}

func (m *model) setStyles(st theme.Styles) {
	m.styles = st
	m.cockpit.SetStyles(st)
	m.inventory.SetStyles(st)
	m.approvals.SetStyles(st)
	m.channels.SetStyles(st)
	m.logs.SetStyles(st)
	m.palette.SetStyles(st.Input)
	m.help.Styles = help.Styles{
		Ellipsis: st.Muted, ShortKey: st.Help.Key, ShortDesc: st.Help.Desc, ShortSeparator: st.Muted,
		FullKey: st.Help.Key, FullDesc: st.Help.Desc, FullSeparator: st.Muted,
	}
}

// openSnapshots replaces the snapshot stream. The stream has no deadline: it lives until it
// breaks or the program ends, and close cancels it.
func (m *model) openSnapshots() tea.Cmd {
	if m.snapCancel != nil {
		m.snapCancel()
	}
	m.snapGen++
	ctx, cancel := context.WithCancel(context.Background())
	m.snapCancel = cancel
	b, gen, now := m.backend, m.snapGen, m.opts.Now
	return func() tea.Msg {
		s, err := b.WatchSnapshots(ctx)
		if err != nil {
			return snapshotMsg{gen: gen, err: err}
		}
		return nextSnapshot(gen, s, now)()
	}
}

func nextSnapshot(gen int, s api.SnapshotStream, now func() time.Time) tea.Cmd {
	return func() tea.Msg {
		snap, err := s.Recv()
		return snapshotMsg{gen: gen, stream: s, snap: snap, at: now(), err: err}
	}
}

func (m model) updateSnapshots(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case snapshotMsg:
		if msg.gen != m.snapGen {
			return m, nil
		}
		if msg.err != nil {
			return m, m.snapshotsLost(msg.err)
		}
		if m.down {
			m.logger.Info("snapshot stream back")
		}
		m.down, m.retry = false, firstRetry
		m.snap = msg.snap
		m.cockpit.SetSnapshot(msg.snap, msg.at)
		m.inventory.SetInstances(msg.snap.Services)
		m.logs.SetServices(msg.snap.Services)
		m.palette.SetSuggestions(suggestions(msg.snap.Services))
		return m, tea.Batch(m.followDaemon(msg.snap), nextSnapshot(msg.gen, msg.stream, m.opts.Now), m.cockpit.Reschedule())
	case snapshotRetryMsg:
		if msg.gen == m.snapGen {
			return m, m.openSnapshots()
		}
	}
	return m, nil
}

// snapshotsLost shows the disconnection and reopens the stream after 1 s, doubling up to 5 s.
func (m *model) snapshotsLost(err error) tea.Cmd {
	if m.snapCancel != nil {
		m.snapCancel()
	}
	if !m.down {
		m.logger.Warn("snapshot stream lost", "err", err)
	}
	m.down = true
	delay, gen := m.retry, m.snapGen
	m.retry = min(m.retry*2, lastRetry)
	return m.tick(delay, func(time.Time) tea.Msg { return snapshotRetryMsg{gen: gen} })
}

// View draws the tab bar, the focused pane or an overlay, and the status line.
func (m model) View() tea.View {
	v := tea.NewView(m.render())
	v.AltScreen = true
	v.WindowTitle = "palyra"
	return v
}

func (m model) render() string {
	bodyHeight := max(m.height-chromeHeight, 1)
	var body string
	switch {
	case m.preflight.open:
		body = m.overlay(m.preflightView(bodyHeight), bodyHeight)
	case m.showHelp:
		body = m.overlay(m.helpView(), bodyHeight)
	case m.focus == paneInventory:
		body = m.inventory.View()
	case m.focus == paneApprovals:
		body = m.approvals.View()
	case m.focus == paneChannels:
		body = m.channels.View()
	case m.focus == paneLogs:
		body = m.logs.View()
	default:
		body = m.cockpit.View()
	}
	body = termtext.Block(body, m.width, bodyHeight)
	if m.palette.Focused() {
		// The last pane row gives way to the palette's hint.
		lines := strings.Split(body, "\n")
		lines[len(lines)-1] = m.styles.Muted.Render(termtext.Truncate(paletteHint, m.width))
		body = strings.Join(lines, "\n")
	}
	return termtext.Truncate(m.tabBar(), m.width) + "\n" + body + "\n" + termtext.Truncate(m.statusLine(), m.width)
}

// tabBar names the panes and, at the right, the pending approvals: visible on every pane.
func (m model) tabBar() string {
	var b strings.Builder
	for _, p := range panes {
		label := string(rune('0'+p.id)) + " " + p.title
		if p.id == m.focus {
			b.WriteString(m.styles.Tabs.Active.Render(label))
		} else {
			b.WriteString(m.styles.Tabs.Inactive.Render(label))
		}
	}
	n := m.approvals.Pending()
	if n == 0 {
		return b.String()
	}
	badge := m.styles.Status.Warn.Render(fmt.Sprintf("%d pending", n))
	pad := max(m.width-termtext.Width(b.String())-termtext.Width(badge), 1)
	return b.String() + strings.Repeat(" ", pad) + badge
}

func (m model) statusLine() string {
	switch {
	case m.palette.Focused():
		return m.palette.View()
	case m.down:
		return m.styles.Status.Warn.Render("disconnected from supervisor — retrying")
	case m.noticeID != 0 && m.notice.Kind == status.KindError:
		return m.styles.Status.Error.Render(m.notice.Text)
	case m.noticeID != 0:
		return m.styles.Status.Info.Render(m.notice.Text)
	}
	quit := m.keys.Quit
	quit.SetHelp(quit.Help().Key, "quit")
	bindings := append([]key.Binding{m.keys.Help}, m.focusedHelp().ShortHelp()...)
	return m.help.ShortHelpView(append(bindings, quit))
}

func (m model) focusedHelp() help.KeyMap {
	switch m.focus {
	case paneInventory:
		return m.inventory
	case paneApprovals:
		return m.approvals
	case paneChannels:
		return m.channels
	case paneLogs:
		return m.logs
	}
	return m.cockpit
}

func (m model) focusedTitle() string {
	for _, p := range panes {
		if p.id == m.focus {
			return p.title
		}
	}
	return ""
}
