package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/supervisor/logs"
)

// waitTimeout bounds every wait; generous for a loaded 2-core machine.
const waitTimeout = 10 * time.Second

// testchild is the path of the helper binary built by TestMain.
var testchild string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "supervisor-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	testchild = filepath.Join(dir, "testchild")
	build := exec.Command("go", "build", "-o", testchild, "./internal/testchild")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build testchild: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// testPolicy is DefaultPolicy scaled down so failure paths finish in about a second.
func testPolicy() Policy {
	p := DefaultPolicy()
	p.BackoffInitial = 50 * time.Millisecond
	p.BackoffMax = 200 * time.Millisecond
	p.FatalAfter = 5
	p.StopTimeout = 5 * time.Second
	p.ReadyTimeout = waitTimeout
	p.Tick = 50 * time.Millisecond
	p.HealthyProbe = 100 * time.Millisecond
	p.MetricsEvery = 100 * time.Millisecond
	return p
}

// child is a critical service running testchild in mode. It waits for the ready line unless
// the mode crashes, and probes "grpc" when the mode serves it.
func child(name, mode string, args ...string) Spec {
	spec := Spec{Name: name, Path: testchild, Args: append([]string{"-mode", mode}, args...), WaitReady: mode != "crash", Critical: true}
	if slices.Contains([]string{"ready", "unhealthy", "flood", "longline", "garbage"}, mode) {
		spec.HealthAddr = "grpc"
	}
	return spec
}

type harness struct {
	*Supervisor
	store *logs.Store
}

// start runs a supervisor for specs until the test ends, then checks that Run returns.
func start(t testing.TB, p Policy, specs ...Spec) harness {
	t.Helper()
	return startIn(t, "", p, specs...)
}

// startIn runs a supervisor of the state directory home; only tests of what it does with
// home set one, as a supervisor kills leftovers of its home when it starts.
func startIn(t testing.TB, home string, p Policy, specs ...Spec) harness {
	t.Helper()
	store, err := logs.Open(logs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	sup := New(Config{Specs: specs, Policy: p, Logs: store, Version: "test", Home: home})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(p.StopTimeout + waitTimeout):
			t.Errorf("Run did not return after its context ended")
		}
		store.Close()
	})
	return harness{Supervisor: sup, store: store}
}

// waitFor returns the first snapshot that satisfies cond, checked after every change.
func (h harness) waitFor(t testing.TB, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	return h.waitWithin(t, waitTimeout, what, cond)
}

