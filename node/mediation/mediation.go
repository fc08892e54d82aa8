// Package mediation decides whether a mediated capability call may run: by asking the
// node's own operator on its terminal, or by a fixed answer when nobody is there to ask.
package mediation

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// The modes an operator picks with --mediation.
const (
	ModePrompt = "prompt"
	ModeAllow  = "allow"
	ModeDeny   = "deny"
)

// DefaultTimeout is how long a prompt waits for an answer before it counts as no.
const DefaultTimeout = time.Minute

// Fixed answers every question the same way.
type Fixed bool

// Allow and Deny answer without asking.
const (
	Allow Fixed = true
	Deny  Fixed = false
)

// Ask returns the fixed answer.
func (f Fixed) Ask(context.Context, string) (bool, error) { return bool(f), nil }

// TTY is a terminal to ask on. *os.File is one; the read deadline lets a question time out
// and be cancelled without leaving a read behind.
type TTY interface {
	io.ReadWriter
	SetReadDeadline(time.Time) error
}

// OpenTTY opens the process's controlling terminal, which is there even when stdin and stdout
// are redirected, and missing under a service manager.
func OpenTTY() (*os.File, error) {
	return os.OpenFile("/dev/tty", os.O_RDWR, 0)
}

// Terminal asks on a TTY, one question at a time.
type Terminal struct {
	tty     TTY
	timeout time.Duration
	turn    chan struct{} // holds a token while a question is on screen
}

// NewTerminal asks on tty; an unanswered question counts as no after timeout.
func NewTerminal(tty TTY, timeout time.Duration) *Terminal {
	return &Terminal{tty: tty, timeout: timeout, turn: make(chan struct{}, 1)}
}

// Ask writes question with a [y/N] hint and returns true only for an answer of y or yes.
// The text of question must already be safe for a terminal. No answer within the timeout,
// or ctx ending, is an error that says so.
func (t *Terminal) Ask(ctx context.Context, question string) (bool, error) {
	select {
	case t.turn <- struct{}{}:
	case <-ctx.Done():
		return false, fmt.Errorf("waiting to ask on the node's terminal: %w", ctx.Err())
	}
	defer func() { <-t.turn }()

	ctx, cancel := context.WithTimeout(ctx, t.timeout)
	defer cancel()
	if _, err := fmt.Fprintf(t.tty, "%s [y/N] ", question); err != nil {
		return false, fmt.Errorf("ask on the node's terminal: %w", err)
	}
	line, err := t.readLine(ctx)
	if err != nil {
		fmt.Fprintln(t.tty, "(no answer: denied)")
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
			return false, errors.New("no answer on the node's terminal in time")
		}
		return false, fmt.Errorf("ask on the node's terminal: %w", err)
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// readLine reads up to a newline, or fails when ctx ends. Input after the newline in the
// same read is dropped: it was typed before the next question was asked.
func (t *Terminal) readLine(ctx context.Context) (string, error) {
	if deadline, ok := ctx.Deadline(); ok {
		t.tty.SetReadDeadline(deadline)
	}
	stop := context.AfterFunc(ctx, func() { t.tty.SetReadDeadline(time.Unix(1, 0)) })
	defer func() {
		stop()
		t.tty.SetReadDeadline(time.Time{})
	}()
	var line []byte
	buf := make([]byte, 256)
	for len(line) < 4096 {
		n, err := t.tty.Read(buf)
		if i := bytes.IndexByte(buf[:n], '\n'); i >= 0 {
			return string(append(line, buf[:i]...)), nil
		}
		line = append(line, buf[:n]...)
		if err != nil {
			if ctx.Err() != nil {
				return "", ctx.Err()
			}
			return "", err
		}
	}
	return "", errors.New("answer too long")
}
