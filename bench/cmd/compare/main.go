// Command compare is the comparison half of `just bench`. It runs the same workloads under
// our supervisor, supervisord and process-compose and prints our figure, theirs and the
// ratio beside our targets:
//
//   - crash → restart: a child that runs 300 ms and exits 1, restarted N times; the latency is
//     the gap between one run's exit and the next run's start, both stamped by the child;
//   - log flood: one child writing M lines as fast as it can; ours end to end through
//     `palyra-tui serve` into `palyra-tui logs -f` and onto disk, the peers into their log file;
//   - idle: CPU and memory of the real stack (supervisor, TUI under tmux, palyrad,
//     palyra-browserd), and of process-compose's TUI and supervisord with two idle children.
//
// scripts/bench.sh builds the binaries it needs into one directory and runs it. Every
// process it starts is stopped on exit, process groups and stragglers included.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() { os.Exit(run()) }

func run() int {
	sdDefault, _ := exec.LookPath("supervisord")
	binDir := flag.String("bin", "bin/bench", "directory with benchchild, minisup and palyra-tui (a NAME.err file there says why NAME did not build)")
	sdBin := flag.String("supervisord", sdDefault, "supervisord binary; empty: unavailable")
	pcBin := flag.String("process-compose", "", "process-compose binary; empty: unavailable")
	pcMissing := flag.String("process-compose-missing", "not built", "why process-compose is unavailable")
	goBench := flag.String("gobench", "", "file with `go test -bench` output to take the View() and crash → restart timings from")
	restarts := flag.Int("restarts", envInt("BENCH_CRASH_RESTARTS", 10), "crash workload: restarts to time (env BENCH_CRASH_RESTARTS)")
	crashRun := flag.Duration("crash-run", 300*time.Millisecond, "crash workload: how long each run lasts")
	lines := flag.Int("lines", envInt("BENCH_FLOOD_LINES", 5_000_000), "flood workload: lines (env BENCH_FLOOD_LINES)")
	width := flag.Int("width", 60, "flood workload: bytes per line, newline included")
	idleSeconds := flag.Int("idle-seconds", envInt("BENCH_IDLE_SECONDS", 30), "idle window in seconds (env BENCH_IDLE_SECONDS)")
	switches := flag.Int("switches", envInt("BENCH_KEY_SWITCHES", 40), "keys workload: pane switches to time (env BENCH_KEY_SWITCHES)")
	startRuns := flag.Int("start-runs", envInt("BENCH_START_RUNS", 10), "start workload: runs of each start to time (env BENCH_START_RUNS)")
	only := flag.String("only", envOr("BENCH_ONLY", "crash,flood,idle,keys,start"), "workloads to run (env BENCH_ONLY)")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	defer stopAll()

	child, err := binPath(*binDir, "benchchild")
	if err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	tuiBin, tuiErr := binPath(*binDir, "palyra-tui")
	minisup, minisupErr := binPath(*binDir, "minisup")
	var pcErr error
	if *pcBin == "" {
		pcErr = unavailable{*pcMissing}
	}
	// The peers run with their own working directories.
	for _, p := range []*string{sdBin, pcBin} {
		if *p != "" {
			*p, _ = filepath.Abs(*p)
		}
	}
	systems := []system{
		oursSystem(minisup, minisupErr, child),
		supervisordSystem(*sdBin, child),
		processComposeSystem(*pcBin, pcErr, child),
	}
	ours, sd, pc := systems[0], systems[1], systems[2]
	for _, s := range systems[1:] {
		if s.err != nil {
			fmt.Printf("%s: unavailable (%v)\n", s.name, s.err)
		}
	}

	r := report{restarts: *restarts, lines: *lines, switches: *switches, startRuns: *startRuns,
		crash: map[string]crashOutcome{}, flood: map[string]floodOutcome{}, idle: map[string]idleOutcome{},
		keys: map[string]keysOutcome{}, start: map[string]startOutcome{}}
	want := map[string]bool{}
	for w := range strings.SplitSeq(*only, ",") {
		want[strings.TrimSpace(w)] = true
	}
	if want["crash"] {
		progress("crash → restart floor: a bare exec loop (%d restarts)", *restarts)
		r.crash[nameFloor] = runCrash(ctx, floorSystem(child), *restarts, *crashRun)
		for _, s := range systems {
			if s.err == nil {
				progress("crash → restart under %s (%d restarts)", s.name, *restarts)
			}
			r.crash[s.name] = runCrash(ctx, s, *restarts, *crashRun)
		}
	}
	if want["flood"] && ctx.Err() == nil {
		progress("log flood under ours (%d lines through palyra-tui serve into logs -f)", *lines)
		r.flood[ours.name] = runFloodOurs(ctx, tuiBin, tuiErr, child, *lines, *width)
		progress("log flood under ours (%d lines through the supervisor package onto disk, no rotation)", *lines)
		r.floodDisk = runFloodToFile(ctx, ours, *lines, *width)
		for _, s := range []system{sd, pc} {
			if s.err == nil {
				progress("log flood under %s (%d lines into its log file)", s.name, *lines)
			}
			r.flood[s.name] = runFloodToFile(ctx, s, *lines, *width)
		}
	}
	if want["idle"] && ctx.Err() == nil {
		window := time.Duration(*idleSeconds) * time.Second
		progress("idle: our stack with its TUI for %s", window)
		r.idle[ours.name] = runIdleOurs(ctx, tuiBin, tuiErr, child, window)
		progress("idle: supervisord and process-compose's TUI, two idle children each, for %s", window)
		r.idle[sd.name], r.idle[pc.name] = runIdlePeers(ctx, sd, pc, *pcBin, child, window)
	}
	if want["keys"] && ctx.Err() == nil {
		progress("keys: %d switches between the cockpit and the logs pane of our TUI, the daemon idle", *switches)
		r.keys[keysIdle] = runKeys(ctx, tuiBin, tuiErr, child, false, *switches)
		progress("keys: %d switches between the cockpit and the logs pane of our TUI, the daemon flooding", *switches)
		r.keys[keysFlood] = runKeys(ctx, tuiBin, tuiErr, child, true, *switches)
	}
	if want["start"] && ctx.Err() == nil {
		progress("start: our TUI's first frame on a running stack, then a fresh home until healthy (%d runs each)", *startRuns)
		r.start[ours.name] = runStartOurs(ctx, tuiBin, tuiErr, *startRuns)
		if pc.err == nil {
			progress("start: process-compose's TUI to its first frame (%d runs)", *startRuns)
		}
		r.start[pc.name] = runStartPC(ctx, pc, *pcBin, child, *startRuns)
	}
	if *goBench != "" {
		r.goBench = tableBenchmarks(*goBench)
	}
	if ctx.Err() != nil {
		fmt.Fprintln(os.Stderr, "compare: interrupted; partial results follow")
	}
	r.print(os.Stdout)
	return 0
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

func envInt(key string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(key)); err == nil && n > 0 {
		return n
	}
	return def
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
