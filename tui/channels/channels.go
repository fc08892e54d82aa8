// Package channels is the Channels pane: palyrad's connectors with their plugin process,
// readiness, queue and counters; a detail view with the plugin's facts, recent events and
// dead letters; and the operator's verbs: add (a form built from the kind's settings),
// pause and resume, drain, test-send, enable and disable, restart, remove, replay and
// discard dead letters, and set a secret with a masked input. The root feeds it palyrad's
// connector watch; the verbs go through gateway.Channels.
package channels

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

const (
	callTimeout = 15 * time.Second
	// detailPage is how many events and dead letters the detail view shows.
	detailPage = 20
	// TestConversation is where `t` sends when the operator names no conversation.
	TestConversation = "general"
	secretType       = "secret"
)

// Options are the pane's settings.
type Options struct {
	Now func() time.Time // the clock; time.Now when nil
}

type mode int

const (
	modeList mode = iota
	modeDetail
	modeForm    // adding a connector, or setting a secret
	modeConfirm // removing a connector
)

// TickMsg moves the pane's clock while it is visible, so uptimes and ages advance.
type TickMsg struct{ At time.Time }

// Model is the Channels pane.
type Model struct {
	styles *theme.Styles
	keys   keys.KeyMap
	now    func() time.Time
	at     time.Time

	width, height int
	conn          gateway.Conn

	connectors []*palyrav1.Connector // by id
	// waiting are the plugin executables palyrad will not run yet (untrusted, changed,
	// unsafe, missing), read when the pane is shown.
	waiting []*palyrav1.PluginFile
	agent   bool
	loaded  bool
	// unavailable says why palyrad sends no connectors (it runs none, or is older), while
	// the rest of the gateway works.
	unavailable string

	cursor   int
	selected string
	mode     mode
	detail   detail
	form     form
	focused  bool
	ticking  bool
}

// detail is what the detail view shows of the selected connector beyond its record.
type detail struct {
	id      string
	events  []*palyrav1.ConnectorEventLine
	dead    []*palyrav1.DeadLetter
	cursor  int // the selected dead letter
	err     string
	loading bool
	offset  int
}

// New returns an empty pane.
func New(st theme.Styles, km keys.KeyMap, opts Options) Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	m := Model{keys: km, now: opts.Now, at: opts.Now()}
	m.SetStyles(st)
	return m
}

// SetSize sets the pane's size in cells.
func (m *Model) SetSize(w, h int) { m.width, m.height = w, h }

// SetStyles replaces the styles.
func (m *Model) SetStyles(st theme.Styles) {
	m.styles = &st
	m.form.setStyles(st)
}

// SetGateway tells the pane how palyrad can be reached. Losing it empties the list: what
// it showed is no longer known.
func (m *Model) SetGateway(c gateway.Conn) {
	m.conn = c
	if !c.Connected() {
		m.connectors, m.loaded, m.agent, m.unavailable = nil, false, false, ""
		m.reselect()
	}
}

// SetList replaces the connectors with one reply of palyrad's watch.
func (m *Model) SetList(r *palyrav1.ListConnectorsReply) {
	m.connectors = slices.Clone(r.GetConnectors())
	slices.SortFunc(m.connectors, func(a, b *palyrav1.Connector) int { return strings.Compare(a.GetId(), b.GetId()) })
	m.agent, m.loaded, m.unavailable = r.GetAgentAttached(), true, ""
	m.reselect()
}

// SetUnavailable empties the list and says why: palyrad's connector watch failed while the
// rest of the gateway works.
func (m *Model) SetUnavailable(reason string) {
	m.connectors, m.loaded, m.agent, m.unavailable = nil, false, false, reason
	m.reselect()
}

// Summary is what the cockpit shows of the connectors.
type Summary struct {
	Known               bool // a list arrived
	Connectors, Failing int  // failing: enabled and not ready, or its plugin not running
	DeadLetters, Inbox  int64
	AgentAttached       bool
}

// Summary counts the connectors for the cockpit.
func (m Model) Summary() Summary {
	s := Summary{Known: m.loaded, Connectors: len(m.connectors), AgentAttached: m.agent}
	for _, c := range m.connectors {
		if failing(c) {
			s.Failing++
		}
		s.DeadLetters += c.GetDeadLetters()
		s.Inbox += int64(c.GetInbox())
	}
	return s
}

func failing(c *palyrav1.Connector) bool {
	return c.GetEnabled() && (c.GetReadiness() != "ready" || c.GetPlugin().GetState() != "running")
}

