package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/bench/internal/workload"
)

// floodOutcome is workload B for one supervisor: one child writing lines as fast as it can.
type floodOutcome struct {
	lines   int
	child   workload.FloodStats
	follow  delivery // ours: into `palyra-tui logs -f`; peers have no such reader here
	disk    delivery // into the log file(s)
	supCPU  time.Duration
	supPeak uint64 // VmHWM of the supervisor process
	dropped uint64 // lines `logs -f` reported skipped
	err     error
}

// delivery is how many flood lines reached one destination, and when the last one did.
type delivery struct {
	unique, total int
	last          time.Time
}

// rate is lines per second from the child's first write to the last arrival.
func (d delivery) rate(start time.Time) float64 {
	s := d.last.Sub(start).Seconds()
	if d.unique == 0 || s <= 0 {
		return 0
	}
	return float64(d.unique) / s
}

func (o floodOutcome) start() time.Time { return time.Unix(0, o.child.Start) }

func (o floodOutcome) childRate() float64 {
	if o.child.Seconds <= 0 {
		return 0
	}
	return float64(o.child.Lines) / o.child.Seconds
}

func floodEnv(lines, width int, stats string) []string {
	return []string{
		"BENCH_CHILD_MODE=flood",
		"BENCH_CHILD_LINES=" + strconv.Itoa(lines),
		"BENCH_CHILD_WIDTH=" + strconv.Itoa(width),
		"BENCH_CHILD_STATS=" + stats,
	}
}

// floodLimit bounds the wait for a flood: generous, as a slow peer is a result, not an error.
func floodLimit(lines int) time.Duration {
	return 60*time.Second + time.Duration(lines/50_000)*time.Second
}

// runFloodToFile runs the flood under sys and counts the lines in the log files it writes
// under dir/logs: a peer's stdout_logfile or log_location, or our log store's files.
func runFloodToFile(ctx context.Context, sys system, lines, width int) floodOutcome {
	out := floodOutcome{lines: lines}
	if sys.err != nil {
		out.err = sys.err
		return out
	}
	dir, err := os.MkdirTemp("", "bench-flood-")
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(dir)
	stats := filepath.Join(dir, "stats.json")
	logDir := filepath.Join(dir, "logs")
	if err := os.Mkdir(logDir, 0o700); err != nil {
		out.err = err
		return out
	}
	growth := watchGrowth(func() int64 { return treeSize(logDir) })
	defer growth.close()

	// The child stays after its flood, or ours would restart it and flood again.
	env := append(floodEnv(lines, width, stats), "BENCH_CHILD_LINGER=1")
	p, err := sys.launch(dir, []job{{name: "flood", env: env, logFile: filepath.Join(logDir, "flood.log")}})
	if err != nil {
		out.err = err
		return out
	}
	cpu0 := ticksOf(p.pid())
	waitFor(ctx, floodLimit(lines), 20*time.Millisecond, func() bool {
		return exists(stats) || p.exited() || ctx.Err() != nil
	})
	last := growth.quiet(ctx, 1500*time.Millisecond, floodLimit(lines))
	if st, err := readProc(p.pid()); err == nil {
		out.supCPU = ticksToDuration(st.CPUTick - cpu0)
		out.supPeak = st.HWM
	}
	// Stopping flushes what a peer still buffers; those last few lines count, their time
	// does not, which favours the peer by a hair.
	p.stop(10 * time.Second)

	if out.child, err = readStats(stats); err != nil {
		out.err = fmt.Errorf("the child did not finish: %w; %s", err, tailOf(dir))
		return out
	}
	c, err := countTree(logDir, lines)
	if err != nil {
		out.err = err
		return out
	}
	out.disk = delivery{unique: c.Unique, total: c.Total, last: last}
	return out
}

