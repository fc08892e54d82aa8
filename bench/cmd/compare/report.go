package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// The systems, in table order.
const (
	nameOurs = "ours"
	nameSD   = "supervisord"
	namePC   = "process-compose"
	// nameFloor is the bare exec loop that calibrates crash → restart on this machine.
	nameFloor = "floor"
)

var systemNames = []string{nameOurs, nameSD, namePC}

// report collects every outcome and prints them.
type report struct {
	restarts, lines     int
	switches, startRuns int
	crash               map[string]crashOutcome
	flood               map[string]floodOutcome
	floodDisk           floodOutcome // ours through the supervisor package, rotation off
	idle                map[string]idleOutcome
	keys                map[string]keysOutcome // ours only, by condition: "idle", "flood"
	start               map[string]startOutcome
	goBench             []goBench
}

// addRow adds a row with each system's cell from f.
type addRow func(metric string, higher bool, target string, f func(name string) cell)

// cell is one system's figure in a row.
type cell struct {
	v    float64
	text string
	ok   bool // v is a measurement; otherwise text says why there is none
}

func value(v float64, format func(float64) string) cell { return cell{v: v, text: format(v), ok: true} }

func missing(why string) cell { return cell{text: why} }

// row is one line of the final table. higher says whether a larger figure is better.
type row struct {
	metric string
	cells  map[string]cell
	higher bool
	target string
}

func (r report) print(w io.Writer) {
	r.printDetails(w)
	rows := r.rows()
	fmt.Fprintln(w)
	fmt.Fprintln(w, "== Summary (×: how many times better ours is: theirs/ours for times, CPU and memory,")
	fmt.Fprintln(w, "   ours/theirs for throughput; above 1 means ours is better)")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tours\tsupervisord\tprocess-compose\t× vs supervisord\t× vs process-compose\ttarget")
	for _, rw := range rows {
		ours := rw.cells[nameOurs]
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", rw.metric, ours.text,
			rw.cells[nameSD].text, rw.cells[namePC].text,
			ratio(ours, rw.cells[nameSD], rw.higher), ratio(ours, rw.cells[namePC], rw.higher), rw.target)
	}
	tw.Flush()
}

func ratio(ours, theirs cell, higher bool) string {
	if !ours.ok || !theirs.ok || ours.v <= 0 || theirs.v <= 0 {
		return "-"
	}
	x := theirs.v / ours.v
	if higher {
		x = ours.v / theirs.v
	}
	switch {
	case x >= 10:
		return fmt.Sprintf("%.0f×", x)
	case x >= 1:
		return fmt.Sprintf("%.1f×", x)
	default:
		return fmt.Sprintf("%.2f×", x)
	}
}