// Focus marks the pane visible and starts its once-a-second clock.
func (m *Model) Focus() tea.Cmd {
	m.focused = true
	m.at = m.now()
	var cmds []tea.Cmd
	if m.mode == modeDetail {
		cmds = append(cmds, m.loadDetail())
	}
	if !m.ticking {
		cmds = append(cmds, m.tickOnly())
	}
	if m.conn.Connected() {
		cmds = append(cmds, loadPlugins(m.conn.Channels))
	}
	return tea.Batch(cmds...)
}

// pluginsMsg is palyrad's list of connector plugins.
type pluginsMsg struct{ plugins []*palyrav1.PluginFile }

func loadPlugins(api gateway.Channels) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		plugins, err := api.Plugins(ctx)
		if err != nil {
			return pluginsMsg{} // an older palyrad, or a token that may not read them: nothing to say
		}
		return pluginsMsg{plugins}
	}
}

// Blur marks the pane hidden.
func (m *Model) Blur() { m.focused = false }

// CapturesInput reports whether the pane wants every key, while a form is open.
func (m Model) CapturesInput() bool { return m.mode == modeForm }

// detailMsg is a loaded detail of connector id.
type detailMsg struct {
	id     string
	events []*palyrav1.ConnectorEventLine
	dead   []*palyrav1.DeadLetter
	err    error
}

// doneMsg is a verb's success: the notice, and whether the detail should be read again.
type doneMsg struct {
	notice string
	reload bool
}

// kindsMsg is the installed kinds, for the add form.
type kindsMsg struct {
	kinds []*palyrav1.ConnectorKind
	err   error
}

// Update handles keys, the clock and the results of the pane's calls.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case TickMsg:
		m.ticking = false
		if !m.focused {
			return m, nil
		}
		m.at = msg.At
		return m, m.tickOnly()
	case detailMsg:
		if msg.id != m.detail.id {
			return m, nil
		}
		m.detail.loading = false
		if msg.err != nil {
			m.detail.err = gateway.Explain(msg.err)
			return m, nil
		}
		m.detail.events, m.detail.dead, m.detail.err = msg.events, msg.dead, ""
		m.detail.cursor = min(m.detail.cursor, max(len(m.detail.dead)-1, 0))
		return m, nil
	case doneMsg:
		var cmd tea.Cmd
		if msg.reload && m.mode == modeDetail {
			cmd = m.loadDetail()
		}
		return m, tea.Batch(status.Info(msg.notice), cmd)
	case pluginsMsg:
		m.waiting = nil
		for _, p := range msg.plugins {
			switch p.GetState() {
			case "untrusted", "changed", "unsafe", "missing":
				m.waiting = append(m.waiting, p)
			}
		}
		return m, nil
	case kindsMsg:
		if msg.err != nil {
			return m, status.Error(errors.New("connector kinds: " + gateway.Explain(msg.err)))
		}
		m.form = newAddForm(msg.kinds, *m.styles)
		m.mode = modeForm
		return m, m.form.focus()
	case tea.KeyPressMsg:
		switch m.mode {
		case modeForm:
			return m.updateForm(msg)
		case modeConfirm:
			return m.updateConfirm(msg)
		case modeDetail:
			return m.updateDetail(msg)
		}
		return m.updateList(msg)
	}
	if m.mode == modeForm {
		var cmd tea.Cmd
		m.form, cmd = m.form.update(msg)
		return m, cmd
	}
	return m, nil
}

// tickOnly starts the next tick of the clock.
func (m *Model) tickOnly() tea.Cmd {
	m.ticking = true
	now := m.now
	return tea.Tick(time.Second, func(time.Time) tea.Msg { return TickMsg{At: now()} })
}

func (m Model) updateList(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Up):
		m.move(-1)
	case key.Matches(msg, m.keys.Down):
		m.move(+1)
	case key.Matches(msg, m.keys.Top):
		m.move(-len(m.connectors))
	case key.Matches(msg, m.keys.Bottom):
		m.move(+len(m.connectors))
	case key.Matches(msg, m.keys.Detail):
		if m.current() != nil {
			m.mode = modeDetail
			m.detail = detail{id: m.selected}
			return m, m.loadDetail()
		}
	default:
		return m.updateVerb(msg)
	}
	return m, nil
}

