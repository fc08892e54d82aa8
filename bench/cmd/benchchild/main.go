// Command benchchild is the child process `just bench` runs under every supervisor it
// compares (ours, supervisord, process-compose), so that all of them run the very same
// workload. It is configured through the environment only, because the supervisors differ in
// how they pass arguments and `palyra-tui serve` appends its own to a service's command line.
//
//	BENCH_CHILD_MODE    crash, flood, idle, respawn or ticker
//	BENCH_CHILD_RECORD  crash: file that gets "start <unix ns>" and "exit <unix ns>" lines
//	BENCH_CHILD_RUN     crash: how long to run before exiting with status 1 (default 300ms)
//	BENCH_CHILD_LINES   flood: lines to write (default 1000000)
//	BENCH_CHILD_WIDTH   flood: bytes per line, newline included (default 60)
//	BENCH_CHILD_GO      flood: wait until this file exists before writing (optional)
//	BENCH_CHILD_STATS   flood: file that gets the child's own timing as JSON (optional)
//	BENCH_CHILD_READY   1: print a Palyra ready line on stdout first (to run as a service)
//	BENCH_CHILD_LINGER  1: after a flood, wait for SIGTERM instead of exiting
//
// respawn is the floor for crash → restart: the least a supervisor can do, a loop that runs
// this program again in crash mode the moment it exits (exec.Cmd.Run, nothing else).
// ticker is the floor for an idle TUI: a Go program whose only work is a 60 Hz ticker, the
// one Bubble Tea's renderer runs for a program's whole life.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palyra/palyra/bench/internal/workload"
)

const (
	marker    = workload.Marker
	seqDigits = workload.SeqDigits
)

func main() {
	started := time.Now()
	// Go with the supervisor if it dies, so a benchmark killed halfway leaves no children
	// behind, whichever supervisor ran them.
	unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGKILL), 0, 0, 0)
	var err error
	code := 0
	switch mode := os.Getenv("BENCH_CHILD_MODE"); mode {
	case "crash":
		err = crash(started)
		code = 1 // the crash a supervisor is to notice
	case "flood":
		err = flood()
	case "idle":
		err = idle()
	case "respawn":
		err = respawn()
	case "ticker":
		ticker()
	default:
		err = fmt.Errorf("BENCH_CHILD_MODE %q: want crash, flood, idle, respawn or ticker", mode)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchchild:", err)
		os.Exit(2)
	}
	os.Exit(code)
}

// crash records its start, runs a while and records its exit; main then fails, so a
// supervisor restarts it; the gap between one exit and the next start is the restart latency.
func crash(started time.Time) error {
	path := os.Getenv("BENCH_CHILD_RECORD")
	if path == "" {
		return fmt.Errorf("BENCH_CHILD_RECORD is not set")
	}
	run, err := envDuration("BENCH_CHILD_RUN", 300*time.Millisecond)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	// One write(2) per record: O_APPEND keeps each whole even with two copies running.
	if _, err := fmt.Fprintf(f, "start %d %d\n", os.Getpid(), started.UnixNano()); err != nil {
		return err
	}
	time.Sleep(run)
	_, err = fmt.Fprintf(f, "exit %d %d\n", os.Getpid(), time.Now().UnixNano())
	return err
}

func flood() error {
	lines, err := envInt("BENCH_CHILD_LINES", 1_000_000)
	if err != nil {
		return err
	}
	width, err := envInt("BENCH_CHILD_WIDTH", 60)
	if err != nil {
		return err
	}
	if minWidth := len(marker) + seqDigits + 2; width < minWidth {
		return fmt.Errorf("BENCH_CHILD_WIDTH %d: want at least %d", width, minWidth)
	}
	if err := printReady(); err != nil {
		return err
	}
	if goFile := os.Getenv("BENCH_CHILD_GO"); goFile != "" {
		if err := waitForFile(goFile, 5*time.Minute); err != nil {
			return err
		}
	}
	stats, err := writeLines(os.Stdout, lines, width)
	if err != nil {
		return err
	}
	if path := os.Getenv("BENCH_CHILD_STATS"); path != "" {
		b, _ := json.Marshal(stats)
		if err := os.WriteFile(path, append(b, '\n'), 0o600); err != nil {
			return err
		}
	}
	if os.Getenv("BENCH_CHILD_LINGER") == "1" {
		waitForSignal()
	}
	return nil
}

