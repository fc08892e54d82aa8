// Package cmdtest runs Bubble Tea commands in tests and returns the messages they produce,
// so a test can feed them back to Update the way the program would.
package cmdtest

import (
	"reflect"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"
)

// deadline guards against a command that blocks, e.g. on a stream with nothing to read.
const deadline = 10 * time.Second

var cmdType = reflect.TypeFor[tea.Cmd]()

// Run executes cmd and every command it batches or sequences, in order, and returns the
// leaf messages. Timers must be faked by the caller: Run waits for whatever a command does.
func Run(t *testing.T, cmd tea.Cmd) []tea.Msg {
	t.Helper()
	if cmd == nil {
		return nil
	}
	done := make(chan tea.Msg, 1)
	go func() { done <- cmd() }()
	var msg tea.Msg
	select {
	case msg = <-done:
	case <-time.After(deadline):
		t.Fatalf("a command did not return within %s", deadline)
	}
	if msg == nil {
		return nil
	}
	// tea.BatchMsg and tea's unexported sequence message are both slices of commands.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == cmdType {
		var out []tea.Msg
		for i := range v.Len() {
			c, _ := v.Index(i).Interface().(tea.Cmd)
			out = append(out, Run(t, c)...)
		}
		return out
	}
	return []tea.Msg{msg}
}

// Immediate is a stand-in for tea.Tick that records each duration and fires at once with at.
type Immediate struct {
	At        time.Time
	Durations []time.Duration
}

// Tick has tea.Tick's signature.
func (i *Immediate) Tick(d time.Duration, fn func(time.Time) tea.Msg) tea.Cmd {
	i.Durations = append(i.Durations, d)
	at := i.At
	return func() tea.Msg { return fn(at) }
}
