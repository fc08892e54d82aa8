package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
)

// crashOutcome is workload A for one supervisor: the gaps between a child's exit and the
// start of its replacement, both stamped by the child itself.
type crashOutcome struct {
	gaps []time.Duration
	err  error
}

func (o crashOutcome) median() time.Duration { return percentile(o.gaps, 50) }

// oursSystem runs the child under minisup: the real supervisor package and log store, with
// the restart backoff set to zero and log rotation set past what a flood writes.
func oursSystem(minisup string, err error, child string) system {
	s := system{name: "ours", err: err}
	if err != nil {
		return s
	}
	s.launch = func(dir string, jobs []job) (*proc, error) {
		out, err := os.Create(filepath.Join(dir, "minisup.out"))
		if err != nil {
			return nil, err
		}
		defer out.Close()
		j := jobs[0]
		cmd := exec.Command(minisup, "-name", j.name, "-logs", filepath.Join(dir, "logs"),
			"-file-max-bytes", strconv.Itoa(1<<34), "--", child)
		// The supervisor hands its services an allow-listed environment only.
		cmd.Env = append(append(os.Environ(), j.env...), "PALYRA_PASS_ENV=BENCH_CHILD_*")
		cmd.Stdout, cmd.Stderr = out, out
		return startProc("minisup", cmd)
	}
	return s
}

// floorSystem is the least any supervisor can do: benchchild's respawn mode, a bare loop
// of exec.Cmd.Start and Wait. It runs the job's child itself, so it needs no path.
func floorSystem(child string) system {
	return system{name: "floor", launch: func(dir string, jobs []job) (*proc, error) {
		cmd := exec.Command(child)
		cmd.Env = append(append(os.Environ(), jobs[0].env...), "BENCH_CHILD_MODE=respawn")
		return startProc("respawn loop", cmd)
	}}
}

// runCrash starts the crashing child under sys and waits for restarts+1 starts.
func runCrash(ctx context.Context, sys system, restarts int, run time.Duration) crashOutcome {
	if sys.err != nil {
		return crashOutcome{err: sys.err}
	}
	dir, err := os.MkdirTemp("", "bench-crash-")
	if err != nil {
		return crashOutcome{err: err}
	}
	defer os.RemoveAll(dir)
	record := filepath.Join(dir, "record")
	j := job{
		name:    "crash",
		env:     []string{"BENCH_CHILD_MODE=crash", "BENCH_CHILD_RECORD=" + record, "BENCH_CHILD_RUN=" + run.String()},
		restart: true,
		logFile: filepath.Join(dir, "crash.log"),
	}
	p, err := sys.launch(dir, []job{j})
	if err != nil {
		return crashOutcome{err: err}
	}
	limit := time.Duration(restarts+1)*(run+3*time.Second) + 15*time.Second
	waitFor(ctx, limit, 20*time.Millisecond, func() bool {
		starts, _ := readRecord(record)
		return len(starts) > restarts || p.exited() || ctx.Err() != nil
	})
	p.stop(10 * time.Second)

	starts, exits := readRecord(record)
	gaps := restartGaps(starts, exits)
	if len(gaps) < restarts {
		return crashOutcome{gaps: gaps, err: fmt.Errorf("saw %d restarts of %d within %s; see its output: %s",
			len(gaps), restarts, limit.Round(time.Second), tailOf(dir))}
	}
	return crashOutcome{gaps: gaps[:restarts]}
}

// readRecord returns the start and exit stamps the child wrote, in order.
func readRecord(path string) (starts, exits []time.Time) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		ns, err := strconv.ParseInt(f[2], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "start":
			starts = append(starts, time.Unix(0, ns))
		case "exit":
			exits = append(exits, time.Unix(0, ns))
		}
	}
	return starts, exits
}

// restartGaps pairs every exit with the first start after it.
func restartGaps(starts, exits []time.Time) []time.Duration {
	slices.SortFunc(starts, time.Time.Compare)
	slices.SortFunc(exits, time.Time.Compare)
	var gaps []time.Duration
	i := 0
	for _, e := range exits {
		for i < len(starts) && !starts[i].After(e) {
			i++
		}
		if i == len(starts) {
			break
		}
		gaps = append(gaps, starts[i].Sub(e))
	}
	return gaps
}

// percentile is the p-th percentile by the nearest-rank method; 0 for no samples.
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := (p*len(s) + 99) / 100
	return s[max(rank, 1)-1]
}

// tailOf names the supervisor output files in dir with their last line, for error messages.
func tailOf(dir string) string {
	var parts []string
	for _, name := range []string{"minisup.out", "supervisord.out", "supervisord.log", "process-compose-internal.log"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || len(strings.TrimSpace(string(b))) == 0 {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		parts = append(parts, name+": "+firstLine(lines[len(lines)-1]))
	}
	if len(parts) == 0 {
		return "no output"
	}
	return strings.Join(parts, "; ")
}
