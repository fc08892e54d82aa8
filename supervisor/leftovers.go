package supervisor

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
)

// markerVar is set in every child's environment to the supervisor's state directory. A
// child's own children inherit it, so the processes of a supervisor that was SIGKILLed can be
// found later even when they left their process group or outlived their parent, which
// Pdeathsig alone does not cover.
const markerVar = "PALYRA_SUPERVISED_BY"

func marker(home string) string { return markerVar + "=" + home }

// reapLeftovers kills what a previous supervisor of home left running and returns the pids.
// It runs before any service starts, so nothing of ours carries the marker yet.
func reapLeftovers(home string) []int {
	if home == "" {
		return nil
	}
	want := []byte(marker(home))
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
			if bytes.Equal(kv, want) {
				if syscall.Kill(pid, syscall.SIGKILL) == nil {
					killed = append(killed, pid)
				}
				break
			}
		}
	}
	return killed
}
