package api

import (
	"errors"
	"strings"
	"testing"

	"github.com/palyra/palyra/supervisor"
)

func TestServiceVerbs(t *testing.T) {
	r := newRig(t)
	ctx := testCtx(t)
	pids := func() map[string]int {
		out := map[string]int{}
		for _, s := range r.sup.Snapshot().Services {
			out[s.Name] = s.PID
		}
		return out
	}
	// check checks a reply: the named services, each in one of the states, with a pid unless
	// stopped.
	check := func(t *testing.T, got []supervisor.ServiceStatus, names []string, states ...supervisor.State) {
		t.Helper()
		if len(got) != len(names) {
			t.Fatalf("reply holds %d services, want %v: %+v", len(got), names, got)
		}
		for i, s := range got {
			ok := s.Name == names[i] && (s.PID == 0) == (s.State == supervisor.StateStopped)
			ok = ok && (s.State == states[0] || len(states) > 1 && s.State == states[1])
			if !ok {
				t.Errorf("reply %d: %s is %s with pid %d, want %s %v", i, s.Name, s.State, s.PID, names[i], states)
			}
		}
	}
	both := []string{"alpha", "beta"}

	t.Run("stop one", func(t *testing.T) {
		got, err := r.client.StopService(ctx, "alpha")
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, []string{"alpha"}, supervisor.StateStopped)
		if p := pids(); p["alpha"] != 0 || p["beta"] == 0 {
			t.Errorf("pids after stopping alpha: %v", p)
		}
	})
	t.Run("start one", func(t *testing.T) {
		got, err := r.client.StartService(ctx, "alpha")
		if err != nil {
			t.Fatal(err)
		}
		// It returns once spawned, before the ready line.
		check(t, got, []string{"alpha"}, supervisor.StateStarting, supervisor.StateRunning)
	})
	t.Run("restart one", func(t *testing.T) {
		before := pids()
		got, err := r.client.RestartService(ctx, "alpha")
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, []string{"alpha"}, supervisor.StateStarting, supervisor.StateRunning)
		if got[0].PID == before["alpha"] {
			t.Errorf("alpha still runs as pid %d", before["alpha"])
		}
		if p := pids(); p["beta"] != before["beta"] {
			t.Errorf("beta's pid changed from %d to %d", before["beta"], p["beta"])
		}
	})
	t.Run("restart all", func(t *testing.T) {
		before := pids()
		got, err := r.client.RestartService(ctx, "all")
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, both, supervisor.StateStarting, supervisor.StateRunning)
		for _, s := range got {
			if s.PID == before[s.Name] {
				t.Errorf("%s still runs as pid %d", s.Name, s.PID)
			}
		}
	})
	t.Run("stop all", func(t *testing.T) {
		got, err := r.client.StopService(ctx, "all")
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, both, supervisor.StateStopped)
	})
	t.Run("start all", func(t *testing.T) {
		got, err := r.client.StartService(ctx, "all")
		if err != nil {
			t.Fatal(err)
		}
		check(t, got, both, supervisor.StateStarting, supervisor.StateRunning)
	})
}

func TestServiceVerbsUnknownName(t *testing.T) {
	r := newRig(t)
	ctx := testCtx(t)
	for name, verb := range map[string]func() ([]supervisor.ServiceStatus, error){
		"start":   func() ([]supervisor.ServiceStatus, error) { return r.client.StartService(ctx, "x") },
		"stop":    func() ([]supervisor.ServiceStatus, error) { return r.client.StopService(ctx, "x") },
		"restart": func() ([]supervisor.ServiceStatus, error) { return r.client.RestartService(ctx, "x") },
	} {
		got, err := verb()
		if !errors.Is(err, supervisor.ErrUnknownService) || !strings.Contains(err.Error(), `no service "x"`) {
			t.Errorf("%s x: %v, %+v; want ErrUnknownService saying no service \"x\"", name, err, got)
		}
	}
	if p := r.sup.Snapshot(); p.Services[0].State != supervisor.StateRunning || p.Services[1].State != supervisor.StateRunning {
		t.Errorf("the services changed: %+v", p.Services)
	}
}

func TestPreflight(t *testing.T) {
	r := newRig(t)
	got, err := r.client.Preflight(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	want := supervisor.Check{Key: "state_dir", Label: "state directory", Status: supervisor.CheckWarning, Detail: "low disk", Fix: "free some space"}
	if len(got) != 1 || got[0] != want {
		t.Errorf("checks = %+v, want [%+v]", got, want)
	}
}
