// Package inventory is the Inventory pane: the devices paired with palyrad in a sortable,
// filterable table that palyrad's watch stream keeps current, a device's detail, the node
// verbs (revoke, remove, invoke a capability, switch a capability on or off) and pairing
// codes shown as large digits and as a QR code.
package inventory

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/qrterm"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/termtext"
	"github.com/palyra/palyra/tui/theme"
)

const (
	// DefaultCapability is what `i` invokes when the operator names none.
	DefaultCapability = "system.health"
	// DefaultRevokeReason is recorded when the operator gives no reason.
	DefaultRevokeReason = "revoked by operator"

	callTimeout = 15 * time.Second
	// invokeTimeout outlasts palyrad's own 30 s default for a capability call, so the
	// call's timed_out result arrives rather than our deadline.
	invokeTimeout = 40 * time.Second
)

// TickMsg moves the pane's clock, so ages and the pairing countdown advance while it is
// visible.
type TickMsg struct{ At time.Time }

type detailMsg struct {
	id     string
	detail *palyrav1.DeviceDetail
	err    error
}

// deviceMsg is the device a verb left behind, with the notice that says what happened.
type deviceMsg struct {
	device *palyrav1.Device
	notice string
}

type callMsg struct {
	gen  int
	call *palyrav1.CapabilityCall
	err  error
}

type mintedMsg struct {
	reply *palyrav1.MintCodeReply
	qr    string
	qrErr error
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
	modeReason // revoke: typing the reason
	modeConfirmRevoke
	modeConfirmRemove
	modeCapability // invoke: typing the capability
	modeArguments  // invoke: typing the JSON input
	modeResult     // invoke: the call and its result
	modePairing    // the pairing code
)

// detail is the device detail view's state.
type detail struct {
	id     string
	info   *palyrav1.DeviceDetail // recent calls and pairings, from GetDevice
	err    string
	cap    int // the selected capability
	offset int // first line shown
}

// result is an invocation and, once it returns, its result.
type result struct {
	gen                int
	device, capability string
	call               *palyrav1.CapabilityCall
	err                string
	output             []string // the output, pretty-printed and sanitized, one line each
	offset             int
}

// pairing is a minted code on show.
type pairing struct {
	reply   *palyrav1.MintCodeReply
	qr      []string
	qrErr   string
	expires time.Time
}

// Model is the Inventory pane.
type Model struct {
	styles *theme.Styles // shared, never changed: SetStyles replaces it
	keys   keys.KeyMap
	now    func() time.Time
	loc    *time.Location
	tick   func(time.Duration, func(time.Time) tea.Msg) tea.Cmd

	width, height int
	at            time.Time // the time ages and countdowns are measured at

	conn      gateway.Conn
	table     table
	instances []supervisor.ServiceStatus

	mode    mode
	back    mode // where a prompt, confirmation or overlay returns to
	detail  detail
	result  result
	pairing pairing
	reason  string // the revoke reason between its prompt and the confirmation
	invoke  string // the capability between its prompt and the input prompt
	callGen int
	filter  textinput.Model
	prompt  textinput.Model
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
	filter := textinput.New()
	filter.Prompt = "/"
	filter.Placeholder = "filter by name, id or platform"
	prompt := textinput.New()
	prompt.ShowSuggestions = true
	m := Model{keys: km, now: opts.Now, loc: opts.Location, tick: opts.Tick,
		at: opts.Now(), table: newTable(), filter: filter, prompt: prompt}
	m.SetStyles(st)
	return m
}

// Init starts nothing; the root feeds the pane.
func (m Model) Init() tea.Cmd { return nil }

// SetSize sets the pane's size in cells.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.filter.SetWidth(max(w-2, 1))
}

// SetStyles replaces the styles, e.g. after the terminal reported its background.
func (m *Model) SetStyles(st theme.Styles) {
	m.styles = &st
	m.filter.SetStyles(st.Input)
	m.prompt.SetStyles(st.Input)
}

