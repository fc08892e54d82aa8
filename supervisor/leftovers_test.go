package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"slices"
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
	leftover.Env = append(os.Environ(), marker(home))
	other := exec.Command("sleep", "1000")
	other.Env = append(os.Environ(), marker(home+"-other"))
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
