package approvals

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/store"
)

type rig struct {
	e    *Engine
	st   *store.Store
	path string
	at   time.Time
	mu   sync.Mutex
}

func newRig(t *testing.T) *rig {
	t.Helper()
	path := filepath.Join(t.TempDir(), store.FileName)
	st, err := store.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	r := &rig{st: st, path: path, at: time.Now()}
	r.e = New(st)
	r.e.now = r.now
	return r
}

func (r *rig) now() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.at
}

func (r *rig) advance(d time.Duration) {
	r.mu.Lock()
	r.at = r.at.Add(d)
	r.mu.Unlock()
}

func pairing(device string) Request {
	return Request{SubjectType: DevicePairing, SubjectID: device, Risk: "high", Requester: "node:" + device, Summary: "pair " + device}
}

func (r *rig) ask(t *testing.T, req Request) store.Approval {
	t.Helper()
	a, err := r.e.Ask(req)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func TestAskDecideAndWait(t *testing.T) {
	r := newRig(t)
	events, stop := r.e.Watch(8)
	defer stop()
	a := r.ask(t, pairing("laptop"))
	if a.State != store.ApprovalPending || a.ID() != "ap-1" {
		t.Fatalf("asked: %+v", a)
	}
	if ev := <-events; ev.Kind != "requested" || ev.Approval.Seq != a.Seq {
		t.Fatalf("event %+v", ev)
	}

	waited := make(chan store.Approval, 1)
	go func() {
		got, err := r.e.Wait(context.Background(), a.ID())
		if err != nil {
			t.Error(err)
		}
		waited <- got
	}()
	decided, err := r.e.Decide(a.ID(), true, Once, 0, "", "admin")
	if err != nil || decided.State != store.ApprovalApproved || decided.Decision.Decider != "admin" {
		t.Fatalf("decide: %+v, %v", decided, err)
	}
	select {
	case got := <-waited:
		if got.State != store.ApprovalApproved {
			t.Fatalf("waiter got %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the waiter was not told")
	}
	if ev := <-events; ev.Kind != "decided" {
		t.Fatalf("event %+v", ev)
	}
	// Waiting on a settled approval answers at once.
	if got, err := r.e.Wait(context.Background(), a.ID()); err != nil || got.State != store.ApprovalApproved {
		t.Fatalf("late wait: %+v, %v", got, err)
	}
}

func TestTwoDecidersOneWins(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, pairing("phone"))
	var wg sync.WaitGroup
	results := make(chan error, 2)
	for _, approve := range []bool{true, false} {
		wg.Go(func() {
			_, err := r.e.Decide(a.ID(), approve, Once, 0, "not mine", "op")
			results <- err
		})
	}
	wg.Wait()
	close(results)
	var wins, told int
	for err := range results {
		switch {
		case err == nil:
			wins++
		case errors.Is(err, store.ErrAlreadyDecided):
			told++
		default:
			t.Fatal(err)
		}
	}
	if wins != 1 || told != 1 {
		t.Fatalf("%d won, %d told; want 1 and 1", wins, told)
	}
}

func TestExpiryTimesOut(t *testing.T) {
	r := newRig(t)
	req := pairing("tablet")
	req.TTL = time.Minute
	a := r.ask(t, req)
	r.advance(time.Minute)
	if _, err := r.e.Decide(a.ID(), true, Once, 0, "", "admin"); !errors.Is(err, store.ErrApprovalExpired) {
		t.Fatalf("late decision: %v", err)
	}
	got, err := r.st.Approval(a.Seq)
	if err != nil || got.State != store.ApprovalTimedOut {
		t.Fatalf("stored: %+v, %v", got, err)
	}

	b := r.ask(t, req)
	r.advance(time.Minute)
	if err := r.e.expire(); err != nil {
		t.Fatal(err)
	}
	if got, _ := r.st.Approval(b.Seq); got.State != store.ApprovalTimedOut {
		t.Fatalf("expiry loop left %+v", got)
	}
}

func TestGrantsAreRemembered(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, Request{SubjectType: NodeCapability, SubjectID: "laptop/system.health", Risk: "low", Requester: "agent", Summary: "health"})
	if _, err := r.e.Decide(a.ID(), true, TimeBox, time.Hour, "", "admin"); err != nil {
		t.Fatal(err)
	}
	again := r.ask(t, Request{SubjectType: NodeCapability, SubjectID: "laptop/system.health", Risk: "low", Requester: "agent", Summary: "health"})
	if again.State != store.ApprovalApproved || again.Decision.Decider != "grant" {
		t.Fatalf("within the time box: %+v", again)
	}
	for name, req := range map[string]Request{
		"another subject":   {SubjectType: NodeCapability, SubjectID: "laptop/desktop.open_url", Risk: "low", Requester: "agent", Summary: "open"},
		"another requester": {SubjectType: NodeCapability, SubjectID: "laptop/system.health", Risk: "low", Requester: "intruder", Summary: "health"},
		"a higher risk":     {SubjectType: NodeCapability, SubjectID: "laptop/system.health", Risk: "critical", Requester: "agent", Summary: "health"},
	} {
		if other := r.ask(t, req); other.State != store.ApprovalPending {
			t.Fatalf("%s was allowed by the grant: %+v", name, other)
		}
	}
	r.advance(time.Hour)
	late := r.ask(t, Request{SubjectType: NodeCapability, SubjectID: "laptop/system.health", Risk: "low", Requester: "agent", Summary: "health"})
	if late.State != store.ApprovalPending {
		t.Fatalf("after the time box: %+v", late)
	}
	// A once decision is not remembered.
	if _, err := r.e.Decide(late.ID(), true, Once, 0, "", "admin"); err != nil {
		t.Fatal(err)
	}
	if next := r.ask(t, Request{SubjectType: NodeCapability, SubjectID: "laptop/system.health", Risk: "low", Requester: "agent", Summary: "health"}); next.State != store.ApprovalPending {
		t.Fatalf("a once decision was remembered: %+v", next)
	}
}

