package inventory

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/grid"
	"github.com/palyra/palyra/tui/termtext"
	"github.com/palyra/palyra/tui/theme"
)

const (
	labelWidth = 14
	// listChrome is the list's lines around the rows: summary, sort line, header, instances.
	listChrome = 4
)

// column is one column of the device table; columns are dropped lowest priority first
// when the width is short.
type column struct {
	title    string
	priority int
	width    func(t *table) int
	cell     func(p *palette, e *entry) (string, lipgloss.Style)
}

// palette is what a cell needs to draw itself: the styles and the time ages are measured
// at. Cells take it rather than the whole model, which is large to copy.
type palette struct {
	st *theme.Styles
	at time.Time
}

var columns = []column{
	{title: "NAME", priority: 10, width: func(t *table) int { return t.nameWidth },
		cell: func(p *palette, e *entry) (string, lipgloss.Style) { return e.name, p.st.Strong }},
	{title: "TRUST", priority: 8, width: fixed(len(trustTrusted)),
		cell: func(p *palette, e *entry) (string, lipgloss.Style) { return e.trust, p.trustStyle(e.dev.GetTrust()) }},
	{title: "PRESENCE", priority: 9, width: fixed(len(presenceDegraded)),
		cell: func(p *palette, e *entry) (string, lipgloss.Style) {
			return e.presence, p.presenceStyle(e.dev.GetPresence())
		}},
	{title: "LAST SEEN", priority: 7, width: fixed(len("LAST SEEN")),
		cell: func(p *palette, e *entry) (string, lipgloss.Style) {
			switch {
			case e.connected() == 1:
				return "now", lipgloss.Style{}
			case e.lastSeen.IsZero():
				return "never", p.st.Muted
			}
			return clock.Coarse(p.at.Sub(e.lastSeen)) + " ago", lipgloss.Style{}
		}},
	{title: "PLATFORM", priority: 4, width: func(t *table) int { return t.platformWidth },
		cell: func(p *palette, e *entry) (string, lipgloss.Style) { return e.platform, lipgloss.Style{} }},
	{title: "CAPS", priority: 6, width: fixed(len("CAPS")),
		cell: func(p *palette, e *entry) (string, lipgloss.Style) {
			if e.available < len(e.dev.GetCapabilities()) {
				return e.caps, p.st.Busy
			}
			return e.caps, lipgloss.Style{}
		}},
	{title: "CERT", priority: 5, width: fixed(len("expired")),
		cell: func(p *palette, e *entry) (string, lipgloss.Style) { return p.certLeft(e.certExpiry) }},
	{title: "ID", priority: 3, width: func(t *table) int { return t.idWidth },
		cell: func(p *palette, e *entry) (string, lipgloss.Style) { return e.id, p.st.Muted }},
}

func fixed(n int) func(*table) int { return func(*table) int { return n } }

// View renders the pane at its size: only the rows in view, whatever the inventory holds.
func (m Model) View() string {
	base := m.mode
	question := m.question()
	if question != "" {
		base = m.back
	}
	h := m.height
	if question != "" {
		h--
	}
	var body string
	switch base {
	case modeDetail:
		body = strings.Join(m.detailLines(h), "\n")
	case modeResult:
		body = strings.Join(m.resultLines(h), "\n")
	case modePairing:
		body = m.pairingView(h)
	default:
		body = strings.Join(m.listLines(h), "\n")
	}
	body = termtext.Block(body, m.width, max(h, 0))
	if question == "" {
		return body
	}
	if h <= 0 {
		return termtext.Truncate(question, m.width)
	}
	return body + "\n" + termtext.Truncate(question, m.width)
}

