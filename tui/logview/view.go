package logview

import (
	"fmt"
	"strconv"
	"strings"

	"charm.land/lipgloss/v2"
	"github.com/charmbracelet/x/ansi"

	"github.com/palyra/palyra/internal/plural"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/tui/termtext"
	"github.com/palyra/palyra/tui/theme"
)

const (
	minServiceWidth = 6
	maxServiceWidth = 12
	timeLayout      = "15:04:05.000"
	levelWidth      = 5
	minTextWidth    = 10
)

// paint applies a style to plain one-line text by wrapping it in the style's escape
// sequences, prepared once: far cheaper than Style.Render for every cell of every row.
type paint struct{ pre, post string }

func newPaint(st lipgloss.Style) paint {
	const marker = "X" // no escape sequence contains it
	s := st.Render(marker)
	i := strings.Index(s, marker)
	return paint{pre: s[:i], post: s[i+len(marker):]}
}

func (p paint) apply(s string) string {
	if p.pre == "" && p.post == "" {
		return s
	}
	return p.pre + s + p.post
}

// paints are the log view's styles, prepared for paint.
type paints struct {
	time, service, muted, current, match paint
	debug, info, warn, error             paint
}

func newPaints(st theme.Styles) paints {
	return paints{
		time: newPaint(st.Logs.Time), service: newPaint(st.Logs.Service), muted: newPaint(st.Muted),
		current: newPaint(st.Logs.Current), match: newPaint(st.Logs.Match),
		debug: newPaint(st.Logs.Debug), info: newPaint(st.Logs.Info),
		warn: newPaint(st.Logs.Warn), error: newPaint(st.Logs.Error),
	}
}

// View renders the header, the visible rows and the filter line, and nothing else: its cost
// depends on the height, not on how many lines are kept.
func (m Model) View() string {
	rows := m.rows()
	var b strings.Builder
	b.WriteString(termtext.Truncate(m.header(), m.width))
	body := m.body(rows)
	for i := range rows {
		b.WriteByte('\n')
		if i < len(body) {
			b.WriteString(body[i])
		}
	}
	if m.height > rows+1 {
		b.WriteByte('\n')
		b.WriteString(termtext.Truncate(m.footer(), m.width))
	}
	return b.String()
}

// rows is how many rows the lines get: the pane less the header and the filter line.
func (m *Model) rows() int {
	r := m.height - 1
	if m.filter != "" || m.input.Focused() {
		r--
	}
	return max(r, 1)
}

// bottomTop is the position of the first line in view when the newest line is on the last row.
func (m *Model) bottomTop() int {
	n, rows := m.count(), m.rows()
	if !m.wrap {
		return max(n-rows, 0)
	}
	used := 0
	for pos := n - 1; pos >= 0; pos-- {
		used += len(m.lineRows(pos))
		if used >= rows {
			return pos
		}
	}
	return 0
}

// body renders the visible rows: from the top line down while paused, from the newest line
// up while following or when the lines below the top do not fill the pane.
func (m *Model) body(rows int) []string {
	n := m.count()
	if n == 0 {
		switch {
		case m.filter != "":
			return []string{m.styles.Muted.Render("no line matches " + strconv.Quote(m.filter))}
		case m.down:
			return nil
		}
		return []string{m.styles.Muted.Render("no lines yet")}
	}
	if !m.follow {
		var out []string
		pos := m.posOf(m.top)
		for ; pos < n && len(out) < rows; pos++ {
			out = append(out, m.lineRows(pos)...)
		}
		if len(out) >= rows {
			return out[:rows]
		}
	}
	// Anchored at the bottom: with wrap, the first line may show only its last rows.
	var out []string
	for pos := n - 1; pos >= 0 && len(out) < rows; pos-- {
		out = append(m.lineRows(pos), out...)
	}
	return out[max(len(out)-rows, 0):]
}

// lineRows renders the line at position pos as one row, or as several when wrapping.
func (m *Model) lineRows(pos int) []string {
	abs := m.absAt(pos)
	l := m.buf.at(abs)
	prefix, width := m.prefix(&l, m.hasCurrent && abs == m.current)
	textWidth := m.width - width
	text := l.Text
	if !m.wrap {
		if textWidth < 1 {
			return []string{termtext.Truncate(prefix, m.width)}
		}
		return []string{prefix + m.highlight(cut(text, textWidth))}
	}
	textWidth = max(textWidth, minTextWidth)
	wrapped := strings.Split(ansi.Wrap(m.highlight(text), textWidth, ""), "\n")
	indent := strings.Repeat(" ", width)
	for i := range wrapped {
		if i == 0 {
			wrapped[i] = prefix + wrapped[i]
		} else {
			wrapped[i] = indent + wrapped[i]
		}
		if width+textWidth > m.width {
			wrapped[i] = termtext.Truncate(wrapped[i], m.width)
		}
	}
	return wrapped
}

