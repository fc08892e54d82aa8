package platform

import (
	"container/heap"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/outbox"
)

// View is an instance as the operator sees it.
type View struct {
	outbox.Instance
	Readiness connectors.Readiness
	Detail    string
	Facts     map[string]string
	Plugin    host.Facts
	InFlight  int
}

// Get returns one instance's view.
func (p *Platform) Get(id string) (View, error) {
	in, err := p.cfg.Store.GetInstance(id)
	if err != nil {
		return View{}, err
	}
	p.refreshFacts(id)
	return p.view(in), nil
}

// refreshFacts asks a running instance's provider for its facts, which only it keeps
// current. Readiness stays as the platform saw it: a provider may think itself ready while
// its sends are refused.
func (p *Platform) refreshFacts(id string) {
	p.mu.Lock()
	rt := p.runtime[id]
	var provider connectors.Provider
	if rt != nil && rt.enabled && rt.status.Readiness != connectors.Starting {
		provider = rt.provider
	}
	p.mu.Unlock()
	if provider == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), factsTimeout)
	defer cancel()
	st, err := provider.Status(ctx, id)
	if err != nil {
		return
	}
	p.mu.Lock()
	if p.runtime[id] == rt {
		rt.status.Facts = st.Facts
	}
	p.mu.Unlock()
}

// factsTimeout bounds how long a Get waits for a provider's facts.
const factsTimeout = time.Second

// List returns every instance's view, by id.
func (p *Platform) List() ([]View, error) {
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		return nil, err
	}
	out := make([]View, len(insts))
	for i, in := range insts {
		out[i] = p.view(in)
	}
	return out, nil
}

func (p *Platform) view(in outbox.Instance) View {
	v := View{Instance: in}
	p.mu.Lock()
	rt, q := p.runtime[in.ID], p.queues[in.ID]
	if rt != nil {
		v.Readiness, v.Detail, v.Facts = rt.status.Readiness, rt.status.Detail, rt.status.Facts
	}
	if q != nil {
		v.InFlight = q.inFlight
	}
	p.mu.Unlock()
	if plug := p.plugin(in.Kind); plug != nil {
		v.Plugin = plug.Facts()
	}
	return v
}

// observeLocked records what a send's outcome says of its instance; p.mu is held.
func observeLocked(rt *runtime, res outbox.Result, out connectors.Outcome) {
	switch {
	case out.Readiness != "":
		rt.status.Readiness, rt.status.Detail = out.Readiness, out.Reason
	case res.Kind == outbox.ResultDelivered && rt.status.Readiness != connectors.Ready:
		rt.status.Readiness, rt.status.Detail = connectors.Ready, ""
	}
}

// DeadLetters pages an instance's dead letters, newest first.
func (p *Platform) DeadLetters(id string, before uint64, limit int) ([]outbox.DeadLetter, uint64, error) {
	return p.cfg.Store.DeadLetters(id, before, limit)
}

// Replay queues a dead letter again.
func (p *Platform) Replay(ctx context.Context, id string, seq uint64) error {
	e, err := p.cfg.Store.Replay(ctx, id, seq)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.queueFor(id).add(&item{seq: e.Seq, conversation: e.ConversationID, nextAt: e.NextAt})
	p.mu.Unlock()
	p.event(id, "dead_letter.replayed", "info", fmt.Sprintf("message %s queued again", e.ID))
	p.poke()
	return nil
}

// Discard deletes a dead letter.
func (p *Platform) Discard(ctx context.Context, id string, seq uint64) error {
	if err := p.cfg.Store.Discard(ctx, id, seq); err != nil {
		return err
	}
	p.event(id, "dead_letter.discarded", "info", fmt.Sprintf("dead letter %d discarded", seq))
	return nil
}

// Events pages an instance's event log, newest first.
func (p *Platform) Events(id string, before uint64, limit int) ([]outbox.Event, uint64, error) {
	return p.cfg.Store.Events(id, before, limit)
}

// fix restores the heap after items' due times changed.
func (h *heads) fix() { heap.Init(h) }

// lastEnvelopeTime keeps the ids newEnvelopeID makes in the order it makes them.
var lastEnvelopeTime atomic.Int64

// newEnvelopeID returns an id that sorts after every id it returned before (and, the clock
// permitting, after those of earlier runs): the time in nanoseconds, made strictly
// increasing, then random bits. Ids in order put each new key of connectors.db's dedupe
// index next to the last, so a commit of many messages rewrites a few pages of the index,
// not one page per message.
func newEnvelopeID() string {
	now := time.Now().UnixNano()
	for {
		last := lastEnvelopeTime.Load()
		if now <= last {
			now = last + 1
		}
		if lastEnvelopeTime.CompareAndSwap(last, now) {
			break
		}
	}
	var b [12]byte
	binary.BigEndian.PutUint64(b[:8], uint64(now))
	_, _ = rand.Read(b[8:])
	return "m-" + hex.EncodeToString(b[:])
}