// runFloodOurs runs the flood end to end through the real binary: `palyra-tui serve` runs
// the child in place of palyrad (PALYRA_DAEMON_BIN), and `palyra-tui logs -f --service
// daemon` is the reader. The child waits until the reader is attached.
func runFloodOurs(ctx context.Context, tuiBin string, tuiErr error, child string, lines, width int) floodOutcome {
	out := floodOutcome{lines: lines}
	if tuiErr != nil {
		out.err = tuiErr
		return out
	}
	home, err := os.MkdirTemp("", "bench-flood-")
	if err != nil {
		out.err = err
		return out
	}
	defer os.RemoveAll(home)
	stats, goFile := filepath.Join(home, "stats.json"), filepath.Join(home, "go")
	env := append(stackEnv(home), floodEnv(lines, width, stats)...)
	env = append(env, "PALYRA_DAEMON_BIN="+child, "BENCH_CHILD_GO="+goFile, "BENCH_CHILD_READY=1", "BENCH_CHILD_LINGER=1",
		// The supervisor hands its services an allow-listed environment only.
		"PALYRA_PASS_ENV=BENCH_CHILD_*")

	serve, err := startServe(tuiBin, home, env)
	if err != nil {
		out.err = err
		return out
	}
	defer serve.stop(15 * time.Second)
	if !waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() bool {
		st, err := stackStatus(tuiBin, env)
		return (err == nil && st.service("daemon").State == "running") || serve.exited()
	}) || serve.exited() {
		out.err = fmt.Errorf("the flood child never ran as the daemon service; see %s", tailFile(filepath.Join(home, "bench-serve.out")))
		return out
	}

	follower, err := followLogs(tuiBin, env, home, lines)
	if err != nil {
		out.err = err
		return out
	}
	defer follower.proc.stop(5 * time.Second)
	if !waitFor(ctx, 15*time.Second, 10*time.Millisecond, func() bool { return follower.attached.Load() }) {
		out.err = errors.New("`palyra-tui logs -f` printed nothing within 15s")
		return out
	}

	logDir := filepath.Join(home, "logs")
	growth := watchGrowth(func() int64 { return treeSize(logDir) })
	defer growth.close()
	cpu0 := ticksOf(serve.pid())
	if err := os.WriteFile(goFile, nil, 0o600); err != nil {
		out.err = err
		return out
	}
	// Done when every line arrived, or when the child is done and nothing came for 5 s.
	waitFor(ctx, floodLimit(lines), 20*time.Millisecond, func() bool {
		if follower.unique.Load() >= int64(lines) || ctx.Err() != nil || serve.exited() {
			return true
		}
		return exists(stats) && time.Since(follower.lastAt()) > 5*time.Second
	})
	diskLast := growth.quiet(ctx, 1500*time.Millisecond, floodLimit(lines))
	if st, err := readProc(serve.pid()); err == nil {
		out.supCPU = ticksToDuration(st.CPUTick - cpu0)
		out.supPeak = st.HWM
	}
	follower.proc.stop(5 * time.Second)
	follower.wait()
	out.follow = follower.delivery()
	out.dropped = skippedLines(filepath.Join(home, "logs-f.err"))
	serve.stop(15 * time.Second)

	if out.child, err = readStats(stats); err != nil {
		out.err = fmt.Errorf("the child did not finish: %w", err)
		return out
	}
	c, err := countTree(logDir, lines)
	if err != nil {
		out.err = err
	}
	out.disk = delivery{unique: c.Unique, total: c.Total, last: diskLast}
	return out
}

// countTree counts the flood lines in every file under dir.
func countTree(dir string, lines int) (*workload.Counter, error) {
	c := workload.NewCounter(lines)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return countInto(c, path)
	})
	if err != nil {
		return c, fmt.Errorf("count lines on disk: %w", err)
	}
	return c, nil
}

// follower reads `palyra-tui logs -f` and counts flood lines as they arrive.
type follower struct {
	proc     *proc
	attached atomic.Bool  // the first byte arrived
	unique   atomic.Int64 // distinct flood lines so far
	last     atomic.Int64 // unix ns of the last new flood line
	done     chan struct{}
	counter  *workload.Counter // owned by the reading goroutine until done
}