// question is the prompt or confirmation line of the current mode, "" when there is none.
func (m Model) question() string {
	name := m.currentName()
	yn := "  " + m.styles.Strong.Render("y/n")
	switch m.mode {
	case modeReason:
		return m.styles.Status.Warn.Render(m.promptLabel()) + m.prompt.View()
	case modeConfirmRevoke:
		return m.styles.Status.Warn.Render(fmt.Sprintf("Revoke %s (%s)? Its node is refused at once.", name, textsafe.Clean(m.reason))) + yn
	case modeConfirmRemove:
		return m.styles.Status.Warn.Render("Remove "+name+"? It is forgotten; pairing again needs a new code.") + yn
	case modeCapability, modeArguments:
		return m.styles.Strong.Render(m.promptLabel()) + m.prompt.View()
	}
	return ""
}

// promptLabel is what the prompt line says before its input.
func (m Model) promptLabel() string {
	switch m.mode {
	case modeReason:
		return "Revoke " + m.currentName() + " — "
	case modeCapability:
		return "Invoke on " + m.currentName() + " — "
	case modeArguments:
		return "Invoke " + textsafe.Clean(m.invoke) + " on " + m.currentName() + " — "
	}
	return ""
}

func (m Model) currentName() string {
	if dev := m.current(); dev != nil {
		return displayName(dev)
	}
	return ""
}

func (m Model) listLines(h int) []string {
	lines := []string{m.summaryLine()}
	if m.filter.Focused() {
		lines = append(lines, m.filter.View())
	} else {
		lines = append(lines, m.sortLine())
	}
	t := &m.table
	room := h - listChrome
	switch {
	case !t.loaded:
		if m.conn.Connected() {
			lines = append(lines, "", m.styles.Muted.Render("loading the inventory…"))
		} else {
			lines = append(lines, "", m.styles.Muted.Render("The inventory appears when palyrad answers."))
		}
	case len(t.all) == 0:
		text := "No devices are paired yet."
		if m.conn.Can(gateway.TrustOperate) {
			text += " Press p for a pairing code."
		}
		lines = append(lines, "", m.styles.Muted.Render(text))
	case len(t.rows) == 0:
		lines = append(lines, "", m.styles.Muted.Render(fmt.Sprintf("No device matches %q. esc clears the filter.", textsafe.Clean(t.filter))))
	default:
		lines = append(lines, m.tableLines(max(room, 1))...)
	}
	if inst := m.instancesLine(); inst != "" && h >= listChrome {
		for len(lines) < h-1 {
			lines = append(lines, "")
		}
		lines = append(lines, inst)
	}
	return lines
}

func (m Model) summaryLine() string {
	muted := m.styles.Muted
	if !m.conn.Connected() {
		text := m.styles.Bad.Render(m.conn.Problem)
		if m.conn.Problem == "" {
			text = muted.Render("connecting to palyrad…")
		}
		if m.table.loaded {
			text += muted.Render(" · showing the last known devices")
		}
		return text
	}
	if !m.conn.Can(gateway.ObservabilityRead) {
		return m.styles.Bad.Render("this token cannot read the inventory: it lacks " + gateway.ObservabilityRead)
	}
	s := m.table.summary
	if s == nil {
		return muted.Render("connected as " + textsafe.Clean(m.conn.Principal))
	}
	parts := []string{m.styles.Strong.Render(plural.Count(int(s.GetDevices()), "device", "devices")), m.styles.Good.Render(fmt.Sprintf("%d online", s.GetOnline()))}
	for _, c := range []struct {
		n    uint32
		what string
	}{{s.GetDegraded(), "degraded"}, {s.GetStale(), "stale"}, {s.GetOffline(), "offline"}, {s.GetRevoked(), "revoked"}} {
		if c.n > 0 {
			parts = append(parts, muted.Render(fmt.Sprintf("%d %s", c.n, c.what)))
		}
	}
	if n := s.GetPendingPairings(); n > 0 {
		parts = append(parts, m.styles.Busy.Render(plural.Count(int(n), "pairing", "pairings")+" pending"))
	}
	return strings.Join(parts, muted.Render(" · "))
}

func (m Model) sortLine() string {
	t := &m.table
	arrow := "↑"
	if t.desc {
		arrow = "↓"
	}
	text := "sorted by " + sortNames[t.sortBy] + " " + arrow
	if t.filter != "" {
		text += fmt.Sprintf(" · filter %q: %d of %d", textsafe.Clean(t.filter), len(t.rows), len(t.all))
	}
	return m.styles.Muted.Render(text)
}

