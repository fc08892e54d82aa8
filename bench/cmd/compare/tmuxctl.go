package main

import (
	"bufio"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"time"
)

// tmuxControl is a tmux client in control mode: commands go over one pipe instead of a
// process each, so polling a screen every few milliseconds costs the machine, whose CPU the
// TUI under test needs, next to nothing.
type tmuxControl struct {
	proc *proc
	in   io.WriteCloser
	out  *bufio.Reader
}

// control attaches a control-mode client to the session; it asks for no pane output, which
// it would otherwise be sent all of.
func (t *tmuxSession) control() (*tmuxControl, error) {
	cmd := exec.Command("tmux", "-L", t.socket, "-C", "attach-session", "-t", "bench")
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	p, err := startProc("tmux control client", cmd)
	if err != nil {
		return nil, err
	}
	c := &tmuxControl{proc: p, in: in, out: bufio.NewReaderSize(out, 64<<10)}
	// attach-session answers first, with a block of its own.
	if _, err := c.reply(); err != nil {
		c.close()
		return nil, err
	}
	if _, err := c.run("refresh-client -f no-output"); err != nil {
		c.close()
		return nil, err
	}
	return c, nil
}

// run sends one command line and returns its output.
func (c *tmuxControl) run(command string) (string, error) {
	if _, err := io.WriteString(c.in, command+"\n"); err != nil {
		return "", err
	}
	return c.reply()
}

// reply reads up to the end of the next %begin … %end (or %error) block, skipping the
// notifications around it, and returns what is inside.
func (c *tmuxControl) reply() (string, error) {
	var tag string // the time and number that %begin and its %end share
	var b strings.Builder
	for {
		line, err := c.out.ReadString('\n')
		if err != nil {
			return "", fmt.Errorf("tmux control client: %w", err)
		}
		line = strings.TrimSuffix(line, "\n")
		if tag == "" {
			if rest, ok := strings.CutPrefix(line, "%begin "); ok {
				tag = tagOf(rest)
			}
			continue
		}
		if rest, ok := strings.CutPrefix(line, "%end "); ok && tagOf(rest) == tag {
			return b.String(), nil
		}
		if rest, ok := strings.CutPrefix(line, "%error "); ok && tagOf(rest) == tag {
			return "", fmt.Errorf("tmux: %s", strings.TrimSpace(b.String()))
		}
		b.WriteString(line)
		b.WriteByte('\n')
	}
}

func tagOf(s string) string {
	f := strings.Fields(s)
	if len(f) < 2 {
		return s
	}
	return f[0] + " " + f[1]
}

// capture is the visible screen of a session's pane.
func (c *tmuxControl) capture(session string) string {
	out, _ := c.run("capture-pane -p -t " + session)
	return out
}

func (c *tmuxControl) close() {
	c.in.Close()
	c.proc.stop(2 * time.Second)
}