func followLogs(tuiBin string, env []string, home string, lines int) (*follower, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errFile, err := os.Create(filepath.Join(home, "logs-f.err"))
	if err != nil {
		return nil, err
	}
	defer errFile.Close()
	cmd := exec.Command(tuiBin, "logs", "-f", "--service", "daemon", "-n", "-1")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, w, errFile
	p, err := startProc("palyra-tui logs -f", cmd)
	w.Close()
	if err != nil {
		r.Close()
		return nil, err
	}
	f := &follower{proc: p, done: make(chan struct{}), counter: workload.NewCounter(lines)}
	go func() {
		defer close(f.done)
		defer r.Close()
		buf := make([]byte, 1<<20)
		for {
			n, err := r.Read(buf)
			if n > 0 {
				f.attached.Store(true)
				before := f.counter.Unique
				f.counter.Write(buf[:n])
				if f.counter.Unique != before {
					f.last.Store(time.Now().UnixNano())
					f.unique.Store(int64(f.counter.Unique))
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return f, nil
}

func (f *follower) lastAt() time.Time { return time.Unix(0, f.last.Load()) }

func (f *follower) wait() { <-f.done }

// delivery may be called after wait.
func (f *follower) delivery() delivery {
	return delivery{unique: f.counter.Unique, total: f.counter.Total, last: f.lastAt()}
}

var skippedRE = regexp.MustCompile(`(\d+) lines? (?:skipped|never reached the log files)`)

// skippedLines adds up the notices of lines `logs -f` said it could not deliver, on stderr:
// skipped because it fell too far behind, or never stored because the disk fell behind.
func skippedLines(path string) uint64 {
	b, _ := os.ReadFile(path)
	var n uint64
	for _, m := range skippedRE.FindAllSubmatch(b, -1) {
		v, _ := strconv.ParseUint(string(m[1]), 10, 64)
		n += v
	}
	return n
}

// growth polls a size and remembers when it last changed.
type growth struct {
	mu      sync.Mutex
	size    int64
	changed time.Time
	stop    chan struct{}
	stopped chan struct{}
}

func watchGrowth(size func() int64) *growth {
	g := &growth{size: size(), changed: time.Now(), stop: make(chan struct{}), stopped: make(chan struct{})}
	go func() {
		defer close(g.stopped)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-g.stop:
				return
			case now := <-tick.C:
				s := size()
				g.mu.Lock()
				if s != g.size {
					g.size, g.changed = s, now
				}
				g.mu.Unlock()
			}
		}
	}()
	return g
}

// quiet waits until the size has not changed for d (or limit passes) and returns when it
// last changed.
func (g *growth) quiet(ctx context.Context, d, limit time.Duration) time.Time {
	var last time.Time
	waitFor(ctx, limit, 20*time.Millisecond, func() bool {
		g.mu.Lock()
		last = g.changed
		g.mu.Unlock()
		return time.Since(last) >= d
	})
	return last
}

func (g *growth) close() {
	select {
	case <-g.stop:
	default:
		close(g.stop)
	}
	<-g.stopped
}

// treeSize is the total size of the files under dir; rotation may rename, never shrink it
// until old files are deleted, which only shows up as a change.
func treeSize(dir string) int64 {
	var total int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if fi, err := d.Info(); err == nil {
				total += fi.Size()
			}
		}
		return nil
	})
	return total
}

func countInto(c *workload.Counter, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.CopyBuffer(c, f, make([]byte, 1<<20))
	return err
}

func readStats(path string) (workload.FloodStats, error) {
	var st workload.FloodStats
	b, err := os.ReadFile(path)
	if err != nil {
		return st, err
	}
	return st, json.Unmarshal(b, &st)
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

func ticksOf(pid int) uint64 {
	st, _ := readProc(pid)
	return st.CPUTick
}

func ticksToDuration(t uint64) time.Duration {
	return time.Duration(t) * time.Second / clockTicks
}

// tailFile is the last line of a file, for error messages.
func tailFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return path + ": " + err.Error()
	}
	text := strings.TrimSpace(string(b))
	if text == "" {
		return path + ": empty"
	}
	return path + ": " + firstLine(text[strings.LastIndexByte(text, '\n')+1:])
}