func (r report) rows() []row {
	var rows []row
	var add addRow = func(metric string, higher bool, target string, f func(name string) cell) {
		rw := row{metric: metric, higher: higher, target: target, cells: map[string]cell{}}
		for _, n := range systemNames {
			rw.cells[n] = f(n)
		}
		rows = append(rows, rw)
	}
	if len(r.crash) > 0 {
		add(fmt.Sprintf("crash → restart, median of %d", r.restarts), false, "< 5 ms, backoff excluded", func(n string) cell {
			o, ok := r.crash[n]
			if !ok || o.err != nil && len(o.gaps) == 0 {
				return missing(short(o.err))
			}
			return value(ms(o.median()), fmtMS)
		})
		add("  the same minus the bare exec loop's median", false, "< 5 ms, backoff excluded", func(n string) cell {
			o, floor := r.crash[n], r.crash[nameFloor]
			if len(o.gaps) == 0 || len(floor.gaps) == 0 {
				return missing("-")
			}
			return value(ms(o.median()-floor.median()), fmtMS)
		})
	}
	if len(r.flood) > 0 {
		// follow: ours end to end through serve into logs -f; disk: ours through the package
		// with rotation off, so that every line can be counted on disk.
		flood := func(n string, disk bool) (floodOutcome, delivery) {
			o := r.flood[n]
			switch {
			case n == nameOurs && disk:
				o = r.floodDisk
			case n == nameOurs:
				return o, o.follow
			}
			return o, o.disk
		}
		rate := func(n string, disk bool) cell {
			o, d := flood(n, disk)
			if o.err != nil || o.child.Lines == 0 {
				return missing(short(o.err))
			}
			return value(d.rate(o.start()), fmtRate)
		}
		add("log lines/s, end to end (ours: serve → logs -f)", true, "≥ 1M lines/s", func(n string) cell { return rate(n, false) })
		add("log lines/s onto disk (ours: package, no rotation)", true, "≥ 1M lines/s", func(n string) cell { return rate(n, true) })
		add(fmt.Sprintf("lines arrived of %d (ours: logs -f / disk)", r.lines), true, "every line", func(n string) cell {
			o, d := flood(n, true)
			if o.err != nil || o.child.Lines == 0 {
				return missing(short(o.err))
			}
			if n != nameOurs {
				return cell{text: strconv.Itoa(d.unique)}
			}
			follow := "-"
			if f := r.flood[nameOurs]; f.err == nil && f.child.Lines > 0 {
				follow = strconv.Itoa(f.follow.unique)
			}
			return cell{text: follow + " / " + strconv.Itoa(d.unique)}
		})
		child := func(n string, f func(floodOutcome) cell) cell {
			o := r.flood[n]
			if o.child.Lines == 0 {
				return missing(short(o.err))
			}
			return f(o)
		}
		add("child's own write rate (ours: serve run)", true, "child never stalls", func(n string) cell {
			return child(n, func(o floodOutcome) cell { return value(o.childRate(), fmtRate) })
		})
		add("child's longest blocked write(2)", false, "child never stalls", func(n string) cell {
			return child(n, func(o floodOutcome) cell { return value(o.child.MaxWriteS*1000, fmtMS) })
		})
		add("supervisor CPU time during the flood", false, "", func(n string) cell {
			return child(n, func(o floodOutcome) cell {
				return value(o.supCPU.Seconds(), func(v float64) string { return fmt.Sprintf("%.2f s", v) })
			})
		})
		add("supervisor peak RSS during the flood", false, "< 25 MB", func(n string) cell {
			return child(n, func(o floodOutcome) cell { return value(mib(o.supPeak), fmtMiB) })
		})
	}
	if len(r.idle) > 0 {
		idleCPU := func(n string, roles ...role) cell {
			o, ok := r.idle[n]
			if !ok || o.err != nil {
				return missing(short(o.err))
			}
			return value(o.cpu(roles...), fmtPct)
		}
		add("idle CPU, supervisor + TUI (sd: no TUI)", false, "≤ 0.3 % of a core (all four)", func(n string) cell {
			return idleCPU(n, roleSupervisor, roleTUI)
		})
		add("idle CPU, with the 2 children (ours: real ones)", false, "≤ 0.3 % of a core", func(n string) cell {
			return idleCPU(n, roleSupervisor, roleTUI, roleChild)
		})
		add("  a bare 60 Hz Go ticker beside it (Bubble Tea's renderer)", false, "", func(n string) cell {
			if n != nameOurs {
				return missing("-")
			}
			return idleCPU(n, roleFloor)
		})
		idleRSS := func(n string, rl role) cell {
			o, ok := r.idle[n]
			if !ok || o.err != nil {
				return missing(short(o.err))
			}
			v, found := o.rss(rl)
			if !found {
				return missing("n/a")
			}
			return value(mib(v), fmtMiB)
		}
		add("idle RSS, TUI (pc: its one process)", false, "< 60 MB", func(n string) cell {
			if n == namePC {
				return idleRSS(n, roleSupervisor)
			}
			return idleRSS(n, roleTUI)
		})
		add("idle RSS, supervisor", false, "< 25 MB", func(n string) cell { return idleRSS(n, roleSupervisor) })
	}
	if len(r.keys) > 0 {
		r.keysRows(add)
	}
	if len(r.start) > 0 {
		r.startRows(add)
	}
	for _, b := range r.goBench {
		add("go bench "+b.name+" ("+b.figure.label+")", false, b.figure.target, func(n string) cell {
			if n != nameOurs {
				return missing("-")
			}
			return value(b.value, b.figure.format)
		})
	}
	return rows
}