// cut shortens plain text to w cells, ending in an ellipsis when cut.
func cut(s string, w int) string {
	if isASCII(s) {
		if len(s) <= w {
			return s
		}
		return s[:w-1] + termtext.Ellipsis
	}
	return termtext.Truncate(s, w)
}

// prefix renders the time, service and level columns and returns them with their width.
func (m *Model) prefix(l *logs.Line, current bool) (string, int) {
	var b strings.Builder
	width := 0
	add := func(text string, w int, p paint) {
		text = termtext.Pad(text, w)
		if !current {
			text = p.apply(text)
		}
		b.WriteString(text)
		b.WriteByte(' ')
		width += w + 1
	}
	if m.showTime {
		t := strings.Repeat(" ", len(timeLayout))
		if !l.Time.IsZero() {
			t = l.Time.In(m.opts.Location).Format(timeLayout)
		}
		add(t, len(timeLayout), m.paints.time)
	}
	add(l.Service, m.svcWidth, m.paints.service)
	label, p := m.level(l)
	add(label, levelWidth, p)
	if current {
		return m.paints.current.apply(b.String()), width
	}
	return b.String(), width
}

// level returns a line's level label and the paint that colours it.
func (m *Model) level(l *logs.Line) (string, paint) {
	switch strings.ToLower(l.Level) {
	case "debug", "trace":
		return "DEBUG", m.paints.debug
	case "info":
		return "INFO", m.paints.info
	case "warn", "warning":
		return "WARN", m.paints.warn
	case "error", "fatal", "panic":
		return "ERROR", m.paints.error
	case "":
		if l.Stream == logs.Supervisor {
			return "SUPV", m.paints.muted
		}
		return "", m.paints.muted
	}
	return strings.ToUpper(l.Level), m.paints.muted
}

// highlight marks every filter match in text.
func (m *Model) highlight(text string) string {
	if m.filter == "" {
		return text
	}
	var b strings.Builder
	for {
		i, n := indexFold(text, m.filter)
		if i < 0 {
			break
		}
		b.WriteString(text[:i])
		b.WriteString(m.paints.match.apply(text[i : i+n]))
		text = text[i+n:]
	}
	b.WriteString(text)
	return b.String()
}

// catchUpFrom is how far behind the files the pane's stream is before the header says so.
const catchUpFrom = 8 << 20

func (m *Model) header() string {
	name := "all services"
	if m.service != "" {
		name = m.service
	}
	parts := []string{m.styles.Strong.Render(name), thousands(m.buf.len()) + " " + plural.Word(m.buf.len(), "line", "lines")}
	dropped := m.streamDropped
	for svc, n := range m.dropped {
		if m.service == "" || svc == m.service {
			dropped += n
		}
	}
	if dropped > 0 {
		parts = append(parts, m.styles.Busy.Render(thousands(int(dropped))+" dropped"))
	} else {
		parts = append(parts, "0 dropped")
	}
	if m.unstored > 0 {
		parts = append(parts, m.styles.Busy.Render(thousands(int(m.unstored))+" not stored"))
	}
	if m.behind > catchUpFrom {
		parts = append(parts, m.styles.Busy.Render(fmt.Sprintf("catching up (%d MiB behind)", m.behind>>20)))
	}
	if m.wrap {
		parts = append(parts, "wrap")
	}
	switch {
	case m.down:
		parts = append(parts, m.styles.Bad.Render("disconnected — retrying"))
	case m.follow:
		parts = append(parts, m.styles.Good.Render("following"))
	default:
		parts = append(parts, m.styles.Logs.Paused.Render("PAUSED — press G or End to follow"))
	}
	return strings.Join(parts, " · ")
}

func (m *Model) footer() string {
	if m.input.Focused() {
		return m.input.View()
	}
	if m.filter == "" {
		return ""
	}
	text := "filter " + m.styles.Logs.Match.Render(m.filter) + " · " + thousands(len(m.matches)) + " " + plural.Word(len(m.matches), "match", "matches")
	if m.hasCurrent {
		text += " (" + thousands(m.posOf(m.current)+1) + "/" + thousands(len(m.matches)) + ")"
	}
	return text + m.styles.Muted.Render(" · n/N next/previous · esc clear")
}

// thousands formats n with separators: 100000 → 100,000.
func thousands(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
