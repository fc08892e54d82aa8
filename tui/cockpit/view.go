package cockpit

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/clock"
	"github.com/palyra/palyra/tui/grid"
	"github.com/palyra/palyra/tui/termtext"
)

const ()

// column is one column of the service table; cell returns a row's text and the style that
// gives it meaning. When the table is too wide, every column first takes its short title and
// compact text (what the detail view and the notes say in full), then a column with a min
// is cut down to it, and only then are columns dropped, lowest priority first.
type column struct {
	title, short string
	priority     int
	min          int // 0: never cut
	cell         func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style)
	compact      func(s supervisor.ServiceStatus) string // nil: the cell's text
}

var columns = []column{
	{title: "NAME", priority: 10, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		return textsafe.Clean(s.Name), m.styles.Strong
	}},
	{title: "STATE", priority: 9, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		return stateText(s, m.at), m.styles.ForState(s.State)
	}, compact: func(s supervisor.ServiceStatus) string {
		if s.State == "" {
			return "-"
		}
		return string(s.State) // the notes count a backoff down
	}},
	{title: "HEALTH", priority: 8, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		return healthText(s.Health), m.healthStyle(s.Health)
	}},
	{title: "PID", priority: 5, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		if s.PID == 0 {
			return "-", m.styles.Muted
		}
		return strconv.Itoa(s.PID), lipgloss.Style{}
	}},
	{title: "PORTS", priority: 6, min: 5, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		return portsText(s.Addrs), lipgloss.Style{}
	}},
	{title: "UPTIME", priority: 7, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		if s.StartedAt.IsZero() {
			return "-", m.styles.Muted
		}
		return clock.Short(m.at.Sub(s.StartedAt)), lipgloss.Style{}
	}},
	{title: "RESTARTS", short: "RST", priority: 4, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		if s.Restarts > 0 {
			return strconv.Itoa(s.Restarts), m.styles.Busy
		}
		return "0", lipgloss.Style{}
	}},
	{title: "CPU", priority: 1, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		if s.PID == 0 {
			return "-", m.styles.Muted
		}
		return strconv.FormatFloat(s.CPUPercent, 'f', 1, 64) + "%", lipgloss.Style{}
	}},
	{title: "MEM", priority: 2, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		if s.PID == 0 {
			return "-", m.styles.Muted
		}
		return humanBytes(s.RSSBytes), lipgloss.Style{}
	}},
	{title: "LAST EXIT", short: "EXIT", priority: 3, cell: func(m Model, s supervisor.ServiceStatus) (string, lipgloss.Style) {
		if s.LastExit == nil {
			return "-", m.styles.Muted
		}
		return s.LastExit.String(), lipgloss.Style{}
	}, compact: func(s supervisor.ServiceStatus) string {
		switch {
		case s.LastExit == nil:
			return "-"
		case s.LastExit.Signal != "":
			return s.LastExit.Signal
		}
		return "exit " + strconv.Itoa(s.LastExit.Code)
	}},
}

// View renders the pane at its size.
func (m Model) View() string {
	if !m.hasSnap {
		return termtext.Block(m.styles.Muted.Render("waiting for the supervisor…"), m.width, m.height)
	}
	var lines []string
	if m.mode == modeDetail {
		lines = m.detailLines()
	} else {
		lines = m.tableLines()
	}
	if m.mode == modeConfirmStop {
		// The question takes the last line, whatever the content above needs.
		body := termtext.Block(strings.Join(lines, "\n"), m.width, max(m.height-1, 0))
		prompt := m.styles.Status.Warn.Render(fmt.Sprintf("Stop %s? It stays stopped until you start it.", textsafe.Clean(m.selected))) +
			"  " + m.styles.Strong.Render("y/n")
		return body + "\n" + termtext.Truncate(prompt, m.width)
	}
	return termtext.Block(strings.Join(lines, "\n"), m.width, m.height)
}