func TestBadRequestsAndDecisions(t *testing.T) {
	r := newRig(t)
	for _, req := range []Request{{}, {SubjectType: External, SubjectID: "x", Requester: "y", Summary: "z", Risk: "extreme"}} {
		if _, err := r.e.Ask(req); err == nil {
			t.Errorf("Ask(%+v) accepted", req)
		}
	}
	a := r.ask(t, pairing("x"))
	for name, call := range map[string]func() error{
		"deny without reason": func() error { _, err := r.e.Decide(a.ID(), false, "", 0, "", "admin"); return err },
		"unknown scope":       func() error { _, err := r.e.Decide(a.ID(), true, "forever", 0, "", "admin"); return err },
		"time box without time": func() error {
			_, err := r.e.Decide(a.ID(), true, TimeBox, 0, "", "admin")
			return err
		},
		"bad id":     func() error { _, err := r.e.Decide("42", true, Once, 0, "", "admin"); return err },
		"unknown id": func() error { _, err := r.e.Decide("ap-99", true, Once, 0, "", "admin"); return err },
	} {
		if err := call(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if got, _ := r.st.Approval(a.Seq); got.State != store.ApprovalPending {
		t.Fatalf("a refused decision changed the approval: %+v", got)
	}
}

// TestPendingSurvivesRestartAndEverythingIsAudited: a daemon that dies mid-way keeps its
// pending approvals, and the journal holds every request and decision, chained.
func TestPendingSurvivesRestartAndEverythingIsAudited(t *testing.T) {
	r := newRig(t)
	a := r.ask(t, pairing("one"))
	b := r.ask(t, pairing("two"))
	if _, err := r.e.Decide(b.ID(), false, "", 0, "unknown device", "admin"); err != nil {
		t.Fatal(err)
	}
	if err := r.st.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(r.path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	got, err := st.Approval(a.Seq)
	if err != nil || got.State != store.ApprovalPending {
		t.Fatalf("after restart: %+v, %v", got, err)
	}
	denied, _ := st.Approval(b.Seq)
	if denied.State != store.ApprovalDenied || denied.Decision.Reason != "unknown device" {
		t.Fatalf("denied: %+v", denied)
	}
	n, brk, err := st.VerifyAudit()
	if err != nil || brk != nil || n != 3 {
		t.Fatalf("audit: %d entries, %+v, %v; want 3 intact (two requests, one decision)", n, brk, err)
	}
}

func BenchmarkAskAndDecide(b *testing.B) {
	st, err := store.Open(filepath.Join(b.TempDir(), store.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := New(st)
	for b.Loop() {
		a, err := e.Ask(pairing("bench"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := e.Decide(a.ID(), true, Once, 0, "", "admin"); err != nil {
			b.Fatal(err)
		}
	}
}