func (h harness) waitWithin(t testing.TB, timeout time.Duration, what string, cond func(Snapshot) bool) Snapshot {
	t.Helper()
	changed, stop := h.Watch()
	defer stop()
	deadline := time.After(timeout)
	for {
		snap := h.Snapshot()
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

func (h harness) waitState(t testing.TB, state State) ServiceStatus {
	t.Helper()
	return h.waitFor(t, "the service is "+string(state), func(s Snapshot) bool { return s.Services[0].State == state }).Services[0]
}

// waitLog waits until the service's log file holds text.
func (h harness) waitLog(t testing.TB, service, text string) {
	t.Helper()
	poll(t, fmt.Sprintf("%s's log holds %q", service, text), func() bool {
		b, _ := os.ReadFile(h.store.FilePath(service))
		return strings.Contains(string(b), text)
	})
}

func poll(t testing.TB, what string, cond func() bool) {
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

// gone reports whether pid has ended: it left /proc, or it is a zombie that nobody reaps
// (PID 1 here may not).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return true
	}
	for line := range strings.Lines(string(b)) {
		if state, ok := strings.CutPrefix(line, "State:"); ok {
			state = strings.TrimSpace(state)
			return strings.HasPrefix(state, "Z") || strings.HasPrefix(state, "X")
		}
	}
	return false
}

func waitGone(t testing.TB, pid int) {
	t.Helper()
	poll(t, fmt.Sprintf("pid %d is gone", pid), func() bool { return gone(pid) })
}

// livePIDs lists the live processes whose command line holds "-tag tag".
func livePIDs(t testing.TB, tag string) []int {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), "\x00-tag\x00"+tag+"\x00") && !gone(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

func ctx10s(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}

func TestStartRunsHealthy(t *testing.T) {
	h := start(t, testPolicy(), child("svc", "ready"))
	snap := h.waitFor(t, "running and healthy", func(s Snapshot) bool {
		return s.Services[0].State == StateRunning && s.Services[0].Health == HealthHealthy
	})
	st := snap.Services[0]
	if st.PID <= 0 || gone(st.PID) || st.Addrs["grpc"] == "" || st.Version != "test-1" || st.StartedAt.IsZero() {
		t.Errorf("running service lacks its facts: %+v", st)
	}
	if snap.Overall != OverallHealthy || len(snap.Reasons) != 0 {
		t.Errorf("overall = %s %q, want healthy", snap.Overall, snap.Reasons)
	}
	if st.LogFile != h.store.FilePath("svc") || !slices.Equal(st.Command, append([]string{testchild}, child("svc", "ready").Args...)) {
		t.Errorf("log file %q, command %q", st.LogFile, st.Command)
	}
	h.waitLog(t, "svc", fmt.Sprintf("started pid %d", st.PID))
	h.waitFor(t, "memory is sampled", func(s Snapshot) bool {
		return s.Services[0].RSSBytes > 0 && s.Supervisor.RSSBytes > 0 && s.Supervisor.PID == os.Getpid()
	})
}

func TestServiceRunsUnderItsArgv0(t *testing.T) {
	spec := child("svc", "ready")
	spec.Argv0 = "palyrad"
	h := start(t, testPolicy(), spec)
	st := h.waitState(t, StateRunning)
	want := append([]string{"palyrad"}, spec.Args...)
	if !slices.Equal(st.Command, want) {
		t.Errorf("snapshot command %q, want %q", st.Command, want)
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", st.PID))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Split(strings.TrimSuffix(string(cmdline), "\x00"), "\x00"); !slices.Equal(got, want) {
		t.Errorf("/proc/%d/cmdline %q, want %q", st.PID, got, want)
	}
}

func TestCrashBacksOffThenGivesUp(t *testing.T) {
	p := testPolicy()
	h := start(t, p, child("svc", "crash", "-code", "3"))
	backoffs := 0
	snap := h.waitFor(t, "the service is fatal", func(s Snapshot) bool {
		st := s.Services[0]
		if st.State == StateBackoff {
			backoffs++
			if st.NextRestart.Sub(st.LastExit.At) < p.delay(st.Attempt) {
				t.Errorf("attempt %d restarts at %v after the exit, want at least %v", st.Attempt, st.NextRestart.Sub(st.LastExit.At), p.delay(st.Attempt))
			}
		}
		return st.State == StateFatal
	})
	st := snap.Services[0]
	if backoffs == 0 {
		t.Error("never saw the backoff state")
	}
	if st.Attempt != p.FatalAfter || st.Restarts != p.FatalAfter-1 || st.PID != 0 {
		t.Errorf("attempt %d, restarts %d, pid %d; want %d, %d, 0", st.Attempt, st.Restarts, st.PID, p.FatalAfter, p.FatalAfter-1)
	}
	if !strings.HasPrefix(st.Reason, "gave up after 5 failed starts; last: exited with code 3 after") {
		t.Errorf("reason = %q", st.Reason)
	}
	// The reason carries the child's last words on stderr, so it says why, not only how.
	if !strings.HasSuffix(st.Reason, ": crashing with code 3 in 0s") {
		t.Errorf("reason = %q, want the child's last stderr line at the end", st.Reason)
	}
	if st.LastExit == nil || st.LastExit.Code != 3 || len(st.RecentExits) != keepExits {
		t.Fatalf("last exit %+v, %d recent exits", st.LastExit, len(st.RecentExits))
	}
	// Newest first: each gap is at least the delay before that restart.
	for i := range len(st.RecentExits) - 1 {
		attempt := len(st.RecentExits) - 1 - i
		if gap := st.RecentExits[i].At.Sub(st.RecentExits[i+1].At); gap < p.delay(attempt) {
			t.Errorf("restart after attempt %d came %v after the exit, want at least %v", attempt, gap, p.delay(attempt))
		}
	}
	if snap.Overall != OverallDown || len(snap.Reasons) != 1 || !strings.HasPrefix(snap.Reasons[0], "svc: fatal: gave up") {
		t.Errorf("overall = %s %q", snap.Overall, snap.Reasons)
	}
	for _, note := range []string{
		"restart in 50ms (attempt 1)", "restart in 100ms (attempt 2)", "restart in 200ms (attempt 3)",
		"restart in 200ms (attempt 4)", "gave up after 5 failed starts",
	} {
		h.waitLog(t, "svc", note)
	}
}

func TestExitNoticedWithoutATick(t *testing.T) {
	p := testPolicy()
	p.Tick, p.MetricsEvery, p.BackoffInitial = time.Hour, time.Hour, time.Hour
	h := start(t, p, child("svc", "crash", "-code", "7"))
	st := h.waitState(t, StateBackoff)
	if st.LastExit == nil || st.LastExit.Code != 7 || st.Attempt != 1 {
		t.Errorf("last exit %+v, attempt %d", st.LastExit, st.Attempt)
	}
}

func TestStopKillsAChildThatIgnoresSIGTERM(t *testing.T) {
	p := testPolicy()
	p.StopTimeout = 300 * time.Millisecond
	h := start(t, p, child("svc", "ignore-term"))
	pid := h.waitState(t, StateRunning).PID
	if err := h.Stop(ctx10s(t), "svc"); err != nil {
		t.Fatal(err)
	}
	st := h.Snapshot().Services[0]
	if st.State != StateStopped || st.LastExit == nil || st.LastExit.Signal != "SIGKILL" || st.PID != 0 {
		t.Errorf("after stop: state %s, last exit %+v, pid %d", st.State, st.LastExit, st.PID)
	}
	if !gone(pid) {
		t.Errorf("pid %d still runs", pid)
	}
	h.waitLog(t, "svc", "did not stop within 300ms; SIGKILL")
}

func TestStopKillsTheGrandchild(t *testing.T) {
	h := start(t, testPolicy(), child("svc", "spawn-grandchild"))
	grandchild, _ := strconv.Atoi(h.waitState(t, StateRunning).Addrs["grandchild"])
	if grandchild <= 0 || gone(grandchild) {
		t.Fatalf("no live grandchild: %d", grandchild)
	}
	if err := h.Stop(ctx10s(t), "svc"); err != nil {
		t.Fatal(err)
	}
	waitGone(t, grandchild)
}

func TestChildExitTakesTheGrandchildAlong(t *testing.T) {
	p := testPolicy()
	p.BackoffInitial = time.Hour
	h := start(t, p, child("svc", "spawn-grandchild", "-after", "100ms"))
	grandchild, _ := strconv.Atoi(h.waitState(t, StateRunning).Addrs["grandchild"])
	if grandchild <= 0 {
		t.Fatalf("no grandchild in the ready line")
	}
	h.waitState(t, StateBackoff)
	waitGone(t, grandchild)
}

func TestSupervisorKilledTakesChildrenAlong(t *testing.T) {
	sup := exec.Command(testchild, "-mode", "supervise", "-dir", t.TempDir())
	out, err := sup.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Start(); err != nil {
		t.Fatal(err)
	}
	var waitOnce sync.Once
	reap := func() { waitOnce.Do(func() { sup.Wait() }) }
	t.Cleanup(func() {
		sup.Process.Kill()
		reap()
	})
	lines := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		lines <- line
	}()
	var line string
	select {
	case line = <-lines:
	case <-time.After(waitTimeout):
		t.Fatal("the supervisor never reported its children")
	}
	fields := strings.Fields(strings.TrimPrefix(line, "pids "))
	if len(fields) != 2 {
		t.Fatalf("unexpected report %q", line)
	}

	if err := sup.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	reap()
	for _, f := range fields {
		pid, _ := strconv.Atoi(f)
		waitGone(t, pid)
	}
}

