package approvals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/testfs"
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
	r.e = New(st, slog.New(slog.DiscardHandler))
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

func TestRequestsAreBounded(t *testing.T) {
	r := newRig(t)
	ok := Request{SubjectType: External, SubjectID: "deploy", Risk: "low", Requester: "ci#0a1b2c3d4e5f", Summary: "deploy"}
	for name, change := range map[string]func(*Request){
		"subject":   func(q *Request) { q.SubjectID = strings.Repeat("s", MaxSubjectID+1) },
		"summary":   func(q *Request) { q.Summary = strings.Repeat("s", MaxSummary+1) },
		"details":   func(q *Request) { q.Details = strings.Repeat("d", MaxDetails+1) },
		"requester": func(q *Request) { q.Requester = strings.Repeat("r", MaxRequester+1) },
	} {
		q := ok
		change(&q)
		if _, err := r.e.Ask(q); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "the "+name+" is") {
			t.Errorf("an oversized %s: %v, want ErrInvalid naming it", name, err)
		}
	}
	at := ok
	at.Summary, at.Details = strings.Repeat("s", MaxSummary), strings.Repeat("d", MaxDetails)
	a := r.ask(t, at)
	if _, err := r.e.Decide(a.ID(), false, "", 0, strings.Repeat("r", MaxReason+1), "admin"); !errors.Is(err, ErrInvalid) {
		t.Errorf("an oversized reason: %v, want ErrInvalid", err)
	}
	for range MaxPendingPerRequester - 1 {
		r.ask(t, ok)
	}
	if _, err := r.e.Ask(ok); !errors.Is(err, store.ErrTooManyPending) {
		t.Fatalf("request %d of one requester: %v, want ErrTooManyPending", MaxPendingPerRequester+1, err)
	}
}

func TestForgetRequesterEndsItsGrants(t *testing.T) {
	r := newRig(t)
	req := Request{SubjectType: External, SubjectID: "deploy", Risk: "low", Requester: "ci#0a1b2c3d4e5f", Summary: "deploy"}
	a := r.ask(t, req)
	if _, err := r.e.Decide(a.ID(), true, Session, 0, "", "admin"); err != nil {
		t.Fatal(err)
	}
	if got := r.ask(t, req); got.State != store.ApprovalApproved {
		t.Fatalf("within the session grant: %s", got.State)
	}
	other := req
	other.Requester = "ci#ffffffffffff" // the same name, another token
	if got := r.ask(t, other); got.State != store.ApprovalPending {
		t.Fatalf("another token of the same name was covered by the grant: %s", got.State)
	}
	r.e.ForgetRequester(req.Requester)
	if got := r.ask(t, req); got.State != store.ApprovalPending {
		t.Fatalf("after its token was revoked: %s, want pending", got.State)
	}
}

// TestAFullDiskNeverStopsTheEngine: timeouts that cannot be written leave their approvals
// pending and announce nothing; Run goes on, and times them out once space is back.
func TestAFullDiskNeverStopsTheEngine(t *testing.T) {
	dir := testfs.Small(t, 1<<20)
	st, err := store.Open(filepath.Join(dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var log syncBuffer
	e := New(st, slog.New(slog.NewTextHandler(&log, nil)))
	var due []store.Approval
	for i := range 20 { // large, so their timeouts need more pages than bbolt has free
		a, err := e.Ask(Request{SubjectType: External, SubjectID: fmt.Sprint("job-", i), Risk: "low", Requester: fmt.Sprint("ci#", i),
			Summary: "run", Details: strings.Repeat("d", MaxDetails), TTL: time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		due = append(due, a)
	}
	events, stop := e.Watch(64)
	defer stop()
	filler := testfs.Fill(t, dir)
	for err == nil { // bbolt reuses the pages it freed before it grows the file
		_, err = st.AppendAudit(store.AuditEntry{At: time.Now(), Kind: "test", Detail: strings.Repeat("x", 1000)})
	}

	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan error, 1)
	go func() { ran <- e.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-ran; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	deadline := time.After(10 * time.Second)
	for !strings.Contains(log.String(), "cannot time out expired approvals") {
		select {
		case ev := <-events:
			t.Fatalf("%s announced %s while its timeout could not be written", ev.Approval.ID(), ev.Kind)
		case err := <-ran:
			t.Fatalf("Run stopped on a full disk: %v", err)
		case <-deadline:
			t.Fatalf("no failure logged; log:\n%s", log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
	if pending, _ := st.PendingApprovals(); len(pending) != len(due) {
		t.Fatalf("%d pending on a full disk, want %d", len(pending), len(due))
	}

	testfs.Free(t, filler)
	for range due {
		select {
		case ev := <-events:
			stored, err := st.Approval(ev.Approval.Seq)
			if ev.Kind != "timed_out" || err != nil || stored.State != store.ApprovalTimedOut || !stored.Decision.At.Equal(ev.Approval.Decision.At) {
				t.Fatalf("event %s %+v, stored %+v, %v: want the stored timeout", ev.Kind, ev.Approval, stored, err)
			}
		case <-deadline:
			t.Fatalf("no timeouts once space was back; log:\n%s", log.String())
		}
	}
	for !strings.Contains(log.String(), "expired approvals timed out again") { // logged after the events
		select {
		case <-deadline:
			t.Fatalf("the recovery was not logged:\n%s", log.String())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
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
	e := New(st, slog.New(slog.DiscardHandler))
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
