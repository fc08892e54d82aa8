package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/supervisor/logs"
)

// TestRunReapsLeftovers: a process left by an earlier supervisor of the same state directory
// (a service's own child that outlived a SIGKILLed supervisor) is killed before services
// start; one of another state directory is left alone.
func TestRunReapsLeftovers(t *testing.T) {
	home := t.TempDir()
	leftover := exec.Command("sleep", "1000")
	leftover.Env = append(os.Environ(), marker(home, "daemon.1.1"))
	other := exec.Command("sleep", "1000")
	other.Env = append(os.Environ(), marker(home+"-other", "daemon.1.1"))
	for _, c := range []*exec.Cmd{leftover, other} {
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() { other.Process.Kill(); other.Wait() })
	exited := make(chan error, 1)
	go func() { exited <- leftover.Wait() }()

	store, err := logs.Open(logs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sup := New(Config{Policy: testPolicy(), Logs: store, Home: home})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	defer func() { cancel(); <-done }()

	select {
	case <-exited:
	case <-time.After(waitTimeout):
		t.Fatal("the leftover process still runs")
	}
	// The other one still runs (not a zombie), and its own directory's marker finds it.
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", other.Process.Pid))
	if err != nil || strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))[0] == "Z" {
		t.Fatalf("the other directory's process was killed: %v %s", err, stat)
	}
	if pids := reapLeftovers(home + "-other"); !slices.Contains(pids, other.Process.Pid) {
		t.Fatalf("the other directory's process was not found by its own marker: %v", pids)
	}
}

// TestStopKillsWhatLeftTheGroup: a service's child that left the process group (setsid) is
// killed with the service all the same.
func TestStopKillsWhatLeftTheGroup(t *testing.T) {
	home := t.TempDir()
	spec := Spec{
		Name:      "svc",
		Path:      "/bin/sh",
		Args:      []string{"-c", "setsid sleep 1003 & exec " + testchild + " -mode ready"},
		WaitReady: true,
	}
	h := startIn(t, home, testPolicy(), spec)
	h.waitState(t, StateRunning)
	var escaped []int
	deadline := time.Now().Add(waitTimeout)
	for len(escaped) == 0 && time.Now().Before(deadline) {
		escaped = findMarked(marker(home, "svc."))
		time.Sleep(10 * time.Millisecond)
	}
	if len(escaped) < 2 { // the service itself and the sleep
		t.Fatalf("marked processes %v, want the service and its escaped child", escaped)
	}
	if err := h.Stop(ctx10s(t), "svc"); err != nil {
		t.Fatal(err)
	}
	for time.Now().Before(deadline) {
		if len(findMarked(marker(home, "svc."))) == 0 {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("still running after stop: %v", findMarked(marker(home, "svc.")))
}

// findMarked lists the live (not zombie) processes with a variable starting with want.
func findMarked(want string) []int {
	var pids []int
	paths, _ := filepath.Glob("/proc/[0-9]*/environ")
	for _, p := range paths {
		env, err := os.ReadFile(p)
		if err != nil || !slices.ContainsFunc(strings.Split(string(env), "\x00"), func(kv string) bool {
			return strings.HasPrefix(kv, want)
		}) {
			continue
		}
		dir := filepath.Dir(p)
		stat, err := os.ReadFile(filepath.Join(dir, "stat"))
		if err != nil || strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))[0] == "Z" {
			continue
		}
		pid, _ := strconv.Atoi(filepath.Base(dir))
		pids = append(pids, pid)
	}
	return pids
}
