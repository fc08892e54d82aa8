package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/palyra/palyra/bench/internal/workload"
)

// keysOutcome is key → screen in our TUI under tmux: the time from `tmux send-keys` until
// capture-pane shows the pane the key asked for, over a number of switches between the
// cockpit and the logs pane, with the daemon service replaced by the benchmark child either
// idle or flooding.
type keysOutcome struct {
	lat        []time.Duration // one per switch; a switch that never showed counts as keyLimit
	timeouts   int
	cockpitGap time.Duration // the longest the cockpit's screen stood still while it was shown
	tuiPeak    uint64        // VmHWM of the TUI process
	tuiCPU     float64       // % of one core over the switches
	supCPU     float64
	shownRate  float64         // flood lines per second by which the logs pane's newest line advanced
	behind     []time.Duration // at each logs switch, the clock less the newest line's stamp
	seen       seenLines
	logsHeader string // the logs pane's header at the last switch to it
	err        error
}

const (
	// keyLimit bounds the wait for one switch; a slower one is a result, not an error.
	keyLimit = 10 * time.Second
	// livenessWindow is how long the cockpit is watched: its clock ticks every second, so a
	// live cockpit never stands still much longer than that.
	livenessWindow = 5 * time.Second
)

// The two panes the switches alternate between, and how each is recognised on the screen.
var (
	cockpitKey = paneKey{key: "1", shown: func(s string) bool { return strings.Contains(s, "supervisor pid") }}
	logsKey    = paneKey{key: "5", shown: func(s string) bool { return strings.Contains(s, "all services ·") }}
)

type paneKey struct {
	key   string
	shown func(screen string) bool
}

// runKeys brings up `palyra-tui serve` with the benchmark child as its daemon service
// (idle, or writing lines as fast as it can), then the TUI under tmux at
// 120x40, and times that many switches between the cockpit and the logs pane.
func runKeys(ctx context.Context, tuiBin string, tuiErr error, child string, flood bool, switches int) keysOutcome {
	if tuiErr != nil {
		return keysOutcome{err: tuiErr}
	}
	home, err := os.MkdirTemp("", "bench-keys-")
	if err != nil {
		return keysOutcome{err: err}
	}
	defer os.RemoveAll(home)
	goFile := filepath.Join(home, "go")
	env := append(stackEnv(home), "PALYRA_DAEMON_BIN="+child, "BENCH_CHILD_READY=1", "PALYRA_PASS_ENV=BENCH_CHILD_*")
	if flood {
		// More lines than the switches can take: the flood lasts until the stack is stopped.
		env = append(env, "BENCH_CHILD_MODE=flood", "BENCH_CHILD_LINES=1000000000", "BENCH_CHILD_GO="+goFile)
	} else {
		env = append(env, "BENCH_CHILD_MODE=idle")
	}
	serve, err := startServe(tuiBin, home, env)
	if err != nil {
		return keysOutcome{err: err}
	}
	defer serve.stop(15 * time.Second)
	if !waitFor(ctx, 30*time.Second, 100*time.Millisecond, func() bool {
		st, err := stackStatus(tuiBin, env)
		return (err == nil && st.service("daemon").State == "running") || serve.exited()
	}) || serve.exited() {
		return keysOutcome{err: fmt.Errorf("the child never ran as the daemon service; see %s", tailFile(filepath.Join(home, "bench-serve.out")))}
	}

	// The TUI attaches to a flood under way: attached before it starts, its logs pane now and
	// then gets no live line at all (the old TUI's as well), which the report would flag.
	if flood {
		if err := os.WriteFile(goFile, nil, 0o600); err != nil {
			return keysOutcome{err: err}
		}
	}
	tm, err := startTmux("keys", env, home, []string{tuiBin})
	if err != nil {
		return keysOutcome{err: err}
	}
	defer tm.kill()
	if !waitFor(ctx, 15*time.Second, 20*time.Millisecond, func() bool { return cockpitKey.shown(tm.capture()) }) {
		return keysOutcome{err: fmt.Errorf("the TUI showed no cockpit within 15s: %q", firstLine(tm.capture()))}
	}
	ctl, err := tm.control()
	if err != nil {
		return keysOutcome{err: err}
	}
	defer ctl.close()
	// Start-up work stays out of the figures.
	sleepCtx(ctx, settle)

	var out keysOutcome
	cpu0, tui0, begin := ticksOf(serve.pid()), ticksOf(tm.pid), time.Now()
	for i := 0; i < switches && ctx.Err() == nil; i++ {
		want := logsKey
		if i%2 == 1 {
			want = cockpitKey
		}
		d, ok := ctl.switchTo(ctx, want)
		if !ok {
			out.timeouts++
		}
		out.lat = append(out.lat, d)
		if flood && want.key == logsKey.key && ok {
			out.sawLogs(ctl.capture("bench"), time.Now())
		}
	}
	// The switches end on the cockpit when their number is even; make sure it is shown.
	if _, ok := ctl.switchTo(ctx, cockpitKey); ok {
		out.cockpitGap = ctl.longestStill(ctx, livenessWindow)
	}
	out.shownRate = out.seen.rate()
	elapsed := time.Since(begin).Seconds()
	out.supCPU = ticksToDuration(ticksOf(serve.pid())-cpu0).Seconds() / elapsed * 100
	if st, err := readProc(tm.pid); err == nil {
		out.tuiCPU = ticksToDuration(st.CPUTick-tui0).Seconds() / elapsed * 100
		out.tuiPeak = st.HWM
	}
	if serve.exited() {
		out.err = fmt.Errorf("palyra-tui serve exited; %s", tailFile(filepath.Join(home, "bench-serve.out")))
	}
	return out
}

