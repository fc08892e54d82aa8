// Package theme builds the TUI's styles once, so View functions only apply prepared styles.
// It is its own package so that panes and the root can share it without an import cycle.
//
// Every style that carries meaning without colour (selection, the current match, the paused
// banner) also sets bold or reverse, which survive NO_COLOR.
package theme

import (
	"charm.land/bubbles/v2/textinput"
	"charm.land/lipgloss/v2"

	"github.com/palyra/palyra/supervisor"
)

// Styles is every style the TUI uses, grouped by where it is used.
type Styles struct {
	// Semantic text colours shared by every pane.
	Good   lipgloss.Style // running, healthy, ok
	Busy   lipgloss.Style // starting, stopping, backoff, warning
	Bad    lipgloss.Style // fatal, unhealthy, blocked, errors
	Muted  lipgloss.Style // stopped, unknown, secondary facts
	Strong lipgloss.Style // labels and titles

	Tabs    Tabs
	Status  Status
	Table   Table
	Logs    Logs
	Overlay Overlay
	Help    Help
	Input   textinput.Styles
}

// ForState is the colour of a supervised service's state, wherever it is shown.
func (s Styles) ForState(state supervisor.State) lipgloss.Style {
	switch state {
	case supervisor.StateRunning:
		return s.Good
	case supervisor.StateStarting, supervisor.StateStopping, supervisor.StateBackoff:
		return s.Busy
	case supervisor.StateFatal:
		return s.Bad
	}
	return s.Muted
}

// Tabs styles the tab bar.
type Tabs struct {
	Active   lipgloss.Style
	Inactive lipgloss.Style
}

// Status styles the bottom line.
type Status struct {
	Info  lipgloss.Style
	Warn  lipgloss.Style
	Error lipgloss.Style
}

// Table styles tables such as the cockpit's service list.
type Table struct {
	Header   lipgloss.Style
	Selected lipgloss.Style
}

// Logs styles the log view.
type Logs struct {
	Time    lipgloss.Style
	Service lipgloss.Style
	Debug   lipgloss.Style
	Info    lipgloss.Style
	Warn    lipgloss.Style
	Error   lipgloss.Style
	Match   lipgloss.Style // a filter match inside a line
	Current lipgloss.Style // the line n/N jumped to
	Paused  lipgloss.Style // the "PAUSED" banner
}

// Overlay styles boxes drawn over a pane: help, preflight.
type Overlay struct {
	Box   lipgloss.Style
	Title lipgloss.Style
}

// Help styles key help.
type Help struct {
	Key  lipgloss.Style
	Desc lipgloss.Style
}

// New builds the styles for a dark or light terminal background.
func New(isDark bool) Styles {
	c := lipgloss.LightDark(isDark)
	green := c(lipgloss.Color("28"), lipgloss.Color("78"))
	yellow := c(lipgloss.Color("136"), lipgloss.Color("220"))
	red := c(lipgloss.Color("160"), lipgloss.Color("203"))
	blue := c(lipgloss.Color("25"), lipgloss.Color("75"))
	grey := c(lipgloss.Color("243"), lipgloss.Color("245"))
	faint := c(lipgloss.Color("248"), lipgloss.Color("240"))

	plain := lipgloss.NewStyle()
	s := Styles{
		Good:   plain.Foreground(green),
		Busy:   plain.Foreground(yellow),
		Bad:    plain.Foreground(red).Bold(true),
		Muted:  plain.Foreground(grey),
		Strong: plain.Bold(true),
	}
	s.Tabs = Tabs{
		Active:   plain.Reverse(true).Bold(true).Padding(0, 1),
		Inactive: plain.Foreground(grey).Padding(0, 1),
	}
	s.Status = Status{
		Info:  plain,
		Warn:  plain.Foreground(yellow).Bold(true),
		Error: plain.Foreground(red).Bold(true),
	}
	s.Table = Table{
		Header:   plain.Bold(true).Foreground(grey),
		Selected: plain.Reverse(true).Bold(true),
	}
	s.Logs = Logs{
		Time:    plain.Foreground(faint),
		Service: plain.Foreground(blue),
		Debug:   plain.Foreground(grey),
		Info:    plain.Foreground(green),
		Warn:    plain.Foreground(yellow).Bold(true),
		Error:   plain.Foreground(red).Bold(true),
		Match:   plain.Reverse(true),
		Current: plain.Reverse(true).Bold(true),
		Paused:  plain.Reverse(true).Bold(true).Foreground(yellow),
	}
	s.Overlay = Overlay{
		Box:   plain.Border(lipgloss.RoundedBorder()).BorderForeground(grey).Padding(0, 1),
		Title: plain.Bold(true),
	}
	s.Help = Help{
		Key:  plain.Bold(true).Foreground(blue),
		Desc: plain.Foreground(grey),
	}
	// A steady cursor: a blinking one would redraw the screen twice a second for nothing.
	s.Input = textinput.DefaultStyles(isDark)
	s.Input.Cursor.Blink = false
	return s
}
