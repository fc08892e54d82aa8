package capabilities

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// system answers system.health and system.info from the runtime and /proc. A value /proc
// does not give (another OS, a locked-down container) is left out rather than failing.
type system struct {
	procDir string
	started time.Time
	version string
}

// Health is system.health's output.
type Health struct {
	OK            bool         `json:"ok"`
	UptimeSeconds float64      `json:"uptime_seconds"`
	Goroutines    int          `json:"goroutines"`
	LoadAverage   *LoadAverage `json:"load_average,omitempty"`
	Memory        *Memory      `json:"memory,omitempty"`
}

// LoadAverage is the system's run-queue average over 1, 5 and 15 minutes.
type LoadAverage struct {
	One     float64 `json:"1m"`
	Five    float64 `json:"5m"`
	Fifteen float64 `json:"15m"`
}

// Memory is the system's memory in bytes.
type Memory struct {
	TotalBytes     uint64 `json:"total_bytes"`
	AvailableBytes uint64 `json:"available_bytes"`
}

// Info is system.info's output.
type Info struct {
	Hostname    string `json:"hostname"`
	OS          string `json:"os"`
	Arch        string `json:"arch"`
	CPUs        int    `json:"cpus"`
	GoVersion   string `json:"go_version"`
	NodeVersion string `json:"node_version"`
	Kernel      string `json:"kernel,omitempty"`
}

func (s system) health(context.Context, json.RawMessage, func(string)) (any, error) {
	return Health{
		OK:            true,
		UptimeSeconds: time.Since(s.started).Seconds(),
		Goroutines:    runtime.NumGoroutine(),
		LoadAverage:   s.loadAverage(),
		Memory:        s.memory(),
	}, nil
}

func (s system) info(context.Context, json.RawMessage, func(string)) (any, error) {
	host, _ := os.Hostname()
	return Info{
		Hostname:    host,
		OS:          runtime.GOOS,
		Arch:        runtime.GOARCH,
		CPUs:        runtime.NumCPU(),
		GoVersion:   runtime.Version(),
		NodeVersion: s.version,
		Kernel:      strings.TrimSpace(s.read("sys/kernel/osrelease")),
	}, nil
}

// read returns a small /proc file, or "" when it cannot.
func (s system) read(name string) string {
	data, err := os.ReadFile(filepath.Join(s.procDir, name))
	if err != nil || len(data) > 64<<10 {
		return ""
	}
	return string(data)
}

// loadAverage parses /proc/loadavg: "0.52 0.58 0.59 1/467 12345".
func (s system) loadAverage() *LoadAverage {
	f := strings.Fields(s.read("loadavg"))
	if len(f) < 3 {
		return nil
	}
	var v [3]float64
	for i := range v {
		x, err := strconv.ParseFloat(f[i], 64)
		if err != nil {
			return nil
		}
		v[i] = x
	}
	return &LoadAverage{One: v[0], Five: v[1], Fifteen: v[2]}
}

// memory parses MemTotal and MemAvailable from /proc/meminfo, given there in kB.
func (s system) memory() *Memory {
	var m Memory
	var seen int
	sc := bufio.NewScanner(strings.NewReader(s.read("meminfo")))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			continue
		}
		kb, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			continue
		}
		switch name {
		case "MemTotal":
			m.TotalBytes = kb * 1024
			seen++
		case "MemAvailable":
			m.AvailableBytes = kb * 1024
			seen++
		}
	}
	if seen != 2 {
		return nil
	}
	return &m
}