func (m Model) headerLines() []string {
	overall := m.snap.Overall
	if overall == "" {
		overall = supervisor.OverallDown
	}
	style := m.styles.Good
	switch overall {
	case supervisor.OverallDegraded:
		style = m.styles.Busy
	case supervisor.OverallDown:
		style = m.styles.Bad
	}
	first := style.Bold(true).Render("● " + strings.ToUpper(string(overall)))
	if len(m.snap.Reasons) > 0 {
		reasons := make([]string, len(m.snap.Reasons))
		for i, r := range m.snap.Reasons {
			reasons[i] = textsafe.Clean(r)
		}
		first += "  " + strings.Join(reasons, "; ")
	}
	sup := m.snap.Supervisor
	facts := []string{"supervisor pid " + strconv.Itoa(sup.PID)}
	if sup.Version != "" {
		facts = append(facts, textsafe.Clean(sup.Version))
	}
	if sup.Home != "" {
		facts = append(facts, textsafe.Clean(sup.Home))
	}
	if !sup.StartedAt.IsZero() {
		facts = append(facts, "up "+clock.Short(m.at.Sub(sup.StartedAt)))
	}
	lines := []string{first, m.styles.Muted.Render(strings.Join(facts, " · "))}
	if line := m.daemonLine(); line != "" {
		lines = append(lines, line)
	}
	if c := m.daemon.Channels; c != nil && m.daemon.Problem == "" {
		lines = append(lines, m.styles.Muted.Render("channels ")+m.channelsText(*c))
	}
	return lines
}

// daemonLine is the gateway's devices and approvals, or why palyrad cannot be reached.
func (m Model) daemonLine() string {
	d := m.daemon
	switch {
	case !d.Known:
		return ""
	case d.Problem != "":
		return m.styles.Muted.Render("gateway ") + m.styles.Bad.Render(strings.TrimPrefix(textsafe.Clean(d.Problem), "gateway "))
	}
	devices := fmt.Sprintf("%d/%s online", d.Online, plural.Count(d.Devices, "device", "devices"))
	pending := m.styles.Muted.Render("no pending approvals")
	switch {
	case d.Pending == 1:
		pending = m.styles.Status.Warn.Render("1 pending approval")
	case d.Pending > 1:
		pending = m.styles.Status.Warn.Render(fmt.Sprintf("%d pending approvals", d.Pending))
	}
	return m.styles.Muted.Render("gateway ") + devices + m.styles.Muted.Render(" · ") + pending
}

// channelsText is the connectors ok and failing, and the dead letters waiting.
func (m Model) channelsText(c ChannelFacts) string {
	if c.Connectors == 0 {
		return m.styles.Muted.Render("no connectors")
	}
	text := m.styles.Good.Render(fmt.Sprintf("%d/%s ok", c.Connectors-c.Failing, plural.Count(c.Connectors, "connector", "connectors")))
	if c.Agent {
		text += m.styles.Muted.Render(", agent attached")
	}
	if c.Failing > 0 {
		text += m.styles.Muted.Render(", ") + m.styles.Bad.Render(fmt.Sprintf("%d failing", c.Failing))
	}
	if c.DeadLetters > 0 {
		text += m.styles.Muted.Render(", ") + m.styles.Status.Warn.Render(plural.Count(c.DeadLetters, "dead letter", "dead letters"))
	}
	if c.Inbox > 0 && !c.Agent {
		text += m.styles.Muted.Render(", ") + m.styles.Status.Warn.Render(fmt.Sprintf("%d inbound waiting", c.Inbox))
	}
	return text
}

func (m Model) tableLines() []string {
	lines := append(m.headerLines(), "")
	services := m.snap.Services
	if len(services) == 0 {
		return append(lines, m.styles.Muted.Render("no services configured"))
	}

	cells := make([][]string, len(services))
	cellStyles := make([][]lipgloss.Style, len(services))
	for i, s := range services {
		cells[i] = make([]string, len(columns))
		cellStyles[i] = make([]lipgloss.Style, len(columns))
		for c, col := range columns {
			cells[i][c], cellStyles[i][c] = col.cell(m, s)
		}
	}
	shown, widths, titles, compact := m.layout(cells)
	if compact {
		for i, s := range services {
			for c, col := range columns {
				if col.compact != nil {
					cells[i][c] = col.compact(s)
				}
			}
		}
	}

	header := strings.Repeat(" ", grid.SelectorWidth)
	for n, c := range shown {
		if n > 0 {
			header += grid.Gap
		}
		header += termtext.Pad(titles[c], widths[c])
	}
	lines = append(lines, m.styles.Table.Header.Render(strings.TrimRight(header, " ")))

	notes := m.noteLines()
	// Keep the notes visible: the table gets what is left, as a window around the selection.
	room := max(m.height-len(lines)-len(notes)-1, 1)
	first, last := grid.Window(len(services), m.index(), room)
	for i := first; i < last; i++ {
		var row strings.Builder
		selected := services[i].Name == m.selected
		for n, c := range shown {
			if n > 0 {
				row.WriteString(grid.Gap)
			}
			text := cells[i][c]
			if n < len(shown)-1 {
				text = termtext.Pad(text, widths[c])
			}
			text = termtext.Truncate(text, widths[c])
			if !selected {
				text = cellStyles[i][c].Render(text)
			}
			row.WriteString(text)
		}
		if selected {
			lines = append(lines, grid.Selector+m.styles.Table.Selected.Render(row.String()))
		} else {
			lines = append(lines, strings.Repeat(" ", grid.SelectorWidth)+row.String())
		}
	}
	if len(notes) > 0 {
		lines = append(lines, "")
		lines = append(lines, notes...)
	}
	return lines
}

