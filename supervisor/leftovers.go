package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// markerVar is set in every child's environment to the supervisor's state directory and an
// id of the run. A child's own children inherit it, so whatever a run started can be found
// even when it left the process group (setsid) or outlived its parent, which neither the
// group kill nor Pdeathsig covers.
const markerVar = "PALYRA_SUPERVISED_BY"

func marker(home, run string) string { return markerVar + "=" + home + "#" + run }

// reapLeftovers kills what a previous supervisor of home left running, of every run, and
// returns the pids. It runs before any service starts, so nothing of ours carries the marker.
func reapLeftovers(home string) []int {
	return reap(marker(home, ""), true)
}

// reapRun kills what an exited run left behind outside its process group. Being one run's,
// it never touches the run that replaces it.
func reapRun(runMarker string) []int {
	return reap(runMarker, false)
}

// reap kills every other process whose environment holds want, or a variable starting with
// want when prefix is set.
func reap(want string, prefix bool) []int {
	if want == marker("", "") {
		return nil
	}
	self := os.Getpid()
	var killed []int
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range paths {
		pid, err := strconv.Atoi(filepath.Base(filepath.Dir(p)))
		if err != nil || pid == self {
			continue
		}
		env, err := os.ReadFile(p)
		if err != nil {
			continue // gone, or another user's
		}
		for _, kv := range bytes.Split(env, []byte{0}) {
			if string(kv) == want || prefix && bytes.HasPrefix(kv, []byte(want)) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed = append(killed, pid)
				}
				break
			}
		}
	}
	return killed
}