func TestFloodDoesNotBlockTheChild(t *testing.T) {
	size := 1 << 30
	if testing.Short() {
		size = 256 << 20
	}
	p := testPolicy()
	p.ReadyTimeout = 10 * time.Minute
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	base, peak := m.HeapAlloc, m.HeapAlloc

	// The ready line comes after the flood, so running means every byte went through.
	h := start(t, p, child("svc", "flood", "-bytes", strconv.Itoa(size)))
	h.waitWithin(t, p.ReadyTimeout, "the flood is through", func(s Snapshot) bool {
		runtime.ReadMemStats(&m)
		peak = max(peak, m.HeapAlloc)
		return s.Services[0].State == StateRunning
	})
	const bound = 128 << 20
	if peak-base > bound {
		t.Errorf("heap grew by %d MB while %d MB of logs went through, want under %d MB", (peak-base)>>20, size>>20, bound>>20)
	}
	t.Logf("heap grew by at most %d MB for %d MB of logs; dropped %d lines", (peak-base)>>20, size>>20, h.store.Dropped("svc"))
}

func TestConcurrentRestartsRunOneCopy(t *testing.T) {
	tag := fmt.Sprintf("restart-%d", os.Getpid())
	h := start(t, testPolicy(), child("svc", "ready", "-tag", tag))
	h.waitState(t, StateRunning)
	ctx := ctx10s(t)
	errs := make(chan error, 10)
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() { errs <- h.Restart(ctx, "svc") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	st := h.waitState(t, StateRunning)
	if pids := livePIDs(t, tag); len(pids) != 1 || pids[0] != st.PID {
		t.Errorf("live copies %v, want just the service's pid %d", pids, st.PID)
	}
}

func TestStartClearsFatal(t *testing.T) {
	p := testPolicy()
	p.FatalAfter = 3
	healthy := filepath.Join(t.TempDir(), "healthy")
	spec := child("svc", "crash", "-code", "4", "-unless", healthy)
	spec.HealthAddr, spec.WaitReady = "grpc", true
	h := start(t, p, spec)
	if st := h.waitState(t, StateFatal); st.Restarts != p.FatalAfter-1 {
		t.Fatalf("fatal after %d restarts, want %d", st.Restarts, p.FatalAfter-1)
	}

	if err := os.WriteFile(healthy, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Start(ctx10s(t), "svc"); err != nil {
		t.Fatal(err)
	}
	st := h.waitFor(t, "running and healthy", func(s Snapshot) bool {
		return s.Services[0].State == StateRunning && s.Services[0].Health == HealthHealthy
	}).Services[0]
	// The operator's start is a restart too.
	if st.Attempt != 0 || st.Reason != "" || st.Restarts != p.FatalAfter {
		t.Errorf("after start: attempt %d, reason %q, restarts %d; want 0, none, %d", st.Attempt, st.Reason, st.Restarts, p.FatalAfter)
	}
}

func TestMissingBinaryGivesUp(t *testing.T) {
	p := testPolicy()
	p.FatalAfter = 3
	missing := filepath.Join(t.TempDir(), "palyrad")
	h := start(t, p, Spec{Name: "svc", Path: missing, Critical: true})
	st := h.waitState(t, StateFatal)
	if !strings.HasPrefix(st.Reason, "gave up after 3 failed starts; last: could not start") || !strings.Contains(st.Reason, "no such file or directory") {
		t.Errorf("reason = %q", st.Reason)
	}
	if st.LastExit != nil || st.Restarts != 2 {
		t.Errorf("last exit %+v, restarts %d", st.LastExit, st.Restarts)
	}
	err := h.Start(ctx10s(t), "svc")
	if err == nil || !strings.Contains(err.Error(), missing) {
		t.Errorf("Start = %v, want an error naming %s", err, missing)
	}
}

func TestReadyTimeoutCountsAsFailure(t *testing.T) {
	p := testPolicy()
	p.ReadyTimeout = 200 * time.Millisecond
	p.BackoffInitial = time.Hour
	spec := child("svc", "crash", "-after", "1h")
	spec.WaitReady = true
	h := start(t, p, spec)
	st := h.waitState(t, StateBackoff)
	if !strings.HasPrefix(st.Reason, "no ready line within 200ms; killed by SIGTERM") || st.Attempt != 1 {
		t.Errorf("reason %q, attempt %d", st.Reason, st.Attempt)
	}
}

func TestStableRunResetsAttempts(t *testing.T) {
	p := testPolicy()
	p.StableAfter = 100 * time.Millisecond
	h := start(t, p, child("svc", "crash", "-after", "1s"))
	st := h.waitFor(t, "a restarted run is stable", func(s Snapshot) bool {
		st := s.Services[0]
		return st.State == StateRunning && st.Restarts > 0 && st.Attempt == 0
	}).Services[0]
	if st.LastExit == nil || st.LastExit.Code != 1 {
		t.Errorf("last exit %+v", st.LastExit)
	}
}

func TestHostileOutputStillReady(t *testing.T) {
	for _, spec := range []Spec{
		child("svc", "longline", "-bytes", strconv.Itoa(8<<20)),
		child("svc", "garbage"),
	} {
		t.Run(spec.Args[1], func(t *testing.T) {
			h := start(t, testPolicy(), spec)
			h.waitFor(t, "running and healthy", func(s Snapshot) bool {
				return s.Services[0].State == StateRunning && s.Services[0].Health == HealthHealthy
			})
		})
	}
}

func TestUnhealthyIsDegraded(t *testing.T) {
	h := start(t, testPolicy(), child("svc", "unhealthy"))
	snap := h.waitFor(t, "unhealthy", func(s Snapshot) bool { return s.Services[0].Health == HealthUnhealthy })
	if snap.Services[0].HealthDetail != "NOT_SERVING" || snap.Overall != OverallDegraded ||
		!slices.Equal(snap.Reasons, []string{"svc: unhealthy (NOT_SERVING)"}) {
		t.Errorf("detail %q, overall %s %q", snap.Services[0].HealthDetail, snap.Overall, snap.Reasons)
	}
	h.waitLog(t, "svc", "health: unhealthy (NOT_SERVING)")
}

func TestAllAndUnknownNames(t *testing.T) {
	h := start(t, testPolicy(), child("a", "ready"), child("b", "ready"))
	bothAre := func(state State) func(Snapshot) bool {
		return func(s Snapshot) bool { return s.Services[0].State == state && s.Services[1].State == state }
	}
	h.waitFor(t, "both running", bothAre(StateRunning))
	ctx := ctx10s(t)
	if err := h.Stop(ctx, All); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "both stopped", bothAre(StateStopped))
	if err := h.Start(ctx, All); err != nil {
		t.Fatal(err)
	}
	h.waitFor(t, "both running again", bothAre(StateRunning))
	for _, verb := range []func(context.Context, string) error{h.Start, h.Stop, h.Restart} {
		if err := verb(ctx, "nope"); !errors.Is(err, ErrUnknownService) {
			t.Errorf("got %v, want ErrUnknownService", err)
		}
	}
}

func TestRunEndStopsEverything(t *testing.T) {
	p := testPolicy()
	p.StopTimeout = 300 * time.Millisecond
	store, err := logs.Open(logs.Options{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	sup := New(Config{Specs: []Spec{child("a", "ready"), child("b", "ignore-term")}, Policy: p, Logs: store})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()
	h := harness{Supervisor: sup, store: store}
	snap := h.waitFor(t, "both running", func(s Snapshot) bool {
		return s.Services[0].State == StateRunning && s.Services[1].State == StateRunning
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatal("Run did not return")
	}
	for _, st := range snap.Services {
		if !gone(st.PID) {
			t.Errorf("%s (pid %d) outlived Run", st.Name, st.PID)
		}
	}
	for _, st := range sup.Snapshot().Services {
		if st.State != StateStopped {
			t.Errorf("%s is %s after Run", st.Name, st.State)
		}
	}
	if err := sup.Start(context.Background(), "a"); !errors.Is(err, ErrStopped) {
		t.Errorf("Start after Run = %v, want ErrStopped", err)
	}
}

// BenchmarkCrashToRestart times a crashed child's exit, as the supervisor notices it, to the
// next process spawned, with the backoff set to zero.
func BenchmarkCrashToRestart(b *testing.B) {
	p := testPolicy()
	p.BackoffInitial = 0
	p.FatalAfter = 1 << 30
	store, err := logs.Open(logs.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	sup := New(Config{Specs: []Spec{child("svc", "crash")}, Policy: p, Logs: store})

	var mu sync.Mutex
	var exitAt time.Time
	gaps := make(chan time.Duration, 1024)
	sup.onExitNoticed = func(at time.Time) {
		mu.Lock()
		exitAt = at
		mu.Unlock()
	}
	sup.onSpawned = func(at time.Time) {
		mu.Lock()
		prev := exitAt
		mu.Unlock()
		if !prev.IsZero() {
			select {
			case gaps <- at.Sub(prev):
			default:
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sup.Run(ctx) }()

	took := make([]time.Duration, b.N)
	for i := range took {
		took[i] = <-gaps
	}
	b.ReportMetric(float64(sumDurations(took).Nanoseconds())/float64(b.N), "ns/op")
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2].Nanoseconds()), "p50-ns")
	cancel()
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

func sumDurations(ds []time.Duration) time.Duration {
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum
}