func (r report) printDetails(w io.Writer) {
	if len(r.crash) > 0 {
		fmt.Fprintln(w, "\n== Crash → restart: gap between a run's exit and the next run's start, stamped by the child")
		fmt.Fprintln(w, "   ours: the supervisor package (bench/cmd/minisup) with BackoffInitial 0, so the backoff is")
		fmt.Fprintln(w, "   excluded by configuration, nothing subtracted; supervisord: autorestart, startsecs=0;")
		fmt.Fprintln(w, "   process-compose: restart always, backoff_seconds 1 (its floor), reported as measured;")
		fmt.Fprintln(w, "   floor: a bare Go loop of exec.Cmd Start/Wait (exit, reap, fork/exec, the child's Go start-up)")
		for _, n := range append([]string{nameFloor}, systemNames...) {
			o, ok := r.crash[n]
			if !ok {
				continue
			}
			if len(o.gaps) > 0 {
				fmt.Fprintf(w, "   %-16s min %s  median %s  p90 %s  max %s  (n=%d)\n", n, fmtMS(ms(percentile(o.gaps, 0))),
					fmtMS(ms(o.median())), fmtMS(ms(percentile(o.gaps, 90))), fmtMS(ms(percentile(o.gaps, 100))), len(o.gaps))
			}
			if o.err != nil {
				fmt.Fprintf(w, "   %-16s %v\n", n, o.err)
			}
		}
	}
	if len(r.flood) > 0 {
		fmt.Fprintf(w, "\n== Log flood: one child writing %d lines as fast as it can; rates run from its first write\n", r.lines)
		fmt.Fprintln(w, "   to the last line's arrival. ours (serve): the real `palyra-tui serve` runs the child as its")
		fmt.Fprintln(w, "   daemon service (PALYRA_DAEMON_BIN), read by `palyra-tui logs -f --service daemon`; its disk")
		fmt.Fprintln(w, "   keeps only what the default rotation keeps. ours (package): bench/cmd/minisup, the supervisor")
		fmt.Fprintln(w, "   package and log store with rotation past the flood, so every line can be counted on disk.")
		fmt.Fprintln(w, "   supervisord: stdout_logfile without rotation (raw bytes, no line handling); process-compose:")
		fmt.Fprintln(w, "   headless (-t=false, which also echoes every line to its stdout, here /dev/null), log_location")
		runs := []struct {
			label string
			o     floodOutcome
			ok    bool
		}{{label: "ours (serve)"}, {label: "ours (package)"}, {label: nameSD}, {label: namePC}}
		runs[0].o, runs[0].ok = r.flood[nameOurs]
		runs[1].o, runs[1].ok = r.floodDisk, r.floodDisk.lines > 0
		runs[2].o, runs[2].ok = r.flood[nameSD]
		runs[3].o, runs[3].ok = r.flood[namePC]
		for i, run := range runs {
			o, n := run.o, run.label
			if !run.ok {
				continue
			}
			if o.err != nil {
				fmt.Fprintf(w, "   %-16s %v\n", n, o.err)
				continue
			}
			if i == 0 {
				fmt.Fprintf(w, "   %-16s logs -f: %d lines (%d with duplicates) at %s, %d reported skipped\n", n,
					o.follow.unique, o.follow.total, fmtRate(o.follow.rate(o.start())), o.dropped)
				fmt.Fprintf(w, "   %-16s on disk after rotation: %d lines\n", "", o.disk.unique)
			} else {
				fmt.Fprintf(w, "   %-16s on disk: %d lines (%d with duplicates) at %s\n", n, o.disk.unique, o.disk.total, fmtRate(o.disk.rate(o.start())))
			}
			fmt.Fprintf(w, "   %-16s child: %.2f s of writing (%s), %d writes, longest %s; supervisor CPU %.2f s, peak RSS %s\n", "",
				o.child.Seconds, fmtRate(o.childRate()), o.child.Writes, fmtMS(o.child.MaxWriteS*1000), o.supCPU.Seconds(), fmtMiB(mib(o.supPeak)))
		}
	}
	if len(r.idle) > 0 {
		fmt.Fprintln(w, "\n== Idle: CPU over the window after a settle time, as % of one core; RSS at its end")
		for _, n := range systemNames {
			o, ok := r.idle[n]
			if !ok {
				continue
			}
			if o.err != nil {
				fmt.Fprintf(w, "   %-16s %v\n", n, o.err)
				continue
			}
			fmt.Fprintf(w, "   %-16s over %s: total %s\n", n, o.window.Round(100*time.Millisecond), fmtPct(o.cpu(roleSupervisor, roleTUI, roleChild)))
			for _, p := range o.procs {
				fmt.Fprintf(w, "   %-16s   %-36s pid %-7d %8s  %s\n", "", p.label, p.pid, fmtPct(p.cpu), fmtMiB(mib(p.rss)))
			}
			if o.note != "" {
				fmt.Fprintf(w, "   %-16s %s\n", "", o.note)
			}
		}
	}
	if len(r.keys) > 0 {
		r.printKeys(w)
	}
	if len(r.start) > 0 {
		r.printStart(w)
	}
}