// SetGateway tells the pane how palyrad can be reached.
func (m *Model) SetGateway(c gateway.Conn) { m.conn = c }

// SetInstances shows the supervised services of a snapshot.
func (m *Model) SetInstances(services []supervisor.ServiceStatus) { m.instances = services }

// Apply takes one event of palyrad's inventory watch.
func (m *Model) Apply(ev *palyrav1.InventoryEvent) { m.table.apply(ev) }

// Summary returns palyrad's latest counts, nil before the first event.
func (m Model) Summary() *palyrav1.InventorySummary { return m.table.summary }

// Len returns how many devices the table shows (those matching the filter).
func (m Model) Len() int { return len(m.table.rows) }

// Selected returns the selected device's id, "" when there is none.
func (m Model) Selected() string { return m.table.selected }

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

// CapturesInput reports whether the pane wants every key: while typing or confirming.
func (m Model) CapturesInput() bool {
	switch m.mode {
	case modeReason, modeConfirmRevoke, modeConfirmRemove, modeCapability, modeArguments:
		return true
	}
	return m.filter.Focused()
}

// Pair mints a pairing code by method ("pin" or "qr") and shows it; the palette uses it.
func (m *Model) Pair(method string) tea.Cmd {
	if err := m.conn.Refusal(gateway.TrustOperate, "mint pairing codes"); err != nil {
		return status.Error(err)
	}
	return mint(m.conn.Client, method)
}

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
	case detailMsg:
		if m.detail.id == msg.id {
			if msg.err != nil {
				m.detail.err = gateway.Explain(msg.err)
			} else {
				m.detail.info, m.detail.err = msg.detail, ""
			}
		}
		return m, nil
	case deviceMsg:
		m.table.apply(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{msg.device}})
		if m.mode == modeDetail && m.detail.id == msg.device.GetId() {
			return m, tea.Batch(status.Info(msg.notice), m.loadDetail())
		}
		return m, status.Info(msg.notice)
	case callMsg:
		return m.updateCall(msg)
	case mintedMsg:
		m.pairing = pairing{reply: msg.reply, expires: unixMs(msg.reply.GetExpiresUnixMs())}
		if msg.qrErr != nil {
			m.pairing.qrErr = "no QR code: " + textsafe.Clean(msg.qrErr.Error())
		} else if msg.qr != "" {
			m.pairing.qr = splitLines(msg.qr)
		}
		if m.mode != modePairing {
			m.back = m.mode
		}
		m.mode = modePairing
		m.at = m.now()
		return m, nil
	case tea.KeyPressMsg:
		return m.updateKey(msg)
	}
	// Cursor blinks and the like belong to whichever input has focus.
	var cmd tea.Cmd
	switch {
	case m.filter.Focused():
		m.filter, cmd = m.filter.Update(msg)
	case m.prompt.Focused():
		m.prompt, cmd = m.prompt.Update(msg)
	}
	return m, cmd
}

func (m Model) updateKey(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	if m.filter.Focused() {
		return m.updateFilter(msg)
	}
	switch m.mode {
	case modeReason, modeCapability, modeArguments:
		return m.updatePrompt(msg)
	case modeConfirmRevoke, modeConfirmRemove:
		return m.updateConfirm(msg)
	case modeResult:
		return m.updateResult(msg)
	case modePairing:
		switch {
		case key.Matches(msg, m.keys.Back):
			m.mode = m.back
		case key.Matches(msg, m.keys.PairPIN, m.keys.PairQR):
			return m.updateVerb(msg) // a new code, e.g. after this one expired
		}
		return m, nil
	case modeDetail:
		return m.updateDetail(msg)
	}
	return m.updateList(msg)
}