// writeLines writes lines of width bytes, "flood-line 000000042 xxx…\n", in 64 KiB writes,
// timing each write.
func writeLines(w *os.File, lines, width int) (workload.FloodStats, error) {
	const chunk = 64 << 10
	perChunk := max(1, chunk/width)
	buf := make([]byte, 0, perChunk*width)
	line := make([]byte, width)
	copy(line, marker)
	for i := len(marker) + seqDigits; i < width-1; i++ {
		line[i] = 'x'
	}
	line[len(marker)+seqDigits] = ' '
	line[width-1] = '\n'

	begin := time.Now()
	st := workload.FloodStats{Start: begin.UnixNano()}
	for seq := 0; seq < lines; {
		buf = buf[:0]
		for n := 0; n < perChunk && seq < lines; n++ {
			putSeq(line[len(marker):len(marker)+seqDigits], seq)
			buf = append(buf, line...)
			seq++
		}
		t := time.Now()
		if _, err := w.Write(buf); err != nil {
			return st, fmt.Errorf("write line %d: %w", seq, err)
		}
		st.MaxWriteS = max(st.MaxWriteS, time.Since(t).Seconds())
		st.Writes++
		st.Bytes += int64(len(buf))
	}
	st.Lines = lines
	st.Seconds = time.Since(begin).Seconds()
	return st, nil
}

func putSeq(dst []byte, seq int) {
	for i := len(dst) - 1; i >= 0; i-- {
		dst[i] = byte('0' + seq%10)
		seq /= 10
	}
}

// respawn runs this program in crash mode over and over until SIGTERM, which it passes on.
func respawn() error {
	self, err := os.Executable()
	if err != nil {
		return err
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	env := append(os.Environ(), "BENCH_CHILD_MODE=crash")
	for {
		cmd := exec.Command(self)
		cmd.Env = env
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Start(); err != nil {
			return err
		}
		exited := make(chan struct{})
		go func() {
			cmd.Wait()
			close(exited)
		}()
		select {
		case <-exited:
		case <-stop:
			cmd.Process.Signal(syscall.SIGTERM)
			<-exited
			return nil
		}
	}
}

// idle prints its ready line if asked and waits for SIGTERM.
func idle() error {
	if err := printReady(); err != nil {
		return err
	}
	waitForSignal()
	return nil
}

func ticker() {
	t := time.NewTicker(time.Second / 60)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	for {
		select {
		case <-t.C:
		case <-sig:
			return
		}
	}
}

// printReady writes the ready line a Palyra service prints (internal/ready), without
// addresses, so `palyra-tui serve` can run this program in place of palyrad.
func printReady() error {
	if os.Getenv("BENCH_CHILD_READY") != "1" {
		return nil
	}
	_, err := fmt.Printf(`{"palyra_ready":true,"service":"benchchild","version":"bench","pid":%d,"addrs":{}}`+"\n", os.Getpid())
	return err
}

// waitForFile polls because the child must not depend on anything the supervisors offer.
func waitForFile(path string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not appear within %s", path, limit)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func waitForSignal() {
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
}

func envInt(key string, def int) (int, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%s=%q: want a non-negative integer", key, v)
	}
	return n, nil
}

func envDuration(key string, def time.Duration) (time.Duration, error) {
	v := os.Getenv(key)
	if v == "" {
		return def, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: %w", key, v, err)
	}
	return d, nil
}
