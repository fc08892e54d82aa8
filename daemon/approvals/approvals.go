// Package approvals asks the operator: any part of the gateway, or any client holding a
// token, requests a decision, and the operator allows it once, for the session, for a time
// box, or denies it with a reason. Requests and decisions are stored and audited in one
// transaction each; watchers hear of every change at once, and a requester can wait for its
// answer. A decision that allows for the session or a time box is remembered, so the same
// requester asking again on the same subject, at no higher risk, is allowed without asking
// until the grant ends.
package approvals

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/palyra/palyra/daemon/store"
)

// Subject types.
const (
	DevicePairing   = "device_pairing"
	NodeCapability  = "node_capability"
	ChannelMutation = "channel_mutation"
	External        = "external"
)

// Risks.
var Risks = []string{"low", "medium", "high", "critical"}

// Scopes of an approval.
const (
	Once    = "once"
	Session = "session" // until palyrad restarts
	TimeBox = "ttl"
)

// DefaultTTL is how long a request waits for a decision unless it says otherwise.
const DefaultTTL = 10 * time.Minute

// The bounds of what a request stores, in bytes. A page of approvals, a watch event and the
// audit journal stay small whatever a requester sends.
const (
	MaxSubjectID = 256
	MaxRequester = 160
	MaxSummary   = 512
	MaxDetails   = 16 << 10
	MaxReason    = 1024
)

// MaxPendingPerRequester is how many approvals one requester may have waiting at once.
const MaxPendingPerRequester = 32

// ErrInvalid marks a request or decision that is malformed, as opposed to one refused by
// the approval's state.
var ErrInvalid = errors.New("invalid")

// Request is what a requester asks.
type Request struct {
	SubjectType, SubjectID string
	Risk, Requester        string
	Summary, Details       string
	TTL                    time.Duration
}

// Event tells watchers what changed: "requested", "decided" or "timed_out". Every watcher
// receives the same Approval: it must not be changed.
type Event struct {
	Kind     string
	Approval *store.Approval
}

// Store is the storage approvals need: daemon/store satisfies it.
type Store interface {
	CreateApproval(a store.Approval, maxPending int) (store.Approval, error)
	DecideApproval(seq uint64, approve bool, d store.Decision) (store.Approval, error)
	ExpireApprovals(now time.Time) ([]store.Approval, error)
	Approval(seq uint64) (store.Approval, error)
}

// Engine runs the approvals.
type Engine struct {
	st  Store
	log *slog.Logger
	now func() time.Time

	mu       sync.Mutex
	watchers map[chan Event]struct{}
	grants   map[grantKey]grant
}

// grantKey names what a grant covers: one subject, for one requester.
type grantKey struct{ subjectType, subjectID, requester string }

// grant is a remembered allow: until when (zero: the session), and for which risk at most.
type grant struct {
	until time.Time
	risk  int
}

// New returns an engine over st. Run must run for approvals to time out.
func New(st Store, log *slog.Logger) *Engine {
	return &Engine{st: st, log: log, now: time.Now, watchers: map[chan Event]struct{}{}, grants: map[grantKey]grant{}}
}

// Run times out approvals as they expire, checking every second, until ctx ends. A timeout
// that cannot be written (a full disk) leaves the approval pending, to be tried again the
// next second; it never stops the engine.
func (e *Engine) Run(ctx context.Context) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			err := e.expire()
			switch {
			case err != nil && !failing:
				e.log.Error("cannot time out expired approvals; trying again every second", "err", err)
			case err == nil && failing:
				e.log.Info("expired approvals timed out again")
			}
			failing = err != nil
		}
	}
}

// expire times out what is due, and tells watchers once the timeouts are stored.
func (e *Engine) expire() error {
	expired, err := e.st.ExpireApprovals(e.now())
	for i := range expired {
		e.publish(Event{Kind: "timed_out", Approval: &expired[i]})
	}
	return err
}

// Ask records r as a pending approval, or, when a remembered grant covers its subject,
// as already approved. A requester with MaxPendingPerRequester approvals waiting is refused
// (store.ErrTooManyPending).
func (e *Engine) Ask(r Request) (store.Approval, error) {
	if err := r.check(); err != nil {
		return store.Approval{}, err
	}
	if r.TTL == 0 {
		r.TTL = DefaultTTL
	}
	now := e.now()
	a, err := e.st.CreateApproval(store.Approval{
		SubjectType: r.SubjectType, SubjectID: r.SubjectID, Risk: r.Risk, Requester: r.Requester,
		Summary: r.Summary, Details: r.Details, CreatedAt: now, ExpiresAt: now.Add(r.TTL),
	}, MaxPendingPerRequester)
	if err != nil {
		return store.Approval{}, err
	}
	e.publish(Event{Kind: "requested", Approval: &a})
	key := grantKey{r.SubjectType, r.SubjectID, r.Requester}
	if until, ok := e.granted(key, slices.Index(Risks, r.Risk), now); ok {
		d := store.Decision{Scope: Once, Decider: "grant", Reason: "allowed by an earlier decision", At: now}
		if !until.IsZero() {
			d.Reason += " until " + until.Format(time.RFC3339)
		}
		return e.settle(a.Seq, true, d)
	}
	return a, nil
}

