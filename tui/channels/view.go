package channels

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/grid"
	"github.com/palyra/palyra/tui/termtext"
)

const (
	labelWidth    = 13
	maxErrorWidth = 60
	excerptWidth  = 40
)

// View renders the pane at its size.
func (m Model) View() string {
	var lines []string
	switch m.mode {
	case modeDetail:
		lines = grid.Scroll(m.detailLines(), m.detail.offset, m.height)
	case modeForm:
		lines = m.formLines()
	default:
		lines = m.listLines(m.height)
	}
	return termtext.Block(strings.Join(lines, "\n"), m.width, m.height)
}

func (m Model) listLines(h int) []string {
	switch {
	case !m.conn.Connected() && m.conn.Problem != "":
		return []string{m.styles.Status.Warn.Render("palyrad: " + m.conn.Problem)}
	case m.unavailable != "":
		return []string{m.styles.Status.Warn.Render("connectors: " + textsafe.Clean(m.unavailable))}
	case !m.loaded:
		return []string{m.styles.Muted.Render("waiting for palyrad's connectors…")}
	}
	lines := []string{m.summaryLine()}
	if hint := m.pluginHint(); hint != "" {
		lines = append(lines, hint)
		h--
	}
	if len(m.connectors) == 0 {
		hint := "No connectors yet."
		if m.conn.Can("channels.operate") {
			hint += " Press a to add one: echo needs nothing, discord a bot token."
		}
		return append(lines, "", m.styles.Muted.Render(hint))
	}
	room := h - 1
	if m.mode == modeConfirm {
		room--
	}
	lines = append(lines, m.table().Lines(m.width, max(room, 2))...)
	if m.mode == modeConfirm {
		lines = append(lines, m.styles.Status.Warn.Render("Remove "+textsafe.Clean(m.selected)+
			" with its queue, dead letters and events? ")+m.styles.Strong.Render("y")+" / "+m.styles.Strong.Render("n"))
	}
	return lines
}

// pluginHint names the plugins palyrad will not run yet and the command that says why.
func (m Model) pluginHint() string {
	if len(m.waiting) == 0 {
		return ""
	}
	var names []string
	for _, p := range m.waiting[:min(len(m.waiting), 3)] {
		names = append(names, textsafe.Clean(p.GetKind())+" "+textsafe.Clean(p.GetState()))
	}
	if n := len(m.waiting) - len(names); n > 0 {
		names = append(names, fmt.Sprintf("%d more", n))
	}
	return m.styles.Busy.Render("plugins not run: "+strings.Join(names, ", ")) +
		m.styles.Muted.Render(" (palyra-tui channels plugins says why and what to do)")
}

func (m Model) summaryLine() string {
	s := m.Summary()
	parts := []string{plural.Count(s.Connectors, "connector", "connectors")}
	if s.Failing > 0 {
		parts = append(parts, m.styles.Bad.Render(fmt.Sprintf("%d failing", s.Failing)))
	}
	if s.DeadLetters > 0 {
		parts = append(parts, m.styles.Busy.Render(plural.Count(int(s.DeadLetters), "dead letter", "dead letters")))
	}
	switch {
	case s.AgentAttached:
		parts = append(parts, m.styles.Good.Render("agent attached"))
	case s.Inbox > 0:
		parts = append(parts, m.styles.Busy.Render(fmt.Sprintf("no agent: %d inbound waiting", s.Inbox)))
	default:
		parts = append(parts, m.styles.Muted.Render("no agent attached"))
	}
	return strings.Join(parts, m.styles.Muted.Render(" · "))
}

var columns = []grid.Column{
	{Title: "CONNECTOR", Priority: 10, Max: 32},
	{Title: "STATE", Priority: 9},
	{Title: "READINESS", Priority: 9},
	{Title: "PLUGIN", Priority: 5},
	{Title: "QUEUE", Priority: 8},
	{Title: "DELIVERED", Priority: 7},
	{Title: "FAILED", Priority: 6},
	{Title: "DEAD", Priority: 8},
	{Title: "LAST ERROR", Priority: 3, Max: maxErrorWidth},
}