func (m Model) updateDetail(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode = modeList
		return m, nil
	case key.Matches(msg, m.keys.Up):
		m.detail.cursor = max(m.detail.cursor-1, 0)
	case key.Matches(msg, m.keys.Down):
		m.detail.cursor = min(m.detail.cursor+1, max(len(m.detail.dead)-1, 0))
	case key.Matches(msg, m.keys.PageUp):
		m.detail.offset = max(m.detail.offset-m.height/2, 0)
	case key.Matches(msg, m.keys.PageDown):
		m.detail.offset += m.height / 2
	case key.Matches(msg, m.keys.Replay, m.keys.Discard):
		return m.deadLetterVerb(msg)
	default:
		return m.updateVerb(msg)
	}
	return m, nil
}

// updateVerb handles the verbs on the selected connector, in the list and the detail.
func (m Model) updateVerb(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	verbs := []key.Binding{m.keys.AddConnector, m.keys.PauseResume, m.keys.Drain, m.keys.TestSend,
		m.keys.EnableDisable, m.keys.RestartConnector, m.keys.RemoveConnector, m.keys.SetSecret}
	if !key.Matches(msg, verbs...) {
		return m, nil
	}
	if err := m.conn.Refusal(gateway.ChannelsOperate, "change connectors"); err != nil {
		return m, status.Error(err)
	}
	api := m.conn.Channels
	switch {
	case key.Matches(msg, m.keys.AddConnector):
		return m, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			kinds, err := api.Kinds(ctx)
			return kindsMsg{kinds: kinds, err: err}
		}
	case key.Matches(msg, m.keys.SetSecret):
		m.form = newSecretForm(*m.styles)
		m.mode = modeForm
		return m, m.form.focus()
	}
	c := m.current()
	if c == nil {
		return m, nil
	}
	id := c.GetId()
	name := textsafe.Clean(id)
	switch {
	case key.Matches(msg, m.keys.PauseResume):
		action, done := "pause", "paused "+name
		if c.GetPaused() {
			action, done = "resume", "resumed "+name
		}
		return m, control(api, id, action, done)
	case key.Matches(msg, m.keys.Drain):
		return m, control(api, id, "drain", "draining "+name+" now, past any backoff")
	case key.Matches(msg, m.keys.EnableDisable):
		action, done := "disable", "disabled "+name
		if !c.GetEnabled() {
			action, done = "enable", "enabled "+name
		}
		return m, control(api, id, action, done)
	case key.Matches(msg, m.keys.RestartConnector):
		return m, control(api, id, "restart", "restarted "+name)
	case key.Matches(msg, m.keys.TestSend):
		m.form = newSendForm(id, *m.styles)
		m.mode = modeForm
		return m, m.form.focus()
	default: // remove
		m.mode = modeConfirm
		return m, nil
	}
}

func (m Model) deadLetterVerb(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if err := m.conn.Refusal(gateway.ChannelsOperate, "replay or discard dead letters"); err != nil {
		return m, status.Error(err)
	}
	if len(m.detail.dead) == 0 {
		return m, status.Info("no dead letters")
	}
	d := m.detail.dead[m.detail.cursor]
	api, id, seq := m.conn.Channels, m.detail.id, d.GetSeq()
	replay := key.Matches(msg, m.keys.Replay)
	return m, func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		var err error
		verb := "replayed"
		if replay {
			_, err = api.Replay(ctx, id, seq)
		} else {
			verb = "discarded"
			_, err = api.Discard(ctx, id, seq)
		}
		if err != nil {
			return status.ErrorMsg(fmt.Errorf("dead letter %d of %s: %s", seq, textsafe.Clean(id), gateway.Explain(err)))
		}
		return doneMsg{notice: fmt.Sprintf("%s dead letter %d of %s", verb, seq, textsafe.Clean(id)), reload: true}
	}
}

func (m Model) updateConfirm(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	c := m.current()
	switch {
	case key.Matches(msg, m.keys.Confirm) && c != nil:
		m.mode = modeList
		api, id := m.conn.Channels, c.GetId()
		return m, func() tea.Msg {
			ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
			defer cancel()
			if err := api.Remove(ctx, id); err != nil {
				return status.ErrorMsg(fmt.Errorf("remove %s: %s", textsafe.Clean(id), gateway.Explain(err)))
			}
			return doneMsg{notice: "removed " + textsafe.Clean(id)}
		}
	case key.Matches(msg, m.keys.Deny), c == nil:
		m.mode = modeList
	}
	return m, nil
}

