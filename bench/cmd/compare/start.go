package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// startOutcome is how fast one system comes up, over a number of runs.
type startOutcome struct {
	firstFrame []time.Duration // tmux new-session → the first non-blank screen
	listed     []time.Duration // tmux new-session → the screen lists the services
	healthy    []time.Duration // ours: `palyra-tui serve` on an empty home → status --json healthy
	err        error
}

// frameLimit bounds the wait for one TUI's first frame, healthyLimit for a fresh stack.
const (
	frameLimit   = 15 * time.Second
	healthyLimit = 30 * time.Second
)

// runStartOurs times the TUI's first frame on a running stack (the real palyrad and
// palyra-browserd under `palyra-tui serve`), then a fresh stack on an empty home until
// `status --json` says healthy.
func runStartOurs(ctx context.Context, tuiBin string, tuiErr error, runs int) startOutcome {
	if tuiErr != nil {
		return startOutcome{err: tuiErr}
	}
	var out startOutcome
	out.firstFrame, out.listed, out.err = firstFramesOurs(ctx, tuiBin, runs)
	if out.err != nil {
		return out
	}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		d, err := freshHealthy(ctx, tuiBin)
		if err != nil {
			out.err = err
			return out
		}
		out.healthy = append(out.healthy, d)
	}
	return out
}

func firstFramesOurs(ctx context.Context, tuiBin string, runs int) (first, listed []time.Duration, err error) {
	home, err := os.MkdirTemp("", "bench-start-")
	if err != nil {
		return nil, nil, err
	}
	defer os.RemoveAll(home)
	env := stackEnv(home)
	serve, err := startServe(tuiBin, home, env)
	if err != nil {
		return nil, nil, err
	}
	defer serve.stop(15 * time.Second)
	if !waitFor(ctx, healthyLimit, 100*time.Millisecond, func() bool {
		st, err := stackStatus(tuiBin, env)
		return (err == nil && st.Overall == "healthy") || serve.exited()
	}) || serve.exited() {
		return nil, nil, fmt.Errorf("the stack was not healthy within %s; see %s", healthyLimit, tailFile(filepath.Join(home, "bench-serve.out")))
	}
	shows := func(s string) bool { return strings.Contains(s, "daemon") && strings.Contains(s, "browserd") }
	return firstFrames(ctx, "ours", env, home, []string{tuiBin}, shows, runs)
}

// runStartPC times process-compose's TUI from `up` to its first frame and to its table
// listing the two idle children. It starts its processes itself: it has no running stack
// for a TUI to attach to, short of its own client mode.
func runStartPC(ctx context.Context, pc system, pcBin, child string, runs int) startOutcome {
	if pc.err != nil {
		return startOutcome{err: pc.err}
	}
	dir, err := os.MkdirTemp("", "bench-start-pc-")
	if err != nil {
		return startOutcome{err: err}
	}
	defer os.RemoveAll(dir)
	cmd, err := processComposeCmd(pcBin, child, dir, idleJobs, true)
	if err != nil {
		return startOutcome{err: err}
	}
	shows := func(s string) bool { return strings.Contains(s, "idle1") && strings.Contains(s, "idle2") }
	var out startOutcome
	out.firstFrame, out.listed, out.err = firstFrames(ctx, "pc", cmd.Env, dir, cmd.Args, shows, runs)
	return out
}

