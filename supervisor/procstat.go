package supervisor

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"strconv"
	"time"
)

// clockTicks is _SC_CLK_TCK, the unit of the CPU times in /proc/<pid>/stat; Linux fixes it
// at 100 on every architecture Go supports.
const clockTicks = 100

var errProcFormat = errors.New("unexpected /proc format")

// procSample is one reading of a process's CPU time and resident memory.
type procSample struct {
	at       time.Time
	cpuTicks uint64
	rssBytes uint64
}

// readProcSample reads /proc/<pid>/stat and /proc/<pid>/statm.
func readProcSample(pid int) (procSample, error) {
	at := time.Now()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, err
	}
	statm, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return procSample{}, err
	}
	ticks, err := parseStatCPU(stat)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	pages, err := parseStatmRSS(statm)
	if err != nil {
		return procSample{}, fmt.Errorf("/proc/%d/statm: %w", pid, err)
	}
	return procSample{at: at, cpuTicks: ticks, rssBytes: pages * uint64(os.Getpagesize())}, nil
}

// parseStatCPU returns utime+stime from the text of /proc/<pid>/stat.
func parseStatCPU(b []byte) (uint64, error) {
	// The command name in field 2 may hold spaces and parentheses, so the fixed fields are
	// counted from the last ')'.
	end := bytes.LastIndexByte(b, ')')
	if end < 0 {
		return 0, errProcFormat
	}
	fields := bytes.Fields(b[end+1:])
	// fields[0] is field 3 (state); utime and stime are fields 14 and 15.
	const utime, stime = 14 - 3, 15 - 3
	if len(fields) <= stime {
		return 0, errProcFormat
	}
	u, err := strconv.ParseUint(string(fields[utime]), 10, 64)
	if err != nil {
		return 0, errProcFormat
	}
	s, err := strconv.ParseUint(string(fields[stime]), 10, 64)
	if err != nil || s > math.MaxUint64-u {
		return 0, errProcFormat
	}
	return u + s, nil
}

// parseStatmRSS returns the resident set in pages from the text of /proc/<pid>/statm.
func parseStatmRSS(b []byte) (uint64, error) {
	fields := bytes.Fields(b)
	if len(fields) < 2 {
		return 0, errProcFormat
	}
	pages, err := strconv.ParseUint(string(fields[1]), 10, 64)
	if err != nil {
		return 0, errProcFormat
	}
	return pages, nil
}

// cpuPercent is the share of one core used between two samples of the same process.
func cpuPercent(prev, cur procSample) float64 {
	elapsed := cur.at.Sub(prev.at).Seconds()
	if elapsed <= 0 || cur.cpuTicks < prev.cpuTicks {
		return 0
	}
	return float64(cur.cpuTicks-prev.cpuTicks) / clockTicks / elapsed * 100
}
