package main

import (
	"context"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// settle is how long a stack runs untouched before idle sampling starts, so start-up work
// (first frame, first probes, first metrics) stays out of the window.
const settle = 3 * time.Second

// idleOutcome is the idle CPU and memory of one stack.
type idleOutcome struct {
	window time.Duration
	procs  []idleProc
	note   string
	err    error
}

// idleProc is one process of a stack over the window.
type idleProc struct {
	pid   int
	label string
	role  role
	cpu   float64 // % of one core over the window
	rss   uint64
}

// role groups processes so that different stacks compare like with like.
type role int

const (
	roleSupervisor role = iota // the supervising process (for process-compose also its TUI)
	roleTUI
	roleChild
	roleFloor // not part of any stack: a bare 60 Hz Go ticker beside it, as a yardstick
)

func (o idleOutcome) cpu(roles ...role) float64 {
	var sum float64
	for _, p := range o.procs {
		for _, r := range roles {
			if p.role == r {
				sum += p.cpu
			}
		}
	}
	return sum
}

func (o idleOutcome) rss(r role) (uint64, bool) {
	var sum uint64
	found := false
	for _, p := range o.procs {
		if p.role == r {
			sum += p.rss
			found = true
		}
	}
	return sum, found
}

// runIdleOurs brings the real stack up (`palyra-tui serve` with palyrad and palyra-browserd),
// attaches the TUI under tmux at 120x40 and samples every process over window, with a bare
// 60 Hz ticker (benchchild's ticker mode) sampled beside them.
func runIdleOurs(ctx context.Context, tuiBin string, tuiErr error, child string, window time.Duration) idleOutcome {
	if tuiErr != nil {
		return idleOutcome{err: tuiErr}
	}
	home, err := os.MkdirTemp("", "bench-idle-")
	if err != nil {
		return idleOutcome{err: err}
	}
	defer os.RemoveAll(home)
	env := stackEnv(home)
	serve, err := startServe(tuiBin, home, env)
	if err != nil {
		return idleOutcome{err: err}
	}
	defer serve.stop(15 * time.Second)

	var st statusJSON
	healthy := waitFor(ctx, 60*time.Second, 200*time.Millisecond, func() bool {
		st, err = stackStatus(tuiBin, env)
		return (err == nil && st.Overall == "healthy") || serve.exited()
	})
	if serve.exited() {
		return idleOutcome{err: fmt.Errorf("palyra-tui serve exited; %s", tailFile(filepath.Join(home, "bench-serve.out")))}
	}
	var note string
	if !healthy {
		note = fmt.Sprintf("stack not healthy after 60s (%s: %s); measured anyway", st.Overall, strings.Join(st.Reasons, "; "))
	}

	tm, err := startTmux("ours", env, home, []string{tuiBin})
	if err != nil {
		return idleOutcome{err: err}
	}
	defer tm.kill()
	if !waitFor(ctx, 15*time.Second, 50*time.Millisecond, func() bool { return strings.TrimSpace(tm.capture()) != "" }) {
		return idleOutcome{err: fmt.Errorf("the TUI drew nothing within 15s")}
	}
	tickerCmd := exec.Command(child)
	tickerCmd.Env = append(os.Environ(), "BENCH_CHILD_MODE=ticker")
	ticker, err := startProc("ticker", tickerCmd)
	if err != nil {
		return idleOutcome{err: err}
	}
	defer ticker.stop(5 * time.Second)
	sleepCtx(ctx, settle)

	labels := func() map[int]idleProc {
		m := map[int]idleProc{
			serve.pid():  {label: "supervisor (palyra-tui serve)", role: roleSupervisor},
			tm.pid:       {label: "TUI (palyra-tui)", role: roleTUI},
			ticker.pid(): {label: "yardstick: a bare 60 Hz Go ticker", role: roleFloor},
		}
		names := map[int]string{}
		if st, err := stackStatus(tuiBin, env); err == nil {
			for _, svc := range st.Services {
				names[svc.PID] = svc.Name
			}
		}
		for _, pid := range descendants(serve.pid()) {
			name := names[pid]
			if name == "" {
				s, _ := readProc(pid)
				name = s.Comm
			}
			m[pid] = idleProc{label: name, role: roleChild}
		}
		return m
	}
	out := sampleIdle(ctx, window, labels)
	out.note = note
	return out
}

// idleJobs are the two children each peer runs while idle.
var idleJobs = []job{
	{name: "idle1", env: []string{"BENCH_CHILD_MODE=idle"}},
	{name: "idle2", env: []string{"BENCH_CHILD_MODE=idle"}},
}

// idleStack is a peer running idleJobs, ready to be sampled.
type idleStack struct {
	root   int                     // the supervisor's pid
	labels func() map[int]idleProc // the supervisor and everything below it
	stop   func()
}

// runIdlePeers measures supervisord (which has no TUI) and process-compose with its TUI
// under tmux, each running two idle children, over the same window.
func runIdlePeers(ctx context.Context, sd, pc system, pcBin, child string, window time.Duration) (sdOut, pcOut idleOutcome) {
	stacks := make([]*idleStack, 2)
	errs := make([]error, 2)
	stacks[0], errs[0] = startIdleStack(sd, "supervisord", func(dir string) (int, func(), error) {
		p, err := sd.launch(dir, idleJobs)
		if err != nil {
			return 0, nil, err
		}
		return p.pid(), func() { p.stop(10 * time.Second) }, nil
	})
	stacks[1], errs[1] = startIdleStack(pc, "process-compose (supervisor + TUI)", func(dir string) (int, func(), error) {
		cmd, err := processComposeCmd(pcBin, child, dir, idleJobs, true)
		if err != nil {
			return 0, nil, err
		}
		tm, err := startTmux("pc", cmd.Env, dir, cmd.Args)
		if err != nil {
			return 0, nil, err
		}
		return tm.pid, tm.kill, nil
	})
	defer func() {
		for _, st := range stacks {
			if st != nil {
				st.stop()
			}
		}
	}()

	var live []*idleStack
	for i, st := range stacks {
		if errs[i] != nil {
			continue
		}
		if !waitFor(ctx, 20*time.Second, 50*time.Millisecond, func() bool { return runningChildren(st.root) == len(idleJobs) }) {
			errs[i] = fmt.Errorf("its %d idle children were not all running within 20s", len(idleJobs))
			continue
		}
		live = append(live, st)
	}
	sleepCtx(ctx, settle)
	all := sampleIdle(ctx, window, func() map[int]idleProc {
		m := map[int]idleProc{}
		for _, st := range live {
			maps.Copy(m, st.labels())
		}
		return m
	})
	split := func(i int) idleOutcome {
		if errs[i] != nil {
			return idleOutcome{err: errs[i]}
		}
		o := idleOutcome{window: all.window, err: all.err}
		mine := stacks[i].labels()
		for _, p := range all.procs {
			if _, ok := mine[p.pid]; ok {
				o.procs = append(o.procs, p)
			}
		}
		return o
	}
	return split(0), split(1)
}

// startIdleStack starts a peer in a temporary directory with start, which returns the pid
// to sample below and how to stop it.
func startIdleStack(sys system, label string, start func(dir string) (int, func(), error)) (*idleStack, error) {
	if sys.err != nil {
		return nil, sys.err
	}
	dir, err := os.MkdirTemp("", "bench-idle-")
	if err != nil {
		return nil, err
	}
	root, stop, err := start(dir)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	return &idleStack{
		root: root,
		labels: func() map[int]idleProc {
			m := map[int]idleProc{root: {label: label, role: roleSupervisor}}
			for _, pid := range descendants(root) {
				s, _ := readProc(pid)
				m[pid] = idleProc{label: s.Comm, role: roleChild}
			}
			return m
		},
		stop: func() {
			stop()
			os.RemoveAll(dir)
		},
	}, nil
}

// runningChildren counts the benchmark children below root.
func runningChildren(root int) int {
	n := 0
	for _, pid := range descendants(root) {
		if s, _ := readProc(pid); s.Comm == "benchchild" && s.State != 'Z' {
			n++
		}
	}
	return n
}