func (m Model) updateList(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	t := &m.table
	switch {
	case key.Matches(msg, m.keys.Up):
		t.move(-1)
	case key.Matches(msg, m.keys.Down):
		t.move(+1)
	case key.Matches(msg, m.keys.PageUp):
		t.move(-m.listRows())
	case key.Matches(msg, m.keys.PageDown):
		t.move(+m.listRows())
	case key.Matches(msg, m.keys.Top):
		t.move(-len(t.rows))
	case key.Matches(msg, m.keys.Bottom):
		t.move(+len(t.rows))
	case key.Matches(msg, m.keys.SortNext):
		t.setSort((t.sortBy+1)%sortKey(len(sortNames)), t.desc)
	case key.Matches(msg, m.keys.SortReverse):
		t.setSort(t.sortBy, !t.desc)
	case key.Matches(msg, m.keys.Filter):
		m.filter.SetValue(t.filter)
		m.filter.CursorEnd()
		cmd := m.filter.Focus()
		return m, cmd
	case key.Matches(msg, m.keys.Back):
		t.setFilter("")
	case key.Matches(msg, m.keys.Detail):
		if t.selected == "" {
			return m, nil
		}
		m.mode = modeDetail
		m.detail = detail{id: t.selected}
		return m, m.loadDetail()
	default:
		return m.updateVerb(msg)
	}
	return m, nil
}

func (m Model) updateDetail(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	caps := m.detailDevice().GetCapabilities()
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode = modeList
	case key.Matches(msg, m.keys.Up), key.Matches(msg, m.keys.Down):
		step := 1
		if key.Matches(msg, m.keys.Up) {
			step = -1
		}
		m.detail.cap = max(min(m.detail.cap+step, len(caps)-1), 0)
		if d := m.detailDevice(); d != nil {
			m.detail.offset = reveal(m.clampedOffset(), len(m.detailHead(d))+m.detail.cap, m.height)
		}
	case key.Matches(msg, m.keys.PageUp):
		m.detail.offset = max(m.clampedOffset()-m.height/2, 0)
	case key.Matches(msg, m.keys.PageDown):
		m.detail.offset = m.clampedOffset() + m.height/2 // the view clamps it
	case key.Matches(msg, m.keys.Top):
		m.detail.offset, m.detail.cap = 0, 0
	case key.Matches(msg, m.keys.ToggleCapability):
		if err := m.conn.Refusal(gateway.TrustOperate, "switch capabilities"); err != nil {
			return m, status.Error(err)
		}
		if m.detail.cap >= len(caps) {
			return m, status.Info("this device offers no capabilities")
		}
		c := caps[m.detail.cap]
		return m, setAvailability(m.conn.Client, m.detailDevice(), c.GetName(), !c.GetAvailable())
	default:
		return m.updateVerb(msg)
	}
	return m, nil
}

// clampedOffset is the detail view's first line as the view shows it.
func (m Model) clampedOffset() int {
	n := len(m.detailLines(1 << 30))
	return min(m.detail.offset, max(n-m.height, 0))
}

