package main

import (
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
PASS
`
	path := filepath.Join(t.TempDir(), "gobench.txt")
	if err := os.WriteFile(path, []byte(out), 0o600); err != nil {
		t.Fatal(err)
	}
	want := []goBench{
		{name: "logview.LogsView100k/filter_off-2", nsPerOp: 120000},
		{name: "supervisor.CrashToRestart-2", nsPerOp: 3260000},
	}
	if got := tableBenchmarks(path); !slices.Equal(got, want) {
		t.Fatalf("tableBenchmarks = %v, want %v", got, want)
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
