// Package approvals is the Approvals pane: what waits for an operator's decision, with its
// risk and countdown, a detail view, the decisions (allow once, for the session, for a
// time; deny with a reason) and the history of settled approvals. palyrad's watch stream,
// which the root owns, keeps it current.
package approvals

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

// The event kinds, states and scopes of palyrad's approvals API.
const (
	kindRequested = "requested"
	statePending  = "pending"
	scopeOnce     = "once"
	scopeSession  = "session"
	scopeTimeBox  = "ttl"
)

const (
	// DefaultTimeBox is what `t` allows for when the operator types no duration.
	DefaultTimeBox = "1h"
	callTimeout    = 15 * time.Second
	// historyPage is how many approvals one page of the history asks for; the next page is
	// loaded when the selection comes within historyAhead rows of the end.
	historyPage  = 100
	historyAhead = 10
)

// TickMsg moves the pane's clock, so ages and expiry countdowns advance while it is visible.
type TickMsg struct{ At time.Time }

// decidedMsg is an approval this operator settled, with the notice that says how.
type decidedMsg struct {
	approval *palyrav1.Approval
	notice   string
}

// historyMsg is a page of the history: the one that starts at token ("" the newest), and the
// token of the next ("" when there is no more).
type historyMsg struct {
	token, next string
	approvals   []*palyrav1.Approval
	err         error
}

// Options are the pane's settings.
type Options struct {
	Now      func() time.Time                                     // the clock; time.Now when nil
	Location *time.Location                                       // for wall-clock times; time.Local when nil
	Tick     func(time.Duration, func(time.Time) tea.Msg) tea.Cmd // timers; tea.Tick when nil
}

type mode int

const (
	modeList mode = iota
	modeDetail
	modeTimeBox // typing how long to allow for
	modeReason  // typing why to deny
)

// Model is the Approvals pane.
type Model struct {
	styles *theme.Styles // shared, never changed: SetStyles replaces it
	keys   keys.KeyMap
	now    func() time.Time
	loc    *time.Location
	tick   func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	width, height int
	at            time.Time

	conn     gateway.Conn
	pending  []*palyrav1.Approval // oldest first: arrivals join at the bottom and move no selection
	seen     map[string]bool      // every approval id met, so each rings the bell once
	since    time.Time            // when the first watch opened: older approvals were waiting already
	watching bool

	lastSettled    *palyrav1.Approval   // the latest settled by an event, so a detail view can show how
	history        []*palyrav1.Approval // settled ones, newest first
	historyLoaded  bool
	historyNext    string // the next page's token; "" once the oldest is loaded
	historyLoading bool   // a page is on its way
	historyErr     string
	showHistory    bool

	cursor   int
	selected string // the selected approval's id
	mode     mode
	back     mode
	offset   int // the detail view's first line
	input    textinput.Model

	focused bool
	ticking bool
}

// New returns an empty pane; the root feeds it the connection and the watch events.
func New(st theme.Styles, km keys.KeyMap, opts Options) Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.Tick == nil {
		opts.Tick = tea.Tick
	}
	m := Model{keys: km, now: opts.Now, loc: opts.Location, tick: opts.Tick,
		seen: map[string]bool{}, input: textinput.New(), at: opts.Now()}
	m.SetStyles(st)
	return m
}

// Init starts nothing; the root feeds the pane.
func (m Model) Init() tea.Cmd { return nil }

// SetSize sets the pane's size in cells.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.input.SetWidth(max(w/3, 10))
}

// SetStyles replaces the styles, e.g. after the terminal reported its background.
func (m *Model) SetStyles(st theme.Styles) {
	m.styles = &st
	m.input.SetStyles(st.Input)
}

// SetGateway tells the pane how palyrad can be reached.
func (m *Model) SetGateway(c gateway.Conn) { m.conn = c }

// StreamOpened tells the pane that a new watch stream opened at the time at: its first
// events are every pending approval, so the list is rebuilt from them. Approvals created
// before the first stream opened were already waiting and ring no bell.
func (m *Model) StreamOpened(at time.Time) {
	if !m.watching {
		m.since, m.watching = at, true
	}
	m.pending = nil
	m.reselect()
}