// updateVerb handles the verbs that work in the list and in the detail view.
func (m Model) updateVerb(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	verbs := []struct {
		binding key.Binding
		what    string
	}{
		{m.keys.Revoke, "revoke devices"}, {m.keys.Remove, "remove devices"},
		{m.keys.Invoke, "invoke capabilities"}, {m.keys.PairPIN, "mint pairing codes"},
		{m.keys.PairQR, "mint pairing codes"}, {m.keys.ToggleCapability, "switch capabilities"},
	}
	for _, v := range verbs {
		if !key.Matches(msg, v.binding) {
			continue
		}
		if err := m.conn.Refusal(gateway.TrustOperate, v.what); err != nil {
			return m, status.Error(err)
		}
		break
	}
	dev := m.current()
	switch {
	case key.Matches(msg, m.keys.PairPIN):
		return m, m.Pair("pin")
	case key.Matches(msg, m.keys.PairQR):
		return m, m.Pair("qr")
	case key.Matches(msg, m.keys.ToggleCapability):
		return m, status.Info("open a device (enter) to switch its capabilities")
	case dev == nil:
		if !key.Matches(msg, m.keys.Revoke, m.keys.Remove, m.keys.Invoke) {
			return m, nil
		}
		if len(m.table.byID) == 0 {
			return m, status.Info("no device selected: pair one with " + m.keys.PairPIN.Help().Key)
		}
		return m, status.Info("no device selected")
	case key.Matches(msg, m.keys.Revoke):
		if dev.GetTrust() != "trusted" {
			return m, status.Info(displayName(dev) + " is already " + textsafe.Clean(dev.GetTrust()))
		}
		m.back, m.mode = m.mode, modeReason
		cmd := m.ask("reason: ", DefaultRevokeReason, nil)
		return m, cmd
	case key.Matches(msg, m.keys.Remove):
		m.back, m.mode = m.mode, modeConfirmRemove
	case key.Matches(msg, m.keys.Invoke):
		var names []string
		for _, c := range dev.GetCapabilities() {
			names = append(names, textsafe.Clean(c.GetName()))
		}
		m.back, m.mode = m.mode, modeCapability
		cmd := m.ask("capability: ", DefaultCapability, names)
		return m, cmd
	}
	return m, nil
}

// ask opens the prompt line of the current mode, its input as wide as the line allows.
func (m *Model) ask(prompt, placeholder string, suggestions []string) tea.Cmd {
	m.prompt.Reset()
	// The input draws a suggestion's rest beyond its width.
	longest := 0
	for _, s := range suggestions {
		longest = max(longest, termtext.Width(s))
	}
	m.prompt.SetWidth(max(m.width-termtext.Width(m.promptLabel())-len(prompt)-longest-2, 8))
	m.prompt.Prompt = prompt
	m.prompt.Placeholder = placeholder
	m.prompt.SetSuggestions(suggestions)
	return m.prompt.Focus()
}

func (m Model) updatePrompt(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Cancel):
		m.prompt.Blur()
		m.mode = m.back
		return m, nil
	case !key.Matches(msg, m.keys.Submit):
		var cmd tea.Cmd
		m.prompt, cmd = m.prompt.Update(msg)
		return m, cmd
	}
	value := m.prompt.Value()
	if value == "" {
		value = m.prompt.Placeholder
	}
	dev := m.current()
	if dev == nil {
		m.prompt.Blur()
		m.mode = m.back
		return m, status.Error(errors.New("the device is gone"))
	}
	switch m.mode {
	case modeReason:
		m.prompt.Blur()
		m.reason, m.mode = value, modeConfirmRevoke
		return m, nil
	case modeCapability:
		m.invoke, m.mode = value, modeArguments
		cmd := m.ask("input (JSON): ", "{}", nil)
		return m, cmd
	}
	// modeArguments
	if !json.Valid([]byte(value)) {
		return m, status.Error(fmt.Errorf("the input is not valid JSON: %.40s", value))
	}
	m.prompt.Blur()
	m.callGen++
	m.result = result{gen: m.callGen, device: displayName(dev), capability: m.invoke}
	m.mode = modeResult
	return m, invoke(m.conn.Client, m.callGen, dev.GetId(), m.invoke, []byte(value))
}

func (m Model) updateConfirm(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Confirm):
		verb := m.mode
		m.mode = m.back
		dev := m.current()
		if dev == nil {
			return m, nil
		}
		if verb == modeConfirmRevoke {
			return m, revoke(m.conn.Client, dev, m.reason)
		}
		if m.mode == modeDetail {
			m.mode = modeList
		}
		return m, remove(m.conn.Client, dev)
	case key.Matches(msg, m.keys.Deny):
		m.mode = m.back
	}
	return m, nil
}

