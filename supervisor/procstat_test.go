package supervisor

import (
	"fmt"
	"math"
	"os"
	"testing"
	"time"
)

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    uint64
		wantErr bool
	}{
		{
			name: "plain",
			stat: "42 (palyrad) S 1 42 42 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 9 0 123456 1000000 2500 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0",
			want: 175,
		},
		{
			name: "command with spaces and parentheses",
			stat: "7 (evil) S 1 (x) R) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1",
			want: 7,
		},
		{name: "no command", stat: "7 S 1 7 7", wantErr: true},
		{name: "too few fields", stat: "7 (a) S 1 7 7 0 -1 0 0 0 0 0 3", wantErr: true},
		{name: "not a number", stat: "7 (a) S 1 7 7 0 -1 0 0 0 0 0 x 4", wantErr: true},
		{name: "overflow", stat: "7 (a) S 1 7 7 0 -1 0 0 0 0 0 18446744073709551615 1", wantErr: true},
		{name: "empty", stat: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatmRSS(t *testing.T) {
	tests := []struct {
		name    string
		statm   string
		want    uint64
		wantErr bool
	}{
		{name: "real", statm: "1000 250 100 10 0 300 0\n", want: 250},
		{name: "one field", statm: "1000", wantErr: true},
		{name: "negative", statm: "1000 -1", wantErr: true},
		{name: "empty", statm: "", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatmRSS([]byte(tt.statm))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatmRSS = %d, %v; want %d, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestReadProcSampleSelf(t *testing.T) {
	s, err := readProcSample(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.rssBytes == 0 {
		t.Error("a running test process has no resident memory")
	}
	if _, err := readProcSample(1 << 30); err == nil {
		t.Error("no error for a pid that cannot exist")
	}
}

func TestCPUPercent(t *testing.T) {
	at := time.Unix(1000, 0)
	tests := []struct {
		name      string
		prev, cur procSample
		want      float64
	}{
		{name: "half a core", prev: procSample{at: at, cpuTicks: 100}, cur: procSample{at: at.Add(2 * time.Second), cpuTicks: 200}, want: 50},
		{name: "two cores", prev: procSample{at: at}, cur: procSample{at: at.Add(time.Second), cpuTicks: 200}, want: 200},
		{name: "no time passed", prev: procSample{at: at}, cur: procSample{at: at, cpuTicks: 5}, want: 0},
		{name: "counter went back (pid reused)", prev: procSample{at: at, cpuTicks: 500}, cur: procSample{at: at.Add(time.Second), cpuTicks: 5}, want: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := cpuPercent(tt.prev, tt.cur); got != tt.want {
				t.Errorf("cpuPercent = %v, want %v", got, tt.want)
			}
		})
	}
}

func FuzzParseStat(f *testing.F) {
	f.Add([]byte("42 (palyrad) S 1 42 42 0 -1 4194560 1234 0 0 0 150 25 0 0 20 0 9 0 123456 1000000 2500"))
	f.Add([]byte("7 (a) b) c) R 1 7 7 0 -1 0 0 0 0 0 3 4"))
	f.Add([]byte("1000 250 100 10 0 300 0\n"))
	f.Add([]byte(")"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if ticks, err := parseStatCPU(b); err == nil {
			// Whatever the command name holds, the fields after it decide the result.
			again, err := parseStatCPU(fmt.Appendf(nil, "1 (x) %s", after(b, ')')))
			if err != nil || again != ticks {
				t.Errorf("same fields, different result: %d then %d, %v", ticks, again, err)
			}
		}
		parseStatmRSS(b)
	})
}

// after returns what follows the last c in b.
func after(b []byte, c byte) []byte {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == c {
			return b[i+1:]
		}
	}
	return b
}

func TestCPUIsMeasuredOverTheWindow(t *testing.T) {
	at := time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)
	var history []procSample
	for i := range 7 { // every 2 s for 12 s, one tick of CPU each time
		history = append(history, procSample{at: at.Add(time.Duration(2*i) * time.Second), cpuTicks: uint64(i)})
	}
	now := at.Add(12 * time.Second)
	past := sinceWindow(history[:6], now)
	if len(past) == 0 || !past[0].at.Equal(at.Add(2*time.Second)) {
		t.Fatalf("measured from %v, want the newest sample at least %v old", past[0].at.Sub(at), cpuWindow)
	}
	// 5 ticks (50 ms) over 10 s.
	if got := cpuPercent(past[0], history[6]); math.Abs(got-0.5) > 1e-9 {
		t.Fatalf("%v%%, want 0.5%%", got)
	}
	if early := sinceWindow(history[:2], at.Add(4*time.Second)); len(early) != 2 {
		t.Fatalf("kept %d of 2 samples younger than the window", len(early))
	}
}
