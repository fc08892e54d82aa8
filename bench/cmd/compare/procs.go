package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat; 100 on every
// Linux architecture Go supports.
const clockTicks = 100

// runTag marks the environment of every process this run starts, directly or through a
// supervisor, so that sweep can find and kill whatever a peer leaves behind.
var runTag = fmt.Sprintf("BENCH_RUN_ID=%d-%d", os.Getpid(), time.Now().UnixNano())

// proc is a process started in its own process group.
type proc struct {
	name string
	cmd  *exec.Cmd
	done chan struct{} // closed once it has exited and been reaped
}

var (
	procsMu sync.Mutex
	procs   []*proc
)

// startProc starts cmd in a new process group with the run tag in its environment. If this
// program dies, the kernel kills the process (Pdeathsig); sweep handles its descendants.
func startProc(name string, cmd *exec.Cmd) (*proc, error) {
	if cmd.Env == nil {
		cmd.Env = os.Environ()
	}
	cmd.Env = append(cmd.Env, runTag)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(p.done)
	}()
	procsMu.Lock()
	procs = append(procs, p)
	procsMu.Unlock()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the process group, so a supervisor can stop its children, and
// SIGKILL after grace.
func (p *proc) stop(grace time.Duration) {
	if p.exited() {
		return
	}
	syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(grace):
		syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
	}
}

// stopAll stops every process still running and then sweeps.
func stopAll() {
	procsMu.Lock()
	all := procs
	procs = nil
	procsMu.Unlock()
	var wg sync.WaitGroup
	for _, p := range all {
		wg.Go(func() { p.stop(5 * time.Second) })
	}
	wg.Wait()
	sweep()
}

// sweep SIGKILLs every process that carries the run tag: children a supervisor started in
// groups of their own and failed to stop, and tmux servers.
func sweep() {
	self := os.Getpid()
	for _, pid := range allPIDs() {
		if pid == self {
			continue
		}
		env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
		if err != nil {
			continue
		}
		for kv := range bytes.SplitSeq(env, []byte{0}) {
			if string(kv) == runTag {
				syscall.Kill(pid, syscall.SIGKILL)
				break
			}
		}
	}
}

func allPIDs() []int {
	entries, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}

// procStat is what the benchmark reads about one process.
type procStat struct {
	PPID    int
	Comm    string
	State   byte   // R, S, Z (a zombie nobody reaped: as good as gone) …
	CPUTick uint64 // utime + stime
	RSS     uint64 // VmRSS, bytes
	HWM     uint64 // VmHWM (peak RSS), bytes
}

func readProc(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// comm is in parentheses and may hold spaces; the fields after it are fixed.
	open, end := bytes.IndexByte(b, '('), bytes.LastIndexByte(b, ')')
	if open < 0 || end < open {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[end+1:]))
	if len(f) < 13 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: too few fields", pid)
	}
	st := procStat{Comm: string(b[open+1 : end]), State: f[0][0]}
	st.PPID, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseUint(f[11], 10, 64)
	stime, _ := strconv.ParseUint(f[12], 10, 64)
	st.CPUTick = utime + stime
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procStat{}, err
	}
	for line := range strings.SplitSeq(string(status), "\n") {
		key, val, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		kb, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(val), " kB"), 10, 64)
		switch key {
		case "VmRSS":
			st.RSS = kb << 10
		case "VmHWM":
			st.HWM = kb << 10
		}
	}
	return st, nil
}

// descendants returns the pids below root, nearest first.
func descendants(root int) []int {
	children := map[int][]int{}
	for _, pid := range allPIDs() {
		if st, err := readProc(pid); err == nil {
			children[st.PPID] = append(children[st.PPID], pid)
		}
	}
	var out []int
	queue := []int{root}
	for len(queue) > 0 {
		pid := queue[0]
		queue = queue[1:]
		for _, c := range children[pid] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}

// unavailable says why a system cannot run here at all, as opposed to failing while it runs.
type unavailable struct{ reason string }

func (u unavailable) Error() string { return u.reason }

// binPath is name inside dir if it exists; otherwise it says why it is missing, from the
// name.err file that scripts/bench.sh leaves when a build fails.
func binPath(dir, name string) (string, error) {
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	if b, err := os.ReadFile(path + ".err"); err == nil {
		return "", unavailable{fmt.Sprintf("%s did not build: %s", name, firstLine(string(b)))}
	}
	return "", unavailable{fmt.Sprintf("%s not found in %s", name, dir)}
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}

// waitFor polls cond every step until it holds, limit passes or ctx ends; it reports
// whether cond held.
func waitFor(ctx context.Context, limit, step time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(limit)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) || !sleepCtx(ctx, step) {
			return false
		}
	}
}
