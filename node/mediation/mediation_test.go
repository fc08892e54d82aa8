package mediation

import (
	"bufio"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// fakeTTY is a terminal made of two real pipes: the test types into keys and reads the
// screen, the Terminal reads keys and writes the screen.
type fakeTTY struct {
	*os.File // the reading end of the keys pipe, with deadlines
	screen   *os.File
}

func (f fakeTTY) Write(p []byte) (int, error) { return f.screen.Write(p) }

func newFakeTTY(t *testing.T) (tty fakeTTY, keys *os.File, screen *bufio.Reader) {
	t.Helper()
	keysR, keysW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	screenR, screenW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, f := range []*os.File{keysR, keysW, screenR, screenW} {
			f.Close()
		}
	})
	return fakeTTY{File: keysR, screen: screenW}, keysW, bufio.NewReader(screenR)
}

// readPrompt reads the screen up to the end of the [y/N] hint.
func readPrompt(t *testing.T, screen *bufio.Reader) string {
	t.Helper()
	s, err := screen.ReadString(']')
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestFixed(t *testing.T) {
	if ok, err := Allow.Ask(context.Background(), "q"); !ok || err != nil {
		t.Errorf("Allow = %v, %v", ok, err)
	}
	if ok, err := Deny.Ask(context.Background(), "q"); ok || err != nil {
		t.Errorf("Deny = %v, %v", ok, err)
	}
}

func TestTerminalAnswers(t *testing.T) {
	tests := []struct {
		typed string
		want  bool
	}{
		{"y\n", true},
		{"YES\n", true},
		{" y \r\n", true},
		{"n\n", false},
		{"\n", false},
		{"yep\n", false},
	}
	for _, tt := range tests {
		t.Run(strings.TrimSpace(tt.typed), func(t *testing.T) {
			tty, keys, screen := newFakeTTY(t)
			term := NewTerminal(tty, time.Minute)
			type answer struct {
				ok  bool
				err error
			}
			done := make(chan answer, 1)
			go func() {
				ok, err := term.Ask(context.Background(), "Open https://example.com/ for the gateway?")
				done <- answer{ok, err}
			}()
			if got := readPrompt(t, screen); got != "Open https://example.com/ for the gateway? [y/N]" {
				t.Errorf("prompt %q", got)
			}
			keys.WriteString(tt.typed)
			a := <-done
			if a.ok != tt.want || a.err != nil {
				t.Errorf("typed %q: Ask = %v, %v; want %v", tt.typed, a.ok, a.err, tt.want)
			}
		})
	}
}

func TestTerminalTimeoutDenies(t *testing.T) {
	tty, _, screen := newFakeTTY(t)
	term := NewTerminal(tty, 20*time.Millisecond)
	go screen.ReadString(']') // someone looks at the screen, but nobody answers
	ok, err := term.Ask(context.Background(), "Open it?")
	if ok || err == nil || !strings.Contains(err.Error(), "no answer on the node's terminal in time") {
		t.Fatalf("unanswered Ask = %v, %v", ok, err)
	}
}

func TestTerminalCancelledAndOneQuestionAtATime(t *testing.T) {
	tty, keys, screen := newFakeTTY(t)
	term := NewTerminal(tty, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		_, err := term.Ask(ctx, "first?")
		first <- err
	}()
	readPrompt(t, screen)

	// The second question waits for the first; it must not appear on screen yet.
	second := make(chan bool, 1)
	go func() {
		ok, _ := term.Ask(context.Background(), "second?")
		second <- ok
	}()
	cancel()
	if err := <-first; err == nil || strings.Contains(err.Error(), "in time") {
		t.Fatalf("cancelled Ask = %v, want a cancellation error", err)
	}
	prompt, err := screen.ReadString(']')
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(prompt, "second? [y/N]") || !strings.Contains(prompt, "(no answer: denied)") {
		t.Errorf("screen after cancelling the first question: %q", prompt)
	}
	keys.WriteString("y\n")
	if !<-second {
		t.Error("second question not answered yes")
	}
}