func (m Model) instancesLine() string {
	if len(m.instances) == 0 {
		return ""
	}
	parts := make([]string, len(m.instances))
	for i, s := range m.instances {
		parts[i] = textsafe.Clean(s.Name) + " " + m.styles.ForState(s.State).Render(string(s.State))
	}
	return m.styles.Muted.Render("instances  ") + strings.Join(parts, m.styles.Muted.Render(" · "))
}

// layout picks the columns that fit, most important first, and returns them in table order
// with every column's width.
func layout(t *table, width int) (shown, widths []int) {
	widths = make([]int, len(columns))
	for c, col := range columns {
		widths[c] = max(col.width(t), len(col.title))
	}
	priorities := make([]int, len(columns))
	for c, col := range columns {
		priorities[c] = col.priority
	}
	shown, _ = grid.Fit(widths, priorities, width)
	return shown, widths
}

// tableLines draws the header and the rows in view, and only those.
func (m *Model) tableLines(room int) []string {
	t := &m.table
	p := &palette{st: m.styles, at: m.at}
	shown, widths := layout(t, m.width)
	var header strings.Builder
	header.WriteString(strings.Repeat(" ", grid.SelectorWidth))
	for n, c := range shown {
		if n > 0 {
			header.WriteString(grid.Gap)
		}
		header.WriteString(termtext.Pad(columns[c].title, widths[c]))
	}
	lines := []string{m.styles.Table.Header.Render(strings.TrimRight(header.String(), " "))}

	first, last := grid.Window(len(t.rows), t.cursor, room-1)
	for i := first; i < last; i++ {
		e := t.rows[i]
		selected := i == t.cursor
		var row strings.Builder
		for n, c := range shown {
			if n > 0 {
				row.WriteString(grid.Gap)
			}
			text, style := columns[c].cell(p, e)
			w := widths[c]
			if n < len(shown)-1 {
				text = termtext.Pad(text, w)
			} else {
				text = termtext.Truncate(text, w)
			}
			if !selected {
				text = style.Render(text)
			}
			row.WriteString(text)
		}
		if selected {
			lines = append(lines, grid.Selector+m.styles.Table.Selected.Render(row.String()))
		} else {
			lines = append(lines, strings.Repeat(" ", grid.SelectorWidth)+row.String())
		}
	}
	return lines
}