// Apply takes one event of palyrad's approvals watch and reports whether it is a new
// approval the operator has not been told about, which deserves the bell.
func (m *Model) Apply(ev *palyrav1.ApprovalEvent) bool {
	a := ev.GetApproval()
	if a == nil {
		return false
	}
	id := a.GetId()
	fresh := !m.seen[id]
	m.seen[id] = true
	if a.GetState() == statePending {
		m.pending = upsert(m.pending, a, oldestFirst)
		m.reselect()
		return fresh && (ev.GetKind() == kindRequested || unixMs(a.GetCreatedUnixMs()).After(m.since))
	}
	m.pending = slices.DeleteFunc(m.pending, func(p *palyrav1.Approval) bool { return p.GetId() == id })
	m.lastSettled = a
	if m.historyLoaded {
		m.history = upsert(m.history, a, newestFirst)
	}
	m.reselect()
	return false
}

// Pending returns how many approvals wait for a decision.
func (m Model) Pending() int { return len(m.pending) }

// Selected returns the selected approval's id, "" when there is none.
func (m Model) Selected() string { return m.selected }

// Focus marks the pane visible and starts the once-a-second clock unless it already runs.
func (m *Model) Focus() tea.Cmd {
	m.focused = true
	m.at = m.now()
	if m.ticking {
		return nil
	}
	m.ticking = true
	now := m.now
	return m.tick(time.Second, func(time.Time) tea.Msg { return TickMsg{At: now()} })
}

// Blur marks the pane hidden; the clock stops at its next tick.
func (m *Model) Blur() { m.focused = false }

// CapturesInput reports whether the pane wants every key, while a prompt is open.
func (m Model) CapturesInput() bool { return m.mode == modeTimeBox || m.mode == modeReason }

// Update handles keys, the clock and the results of the pane's commands.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case TickMsg:
		m.ticking = false
		if !m.focused {
			return m, nil
		}
		m.at = msg.At
		cmd := m.Focus()
		return m, cmd
	case decidedMsg:
		m.Apply(&palyrav1.ApprovalEvent{Kind: "decided", Approval: msg.approval})
		return m, status.Info(msg.notice)
	case historyMsg:
		m.historyLoading = false
		if msg.err != nil {
			m.historyErr = gateway.Explain(msg.err)
			return m, nil
		}
		if msg.token == "" {
			m.history = nil
		}
		m.historyLoaded, m.historyNext, m.historyErr = true, msg.next, ""
		for _, a := range msg.approvals {
			if a.GetState() != statePending {
				m.history = upsert(m.history, a, newestFirst)
			}
		}
		m.reselect()
		cmd := m.loadMoreHistory()
		return m, cmd
	case tea.KeyPressMsg:
		switch m.mode {
		case modeTimeBox, modeReason:
			return m.updatePrompt(msg)
		case modeDetail:
			return m.updateDetail(msg)
		}
		return m.updateList(msg)
	}
	if m.input.Focused() {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m Model) updateList(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	list := m.list()
	switch {
	case key.Matches(msg, m.keys.Up):
		m.move(-1)
	case key.Matches(msg, m.keys.Down):
		m.move(+1)
	case key.Matches(msg, m.keys.Top):
		m.move(-len(list))
	case key.Matches(msg, m.keys.Bottom):
		m.move(+len(list))
	case key.Matches(msg, m.keys.History):
		m.showHistory = !m.showHistory
		m.cursor, m.selected = 0, ""
		m.reselect()
		if m.showHistory {
			cmd := m.loadHistory("")
			m.historyLoading = cmd != nil
			return m, cmd
		}
	case key.Matches(msg, m.keys.Detail):
		if m.current() != nil {
			m.mode, m.offset = modeDetail, 0
		}
	case key.Matches(msg, m.keys.Back):
		if m.showHistory {
			m.showHistory = false
			m.reselect()
		}
	default:
		return m.updateVerb(msg)
	}
	cmd := m.loadMoreHistory()
	return m, cmd
}

// loadMoreHistory asks for the next page of the history once the selection nears the end of
// what is loaded, so scrolling down goes on through the whole history.
func (m *Model) loadMoreHistory() tea.Cmd {
	if !m.showHistory || m.historyLoading || m.historyNext == "" || m.cursor < len(m.history)-historyAhead {
		return nil
	}
	cmd := m.loadHistory(m.historyNext)
	m.historyLoading = cmd != nil
	return cmd
}