// switchTo presses the pane's key and polls the screen until the pane shows; it returns
// how long that took, or keyLimit and false.
func (c *tmuxControl) switchTo(ctx context.Context, p paneKey) (time.Duration, bool) {
	start := time.Now()
	if _, err := c.run("send-keys -t bench " + p.key); err != nil {
		return keyLimit, false
	}
	if !waitFor(ctx, keyLimit, time.Millisecond, func() bool { return p.shown(c.capture("bench")) }) {
		return keyLimit, false
	}
	return time.Since(start), true
}

// longestStill watches the screen for d and returns the longest time it did not change.
func (c *tmuxControl) longestStill(ctx context.Context, d time.Duration) time.Duration {
	start := time.Now()
	last, changed, longest := c.capture("bench"), start, time.Duration(0)
	waitFor(ctx, d, 10*time.Millisecond, func() bool {
		now := time.Now()
		if s := c.capture("bench"); s != last {
			last, changed = s, now
		}
		longest = max(longest, now.Sub(changed))
		return now.Sub(start) >= d
	})
	return longest
}

// The conditions of the keys workload.
const (
	keysIdle  = "idle"
	keysFlood = "flood"
)

func (r report) keysRows(add addRow) {
	ours := func(cond string, f func(keysOutcome) cell) func(string) cell {
		return func(n string) cell {
			o, ok := r.keys[cond]
			switch {
			case n != nameOurs:
				return missing("-")
			case !ok:
				return missing("not run")
			case len(o.lat) == 0:
				return missing(short(o.err))
			case cond == keysFlood && !o.floodShown():
				return missing("no flood seen")
			}
			return f(o)
		}
	}
	lat := func(cond string, p int) func(string) cell {
		return ours(cond, func(o keysOutcome) cell { return value(ms(percentile(o.lat, p)), fmtMS) })
	}
	add(fmt.Sprintf("key → screen p50 at idle (%d pane switches)", r.switches), false, "(reference)", lat(keysIdle, 50))
	add("  the same, p99", false, "(reference)", lat(keysIdle, 99))
	add(fmt.Sprintf("key → screen p50 during a log flood (%d switches)", r.switches), false, "", lat(keysFlood, 50))
	add("  the same, p90", false, "", lat(keysFlood, 90))
	add("  the same, p99", false, "< 50 ms p99", lat(keysFlood, 99))
	add("cockpit: longest still screen during the flood", false, "≈ 1 s (its clock ticks)", ours(keysFlood, func(o keysOutcome) cell {
		if o.cockpitGap == 0 {
			return missing("-")
		}
		return value(ms(o.cockpitGap), fmtMS)
	}))
	add("TUI peak RSS during the flood", false, "< 60 MB", ours(keysFlood, func(o keysOutcome) cell { return value(mib(o.tuiPeak), fmtMiB) }))
	add("TUI CPU during the flood", false, "", ours(keysFlood, func(o keysOutcome) cell { return value(o.tuiCPU, fmtPct) }))
	add("logs pane's newest line behind the clock, p50", false, "", ours(keysFlood, func(o keysOutcome) cell {
		return value(ms(percentile(o.behind, 50)), fmtMS)
	}))
}