func (m Model) table() grid.Table {
	t := grid.Table{Columns: columns, Selected: m.cursor, Header: m.styles.Table.Header, Picked: m.styles.Table.Selected}
	for _, c := range m.connectors {
		state, stateStyle := stateOf(c), m.styles.Good
		switch {
		case !c.GetEnabled():
			stateStyle = m.styles.Muted
		case c.GetPaused():
			stateStyle = m.styles.Busy
		}
		dead := lipgloss.Style{}
		if c.GetDeadLetters() > 0 {
			dead = m.styles.Busy
		}
		t.Rows = append(t.Rows, []grid.Cell{
			{Text: textsafe.Clean(c.GetId()), Style: m.styles.Strong},
			{Text: state, Style: stateStyle},
			{Text: dash(textsafe.Clean(c.GetReadiness())), Style: m.readinessStyle(c)},
			{Text: pluginCell(c.GetPlugin()), Style: m.pluginStyle(c.GetPlugin())},
			{Text: fmt.Sprint(c.GetQueued() + c.GetInFlight())},
			{Text: fmt.Sprint(c.GetDelivered())},
			{Text: fmt.Sprint(c.GetDeadLettered()), Style: m.styles.Muted},
			{Text: fmt.Sprint(c.GetDeadLetters()), Style: dead},
			{Text: dash(oneLine(c.GetLastError())), Style: m.styles.Bad},
		})
	}
	return t
}

func stateOf(c *palyrav1.Connector) string {
	switch {
	case !c.GetEnabled():
		return "disabled"
	case c.GetPaused():
		return "paused"
	}
	return "enabled"
}

func pluginCell(p *palyrav1.PluginProcess) string {
	if p.GetPid() == 0 {
		return dash(textsafe.Clean(p.GetState()))
	}
	s := fmt.Sprintf("pid %d", p.GetPid())
	if p.GetRestarts() > 0 {
		s += fmt.Sprintf(" ↻%d", p.GetRestarts())
	}
	return s
}

func (m Model) readinessStyle(c *palyrav1.Connector) lipgloss.Style {
	switch c.GetReadiness() {
	case "ready":
		return m.styles.Good
	case "starting":
		return m.styles.Busy
	}
	return m.styles.Bad
}

func (m Model) pluginStyle(p *palyrav1.PluginProcess) lipgloss.Style {
	switch p.GetState() {
	case "running":
		return lipgloss.Style{}
	case "starting", "backoff":
		return m.styles.Busy
	}
	return m.styles.Bad
}

