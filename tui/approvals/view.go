package approvals

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/grid"
	"github.com/palyra/palyra/tui/termtext"
)

const (
	labelWidth      = 11
	maxSubjectWidth = 30
	maxPartyWidth   = 18 // requester and decider
	minSummaryWidth = 16
)

// shortTypes name the daemon's subject types briefly for the list; the detail view shows
// the full name.
var shortTypes = map[string]string{
	"device_pairing":   "pairing",
	"node_capability":  "capability",
	"channel_mutation": "channel",
}

// column is one column of a list. The summary column, last, is shown when the others
// leave it room; the selected row's summary also has a line of its own below the list.
type column struct {
	title    string
	priority int
	max      int // widest the column grows; 0: as wide as its widest cell
	cell     func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style)
}

var pendingColumns = []column{
	{title: "RISK", priority: 10, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		return dash(textsafe.Clean(a.GetRisk())), m.riskStyle(a.GetRisk())
	}},
	{title: "SUBJECT", priority: 9, max: maxSubjectWidth, cell: subjectCell},
	{title: "REQUESTER", priority: 7, max: maxPartyWidth, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		return dash(textsafe.Clean(a.GetRequester())), lipgloss.Style{}
	}},
	{title: "AGE", priority: 6, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		return clock.Short(m.at.Sub(unixMs(a.GetCreatedUnixMs()))), m.styles.Muted
	}},
	{title: "EXPIRES", priority: 8, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		exp := unixMs(a.GetExpiresUnixMs())
		switch {
		case exp.IsZero():
			return "-", m.styles.Muted
		case !exp.After(m.at):
			return "expired", m.styles.Muted
		case exp.Sub(m.at) < time.Minute:
			return clock.Countdown(exp, m.at), m.styles.Bad
		}
		return clock.Countdown(exp, m.at), m.styles.Busy
	}},
}

var historyColumns = []column{
	{title: "STATE", priority: 10, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		return textsafe.Clean(a.GetState()), m.stateStyle(a.GetState())
	}},
	{title: "SUBJECT", priority: 9, max: maxSubjectWidth, cell: subjectCell},
	{title: "DECIDER", priority: 6, max: maxPartyWidth, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		return dash(textsafe.Clean(a.GetDecider())), lipgloss.Style{}
	}},
	{title: "SETTLED", priority: 7, cell: func(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
		at := unixMs(a.GetDecidedUnixMs())
		if at.IsZero() {
			at = unixMs(a.GetExpiresUnixMs())
		}
		if at.IsZero() {
			return "-", m.styles.Muted
		}
		return clock.Short(m.at.Sub(at)) + " ago", m.styles.Muted
	}},
}

func subjectCell(m *Model, a *palyrav1.Approval) (string, lipgloss.Style) {
	kind := textsafe.Clean(a.GetSubjectType())
	if short, ok := shortTypes[kind]; ok {
		kind = short
	}
	return kind + " " + textsafe.Clean(a.GetSubjectId()), lipgloss.Style{}
}

// View renders the pane at its size.
func (m Model) View() string {
	h := m.height
	question := m.question()
	if question != "" {
		h--
	}
	var lines []string
	if m.mode == modeDetail || m.back == modeDetail && question != "" {
		lines = grid.Scroll(m.detailLines(), m.offset, h)
	} else {
		lines = m.listLines(h)
	}
	body := termtext.Block(strings.Join(lines, "\n"), m.width, max(h, 0))
	if question == "" {
		return body
	}
	if h <= 0 {
		return termtext.Truncate(question, m.width)
	}
	return body + "\n" + termtext.Truncate(question, m.width)
}

func (m Model) question() string {
	a := m.current()
	if a == nil {
		return ""
	}
	id := textsafe.Clean(a.GetId())
	switch m.mode {
	case modeTimeBox:
		return m.styles.Status.Warn.Render("Allow "+id+" for how long? ") + m.input.View() +
			m.styles.Muted.Render("  e.g. 15m, 1h, 8h")
	case modeReason:
		return m.styles.Status.Warn.Render("Deny "+id+" — reason (required): ") + m.input.View()
	}
	return ""
}