func (m Model) detailLines(h int) []string {
	d := m.detailDevice()
	if d == nil {
		if m.detail.err != "" {
			return []string{m.styles.Bad.Render(m.detail.err), "", m.styles.Muted.Render("esc goes back")}
		}
		return []string{m.styles.Muted.Render("loading the device…")}
	}
	lines := m.detailHead(d)
	caps := d.GetCapabilities()
	if len(caps) == 0 {
		lines = append(lines, m.styles.Muted.Render("  none"))
	}
	nameWidth := 0
	for _, c := range caps {
		nameWidth = max(nameWidth, min(termtext.Width(textsafe.Clean(c.GetName())), maxNameWidth))
	}
	for i, c := range caps {
		avail, style := "available", m.styles.Good
		if !c.GetAvailable() {
			avail, style = "unavailable", m.styles.Busy
		}
		text := termtext.Pad(textsafe.Clean(c.GetName()), nameWidth) + grid.Gap + termtext.Pad(avail, len("unavailable"))
		if c.GetMediated() {
			text += grid.Gap + "mediated"
		}
		if i == m.detail.cap {
			lines = append(lines, grid.Selector+m.styles.Table.Selected.Render(strings.TrimRight(text, " ")))
		} else {
			name := termtext.Pad(textsafe.Clean(c.GetName()), nameWidth)
			rest := grid.Gap + style.Render(termtext.Pad(avail, len("unavailable")))
			if c.GetMediated() {
				rest += grid.Gap + m.styles.Muted.Render("mediated")
			}
			lines = append(lines, "  "+name+rest)
		}
	}

	lines = append(lines, "", m.styles.Strong.Render("RECENT CALLS"))
	info := m.detail.info
	switch {
	case m.detail.err != "":
		lines = append(lines, "  "+m.styles.Bad.Render("cannot load them: "+m.detail.err))
	case info == nil:
		lines = append(lines, m.styles.Muted.Render("  loading…"))
	case len(info.GetRecentCalls()) == 0:
		lines = append(lines, m.styles.Muted.Render("  none"))
	}
	for _, c := range info.GetRecentCalls() {
		lines = append(lines, "  "+m.wall(unixMs(c.GetCreatedUnixMs()))+grid.Gap+textsafe.Clean(c.GetCapability())+grid.Gap+
			m.callStyle(c.GetState()).Render(textsafe.Clean(c.GetState()))+grid.Gap+m.styles.Muted.Render(textsafe.Clean(c.GetRequester()))+
			grid.Gap+textsafe.Clean(c.GetInputSummary()))
	}
	if info != nil {
		lines = append(lines, "", m.styles.Strong.Render("PAIRINGS"))
		if len(info.GetPairings()) == 0 {
			lines = append(lines, m.styles.Muted.Render("  none"))
		}
		for _, p := range info.GetPairings() {
			text := "  " + m.wall(unixMs(p.GetCreatedUnixMs())) + grid.Gap + dash(textsafe.Clean(p.GetMethod())) + grid.Gap +
				textsafe.Clean(p.GetState()) + grid.Gap + dash(textsafe.Clean(p.GetPeer())) + grid.Gap + dash(textsafe.Clean(p.GetApprovalId()))
			if p.GetReason() != "" {
				text += grid.Gap + textsafe.Clean(p.GetReason())
			}
			lines = append(lines, text)
		}
	}
	return grid.Scroll(lines, m.detail.offset, h)
}

// detailHead is the detail view down to the capabilities' heading: the device's fields.
func (m Model) detailHead(d *palyrav1.Device) []string {
	e := newEntry(d)
	lines := []string{m.styles.Strong.Render(e.name) + "  " + m.palette().trustStyle(d.GetTrust()).Render(e.trust) +
		"  " + m.palette().presenceStyle(d.GetPresence()).Render(e.presence), ""}
	field := func(label, value string) {
		lines = append(lines, m.styles.Muted.Render(termtext.Pad(label, labelWidth))+value)
	}
	field("id", e.id)
	field("platform", e.platform)
	field("node version", dash(textsafe.Clean(d.GetNodeVersion())))
	field("peer", dash(textsafe.Clean(d.GetPeer())))
	if e.connected() == 1 {
		field("last seen", "now — connected")
	} else {
		field("last seen", m.when(e.lastSeen))
	}
	field("paired", m.when(unixMs(d.GetPairedUnixMs())))
	cert := shortPrint(d.GetCertFingerprint())
	switch _, style := m.palette().certLeft(e.certExpiry); {
	case e.certExpiry.IsZero():
	case !e.certExpiry.After(m.at):
		cert += "  " + style.Render("expired "+m.when(e.certExpiry))
	default:
		cert += "  expires " + style.Render(m.when(e.certExpiry))
	}
	field("certificate", cert)
	field("key", shortPrint(d.GetKeyFingerprint()))
	field("approval", dash(textsafe.Clean(d.GetApprovalId())))
	if d.GetTrust() == trustRevoked {
		field("revoked", m.styles.Bad.Render(m.when(unixMs(d.GetRevokedUnixMs()))+" — "+dash(textsafe.Clean(d.GetRevokedReason()))))
	}
	return append(lines, "", m.styles.Strong.Render("CAPABILITIES")+
		m.styles.Muted.Render(fmt.Sprintf("  %d of %d available", e.available, len(d.GetCapabilities()))))
}

// reveal moves offset as little as needed for line to show in h lines.
func reveal(offset, line, h int) int {
	return min(max(offset, line-h+1), line)
}

