// Package status carries notices for the root's status line. Panes emit them; the root
// shows them. It is the one way errors travel to the screen.
package status

import tea "charm.land/bubbletea/v2"

// Kind grades a notice.
type Kind int

// The kinds of notice.
const (
	KindInfo Kind = iota
	KindError
)

// Msg is a notice for the status line.
type Msg struct {
	Kind Kind
	Text string
}

// Info returns a command that shows text as an ordinary notice.
func Info(text string) tea.Cmd {
	return func() tea.Msg { return Msg{Kind: KindInfo, Text: text} }
}

// Error returns a command that shows err as an error notice.
func Error(err error) tea.Cmd {
	return func() tea.Msg { return ErrorMsg(err) }
}

// ErrorMsg wraps err as an error notice, for commands that end in an error.
func ErrorMsg(err error) Msg {
	return Msg{Kind: KindError, Text: err.Error()}
}