// goBench is one figure of a `go test -bench` result line.
type goBench struct {
	name   string
	value  float64
	figure figure
}

// figure is a figure of a benchmark the table shows, and its target.
type figure struct {
	bench  string // matched against the benchmark's name
	unit   string // the unit go test prints it in
	label  string
	target string
	scale  float64 // to the unit format shows
	format func(float64) string
}

// figures are the Go benchmark figures the table shows: View() timings, the supervisor's
// in-process crash → restart, the gateway's inventory, decision, call and pairing paths, and
// the connectors' throughput, latency, plugin launch and chaos run. A benchmark may give
// several figures, one per unit.
var figures = []figure{
	{bench: "View", unit: "ns/op", label: "per op", target: "< 4 ms per View", scale: 1e-6, format: fmtMS},
	{bench: "CrashToRestart", unit: "ns/op", label: "per op", target: "< 5 ms (exit noticed → spawned)", scale: 1e-6, format: fmtMS},
	{bench: "ListDevices10k", unit: "p99-ms", label: "p99", target: "p99 < 10 ms", scale: 1, format: fmtMS},
	{bench: "DecisionVisibleToWatcher", unit: "p99-ms", label: "p99", target: "< 50 ms", scale: 1, format: fmtMS},
	{bench: "InvokeRoundTrip", unit: "p50-µs", label: "p50", target: "p50 < 2 ms", scale: 1e-3, format: fmtMS},
	{bench: "Pairings", unit: "pairings/s", label: "rate", target: "(no target)", scale: 1, format: fmtRate},
	{bench: "SendThroughPlugin", unit: "msgs/s", label: "rate", target: "≥ 20k/s at 256 conversations", scale: 1, format: fmtRate},
	{bench: "DeliveryLatency", unit: "p99-ms", label: "p99", target: "(at 100 msg/s; no target)", scale: 1, format: fmtMS},
	{bench: "PluginLaunch", unit: "ns/op", label: "per op", target: "(Vault: 61–108 ms)", scale: 1e-6, format: fmtMS},
	{bench: "Chaos", unit: "lost", label: "lost", target: "0", scale: 1, format: fmtCount},
	{bench: "Chaos", unit: "duplicated", label: "duplicated", target: "0", scale: 1, format: fmtCount},
}

func fmtCount(v float64) string { return fmt.Sprintf("%.0f", v) }

// tableBenchmarks picks from go test output the figures the table shows.
func tableBenchmarks(path string) []goBench {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []goBench
	pkg := ""
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) == 2 && fields[0] == "pkg:" {
			pkg = fields[1][strings.LastIndexByte(fields[1], '/')+1:]
			continue
		}
		if len(fields) < 4 || !strings.HasPrefix(fields[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(fields[0], "Benchmark")
		for _, f := range figures {
			if !strings.Contains(name, f.bench) {
				continue
			}
			for i := 2; i+1 < len(fields); i += 2 {
				if fields[i+1] != f.unit {
					continue
				}
				if v, err := strconv.ParseFloat(fields[i], 64); err == nil {
					out = append(out, goBench{name: pkg + "." + name, value: v * f.scale, figure: f})
				}
			}
		}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func fmtMS(v float64) string {
	if v < 10 {
		return fmt.Sprintf("%.2f ms", v)
	}
	return fmt.Sprintf("%.0f ms", v)
}

func fmtRate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.0fk/s", v/1e3)
	default:
		return fmt.Sprintf("%.0f/s", v)
	}
}

func fmtPct(v float64) string { return fmt.Sprintf("%.2f %%", v) }

func fmtMiB(v float64) string { return fmt.Sprintf("%.1f MiB", v) }

// short is an error cut to fit a table cell; the details above the table carry it whole.
func short(err error) string {
	var u unavailable
	switch {
	case err == nil:
		return "-"
	case errors.As(err, &u):
		return "unavailable"
	default:
		return "error"
	}
}