func (m Model) updateResult(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Back):
		m.mode = m.back
	case key.Matches(msg, m.keys.Up):
		m.result.offset--
	case key.Matches(msg, m.keys.Down):
		m.result.offset++
	case key.Matches(msg, m.keys.PageUp):
		m.result.offset -= m.height / 2
	case key.Matches(msg, m.keys.PageDown):
		m.result.offset += m.height / 2
	case key.Matches(msg, m.keys.Top):
		m.result.offset = 0
	case key.Matches(msg, m.keys.Bottom):
		m.result.offset = 1 << 30
	}
	n := len(m.resultLines(1 << 30))
	m.result.offset = min(max(m.result.offset, 0), max(n-m.height, 0))
	return m, nil
}

// listRows is how many device rows the list shows.
func (m Model) listRows() int { return max(m.height-listChrome-1, 1) }

func (m Model) updateCall(msg callMsg) (Model, tea.Cmd) {
	if msg.gen != m.result.gen {
		return m, nil
	}
	r := &m.result
	if msg.err != nil {
		r.err = gateway.Explain(msg.err)
	} else {
		r.call = msg.call
		r.output = prettyOutput(msg.call.GetOutput())
	}
	var cmd tea.Cmd
	if m.mode == modeDetail || m.back == modeDetail {
		cmd = m.loadDetail() // the call joins the recent calls
	}
	if m.mode != modeResult {
		// The operator left the result view; say how it ended.
		text := r.capability + " on " + r.device + ": "
		if r.err != "" {
			return m, tea.Batch(cmd, status.Error(errors.New(text+r.err)))
		}
		return m, tea.Batch(cmd, status.Info(text+textsafe.Clean(r.call.GetState())))
	}
	return m, cmd
}

func (m Model) updateFilter(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Submit):
		m.filter.Blur()
		m.table.setFilter(m.filter.Value())
		return m, nil
	case key.Matches(msg, m.keys.Cancel):
		m.filter.Blur()
		m.table.setFilter("")
		return m, nil
	}
	var cmd tea.Cmd
	m.filter, cmd = m.filter.Update(msg)
	// The table follows the typing; a 10k-device filter costs well under a frame.
	m.table.setFilter(m.filter.Value())
	return m, cmd
}

// current is the device verbs act on: the detail view's, else the selected row's.
func (m Model) current() *palyrav1.Device {
	if m.mode == modeDetail || m.back == modeDetail {
		return m.detailDevice()
	}
	if e := m.table.byID[m.table.selected]; e != nil {
		return e.dev
	}
	return nil
}

// detailDevice is the live device of the detail view, or GetDevice's copy once it has
// left the inventory.
func (m Model) detailDevice() *palyrav1.Device {
	if e := m.table.byID[m.detail.id]; e != nil {
		return e.dev
	}
	return m.detail.info.GetDevice()
}

func (m Model) loadDetail() tea.Cmd {
	if !m.conn.Connected() {
		return nil
	}
	c, id := m.conn.Client, m.detail.id
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		d, err := c.Inventory.GetDevice(ctx, &palyrav1.GetDeviceRequest{Id: id})
		return detailMsg{id: id, detail: d, err: err}
	}
}

// ShortHelp lists the bindings for the status line; verbs the token lacks are left out.
func (m Model) ShortHelp() []key.Binding {
	switch {
	case m.filter.Focused():
		return []key.Binding{m.keys.Submit, m.keys.Cancel}
	case m.mode == modeReason, m.mode == modeArguments:
		return []key.Binding{m.keys.Submit, m.keys.Cancel}
	case m.mode == modeCapability:
		return []key.Binding{m.keys.Submit, complete, m.keys.Cancel}
	case m.mode == modeConfirmRevoke, m.mode == modeConfirmRemove:
		return []key.Binding{m.keys.Confirm, m.keys.Deny}
	case m.mode == modeResult:
		return []key.Binding{m.keys.Back, m.keys.Up, m.keys.Down}
	case m.mode == modePairing:
		return append([]key.Binding{m.keys.Back}, m.operate(m.keys.PairPIN, m.keys.PairQR)...)
	case m.mode == modeDetail:
		return append([]key.Binding{m.keys.Back}, m.operate(m.keys.ToggleCapability, m.keys.Invoke, m.keys.Revoke, m.keys.Remove)...)
	}
	return append(m.operate(m.keys.PairPIN, m.keys.Invoke, m.keys.Revoke), m.keys.Detail, m.keys.Filter, m.keys.SortNext)
}