// firstFrames starts argv runs times, each in a new session of one tmux server, and times
// each from new-session to the first non-blank screen and to the screen that satisfies
// listed. Each run is stopped (SIGTERM, which both TUIs take as quit) before the next.
func firstFrames(ctx context.Context, name string, env []string, dir string, argv []string, listed func(string) bool, runs int) (first, shown []time.Duration, err error) {
	// The session that starts the server only holds it open.
	tm, err := startTmux(name, env, dir, []string{"sleep", "3600"})
	if err != nil {
		return nil, nil, err
	}
	defer tm.kill()
	ctl, err := tm.control()
	if err != nil {
		return nil, nil, err
	}
	defer ctl.close()
	quoted := make([]string, len(argv))
	for i, a := range argv {
		quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	for i := 0; i < runs && ctx.Err() == nil; i++ {
		session := fmt.Sprintf("run%d", i)
		start := time.Now()
		if out, err := tm.tmux("new-session", "-d", "-s", session, "-x", "120", "-y", "40", "-c", dir,
			"exec "+strings.Join(quoted, " ")); err != nil {
			return first, shown, fmt.Errorf("tmux new-session: %v: %s", err, firstLine(out))
		}
		capture := func() string { return ctl.capture(session) }
		var firstAt, shownAt time.Duration
		waitFor(ctx, frameLimit, 2*time.Millisecond, func() bool {
			s := capture()
			if firstAt == 0 && strings.TrimSpace(s) != "" {
				firstAt = time.Since(start)
			}
			if listed(s) {
				shownAt = time.Since(start)
			}
			return shownAt != 0
		})
		pidText, _ := tm.tmux("display-message", "-p", "-t", session, "#{pane_pid}")
		var pid int
		fmt.Sscan(pidText, &pid)
		if pid != 0 {
			syscall.Kill(pid, syscall.SIGTERM)
			waitFor(context.Background(), 10*time.Second, 20*time.Millisecond, func() bool {
				_, err := readProc(pid)
				return err != nil
			})
		}
		tm.tmux("kill-session", "-t", session)
		if shownAt == 0 {
			return first, shown, fmt.Errorf("%s did not list its services within %s: %q", filepath.Base(argv[0]), frameLimit, firstLine(capture()))
		}
		first, shown = append(first, firstAt), append(shown, shownAt)
	}
	return first, shown, nil
}

// freshHealthy starts `palyra-tui serve` on an empty home and polls `status --json` until
// the stack is healthy. The polls are processes of their own; they cost the stack a little.
func freshHealthy(ctx context.Context, tuiBin string) (time.Duration, error) {
	home, err := os.MkdirTemp("", "bench-fresh-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(home)
	env := stackEnv(home)
	start := time.Now()
	serve, err := startServe(tuiBin, home, env)
	if err != nil {
		return 0, err
	}
	defer serve.stop(15 * time.Second)
	var st statusJSON
	if !waitFor(ctx, healthyLimit, 20*time.Millisecond, func() bool {
		st, err = stackStatus(tuiBin, env)
		return (err == nil && st.Overall == "healthy") || serve.exited()
	}) || serve.exited() {
		return 0, fmt.Errorf("a fresh stack was not healthy within %s (%s: %s); see %s", healthyLimit,
			st.Overall, strings.Join(st.Reasons, "; "), tailFile(filepath.Join(home, "bench-serve.out")))
	}
	return time.Since(start), nil
}

func (r report) startRows(add addRow) {
	figure := func(pick func(startOutcome) []time.Duration) func(string) cell {
		return func(n string) cell {
			o, ok := r.start[n]
			if !ok {
				return missing("-")
			}
			ds := pick(o)
			if len(ds) == 0 {
				return missing(short(o.err))
			}
			return value(ms(percentile(ds, 50)), fmtMS)
		}
	}
	add(fmt.Sprintf("TUI first frame, median of %d (ours: running stack)", r.startRuns), false, "< 200 ms",
		figure(func(o startOutcome) []time.Duration { return o.firstFrame }))
	add("  the same until the services are listed", false, "< 200 ms",
		figure(func(o startOutcome) []time.Duration { return o.listed }))
	add(fmt.Sprintf("fresh home → stack healthy, median of %d", r.startRuns), false, "< 1 s (no Chromium)",
		figure(func(o startOutcome) []time.Duration { return o.healthy }))
}

func (r report) printStart(w io.Writer) {
	fmt.Fprintln(w, "\n== Start: a TUI in a new session of a running tmux server at 120x40, from new-session to the")
	fmt.Fprintln(w, "   first non-blank capture-pane and to the one listing the services; ours attaches to a healthy")
	fmt.Fprintln(w, "   stack (palyrad, palyra-browserd), process-compose starts its two idle children itself. Fresh")
	fmt.Fprintln(w, "   home: `palyra-tui serve` on an empty state directory until `status --json` (polled every")
	fmt.Fprintln(w, "   20 ms, each poll a process) says healthy")
	for _, n := range []string{nameOurs, namePC} {
		o, ok := r.start[n]
		if !ok {
			continue
		}
		for _, f := range []struct {
			label string
			ds    []time.Duration
		}{{"first frame", o.firstFrame}, {"services listed", o.listed}, {"fresh → healthy", o.healthy}} {
			if len(f.ds) > 0 {
				fmt.Fprintf(w, "   %-16s %-16s min %s  median %s  p90 %s  max %s  (n=%d)\n", n, f.label,
					fmtMS(ms(percentile(f.ds, 0))), fmtMS(ms(percentile(f.ds, 50))), fmtMS(ms(percentile(f.ds, 90))),
					fmtMS(ms(percentile(f.ds, 100))), len(f.ds))
			}
		}
		if o.err != nil {
			fmt.Fprintf(w, "   %-16s %v\n", n, o.err)
		}
	}
}