func (m Model) detailLines() []string {
	c := m.current()
	if c == nil {
		return []string{m.styles.Muted.Render("the connector is gone")}
	}
	title := m.styles.Strong.Render(textsafe.Clean(c.GetId())) + "  " + stateOf(c) + "  " +
		m.readinessStyle(c).Render(dash(textsafe.Clean(c.GetReadiness())))
	lines := []string{title}
	field := func(label, value string) {
		lines = append(lines, m.styles.Muted.Render(termtext.Pad(label, labelWidth))+value)
	}
	if d := oneLine(c.GetDetail()); d != "" {
		field("why", d)
	}
	p := c.GetPlugin()
	proc := pluginCell(p) + " · " + dash(textsafe.Clean(p.GetState()))
	if started := clock.FromUnixMs(p.GetStartedUnixMs()); !started.IsZero() && p.GetPid() != 0 {
		proc += " · up " + clock.Short(m.at.Sub(started))
	}
	proc += fmt.Sprintf(" · %s", plural.Count(int(p.GetRestarts()), "restart", "restarts"))
	field("plugin", proc)
	if p.GetPath() != "" {
		field("", m.styles.Muted.Render(textsafe.Clean(p.GetPath())))
	}
	if e := oneLine(p.GetLastError()); e != "" {
		field("plugin error", m.styles.Bad.Render(e))
	}
	field("queue", fmt.Sprintf("%d queued · %d in flight · %s", c.GetQueued(), c.GetInFlight(), plural.Count(int(c.GetDeadLetters()), "dead letter", "dead letters")))
	field("sent", fmt.Sprintf("%d delivered · %d retried · %d dead-lettered%s", c.GetDelivered(), c.GetRetried(), c.GetDeadLettered(), m.since(c.GetLastDeliveryUnixMs(), "last")))
	field("received", fmt.Sprintf("%d inbound · %d duplicates dropped · %d waiting for an agent%s", c.GetInbound(), c.GetDuplicates(), c.GetInbox(), m.since(c.GetLastInboundUnixMs(), "last")))
	if e := oneLine(c.GetLastError()); e != "" {
		field("last error", m.styles.Bad.Render(e)+m.since(c.GetLastErrorUnixMs(), ""))
	}
	for _, k := range slices.Sorted(maps.Keys(c.GetFacts())) {
		field(textsafe.Clean(k), textsafe.Clean(c.GetFacts()[k]))
	}
	for _, k := range slices.Sorted(maps.Keys(c.GetConfig())) {
		field("config", textsafe.Clean(k)+" = "+textsafe.Clean(c.GetConfig()[k]))
	}

	lines = append(lines, "", m.styles.Strong.Render("Dead letters")+m.styles.Muted.Render("  r replay · x discard"))
	switch {
	case m.detail.err != "":
		lines = append(lines, m.styles.Bad.Render(m.detail.err))
	case len(m.detail.dead) == 0 && m.detail.loading:
		lines = append(lines, m.styles.Muted.Render("loading…"))
	case len(m.detail.dead) == 0:
		lines = append(lines, m.styles.Muted.Render("none"))
	}
	for i, d := range m.detail.dead {
		row := fmt.Sprintf("#%d  %s  %s  %s  %s", d.GetSeq(), termtext.Truncate(textsafe.Clean(d.GetConversationId()), 20),
			plural.Count(int(d.GetAttempts()), "try", "tries"), termtext.Truncate(oneLine(d.GetReason()), maxErrorWidth),
			m.styles.Muted.Render("“"+termtext.Truncate(oneLine(d.GetText()), excerptWidth)+"”"))
		if i == m.detail.cursor {
			lines = append(lines, grid.Selector+m.styles.Table.Selected.Render(row))
		} else {
			lines = append(lines, strings.Repeat(" ", grid.SelectorWidth)+row)
		}
	}

	lines = append(lines, "", m.styles.Strong.Render("Recent events"))
	if len(m.detail.events) == 0 && m.detail.err == "" {
		lines = append(lines, m.styles.Muted.Render("none"))
	}
	for _, e := range m.detail.events {
		at := clock.FromUnixMs(e.GetUnixMs())
		style := lipgloss.Style{}
		switch e.GetLevel() {
		case "warn":
			style = m.styles.Busy
		case "error":
			style = m.styles.Bad
		}
		lines = append(lines, m.styles.Muted.Render(termtext.Pad(clock.Short(m.at.Sub(at))+" ago", 11))+
			style.Render(termtext.Pad(textsafe.Clean(e.GetKind()), 22))+" "+oneLine(e.GetMessage()))
	}
	return lines
}

// since says how long ago a unix-ms time was, as " (last 3m ago)", or "" for none.
func (m Model) since(ms int64, word string) string {
	t := clock.FromUnixMs(ms)
	if t.IsZero() {
		return ""
	}
	ago := clock.Short(max(m.at.Sub(t), 0)) + " ago"
	if word != "" {
		ago = word + " " + ago
	}
	return m.styles.Muted.Render(" (" + ago + ")")
}

func (m Model) formLines() []string {
	f := m.form
	lines := []string{m.styles.Strong.Render(f.title), ""}
	for i, fd := range f.fields {
		label := m.styles.Muted.Render(termtext.Pad(fd.label, 18))
		switch {
		case i == f.at:
			lines = append(lines, grid.Selector+label+fd.input.View())
		case i < f.at:
			v := f.value(i)
			if fd.typ == secretType && v != "" {
				v = "(hidden)"
			}
			lines = append(lines, "  "+label+textsafe.Clean(v))
		default:
			lines = append(lines, "  "+label+m.styles.Muted.Render(textsafe.Clean(fd.def)))
		}
	}
	if h := f.fields[f.at].help; h != "" {
		lines = append(lines, "", m.styles.Muted.Render(h))
	}
	return append(lines, "", m.styles.Muted.Render("enter next · esc cancel"))
}

func oneLine(s string) string { return strings.Join(strings.Fields(textsafe.Clean(s)), " ") }

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
