package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestRestartGapsPairsEachExitWithTheNextStart(t *testing.T) {
	at := func(ms int) time.Time { return time.Unix(0, 0).Add(time.Duration(ms) * time.Millisecond) }
	tests := []struct {
		name          string
		starts, exits []time.Time
		want          []time.Duration
	}{
		{"none", nil, nil, nil},
		{"still running", []time.Time{at(0)}, nil, nil},
		{"exit without restart", []time.Time{at(0)}, []time.Time{at(300)}, nil},
		{
			"two restarts, out of order",
			[]time.Time{at(1310), at(0), at(305)},
			[]time.Time{at(1005), at(300)},
			[]time.Duration{5 * time.Millisecond, 305 * time.Millisecond},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := restartGaps(tt.starts, tt.exits); !slices.Equal(got, tt.want) {
				t.Fatalf("restartGaps = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ds := []time.Duration{5, 1, 4, 2, 3}
	for p, want := range map[int]time.Duration{0: 1, 50: 3, 90: 5, 100: 5} {
		if got := percentile(ds, p); got != want {
			t.Errorf("percentile(%d) = %d, want %d", p, got, want)
		}
	}
}

func TestTableBenchmarksPicksViewAndRestart(t *testing.T) {
	out := `goos: linux
pkg: github.com/palyra/palyra/tui/logview
BenchmarkLogsView100k/filter_off-2   	   10000	    120000 ns/op	  0 B/op	  0 allocs/op
BenchmarkLogsAppend-2                	   27898	     41778 ns/op
pkg: github.com/palyra/palyra/supervisor
BenchmarkCrashToRestart-2            	     100	   3260000 ns/op	   3100000 p50-ns
pkg: github.com/palyra/palyra/daemon/nodes
BenchmarkListDevices10k/default-2         	       1	   6221902 ns/op	         6.221 p50-ms	         6.5 p99-ms
BenchmarkInvokeRoundTrip-2                	       1	    204812 ns/op	       204.1 p50-µs	       250 p99-µs
BenchmarkPairings-2                       	       1	   5788584 ns/op	       151.4 pairings/s
pkg: github.com/palyra/palyra/cmd/internal/daemonmain
BenchmarkChaos-2   	       1	75000000000 ns/op	         0 duplicated	         0 lost	      1893 msgs/s
PASS
`
	path := filepath.Join(t.TempDir(), "gobench.txt")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"logview.LogsView100k/filter_off-2 per op = 0.12",
		"supervisor.CrashToRestart-2 per op = 3.26",
		"nodes.ListDevices10k/default-2 p99 = 6.5",
		"nodes.InvokeRoundTrip-2 p50 = 0.2041",
		"nodes.Pairings-2 rate = 151.4",
		"daemonmain.Chaos-2 lost = 0",
		"daemonmain.Chaos-2 duplicated = 0",
	}
	var got []string
	for _, b := range tableBenchmarks(path) {
		got = append(got, fmt.Sprintf("%s %s = %.4g", b.name, b.figure.label, b.value))
	}
	if !slices.Equal(got, want) {
		t.Fatalf("tableBenchmarks = %q, want %q", got, want)
	}
}

func TestSkippedLinesAddsUpNotices(t *testing.T) {
	path := filepath.Join(t.TempDir(), "err")
	text := "palyra-tui: 10 lines skipped because this reader fell behind\n" +
		"palyra-tui: 5 lines skipped because this reader fell behind\n"
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := skippedLines(path); got != 15 {
		t.Fatalf("skippedLines = %d, want 15", got)
	}
}
