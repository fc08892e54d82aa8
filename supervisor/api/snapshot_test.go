package api

import (
	"os"
	"slices"
	"testing"

	"github.com/palyra/palyra/supervisor"
)

func TestGetSnapshot(t *testing.T) {
	r := newRig(t)
	want := r.sup.Snapshot()

	got, err := r.client.GetSnapshot(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if got.Supervisor.PID != os.Getpid() || got.Supervisor.Version != "test" {
		t.Errorf("supervisor info = %+v, want this process and version test", got.Supervisor)
	}
	if got.Overall != supervisor.OverallHealthy {
		t.Errorf("overall = %s (%v), want healthy", got.Overall, got.Reasons)
	}
	for _, name := range []string{"alpha", "beta"} {
		g, w := byName(t, got.Services, name), byName(t, want.Services, name)
		if g.State != supervisor.StateRunning || g.PID != w.PID || g.PID == 0 || !slices.Equal(g.Command, w.Command) {
			t.Errorf("%s = %+v, want running as pid %d with command %v", name, g, w.PID, w.Command)
		}
	}
}

func TestWatchSnapshotsPushesChanges(t *testing.T) {
	r := newRig(t)
	ctx := testCtx(t)
	stream, err := r.client.WatchSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	first, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	now := r.sup.Snapshot()
	for _, name := range []string{"alpha", "beta"} {
		if g, w := byName(t, first.Services, name), byName(t, now.Services, name); g.State != supervisor.StateRunning || g.PID != w.PID {
			t.Errorf("first message: %s = %s pid %d, want running pid %d", name, g.State, g.PID, w.PID)
		}
	}

	if err := r.sup.Stop(ctx, "alpha"); err != nil {
		t.Fatal(err)
	}
	for {
		snap, err := stream.Recv()
		if err != nil {
			t.Fatalf("no snapshot with alpha stopped was pushed: %v", err)
		}
		if byName(t, snap.Services, "alpha").State == supervisor.StateStopped {
			if beta := byName(t, snap.Services, "beta"); beta.State != supervisor.StateRunning {
				t.Errorf("beta = %s, want running", beta.State)
			}
			return
		}
	}
}

// A watcher that reads slowly gets the newest state when it reads again, not every state
// it missed.
func TestWatchSnapshotsCoalesces(t *testing.T) {
	r := newRig(t)
	ctx := testCtx(t)
	stream, err := r.client.WatchSnapshots(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}

	// Each cycle changes alpha's state at least four times: stopping, stopped, starting,
	// running.
	const cycles = 10
	var lastPID int
	for range cycles {
		if err := r.sup.Stop(ctx, "alpha"); err != nil {
			t.Fatal(err)
		}
		if err := r.sup.Start(ctx, "alpha"); err != nil {
			t.Fatal(err)
		}
		lastPID = r.waitFor(t, "alpha runs again", func(s supervisor.Snapshot) bool {
			return s.Services[0].State == supervisor.StateRunning
		}).Services[0].PID
	}

	reads := 0
	for {
		snap, err := stream.Recv()
		if err != nil {
			t.Fatal(err)
		}
		reads++
		if a := snap.Services[0]; a.State == supervisor.StateRunning && a.PID == lastPID {
			break
		}
	}
	if reads > cycles {
		t.Errorf("read %d snapshots to reach the newest state after %d state changes; want the newest within a few reads", reads, 4*cycles)
	}
}
