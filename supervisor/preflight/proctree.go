package preflight

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// descendsFrom reports whether pid is ancestor or one of its descendants, following parent
// pids through /proc.
func descendsFrom(pid, ancestor int) bool {
	// A process tree is shallow; the bound only guards against a cycle read mid-change.
	for range 64 {
		if pid == ancestor {
			return true
		}
		if pid <= 1 {
			return false
		}
		pid = parentPID(pid)
	}
	return false
}

// parentPID reads a process's parent from /proc/PID/stat, or returns 0.
func parentPID(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0
	}
	// The command name in parentheses may hold spaces and parentheses itself: the fields
	// after it start at the last ')': state, then the parent pid.
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 {
		return 0
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}