func (r report) printKeys(w io.Writer) {
	fmt.Fprintln(w, "\n== Keys: tmux send-keys of 5 (logs) and 1 (cockpit) in turn, until capture-pane shows that pane;")
	fmt.Fprintln(w, "   our TUI at 120x40 on `palyra-tui serve` running the benchmark child as its daemon service,")
	fmt.Fprintln(w, "   idle or writing 60-byte lines as fast as it can; CPU as % of one core over the switches")
	for _, cond := range []string{keysIdle, keysFlood} {
		o, ok := r.keys[cond]
		if !ok {
			continue
		}
		if len(o.lat) > 0 {
			fmt.Fprintf(w, "   %-16s min %s  p50 %s  p90 %s  p99 %s  max %s  (n=%d, %d not shown within %s)\n", cond,
				fmtMS(ms(percentile(o.lat, 0))), fmtMS(ms(percentile(o.lat, 50))), fmtMS(ms(percentile(o.lat, 90))),
				fmtMS(ms(percentile(o.lat, 99))), fmtMS(ms(percentile(o.lat, 100))), len(o.lat), o.timeouts, keyLimit)
			fmt.Fprintf(w, "   %-16s TUI CPU %s, peak RSS %s; supervisor CPU %s; cockpit still for at most %s over %s\n", "",
				fmtPct(o.tuiCPU), fmtMiB(mib(o.tuiPeak)), fmtPct(o.supCPU), fmtMS(ms(o.cockpitGap)), livenessWindow)
			if cond == keysFlood {
				fmt.Fprintf(w, "   %-16s logs pane: newest line advanced at %s; its stamp behind the clock p50 %s, max %s\n", "",
					fmtRate(o.shownRate), fmtMS(ms(percentile(o.behind, 50))), fmtMS(ms(percentile(o.behind, 100))))
				fmt.Fprintf(w, "   %-16s logs pane at the end: %s\n", "", o.logsHeader)
				if !o.floodShown() {
					fmt.Fprintf(w, "   %-16s the logs pane showed no flood line: its stream delivered none, so this is no flood figure\n", "")
				}
			}
		}
		if o.err != nil {
			fmt.Fprintf(w, "   %-16s %v\n", cond, o.err)
		}
	}
}

// seenLines follows the newest flood line the logs pane showed.
type seenLines struct {
	firstSeq, lastSeq int
	firstAt, lastAt   time.Time
}

// floodShown says whether the logs pane showed flood lines advancing during the switches.
func (o keysOutcome) floodShown() bool { return o.seen.lastSeq > o.seen.firstSeq }

func (s seenLines) rate() float64 {
	if d := s.lastAt.Sub(s.firstAt).Seconds(); d > 0 {
		return float64(s.lastSeq-s.firstSeq) / d
	}
	return 0
}

var shownLineRE = regexp.MustCompile(`(\d\d:\d\d:\d\d\.\d\d\d) \S+ +` + workload.Marker + `(\d+)`)

// sawLogs notes the newest flood line on a logs screen captured at now: its sequence number
// and how far its time stamp is behind the clock.
func (o *keysOutcome) sawLogs(screen string, now time.Time) {
	if lines := strings.SplitN(screen, "\n", 3); len(lines) > 1 {
		o.logsHeader = strings.TrimSpace(lines[1])
	}
	m := shownLineRE.FindAllStringSubmatch(screen, -1)
	if len(m) == 0 {
		return
	}
	newest := m[len(m)-1]
	seq, _ := strconv.Atoi(newest[2])
	if stamp, err := time.ParseInLocation("15:04:05.000", newest[1], time.Local); err == nil {
		stamp = time.Date(now.Year(), now.Month(), now.Day(), stamp.Hour(), stamp.Minute(), stamp.Second(), stamp.Nanosecond(), time.Local)
		o.behind = append(o.behind, max(now.Sub(stamp), 0))
	}
	if o.seen.firstAt.IsZero() {
		o.seen.firstSeq, o.seen.firstAt = seq, now
	}
	o.seen.lastSeq, o.seen.lastAt = seq, now
}
