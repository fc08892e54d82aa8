package api

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

// waitTimeout bounds every wait; generous for a loaded 2-core machine.
const waitTimeout = 10 * time.Second

// ringLines is a count of lines the log tests write in a step.
const ringLines = 64

// testchild is the path of the supervisor's helper binary, built by TestMain.
var testchild string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "api-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testchild = filepath.Join(dir, "testchild")
	build := exec.Command("go", "build", "-o", testchild, "../internal/testchild")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testchild: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPolicy is DefaultPolicy with short stop and probe timings.
func testPolicy() supervisor.Policy {
	p := supervisor.DefaultPolicy()
	p.BackoffInitial = 50 * time.Millisecond
	p.BackoffMax = 200 * time.Millisecond
	p.StopTimeout = 5 * time.Second
	p.ReadyTimeout = waitTimeout
	p.Tick = 50 * time.Millisecond
	p.MetricsEvery = 100 * time.Millisecond
	return p
}

// readyChild runs testchild as a service that waits for its ready line. It has no health
// probe, so once running it writes no log lines of its own and the log tests see only theirs.
func readyChild(name string) supervisor.Spec {
	return supervisor.Spec{Name: name, Path: testchild, Args: []string{"-mode", "ready"}, WaitReady: true, Critical: true}
}

// rig is a whole supervisor server: a supervisor running alpha and beta, its log store, the
// API server on a unix socket, and a client of it.
type rig struct {
	sup      *supervisor.Supervisor
	store    *logs.Store
	server   *Server
	client   *Client
	socket   string
	stop     func()        // stops the server once, however often it is called
	shutdown chan struct{} // closed when the server's Shutdown callback runs, which stops the server
}

// newRig starts a rig with both services running and stops all of it when the test ends.
func newRig(t *testing.T) *rig {
	t.Helper()
	return newRigIn(t, t.TempDir())
}

// newRigIn is newRig with its log files in dir.
func newRigIn(t *testing.T, dir string) *rig {
	t.Helper()
	store, err := logs.Open(logs.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sup := supervisor.New(supervisor.Config{
		Specs:   []supervisor.Spec{readyChild("alpha"), readyChild("beta")},
		Policy:  testPolicy(),
		Logs:    store,
		Version: "test",
	})
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- sup.Run(ctx) }()

	r := &rig{sup: sup, store: store, shutdown: make(chan struct{})}
	var once sync.Once
	r.server, r.socket, r.stop = serve(t, Config{
		Engine: sup,
		Logs:   store,
		Preflight: func(context.Context) []supervisor.Check {
			return []supervisor.Check{{Key: "state_dir", Label: "state directory", Status: supervisor.CheckWarning, Detail: "low disk", Fix: "free some space"}}
		},
		// Like the real stack, end with stopping the server; here at once, so the Shutdown
		// reply races the stop.
		Shutdown: func() {
			once.Do(func() { close(r.shutdown) })
			r.stop()
		},
	})
	r.client = dial(t, r.socket)

	t.Cleanup(func() {
		r.stop()
		cancel()
		select {
		case err := <-ran:
			if err != nil {
				t.Errorf("supervisor Run: %v", err)
			}
		case <-time.After(testPolicy().StopTimeout + waitTimeout):
			t.Errorf("supervisor Run did not return after its context ended")
		}
		store.Close()
	})
	r.waitFor(t, "both services run", func(s supervisor.Snapshot) bool {
		return s.Services[0].State == supervisor.StateRunning && s.Services[1].State == supervisor.StateRunning
	})
	// The child's ready line and the supervisor's note of it may be stored just after the
	// state changes; wait for both so that no line but a test's own comes later.
	for _, name := range []string{"alpha", "beta"} {
		poll(t, name+"'s ready lines are stored", func() bool {
			lines, err := store.Tail([]string{name}, -1)
			if err != nil {
				t.Fatal(err)
			}
			return slices.ContainsFunc(lines, func(l logs.Line) bool { return strings.HasPrefix(l.Text, "ready ") }) &&
				slices.ContainsFunc(lines, func(l logs.Line) bool { return strings.Contains(l.Text, "palyra_ready") })
		})
	}
	return r
}

func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(waitTimeout)
	for !cond() {
		select {
		case <-tick.C:
		case <-deadline:
			t.Fatalf("timed out waiting until %s", what)
		}
	}
}

// serve runs a server for cfg on a fresh socket until the test ends or stop is called, and
// then checks that Serve returns.
func serve(t *testing.T, cfg Config) (srv *Server, socket string, stop func()) {
	t.Helper()
	// Unix socket paths are limited to 107 bytes, too few for t.TempDir().
	dir, err := os.MkdirTemp("", "api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	socket = filepath.Join(dir, "s.sock")
	l, err := Listen(socket)
	if err != nil {
		t.Fatal(err)
	}
	srv = NewServer(cfg)
	stop = sync.OnceFunc(srv.Stop)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()
	t.Cleanup(func() {
		stop()
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(waitTimeout):
			t.Errorf("Serve did not return after Stop")
		}
	})
	return srv, socket, stop
}

func dial(t *testing.T, socket string) *Client {
	t.Helper()
	c, err := Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitFor returns the first supervisor snapshot that satisfies cond, checked after every
// change.
func (r *rig) waitFor(t *testing.T, what string, cond func(supervisor.Snapshot) bool) supervisor.Snapshot {
	t.Helper()
	changed, stop := r.sup.Watch()
	defer stop()
	deadline := time.After(waitTimeout)
	for {
		snap := r.sup.Snapshot()
		if cond(snap) {
			return snap
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("timed out waiting until %s; last snapshot:\n%+v", what, snap)
		}
	}
}

// testCtx is a context that ends with the test or after waitTimeout, so no call can hang.
func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

// readAll reads a log stream to its end and returns its batches.
func readAll(t *testing.T, s LogStream) []LogBatch {
	t.Helper()
	var batches []LogBatch
	for {
		b, err := s.Recv()
		if err == io.EOF {
			return batches
		}
		if err != nil {
			t.Fatalf("Recv: %v", err)
		}
		batches = append(batches, b)
	}
}

// texts lists the text of every line in batches.
func texts(batches []LogBatch) []string {
	var out []string
	for _, b := range batches {
		for _, l := range b.Lines {
			out = append(out, l.Text)
		}
	}
	return out
}

// byName returns the named service's row.
func byName(t *testing.T, services []supervisor.ServiceStatus, name string) supervisor.ServiceStatus {
	t.Helper()
	for _, s := range services {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no %s among %+v", name, services)
	return supervisor.ServiceStatus{}
}