// layout fits the columns to the width (see column) and returns the ones shown in table
// order, each column's width and title, and whether the compact texts are in use.
func (m Model) layout(cells [][]string) (shown []int, widths []int, titles []string, compact bool) {
	services := m.snap.Services
	measure := func(compact bool) (int, []int, []string) {
		total := grid.SelectorWidth - len(grid.Gap)
		widths := make([]int, len(columns))
		titles := make([]string, len(columns))
		for c, col := range columns {
			titles[c] = col.title
			if compact && col.short != "" {
				titles[c] = col.short
			}
			widths[c] = lipgloss.Width(titles[c])
			for i, row := range cells {
				text := row[c]
				if compact && col.compact != nil {
					text = col.compact(services[i])
				}
				widths[c] = max(widths[c], lipgloss.Width(text))
			}
			total += len(grid.Gap) + widths[c]
		}
		return total, widths, titles
	}
	total, widths, titles := measure(false)
	if total > m.width {
		compact = true
		total, widths, titles = measure(true)
	}
	// Cut only if that makes every column fit; if some must go anyway, the rest stay whole.
	cuttable := 0
	for c, col := range columns {
		if col.min > 0 {
			cuttable += max(widths[c]-max(col.min, lipgloss.Width(titles[c])), 0)
		}
	}
	if total > m.width && total-cuttable <= m.width {
		for c, col := range columns {
			if cut := min(total-m.width, widths[c]-max(col.min, lipgloss.Width(titles[c]))); col.min > 0 && cut > 0 {
				widths[c] -= cut
				total -= cut
			}
		}
	}

	byPriority := make([]int, len(columns))
	for c := range columns {
		byPriority[c] = c
	}
	slices.SortStableFunc(byPriority, func(a, b int) int { return columns[b].priority - columns[a].priority })
	used := grid.SelectorWidth - len(grid.Gap)
	keep := make([]bool, len(columns))
	for n, c := range byPriority {
		if n == 0 || used+len(grid.Gap)+widths[c] <= m.width {
			keep[c] = true
			used += len(grid.Gap) + widths[c]
		}
	}
	for c := range columns {
		if keep[c] {
			shown = append(shown, c)
		}
	}
	return shown, widths, titles, compact
}

// noteLines explains every service that needs attention: why it is fatal, when it restarts.
func (m Model) noteLines() []string {
	var notes []string
	for _, s := range m.snap.Services {
		name := textsafe.Clean(s.Name)
		switch s.State {
		case supervisor.StateFatal:
			text := "✗ " + name + " gave up"
			if s.Reason != "" {
				text = "✗ " + name + ": " + textsafe.Clean(s.Reason)
			}
			notes = append(notes, m.styles.Bad.Render(text)+m.styles.Muted.Render("  (s to start)"))
		case supervisor.StateBackoff:
			// The reason holds the exit and the service's last words on stderr.
			text := fmt.Sprintf("↻ %s restarts in %s (attempt %d)", name, clock.Countdown(s.NextRestart, m.at), s.Attempt)
			switch {
			case s.Reason != "":
				text += ": " + textsafe.Clean(s.Reason)
			case s.LastExit != nil:
				text += ": " + s.LastExit.String()
			}
			notes = append(notes, m.styles.Busy.Render(text))
		default:
			if s.Health == supervisor.HealthUnhealthy {
				text := "! " + name + " is unhealthy"
				if s.HealthDetail != "" {
					text += ": " + textsafe.Clean(s.HealthDetail)
				}
				notes = append(notes, m.styles.Busy.Render(text))
			}
		}
	}
	return notes
}