func (m Model) updateDetail(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode = modeList
		m.reselect()
		return m, nil
	case key.Matches(msg, m.keys.Up):
		m.offset--
	case key.Matches(msg, m.keys.Down):
		m.offset++
	case key.Matches(msg, m.keys.PageUp):
		m.offset -= m.height / 2
	case key.Matches(msg, m.keys.PageDown):
		m.offset += m.height / 2
	case key.Matches(msg, m.keys.Top):
		m.offset = 0
	default:
		return m.updateVerb(msg)
	}
	m.offset = min(max(m.offset, 0), max(len(m.detailLines())-m.height, 0))
	return m, nil
}

// updateVerb handles the decisions, in the list and in the detail view.
func (m Model) updateVerb(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if !key.Matches(msg, m.keys.AllowOnce, m.keys.AllowSession, m.keys.AllowFor, m.keys.DenyRequest) {
		return m, nil
	}
	if err := m.conn.Refusal(gateway.ApprovalsDecide, "decide approvals"); err != nil {
		return m, status.Error(err)
	}
	a := m.current()
	switch {
	case a == nil:
		return m, nil
	case a.GetState() != statePending:
		return m, status.Info(textsafe.Clean(a.GetId()) + " is settled: it was " + settledText(a))
	case key.Matches(msg, m.keys.AllowOnce):
		return m, decide(m.conn.Client, &palyrav1.DecideRequest{Id: a.GetId(), Approve: true, Scope: scopeOnce}, "allowed "+textsafe.Clean(a.GetId())+" once")
	case key.Matches(msg, m.keys.AllowSession):
		return m, decide(m.conn.Client, &palyrav1.DecideRequest{Id: a.GetId(), Approve: true, Scope: scopeSession}, "allowed "+textsafe.Clean(a.GetId())+" for the session")
	case key.Matches(msg, m.keys.AllowFor):
		m.back, m.mode = m.mode, modeTimeBox
		cmd := m.ask(DefaultTimeBox)
		return m, cmd
	default:
		m.back, m.mode = m.mode, modeReason
		cmd := m.ask("")
		return m, cmd
	}
}

func (m *Model) ask(placeholder string) tea.Cmd {
	m.input.Reset()
	m.input.Prompt = ""
	m.input.Placeholder = placeholder
	return m.input.Focus()
}

func (m Model) updatePrompt(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Cancel):
		m.input.Blur()
		m.mode = m.back
		return m, nil
	case !key.Matches(msg, m.keys.Submit):
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	a := m.current()
	if a == nil {
		m.input.Blur()
		m.mode = m.back
		return m, status.Error(errors.New("the approval is gone: someone settled it"))
	}
	id := textsafe.Clean(a.GetId())
	value := strings.TrimSpace(m.input.Value())
	if m.mode == modeReason {
		if value == "" {
			return m, status.Error(errors.New("a reason is required to deny: type one, or esc to cancel"))
		}
		m.input.Blur()
		m.mode = m.back
		return m, decide(m.conn.Client, &palyrav1.DecideRequest{Id: a.GetId(), Reason: value}, "denied "+id)
	}
	if value == "" {
		value = DefaultTimeBox
	}
	d, err := time.ParseDuration(value)
	if err != nil || d <= 0 {
		return m, status.Error(fmt.Errorf("%q is not a duration: type one like 15m, 1h or 8h", textsafe.Clean(value)))
	}
	m.input.Blur()
	m.mode = m.back
	return m, decide(m.conn.Client, &palyrav1.DecideRequest{Id: a.GetId(), Approve: true, Scope: scopeTimeBox, GrantMs: d.Milliseconds()},
		"allowed "+id+" for "+textsafe.Clean(value))
}

func (m *Model) move(delta int) {
	list := m.list()
	if len(list) == 0 {
		return
	}
	m.cursor = min(max(m.cursor+delta, 0), len(list)-1)
	m.selected = list[m.cursor].GetId()
}

// reselect keeps the selection on the same approval while it is listed, else on the same
// row.
func (m *Model) reselect() {
	list := m.list()
	if i := slices.IndexFunc(list, func(a *palyrav1.Approval) bool { return a.GetId() == m.selected }); i >= 0 {
		m.cursor = i
		return
	}
	if len(list) == 0 {
		m.cursor = 0
		if m.mode == modeList {
			m.selected = ""
		}
		return
	}
	if m.mode != modeList && m.selected != "" {
		// The approval in detail was settled; the detail shows how until the operator
		// goes back.
		return
	}
	m.cursor = min(m.cursor, len(list)-1)
	m.selected = list[m.cursor].GetId()
}