func (m Model) listLines(h int) []string {
	lines := []string{m.headline()}
	list, cols := m.pending, pendingColumns
	if m.showHistory {
		list, cols = m.history, historyColumns
	}
	switch {
	case m.showHistory && m.historyErr != "":
		return append(lines, "", m.styles.Bad.Render("history: "+m.historyErr))
	case m.showHistory && !m.historyLoaded:
		return append(lines, "", m.styles.Muted.Render("loading the history…"))
	case len(list) == 0 && m.showHistory:
		return append(lines, "", m.styles.Muted.Render("Nothing has been decided yet."))
	case len(list) == 0 && m.conn.Connected():
		return append(lines, "", m.styles.Muted.Render("Nothing waits for a decision. A new request rings the bell."))
	case len(list) == 0:
		return lines
	}
	return append(lines, m.tableLines(list, cols, max(h-1, 1))...)
}

func (m Model) headline() string {
	muted := m.styles.Muted
	var text string
	switch {
	case !m.conn.Connected() && m.conn.Problem != "":
		text = m.styles.Bad.Render(m.conn.Problem)
		if len(m.pending) > 0 {
			text += muted.Render(" · showing the last known approvals")
		}
	case !m.conn.Connected():
		text = muted.Render("connecting to palyrad…")
	case !m.conn.Can(gateway.ObservabilityRead):
		text = m.styles.Bad.Render("this token cannot read approvals: it lacks " + gateway.ObservabilityRead)
	case m.showHistory:
		text = m.styles.Strong.Render("History") + muted.Render(" · settled approvals, newest first · h shows the pending ones")
		if m.historyNext != "" {
			text = m.styles.Strong.Render("History") + muted.Render(fmt.Sprintf(" · newest first · %d loaded, more as you scroll · h pending", len(m.history)))
		}
	case len(m.pending) == 0:
		text = muted.Render("no pending approvals")
	default:
		text = m.styles.Status.Warn.Render(fmt.Sprintf("%d pending", len(m.pending)))
	}
	if m.conn.Connected() && !m.conn.Can(gateway.ApprovalsDecide) {
		text += muted.Render(" · read-only: this token cannot decide")
	}
	return text
}

func (m Model) tableLines(list []*palyrav1.Approval, cols []column, room int) []string {
	cells := make([][]string, len(list))
	cellStyles := make([][]lipgloss.Style, len(list))
	widths := make([]int, len(cols))
	for c, col := range cols {
		widths[c] = len(col.title)
	}
	for i, a := range list {
		cells[i] = make([]string, len(cols)+1)
		cellStyles[i] = make([]lipgloss.Style, len(cols)+1)
		for c, col := range cols {
			cells[i][c], cellStyles[i][c] = col.cell(&m, a)
			w := termtext.Width(cells[i][c])
			if col.max > 0 {
				w = min(w, col.max)
			}
			widths[c] = max(widths[c], w)
		}
		cells[i][len(cols)] = textsafe.Clean(a.GetSummary())
	}

	// Keep the most important columns that fit; the summary only if room is left for it.
	priorities := make([]int, len(cols))
	for c, col := range cols {
		priorities[c] = col.priority
	}
	shown, used := grid.Fit(widths, priorities, m.width)
	withSummary := m.width-used-len(grid.Gap) >= minSummaryWidth

	var header strings.Builder
	header.WriteString(strings.Repeat(" ", grid.SelectorWidth))
	for n, c := range shown {
		if n > 0 {
			header.WriteString(grid.Gap)
		}
		header.WriteString(termtext.Pad(cols[c].title, widths[c]))
	}
	if withSummary {
		header.WriteString(grid.Gap + "SUMMARY")
	}
	lines := []string{m.styles.Table.Header.Render(strings.TrimRight(header.String(), " "))}

	// The selected row's summary takes the last line when the column cannot show it whole.
	preview := ""
	if sel := list[min(m.cursor, len(list)-1)]; !withSummary || termtext.Width(cells[m.cursor][len(cols)]) > m.width-used-len(grid.Gap) {
		preview = m.styles.Strong.Render("▸ " + textsafe.Clean(sel.GetSummary()))
		room -= 2
	}
	first, last := grid.Window(len(list), m.cursor, max(room-1, 1))
	for i := first; i < last; i++ {
		selected := i == m.cursor
		var row strings.Builder
		for n, c := range shown {
			if n > 0 {
				row.WriteString(grid.Gap)
			}
			text := termtext.Pad(cells[i][c], widths[c])
			if !selected {
				text = cellStyles[i][c].Render(text)
			}
			row.WriteString(text)
		}
		if withSummary {
			row.WriteString(grid.Gap + cells[i][len(cols)])
		}
		text := strings.TrimRight(row.String(), " ")
		if selected {
			lines = append(lines, grid.Selector+m.styles.Table.Selected.Render(text))
		} else {
			lines = append(lines, strings.Repeat(" ", grid.SelectorWidth)+text)
		}
	}
	if preview != "" {
		lines = append(lines, "", preview)
	}
	return lines
}