func (m Model) detailLines() []string {
	i := m.index()
	if i < 0 {
		return []string{m.styles.Muted.Render("no service selected")}
	}
	s := m.snap.Services[i]
	title := m.styles.Strong.Render(textsafe.Clean(s.Name)) + "  " + m.styles.ForState(s.State).Render(stateText(s, m.at)) +
		"  " + m.healthStyle(s.Health).Render(healthText(s.Health))
	lines := []string{title, ""}
	field := func(label, value string) {
		lines = append(lines, m.styles.Muted.Render(fmt.Sprintf("%-14s", label))+value)
	}
	dash := func(s string) string {
		if s == "" {
			return "-"
		}
		return s
	}

	health := string(s.Health)
	if s.HealthDetail != "" {
		health += " — " + textsafe.Clean(s.HealthDetail)
	}
	field("health", health)
	field("pid", dash(pidText(s.PID)))
	field("addresses", dash(addrsText(s.Addrs)))
	if s.StartedAt.IsZero() {
		field("started", "-")
	} else {
		field("started", m.wall(s.StartedAt)+"  (up "+clock.Short(m.at.Sub(s.StartedAt))+")")
	}
	field("restarts", fmt.Sprintf("%d  (attempt %d)", s.Restarts, s.Attempt))
	if s.NextRestart.IsZero() {
		field("next restart", "-")
	} else {
		field("next restart", m.wall(s.NextRestart)+"  (in "+clock.Countdown(s.NextRestart, m.at)+")")
	}
	if len(s.RecentExits) == 0 {
		field("recent exits", "-")
	}
	for n, e := range s.RecentExits {
		label := ""
		if n == 0 {
			label = "recent exits"
		}
		field(label, m.wall(e.At)+"  "+e.String())
	}
	command := make([]string, len(s.Command))
	for n, a := range s.Command {
		command[n] = textsafe.Clean(a)
	}
	field("command", dash(strings.Join(command, " ")))
	field("log file", dash(textsafe.Clean(s.LogFile)))
	field("dropped lines", strconv.FormatUint(s.DroppedLines, 10))
	field("version", dash(textsafe.Clean(s.Version)))
	if s.Reason != "" {
		field("reason", m.styles.Bad.Render(textsafe.Clean(s.Reason)))
	}
	return lines
}

func (m Model) wall(t time.Time) string {
	return t.In(m.loc).Format("2006-01-02 15:04:05")
}

func (m Model) healthStyle(h supervisor.Health) lipgloss.Style {
	switch h {
	case supervisor.HealthHealthy:
		return m.styles.Good
	case supervisor.HealthUnhealthy:
		return m.styles.Bad
	}
	return m.styles.Muted
}

func stateText(s supervisor.ServiceStatus, at time.Time) string {
	if s.State == supervisor.StateBackoff && !s.NextRestart.IsZero() {
		return "backoff " + clock.Countdown(s.NextRestart, at)
	}
	if s.State == "" {
		return "-"
	}
	return string(s.State)
}

func healthText(h supervisor.Health) string {
	if h == "" || h == supervisor.HealthUnknown {
		return "-"
	}
	return string(h)
}

func pidText(pid int) string {
	if pid == 0 {
		return ""
	}
	return strconv.Itoa(pid)
}

// portsText lists the ports of a service's addresses, in the order of the address names.
func portsText(addrs map[string]string) string {
	if len(addrs) == 0 {
		return "-"
	}
	var ports []string
	for _, name := range slices.Sorted(mapKeys(addrs)) {
		a := textsafe.Clean(addrs[name])
		if i := strings.LastIndexByte(a, ':'); i >= 0 {
			a = a[i+1:]
		}
		ports = append(ports, a)
	}
	return strings.Join(ports, ",")
}

func addrsText(addrs map[string]string) string {
	var parts []string
	for _, name := range slices.Sorted(mapKeys(addrs)) {
		parts = append(parts, textsafe.Clean(name)+" "+textsafe.Clean(addrs[name]))
	}
	return strings.Join(parts, " · ")
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// humanBytes renders a byte count with a binary unit, a decimal only below ten as ls -h
// does: 512B, 9.5M, 48M, 1.5G.
func humanBytes(n uint64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatUint(n, 10) + "B"
	}
	value, suffix := float64(n)/unit, "K"
	for _, s := range []string{"M", "G", "T"} {
		if value < unit {
			break
		}
		value, suffix = value/unit, s
	}
	if value >= 9.95 { // would round to 10.0

		return strconv.FormatFloat(value, 'f', 0, 64) + suffix
	}
	return strconv.FormatFloat(value, 'f', 1, 64) + suffix
}
