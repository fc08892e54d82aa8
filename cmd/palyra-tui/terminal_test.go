package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"testing"

	"golang.org/x/sys/unix"
)

// narrowest is the terminal width the product supports at least.
const narrowest = 80

// terminal is a real pseudo-terminal cols wide: what the CLI writes to out reaches its
// master side as it would reach an operator's screen.
type terminal struct {
	out    *os.File
	master *os.File // what is written here is typed at the terminal
	read   chan []byte
}

func newTerminal(t *testing.T, cols uint16) *terminal {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("open a pseudo-terminal: %v", err)
	}
	t.Cleanup(func() { master.Close() })
	if err := unix.IoctlSetPointerInt(int(master.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(master.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	out, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { out.Close() })
	if err := unix.IoctlSetWinsize(int(out.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Col: cols, Row: 24}); err != nil {
		t.Fatal(err)
	}
	// No output processing, so "\n" arrives as written rather than as "\r\n".
	tio, err := unix.IoctlGetTermios(int(out.Fd()), unix.TCGETS)
	if err != nil {
		t.Fatal(err)
	}
	tio.Oflag &^= unix.OPOST
	if err := unix.IoctlSetTermios(int(out.Fd()), unix.TCSETS, tio); err != nil {
		t.Fatal(err)
	}
	term := &terminal{out: out, master: master, read: make(chan []byte, 1)}
	// Read all along: a full terminal buffer would block the writer.
	go func() {
		var b bytes.Buffer
		io.Copy(&b, master) // ends with EIO once out is closed
		term.read <- b.Bytes()
	}()
	return term
}

// screen closes the terminal's writing side and returns everything written to it.
func (term *terminal) screen() string {
	term.out.Close()
	return string(<-term.read)
}

// runOn runs palyra-tui against the fake with its stdout on term.
func (f *fakeAdmin) runOn(t *testing.T, term *terminal, args ...string) outcome {
	t.Helper()
	t.Setenv("PALYRA_TOKEN", "")
	o := execCLI(context.Background(), term.out, append([]string{"--home", f.home, "--gateway", f.addr, "--token-file", f.tokenFile}, args...)...)
	o.stdout = term.screen()
	return o
}

func TestTableWidthIsTheTerminals(t *testing.T) {
	if got := tableWidth(newTerminal(t, 132).out); got != 132 {
		t.Errorf("on a 132-column terminal: %d", got)
	}
	if got := tableWidth(newTerminal(t, 0).out); got != narrowest {
		t.Errorf("on a terminal that reports no size: %d, want %d", got, narrowest)
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if got := tableWidth(w); got != 0 {
		t.Errorf("into a pipe: %d, want 0 (no limit)", got)
	}
	if got := tableWidth(&bytes.Buffer{}); got != 0 {
		t.Errorf("into a buffer: %d, want 0 (no limit)", got)
	}
}