func (m Model) detailLines() []string {
	a := m.current()
	if a == nil {
		return []string{m.styles.Muted.Render("no approval selected")}
	}
	title := m.styles.Strong.Render(textsafe.Clean(a.GetId())) + "  " + m.riskStyle(a.GetRisk()).Render(dash(textsafe.Clean(a.GetRisk()))+" risk") +
		"  " + m.stateStyle(a.GetState()).Render(textsafe.Clean(a.GetState()))
	if a.GetState() != statePending && a.GetState() != "timed_out" {
		title += m.styles.Muted.Render("  " + settledText(a))
	}
	lines := []string{title, ""}
	field := func(label, value string) {
		lines = append(lines, m.styles.Muted.Render(termtext.Pad(label, labelWidth))+value)
	}
	field("summary", m.styles.Strong.Render(textsafe.Clean(a.GetSummary())))
	field("subject", textsafe.Clean(a.GetSubjectType())+"  "+textsafe.Clean(a.GetSubjectId()))
	field("risk", dash(textsafe.Clean(a.GetRisk())))
	field("requester", dash(textsafe.Clean(a.GetRequester())))
	field("created", m.when(unixMs(a.GetCreatedUnixMs())))
	field("expires", m.when(unixMs(a.GetExpiresUnixMs())))
	field("state", textsafe.Clean(a.GetState()))
	if a.GetState() != statePending {
		if a.GetScope() != "" {
			scope := textsafe.Clean(a.GetScope())
			if a.GetGrantMs() > 0 {
				scope += " · " + clock.Short(time.Duration(a.GetGrantMs())*time.Millisecond)
			}
			field("scope", scope)
		}
		field("decider", dash(textsafe.Clean(a.GetDecider())))
		field("decided", m.when(unixMs(a.GetDecidedUnixMs())))
		if a.GetReason() != "" {
			field("reason", textsafe.Clean(a.GetReason()))
		}
	}
	lines = append(lines, "", m.styles.Strong.Render("DETAILS"))
	details := detailText(a.GetDetails(), max(m.width-2, 10))
	if len(details) == 0 {
		lines = append(lines, m.styles.Muted.Render("  none"))
	}
	for _, l := range details {
		lines = append(lines, "  "+l)
	}
	return lines
}

// detailText pretty-prints JSON details, wraps text to width and sanitizes every line.
func detailText(details string, width int) []string {
	if strings.TrimSpace(details) == "" {
		return nil
	}
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(details), "", "  ") == nil {
		details = buf.String()
	}
	var lines []string
	for _, l := range strings.Split(strings.ReplaceAll(details, "\r\n", "\n"), "\n") {
		lines = append(lines, strings.Split(ansi.Wrap(textsafe.Clean(l), width, ""), "\n")...)
	}
	return lines
}

func (m Model) when(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	wall := t.In(m.loc).Format("2006-01-02 15:04:05")
	if t.After(m.at) {
		return wall + "  (in " + clock.Countdown(t, m.at) + ")"
	}
	return wall + "  (" + clock.Short(m.at.Sub(t)) + " ago)"
}

func (m Model) riskStyle(risk string) lipgloss.Style {
	switch risk {
	case "low":
		return m.styles.Good
	case "medium":
		return m.styles.Busy
	case "high":
		return m.styles.Bad
	case "critical":
		return m.styles.Bad.Reverse(true)
	}
	return m.styles.Muted
}

func (m Model) stateStyle(state string) lipgloss.Style {
	switch state {
	case "approved":
		return m.styles.Good
	case "denied":
		return m.styles.Bad
	case statePending:
		return m.styles.Busy
	}
	return m.styles.Muted
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
