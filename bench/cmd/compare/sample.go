package main

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"syscall"
	"time"
)

// sampleIdle reads the CPU time of every process labels names at the start and the end of
// window. A process that appears during the window counts all its CPU time; one that
// disappears is dropped, as its last reading is lost.
func sampleIdle(ctx context.Context, window time.Duration, labels func() map[int]idleProc) idleOutcome {
	before := map[int]uint64{}
	for pid := range labels() {
		if st, err := readProc(pid); err == nil {
			before[pid] = st.CPUTick
		}
	}
	begin := time.Now()
	if !sleepCtx(ctx, window) {
		return idleOutcome{err: ctx.Err()}
	}
	elapsed := time.Since(begin)
	out := idleOutcome{window: elapsed}
	for pid, p := range labels() {
		st, err := readProc(pid)
		if err != nil {
			continue
		}
		p.pid = pid
		p.cpu = ticksToDuration(st.CPUTick-before[pid]).Seconds() / elapsed.Seconds() * 100
		p.rss = st.RSS
		out.procs = append(out.procs, p)
	}
	sort.Slice(out.procs, func(i, j int) bool {
		a, b := out.procs[i], out.procs[j]
		if a.role != b.role {
			return a.role < b.role
		}
		return a.label < b.label
	})
	return out
}

// tmuxSession is one program running in a 120x40 session of a tmux server of its own.
type tmuxSession struct {
	socket string
	server *proc
	pid    int // the program's pid (the pane runs it with exec)
}

// startTmux runs argv in a new tmux session. The server runs in the foreground (-D) as our
// child, so it is reaped and stopped like any other process here.
func startTmux(name string, env []string, dir string, argv []string) (*tmuxSession, error) {
	t := &tmuxSession{socket: fmt.Sprintf("bench-%d-%s", time.Now().UnixNano(), name)}
	server := exec.Command("tmux", "-D", "-L", t.socket, "-f", "/dev/null")
	server.Env = env
	var err error
	if t.server, err = startProc("tmux server", server); err != nil {
		return nil, err
	}
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	var out string
	started := waitFor(context.Background(), 5*time.Second, 20*time.Millisecond, func() bool {
		out, err = t.tmux("new-session", "-d", "-s", "bench", "-x", "120", "-y", "40", "-c", dir,
			"exec "+strings.Join(quoted, " "))
		return err == nil
	})
	if !started {
		t.kill()
		return nil, fmt.Errorf("tmux new-session: %v: %s", err, firstLine(out))
	}
	out, err = t.tmux("display-message", "-p", "-t", "bench", "#{pane_pid}")
	if err == nil {
		_, err = fmt.Sscan(out, &t.pid)
	}
	if err != nil {
		t.kill()
		return nil, fmt.Errorf("tmux pane pid: %v: %s (did %s exit at once?)", err, firstLine(out), argv[0])
	}
	return t, nil
}

func (t *tmuxSession) tmux(args ...string) (string, error) {
	out, err := exec.Command("tmux", append([]string{"-L", t.socket}, args...)...).CombinedOutput()
	return string(out), err
}

// capture is the visible screen.
func (t *tmuxSession) capture() string {
	out, _ := t.tmux("capture-pane", "-p", "-t", "bench")
	return out
}

// kill asks the program to quit (SIGTERM, which both TUIs take as quit), then ends the
// tmux server, which takes whatever still runs in the pane with it. It waits for tmux to
// reap the program first: killed with an unreaped child, the server would leave a zombie.
func (t *tmuxSession) kill() {
	if t.pid != 0 {
		syscall.Kill(t.pid, syscall.SIGTERM)
		waitFor(context.Background(), 10*time.Second, 20*time.Millisecond, func() bool {
			_, err := readProc(t.pid)
			return err != nil
		})
	}
	t.tmux("kill-server")
	t.server.stop(5 * time.Second)
}

// sleepCtx sleeps for d unless ctx ends first; it reports whether it slept the whole time.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	select {
	case <-ctx.Done():
		return false
	case <-time.After(d):
		return true
	}
}
