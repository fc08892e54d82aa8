// Package cmdtest runs Bubble Tea commands in tests and returns the messages they produce,
// so a test can feed them back to Update the way the program would.
package cmdtest

import (
	"reflect"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/tui/status"
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

// Loop runs commands the way the program does, each batch member on its own goroutine, so
// a command that blocks (a stream waiting for its next event) holds up nothing else. The
// test takes the messages one at a time with Next.
type Loop struct {
	t    *testing.T
	msgs chan tea.Msg
}

// NewLoop returns an empty loop.
func NewLoop(t *testing.T) *Loop {
	return &Loop{t: t, msgs: make(chan tea.Msg, 64)}
}

// Go starts cmd; its messages arrive through Next. Commands still blocked when the test ends
// are left to the test's cleanup to unblock (e.g. by cancelling their streams).
func (l *Loop) Go(cmd tea.Cmd) {
	if cmd == nil {
		return
	}
	go l.run(cmd)
}

func (l *Loop) run(cmd tea.Cmd) {
	msg := cmd()
	if msg == nil {
		return
	}
	if batch, ok := msg.(tea.BatchMsg); ok {
		for _, c := range batch {
			l.Go(c)
		}
		return
	}
	// A sequence runs its commands in order on this goroutine.
	if v := reflect.ValueOf(msg); v.Kind() == reflect.Slice && v.Type().Elem() == cmdType {
		for i := range v.Len() {
			if c, _ := v.Index(i).Interface().(tea.Cmd); c != nil {
				l.run(c)
			}
		}
		return
	}
	l.msgs <- msg
}

// Next returns the next message, failing the test when none comes within the deadline.
func (l *Loop) Next() tea.Msg {
	l.t.Helper()
	select {
	case msg := <-l.msgs:
		return msg
	case <-time.After(deadline):
		l.t.Fatalf("no message within %s", deadline)
		return nil
	}
}

// keys are the named keys tests press; anything else is the rune it spells.
var keys = map[string]tea.KeyPressMsg{
	"enter":     {Code: tea.KeyEnter},
	"esc":       {Code: tea.KeyEscape},
	"tab":       {Code: tea.KeyTab},
	"shift+tab": {Code: tea.KeyTab, Mod: tea.ModShift},
	"up":        {Code: tea.KeyUp},
	"down":      {Code: tea.KeyDown},
	"pgup":      {Code: tea.KeyPgUp},
	"pgdown":    {Code: tea.KeyPgDown},
	"end":       {Code: tea.KeyEnd},
	"ctrl+c":    {Code: 'c', Mod: tea.ModCtrl},
	"ctrl+s":    {Code: 's', Mod: tea.ModCtrl},
}

// Key is the key press a test means by k: a name such as "enter" or "ctrl+s", or one
// character.
func Key(k string) tea.KeyPressMsg {
	if msg, ok := keys[k]; ok {
		return msg
	}
	return tea.KeyPressMsg{Code: []rune(k)[0], Text: k}
}

// Driver runs a pane the way the program does: keys pressed or typed go to Update, the
// messages its commands return are fed back, and status notices are kept instead.
type Driver[M any] struct {
	T      *testing.T
	Model  *M
	Update func(M, tea.Msg) (M, tea.Cmd)
	// Drop reports the messages not fed back, such as a pane's own clock ticks (tested on
	// their own); nil drops none.
	Drop    func(tea.Msg) bool
	Notices []status.Msg
}

// Press sends each named key (see Key) and runs what it asks for.
func (d *Driver[M]) Press(names ...string) {
	d.T.Helper()
	for _, n := range names {
		d.send(Key(n))
	}
}

// Type sends each rune of s as a key press.
func (d *Driver[M]) Type(s string) {
	d.T.Helper()
	for _, r := range s {
		d.send(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
}

func (d *Driver[M]) send(msg tea.Msg) {
	d.T.Helper()
	var cmd tea.Cmd
	*d.Model, cmd = d.Update(*d.Model, msg)
	d.Run(cmd)
}

// Run runs cmd and feeds its messages, and those of the commands they lead to, back.
func (d *Driver[M]) Run(cmd tea.Cmd) {
	d.T.Helper()
	queue := Run(d.T, cmd)
	for len(queue) > 0 {
		msg := queue[0]
		queue = queue[1:]
		if n, ok := msg.(status.Msg); ok {
			d.Notices = append(d.Notices, n)
			continue
		}
		if d.Drop != nil && d.Drop(msg) {
			continue
		}
		var next tea.Cmd
		*d.Model, next = d.Update(*d.Model, msg)
		queue = append(queue, Run(d.T, next)...)
	}
}

// LastNotice is the newest notice, failing the test when there is none.
func (d *Driver[M]) LastNotice() status.Msg {
	d.T.Helper()
	if len(d.Notices) == 0 {
		d.T.Fatal("no notice")
	}
	return d.Notices[len(d.Notices)-1]
}