// check refuses a request that lacks a part or exceeds a bound.
func (r Request) check() error {
	switch {
	case r.SubjectType == "" || r.SubjectID == "" || r.Requester == "" || r.Summary == "":
		return fmt.Errorf("%w: an approval request needs a subject type and id, a requester and a summary", ErrInvalid)
	case !slices.Contains(Risks, r.Risk):
		return fmt.Errorf("%w: risk %q: want one of %v", ErrInvalid, r.Risk, Risks)
	}
	for _, f := range []struct {
		name  string
		value string
		max   int
	}{
		{"subject type", r.SubjectType, 64}, {"subject", r.SubjectID, MaxSubjectID}, {"requester", r.Requester, MaxRequester},
		{"summary", r.Summary, MaxSummary}, {"details", r.Details, MaxDetails},
	} {
		if len(f.value) > f.max {
			return fmt.Errorf("%w: the %s is %d bytes; at most %d", ErrInvalid, f.name, len(f.value), f.max)
		}
	}
	return nil
}

// Decide settles approval id. approve with scope Once, Session or TimeBox (grant long);
// a denial needs a reason. Of two deciders at once, one wins; the other gets
// store.ErrAlreadyDecided and the approval as it was settled.
func (e *Engine) Decide(id string, approve bool, scope string, grant time.Duration, reason, decider string) (store.Approval, error) {
	seq, err := store.ParseApprovalID(id)
	if err != nil {
		return store.Approval{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	switch {
	case !approve && reason == "":
		return store.Approval{}, fmt.Errorf("%w: a denial needs a reason", ErrInvalid)
	case len(reason) > MaxReason:
		return store.Approval{}, fmt.Errorf("%w: the reason is %d bytes; at most %d", ErrInvalid, len(reason), MaxReason)
	case approve && scope != Once && scope != Session && scope != TimeBox:
		return store.Approval{}, fmt.Errorf("%w: scope %q: want %s, %s or %s", ErrInvalid, scope, Once, Session, TimeBox)
	case approve && scope == TimeBox && grant <= 0:
		return store.Approval{}, fmt.Errorf("%w: a time-boxed approval needs a duration", ErrInvalid)
	}
	return e.settle(seq, approve, store.Decision{Scope: scope, Grant: grant, Reason: reason, Decider: decider, At: e.now()})
}

func (e *Engine) settle(seq uint64, approve bool, d store.Decision) (store.Approval, error) {
	a, err := e.st.DecideApproval(seq, approve, d)
	switch {
	case errors.Is(err, store.ErrApprovalExpired):
		e.publish(Event{Kind: "timed_out", Approval: &a})
		return a, err
	case err != nil:
		return a, err
	}
	if a.State == store.ApprovalApproved && (a.Decision.Scope == Session || a.Decision.Scope == TimeBox) {
		var until time.Time
		if a.Decision.Scope == TimeBox {
			until = a.Decision.At.Add(a.Decision.Grant)
		}
		e.mu.Lock()
		e.grants[grantKey{a.SubjectType, a.SubjectID, a.Requester}] = grant{until: until, risk: slices.Index(Risks, a.Risk)}
		e.mu.Unlock()
	}
	e.publish(Event{Kind: "decided", Approval: &a})
	return a, nil
}

// ForgetRequester ends every grant remembered for requester: its token was revoked.
func (e *Engine) ForgetRequester(requester string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for k := range e.grants {
		if k.requester == requester {
			delete(e.grants, k)
		}
	}
}

// Wait blocks until approval id is settled (approved, denied or timed out) or ctx ends.
func (e *Engine) Wait(ctx context.Context, id string) (store.Approval, error) {
	seq, err := store.ParseApprovalID(id)
	if err != nil {
		return store.Approval{}, err
	}
	for {
		a, settled, err := e.waitOnce(ctx, seq)
		if settled || err != nil {
			return a, err
		}
	}
}

// waitOnce watches until seq is settled or the watch is dropped for falling behind
// (settled false: watch again).
func (e *Engine) waitOnce(ctx context.Context, seq uint64) (store.Approval, bool, error) {
	events, stop := e.Watch(16)
	defer stop()
	// Read after subscribing, so a decision in between is not missed.
	a, err := e.st.Approval(seq)
	if err != nil || a.State != store.ApprovalPending {
		return a, true, err
	}
	for {
		select {
		case <-ctx.Done():
			return a, true, ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return a, false, nil
			}
			if ev.Approval.Seq == seq && ev.Approval.State != store.ApprovalPending {
				return *ev.Approval, true, nil
			}
		}
	}
}

// Watch returns a channel of every change from now on and a func to stop. A watcher that
// falls more than buffer events behind has its channel closed, and should read the state
// again and watch anew.
func (e *Engine) Watch(buffer int) (<-chan Event, func()) {
	ch := make(chan Event, buffer)
	e.mu.Lock()
	e.watchers[ch] = struct{}{}
	e.mu.Unlock()
	return ch, func() {
		e.mu.Lock()
		defer e.mu.Unlock()
		if _, ok := e.watchers[ch]; ok {
			delete(e.watchers, ch)
			close(ch)
		}
	}
}

func (e *Engine) publish(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for ch := range e.watchers {
		select {
		case ch <- ev:
		default:
			delete(e.watchers, ch)
			close(ch)
		}
	}
}

// granted reports whether a remembered grant for key covers a request of risk at now, and
// until when (zero: the session). A grant never covers a riskier request than it allowed.
func (e *Engine) granted(key grantKey, risk int, now time.Time) (time.Time, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	g, ok := e.grants[key]
	if ok && !g.until.IsZero() && !now.Before(g.until) {
		delete(e.grants, key)
		return time.Time{}, false
	}
	return g.until, ok && risk <= g.risk
}