// FullHelp lists the bindings for the help overlay, in columns.
func (m Model) FullHelp() [][]key.Binding {
	back := m.keys.Back
	back.SetHelp(back.Help().Key, "back / clear filter")
	return [][]key.Binding{
		{m.keys.Up, m.keys.Down, m.keys.PageUp, m.keys.PageDown, m.keys.Top, m.keys.Bottom},
		{m.keys.Detail, m.keys.Filter, m.keys.SortNext, m.keys.SortReverse, back},
		m.operate(m.keys.PairPIN, m.keys.PairQR, m.keys.Invoke, m.keys.ToggleCapability, m.keys.Revoke, m.keys.Remove),
	}
}

// complete is the prompt's completion key, owned by the text input.
var complete = key.NewBinding(key.WithKeys("tab"), key.WithHelp("tab", "complete"))

// operate keeps the bindings only if the token may operate nodes, so help shows no verb
// that would be refused.
func (m Model) operate(bs ...key.Binding) []key.Binding {
	if !m.conn.Can(gateway.TrustOperate) {
		return nil
	}
	return bs
}

func revoke(c *adminclient.Client, dev *palyrav1.Device, reason string) tea.Cmd {
	id, name := dev.GetId(), displayName(dev)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		d, err := c.Nodes.Revoke(ctx, &palyrav1.RevokeRequest{DeviceId: id, Reason: reason})
		if err != nil {
			return status.ErrorMsg(fmt.Errorf("revoke %s: %s", name, gateway.Explain(err)))
		}
		return deviceMsg{device: d, notice: "revoked " + name + ": its node is refused from now on"}
	}
}

func remove(c *adminclient.Client, dev *palyrav1.Device) tea.Cmd {
	id, name := dev.GetId(), displayName(dev)
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		d, err := c.Nodes.Remove(ctx, &palyrav1.RemoveRequest{DeviceId: id})
		if err != nil {
			return status.ErrorMsg(fmt.Errorf("remove %s: %s", name, gateway.Explain(err)))
		}
		return deviceMsg{device: d, notice: "removed " + name}
	}
}

func setAvailability(c *adminclient.Client, dev *palyrav1.Device, capability string, available bool) tea.Cmd {
	id, name := dev.GetId(), displayName(dev)
	verb := "switched off"
	if available {
		verb = "switched on"
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		d, err := c.Nodes.SetCapabilityAvailability(ctx, &palyrav1.SetCapabilityAvailabilityRequest{
			DeviceId: id, Capability: capability, Available: available})
		if err != nil {
			return status.ErrorMsg(fmt.Errorf("%s on %s: %s", textsafe.Clean(capability), name, gateway.Explain(err)))
		}
		return deviceMsg{device: d, notice: verb + " " + textsafe.Clean(capability) + " on " + name}
	}
}

func invoke(c *adminclient.Client, gen int, id, capability string, input []byte) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), invokeTimeout)
		defer cancel()
		call, err := c.Nodes.Invoke(ctx, &palyrav1.InvokeRequest{DeviceId: id, Capability: capability, Input: input})
		return callMsg{gen: gen, call: call, err: err}
	}
}

// mint asks for a code and draws its QR code, both off the UI loop.
func mint(c *adminclient.Client, method string) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		reply, err := c.Pairing.MintCode(ctx, &palyrav1.MintCodeRequest{Method: method})
		if err != nil {
			return status.ErrorMsg(errors.New("mint a pairing code: " + gateway.Explain(err)))
		}
		msg := mintedMsg{reply: reply}
		if reply.GetUri() != "" {
			msg.qr, msg.qrErr = qrterm.Render(reply.GetUri())
		}
		return msg
	}
}