func (m Model) resultLines(h int) []string {
	r := m.result
	lines := []string{m.styles.Strong.Render(textsafe.Clean(r.capability)) + " on " + m.styles.Strong.Render(r.device), ""}
	field := func(label, value string) {
		lines = append(lines, m.styles.Muted.Render(termtext.Pad(label, labelWidth))+value)
	}
	switch {
	case r.err != "":
		field("state", m.styles.Bad.Render("not run"))
		field("error", m.styles.Bad.Render(r.err))
		return grid.Scroll(lines, r.offset, h)
	case r.call == nil:
		field("state", m.styles.Busy.Render("running…"))
		return lines
	}
	c := r.call
	state := m.callStyle(c.GetState()).Render(textsafe.Clean(c.GetState()))
	if took := unixMs(c.GetUpdatedUnixMs()).Sub(unixMs(c.GetCreatedUnixMs())); c.GetUpdatedUnixMs() != 0 && took >= 0 {
		state += m.styles.Muted.Render("  in " + took.String())
	}
	field("state", state)
	field("call", dash(textsafe.Clean(c.GetId())))
	field("input", dash(textsafe.Clean(c.GetInputSummary())))
	if c.GetError() != "" {
		field("error", m.styles.Bad.Render(textsafe.Clean(c.GetError())))
	}
	if len(r.output) == 0 {
		field("output", m.styles.Muted.Render("none"))
	} else {
		field("output", m.styles.Muted.Render(plural.Count(len(r.output), "line", "lines")))
		for _, l := range r.output {
			lines = append(lines, "  "+l)
		}
	}
	return grid.Scroll(lines, r.offset, h)
}

// prettyOutput indents JSON output and splits any output into sanitized lines.
func prettyOutput(out []byte) []string {
	if len(out) == 0 {
		return nil
	}
	var buf bytes.Buffer
	if json.Indent(&buf, out, "", "  ") == nil {
		out = buf.Bytes()
	}
	return splitLines(string(out))
}

// splitLines splits text at line breaks and sanitizes each line, so breaks survive and
// nothing else reaches the terminal.
func splitLines(s string) []string {
	raw := strings.Split(strings.TrimRight(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
	lines := make([]string, len(raw))
	for i, l := range raw {
		lines[i] = textsafe.Clean(l)
	}
	return lines
}

func (p *palette) certLeft(expiry time.Time) (string, lipgloss.Style) {
	switch {
	case expiry.IsZero():
		return "-", p.st.Muted
	case !expiry.After(p.at):
		return "expired", p.st.Bad
	case expiry.Sub(p.at) < time.Hour:
		return clock.Countdown(expiry, p.at), p.st.Busy
	}
	return clock.Countdown(expiry, p.at), lipgloss.Style{}
}

// when is a wall-clock time with its distance from now.
func (m Model) when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	if t.After(m.at) {
		return m.wall(t) + "  (in " + clock.Countdown(t, m.at) + ")"
	}
	return m.wall(t) + "  (" + clock.Short(m.at.Sub(t)) + " ago)"
}

func (m Model) wall(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(m.loc).Format("2006-01-02 15:04:05")
}

// shortPrint shortens a hex fingerprint to its first 16 characters.
func shortPrint(fp string) string {
	fp = textsafe.Clean(fp)
	if len(fp) > 16 {
		return fp[:16] + "…"
	}
	return dash(fp)
}

func (p *palette) trustStyle(t string) lipgloss.Style {
	switch t {
	case trustTrusted:
		return p.st.Good
	case trustRevoked:
		return p.st.Bad
	}
	return p.st.Muted
}

func (p *palette) presenceStyle(presence string) lipgloss.Style {
	switch presence {
	case presenceOnline:
		return p.st.Good
	case presenceDegraded, presenceStale:
		return p.st.Busy
	}
	return p.st.Muted
}

func (m Model) palette() *palette { return &palette{st: m.styles, at: m.at} }

func (m Model) callStyle(state string) lipgloss.Style {
	switch state {
	case "succeeded":
		return m.styles.Good
	case "failed", "timed_out":
		return m.styles.Bad
	}
	return m.styles.Busy
}
