package tui

import (
	"context"
	"fmt"
	"strings"

	"charm.land/bubbles/v2/key"
	tea "charm.land/bubbletea/v2"
	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/tui/termtext"
)

const (
	boxChrome     = 4   // border and padding around an overlay's text, per axis side pair
	maxHelpWidth  = 100 // help reads better in a box than across a wide terminal
	helpColumnGap = "    "
)

// preflight is the first-run overlay's state.
type preflight struct {
	open    bool
	loading bool
	checks  []supervisor.Check
	err     error
	offset  int // first check line shown, when they do not all fit
}

type preflightMsg struct {
	checks []supervisor.Check
	err    error
}

func (m *model) runPreflight() tea.Cmd {
	m.preflight = preflight{open: true, loading: true}
	b := m.backend
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
		defer cancel()
		checks, err := b.Preflight(ctx)
		return preflightMsg{checks: checks, err: err}
	}
}

func (m model) updatePreflight(msg tea.KeyPressMsg) (tea.Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Submit, m.keys.Back):
		m.preflight.open = false
	case key.Matches(msg, m.keys.Up):
		m.preflight.offset = max(m.preflight.offset-1, 0)
	case key.Matches(msg, m.keys.Down):
		// Each check takes at most two lines (detail and fix); the view clamps to what fits.
		m.preflight.offset = min(m.preflight.offset+1, 2*len(m.preflight.checks))
	case key.Matches(msg, m.keys.Quit):
		return m, tea.Quit
	}
	return m, nil
}

// overlay draws content in a box centred in the pane area, cut to fit inside its border.
func (m model) overlay(content string, height int) string {
	if lines := strings.Split(content, "\n"); len(lines) > height-2 {
		content = strings.Join(lines[:max(height-2, 1)], "\n")
	}
	box := m.styles.Overlay.Box.Render(content)
	return lipgloss.Place(m.width, height, lipgloss.Center, lipgloss.Center, box)
}

func (m model) preflightView(height int) string {
	inner := max(m.width-boxChrome, 1)
	head := []string{m.styles.Overlay.Title.Render("First run — preflight checks"), ""}
	var body []string
	var ok, warn, blocked int
	switch {
	case m.preflight.loading:
		body = []string{m.styles.Muted.Render("running the checks…")}
	case m.preflight.err != nil:
		body = []string{m.styles.Bad.Render("preflight failed: " + textsafe.Clean(m.preflight.err.Error()))}
	default:
		labelWidth := 0
		for _, c := range m.preflight.checks {
			labelWidth = max(labelWidth, min(lipgloss.Width(textsafe.Clean(c.Label)), 24))
		}
		indent := strings.Repeat(" ", 2+len("blocked")+1)
		for _, c := range m.preflight.checks {
			mark, style := "✓", m.styles.Good
			switch c.Status {
			case supervisor.CheckOK:
				ok++
			case supervisor.CheckWarning:
				mark, style = "!", m.styles.Busy
				warn++
			default:
				mark, style = "✗", m.styles.Bad
				blocked++
			}
			line := style.Render(fmt.Sprintf("%s %-7s", mark, c.Status)) + " " +
				termtext.Pad(textsafe.Clean(c.Label), labelWidth) + "  " + textsafe.Clean(c.Detail)
			body = append(body, line)
			if c.Fix != "" && c.Status != supervisor.CheckOK {
				body = append(body, indent+m.styles.Muted.Render("fix: ")+textsafe.Clean(c.Fix))
			}
		}
	}
	footer := m.styles.Muted.Render("enter/esc continue")
	if !m.preflight.loading && m.preflight.err == nil {
		footer = fmt.Sprintf("%d ok · %d warning · %d blocked   ", ok, warn, blocked) + footer
	}

	// The checks scroll when the box cannot hold them all.
	room := max(height-2-len(head)-2, 1)
	if len(body) > room {
		offset := min(m.preflight.offset, len(body)-room)
		body = body[offset : offset+room]
		footer += m.styles.Muted.Render(" · j/k scroll")
	}
	lines := append(append(head, body...), "", footer)
	for i, l := range lines {
		lines[i] = termtext.Truncate(l, inner)
	}
	return strings.Join(lines, "\n")
}

func (m model) helpView() string {
	inner := min(max(m.width-boxChrome, 1), maxHelpWidth)
	lines := []string{m.styles.Overlay.Title.Render("Help — " + m.focusedTitle()), ""}
	lines = append(lines, m.helpColumns(m.focusedHelp().FullHelp(), inner)...)
	lines = append(lines, "", m.styles.Overlay.Title.Render("Everywhere"), "")
	g := m.keys.Globals()
	half := (len(g) + 1) / 2
	lines = append(lines, m.helpColumns([][]key.Binding{g[:half], g[half:]}, inner)...)
	lines = append(lines, "", m.styles.Muted.Render("? or esc closes"))
	for i, l := range lines {
		lines[i] = termtext.Truncate(l, inner)
	}
	return strings.Join(lines, "\n")
}

// helpColumns lays out groups of bindings as columns, starting a new row of columns when
// the next one would not fit in width.
func (m model) helpColumns(groups [][]key.Binding, width int) []string {
	var blocks []string
	for _, g := range groups {
		keyWidth := 0
		for _, b := range g {
			if b.Enabled() {
				keyWidth = max(keyWidth, lipgloss.Width(b.Help().Key))
			}
		}
		var rows []string
		for _, b := range g {
			if b.Enabled() {
				rows = append(rows, m.styles.Help.Key.Render(termtext.Pad(b.Help().Key, keyWidth))+"  "+m.styles.Help.Desc.Render(b.Help().Desc))
			}
		}
		if len(rows) > 0 {
			blocks = append(blocks, strings.Join(rows, "\n"))
		}
	}
	var out, row []string
	used := 0
	flush := func() {
		if len(row) > 0 {
			if len(out) > 0 {
				out = append(out, "")
			}
			out = append(out, strings.Split(lipgloss.JoinHorizontal(lipgloss.Top, row...), "\n")...)
		}
		row, used = nil, 0
	}
	for _, b := range blocks {
		w := lipgloss.Width(b)
		if len(row) > 0 && used+len(helpColumnGap)+w > width {
			flush()
		}
		if len(row) > 0 {
			row = append(row, helpColumnGap)
			used += len(helpColumnGap)
		}
		row = append(row, b)
		used += w
	}
	flush()
	return out
}