// list is what the pane shows: the pending approvals or the history.
func (m Model) list() []*palyrav1.Approval {
	if m.showHistory {
		return m.history
	}
	return m.pending
}

// current is the selected approval.
func (m Model) current() *palyrav1.Approval {
	for _, list := range [][]*palyrav1.Approval{m.list(), m.pending, m.history} {
		if i := slices.IndexFunc(list, func(a *palyrav1.Approval) bool { return a.GetId() == m.selected }); i >= 0 {
			return list[i]
		}
	}
	if m.lastSettled.GetId() == m.selected && m.selected != "" {
		return m.lastSettled
	}
	return nil
}

// loadHistory asks for the page of the history that starts at token.
func (m Model) loadHistory(token string) tea.Cmd {
	if !m.conn.Connected() {
		return nil
	}
	c := m.conn.Client
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		reply, err := c.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{PageSize: historyPage, PageToken: token})
		return historyMsg{token: token, next: reply.GetNextPageToken(), approvals: reply.GetApprovals(), err: err}
	}
}

// decide sends one decision; done is the notice for its success. Someone else deciding
// first is news, not an error.
func decide(c *adminclient.Client, req *palyrav1.DecideRequest, done string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		a, err := c.Approvals.Decide(ctx, req)
		switch {
		case gateway.Refused(err):
			return status.Msg{Text: "already decided: " + gateway.Message(err)}
		case err != nil:
			return status.ErrorMsg(fmt.Errorf("decide %s: %s", textsafe.Clean(req.GetId()), gateway.Explain(err)))
		}
		return decidedMsg{approval: a, notice: done}
	}
}

// ShortHelp lists the bindings for the status line; decisions the token may not make are
// left out.
func (m Model) ShortHelp() []key.Binding {
	switch m.mode {
	case modeTimeBox, modeReason:
		return []key.Binding{m.keys.Submit, m.keys.Cancel}
	case modeDetail:
		return append([]key.Binding{m.keys.Back}, m.decisions()...)
	}
	return append(m.decisions(), m.keys.Detail, m.keys.History)
}

// FullHelp lists the bindings for the help overlay, in columns.
func (m Model) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{m.keys.Up, m.keys.Down, m.keys.Top, m.keys.Bottom},
		{m.keys.Detail, m.keys.History, m.keys.Back},
		m.decisions(),
	}
}

func (m Model) decisions() []key.Binding {
	if !m.conn.Can(gateway.ApprovalsDecide) || m.showHistory {
		return nil
	}
	return []key.Binding{m.keys.AllowOnce, m.keys.AllowSession, m.keys.AllowFor, m.keys.DenyRequest}
}

// upsert replaces the approval with a's id or adds a, keeping the list in order.
func upsert(list []*palyrav1.Approval, a *palyrav1.Approval, order func(a, b *palyrav1.Approval) int) []*palyrav1.Approval {
	if i := slices.IndexFunc(list, func(p *palyrav1.Approval) bool { return p.GetId() == a.GetId() }); i >= 0 {
		list[i] = a
	} else {
		list = append(list, a)
	}
	slices.SortStableFunc(list, order)
	return list
}

// oldestFirst orders by creation.
func oldestFirst(a, b *palyrav1.Approval) int {
	return cmp.Or(cmp.Compare(a.GetCreatedUnixMs(), b.GetCreatedUnixMs()), strings.Compare(a.GetId(), b.GetId()))
}

// newestFirst orders by when an approval was last news: settled, else created.
func newestFirst(a, b *palyrav1.Approval) int {
	at := func(x *palyrav1.Approval) int64 { return max(x.GetDecidedUnixMs(), x.GetCreatedUnixMs()) }
	return cmp.Or(cmp.Compare(at(b), at(a)), strings.Compare(b.GetId(), a.GetId()))
}

// settledText says how an approval ended: "approved (once) by alice", "timed out".
func settledText(a *palyrav1.Approval) string {
	switch a.GetState() {
	case "timed_out":
		return "timed out"
	case "approved":
		return "approved (" + textsafe.Clean(a.GetScope()) + ") by " + textsafe.Clean(a.GetDecider())
	}
	return textsafe.Clean(a.GetState()) + " by " + textsafe.Clean(a.GetDecider())
}

func unixMs(ms int64) time.Time { return clock.FromUnixMs(ms) }