func (m Model) updateForm(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if key.Matches(msg, m.keys.Cancel) {
		m.mode = m.formBack()
		return m, nil
	}
	if !key.Matches(msg, m.keys.Submit) {
		var cmd tea.Cmd
		m.form, cmd = m.form.update(msg)
		return m, cmd
	}
	done, err := m.form.next()
	if err != nil {
		return m, status.Error(err)
	}
	if !done {
		return m, m.form.focus()
	}
	m.mode = m.formBack()
	return m, m.form.submit(m.conn.Channels)
}

// formBack is where a closed form returns to.
func (m Model) formBack() mode {
	if m.detail.id != "" && m.detail.id == m.selected && m.form.kind == formSend {
		return modeDetail
	}
	return modeList
}

func (m *Model) move(delta int) {
	if len(m.connectors) == 0 {
		return
	}
	m.cursor = min(max(m.cursor+delta, 0), len(m.connectors)-1)
	m.selected = m.connectors[m.cursor].GetId()
}

// reselect keeps the selection on the same connector while it is listed, else on the row.
func (m *Model) reselect() {
	if i := slices.IndexFunc(m.connectors, func(c *palyrav1.Connector) bool { return c.GetId() == m.selected }); i >= 0 {
		m.cursor = i
		return
	}
	if len(m.connectors) == 0 {
		m.cursor, m.selected = 0, ""
		if m.mode == modeDetail || m.mode == modeConfirm {
			m.mode = modeList
		}
		return
	}
	m.cursor = min(m.cursor, len(m.connectors)-1)
	m.selected = m.connectors[m.cursor].GetId()
	if m.mode == modeDetail || m.mode == modeConfirm { // the connector was removed
		m.mode = modeList
	}
}

func (m Model) current() *palyrav1.Connector {
	if i := slices.IndexFunc(m.connectors, func(c *palyrav1.Connector) bool { return c.GetId() == m.selected }); i >= 0 {
		return m.connectors[i]
	}
	return nil
}

// Selected returns the selected connector's id, "" when there is none.
func (m Model) Selected() string { return m.selected }

func (m *Model) loadDetail() tea.Cmd {
	if !m.conn.Connected() || m.detail.id == "" {
		return nil
	}
	m.detail.loading = true
	api, id := m.conn.Channels, m.detail.id
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		events, err := api.Events(ctx, id, detailPage)
		if err != nil {
			return detailMsg{id: id, err: err}
		}
		dead, err := api.DeadLetters(ctx, id, detailPage)
		return detailMsg{id: id, events: events, dead: dead, err: err}
	}
}

// Refresh reads the detail again when the list says the open connector changed.
func (m *Model) Refresh() tea.Cmd {
	if m.mode != modeDetail || m.detail.loading {
		return nil
	}
	return m.loadDetail()
}

func control(api gateway.Channels, id, action, done string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		if _, err := api.Control(ctx, id, action); err != nil {
			return status.ErrorMsg(fmt.Errorf("%s %s: %s", action, textsafe.Clean(id), gateway.Explain(err)))
		}
		return doneMsg{notice: done, reload: true}
	}
}

// ShortHelp lists the bindings for the status line.
func (m Model) ShortHelp() []key.Binding {
	switch m.mode {
	case modeForm:
		return []key.Binding{m.keys.Submit, m.keys.Cancel}
	case modeConfirm:
		return []key.Binding{m.keys.Confirm, m.keys.Deny}
	case modeDetail:
		b := []key.Binding{m.keys.Back}
		if m.conn.Can(gateway.ChannelsOperate) {
			b = append(b, m.keys.Replay, m.keys.Discard, m.keys.TestSend, m.keys.PauseResume)
		}
		return b
	}
	if !m.conn.Can(gateway.ChannelsOperate) {
		return []key.Binding{m.keys.Detail}
	}
	return []key.Binding{m.keys.AddConnector, m.keys.TestSend, m.keys.PauseResume, m.keys.Drain, m.keys.Detail}
}

// FullHelp lists the bindings for the help overlay, in columns.
func (m Model) FullHelp() [][]key.Binding {
	cols := [][]key.Binding{{m.keys.Up, m.keys.Down, m.keys.Top, m.keys.Bottom, m.keys.Detail, m.keys.Back}}
	if m.conn.Can(gateway.ChannelsOperate) {
		cols = append(cols,
			[]key.Binding{m.keys.AddConnector, m.keys.TestSend, m.keys.PauseResume, m.keys.Drain, m.keys.EnableDisable},
			[]key.Binding{m.keys.RestartConnector, m.keys.RemoveConnector, m.keys.SetSecret, m.keys.Replay, m.keys.Discard})
	}
	return cols
}
