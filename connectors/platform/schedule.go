package platform

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
)

// item is a queued envelope as the scheduler holds it: enough to decide when and in what
// order to send it, not its text (that stays on disk until the send).
type item struct {
	seq          uint64
	conversation string
	attempts     int
	nextAt       time.Time
}

// queue is one instance's schedule. Messages of one conversation go one at a time, in
// the order they were queued (a retry holds its conversation until it is due again);
// different conversations go side by side, up to InFlight sends at once.
type queue struct {
	convs    map[string]*conversation
	heads    heads // conversations with a message waiting and none in flight
	inFlight int
	queued   int
	drain    bool // send what is due although paused, until the queue is empty
}

type conversation struct {
	id    string
	items []*item // by seq
	busy  bool
	index int // in heads, or -1
}

func newQueue() *queue { return &queue{convs: map[string]*conversation{}} }

// add queues an item behind its conversation's others.
func (q *queue) add(it *item) {
	c := q.convs[it.conversation]
	if c == nil {
		c = &conversation{id: it.conversation, index: -1}
		q.convs[it.conversation] = c
	}
	c.items = append(c.items, it)
	q.queued++
	if !c.busy && c.index < 0 {
		heap.Push(&q.heads, c)
	}
}

// next takes the next item to send now, or nil.
func (q *queue) next(now time.Time) *item {
	if q.heads.Len() == 0 || q.heads[0].items[0].nextAt.After(now) {
		return nil
	}
	c := heap.Pop(&q.heads).(*conversation)
	it := c.items[0]
	c.items = c.items[1:]
	c.busy = true
	q.inFlight++
	q.queued--
	return it
}

// done ends the item's send; again puts it back at the head of its conversation.
func (q *queue) done(it *item, again bool) {
	c := q.convs[it.conversation]
	q.inFlight--
	if c == nil {
		return
	}
	c.busy = false
	if again {
		c.items = append([]*item{it}, c.items...)
		q.queued++
	}
	switch {
	case len(c.items) > 0:
		heap.Push(&q.heads, c)
	default:
		delete(q.convs, c.id)
	}
}

// nextDue is when the earliest waiting item is due (zero: none waits).
func (q *queue) nextDue() time.Time {
	if q.heads.Len() == 0 {
		return time.Time{}
	}
	return q.heads[0].items[0].nextAt
}

// heads orders conversations by their first item: when it is due, then its seq.
type heads []*conversation

func (h heads) Len() int { return len(h) }
func (h heads) Less(i, j int) bool {
	a, b := h[i].items[0], h[j].items[0]
	if !a.nextAt.Equal(b.nextAt) {
		return a.nextAt.Before(b.nextAt)
	}
	return a.seq < b.seq
}
func (h heads) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *heads) Push(x any) {
	c := x.(*conversation)
	c.index = len(*h)
	*h = append(*h, c)
}
func (h *heads) Pop() any {
	old := *h
	c := old[len(old)-1]
	c.index = -1
	*h = old[:len(old)-1]
	return c
}

// schedule runs until ctx is done: it starts every send that is due, and sleeps until the
// next one is due or something changes.
func (p *Platform) schedule(ctx context.Context) {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		wait := p.dispatchDue(ctx)
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-p.wake:
		case <-timer.C:
		}
	}
}

// dispatchDue starts the sends that are due and returns how long until the next is due.
func (p *Platform) dispatchDue(ctx context.Context) time.Duration {
	now := p.now()
	wait := time.Hour
	type send struct {
		instance string
		items    []*item
	}
	var starts []send
	p.mu.Lock()
	for id, q := range p.queues {
		rt := p.runtime[id]
		if rt == nil || !rt.enabled || (rt.paused && !q.drain) || rt.provider == nil {
			continue
		}
		var items []*item
		for q.inFlight < p.cfg.InFlight {
			it := q.next(now)
			if it == nil {
				break
			}
			items = append(items, it)
		}
		if len(items) > 0 {
			starts = append(starts, send{id, items})
		}
		if at := q.nextDue(); !at.IsZero() && q.inFlight < p.cfg.InFlight {
			if d := at.Sub(now); d > 0 && d < wait {
				wait = d
			}
		}
		if q.drain && q.queued == 0 && q.inFlight == 0 {
			q.drain = false
		}
	}
	p.mu.Unlock()
	for _, s := range starts {
		p.startSends(ctx, s.instance, s.items)
	}
	return max(wait, time.Millisecond)
}

// startSends reads the items' envelopes from disk and sends each on its own goroutine.
func (p *Platform) startSends(ctx context.Context, instance string, items []*item) {
	seqs := make([]uint64, len(items))
	for i, it := range items {
		seqs[i] = it.seq
	}
	envs, err := p.cfg.Store.Envelopes(seqs)
	if err != nil {
		p.cfg.Logger.Error("read queued messages", "instance", instance, "err", err)
		for _, it := range items {
			p.finished(instance, it, false)
		}
		return
	}
	bySeq := make(map[uint64]outbox.Envelope, len(envs))
	for _, e := range envs {
		bySeq[e.Seq] = e
	}
	for _, it := range items {
		e, ok := bySeq[it.seq]
		if !ok { // removed or discarded meanwhile
			p.finished(instance, it, false)
			continue
		}
		p.work.Go(func() { p.deliver(ctx, instance, it, e) })
	}
}

// deliver sends one envelope, settles its result on disk and frees its conversation.
func (p *Platform) deliver(ctx context.Context, instance string, it *item, e outbox.Envelope) {
	p.mu.Lock()
	rt := p.runtime[instance]
	p.mu.Unlock()
	sendCtx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	out, err := rt.provider.Send(sendCtx, connectors.Outgoing{
		InstanceID: instance, IdempotencyKey: e.IdempotencyKey(), ConversationID: e.ConversationID,
		ThreadID: e.ThreadID, ReplyTo: e.ReplyTo, Text: e.Text, Attempt: e.Attempts + 1,
	})
	cancel()
	if ctx.Err() != nil {
		// palyrad is stopping: the envelope stays queued as it was, and is sent again
		// (idempotently) after the restart.
		p.finished(instance, it, false)
		return
	}
	if err != nil {
		out = connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: err.Error()}
		if errors.Is(err, context.DeadlineExceeded) {
			out.Reason = fmt.Sprintf("the connector did not answer within %s", p.cfg.SendTimeout)
		}
	}
	res := p.result(it, e, out)
	if err := p.cfg.Store.Settle(ctx, []outbox.Result{res}); err != nil {
		p.cfg.Logger.Error("record a send's outcome", "instance", instance, "seq", it.seq, "err", err)
		// Not recorded: the envelope stays queued as it was and goes again.
		it.nextAt = p.now().Add(p.cfg.BackoffBase)
		p.finished(instance, it, true)
		return
	}
	p.observe(instance, e, res, out)
	if res.Kind == outbox.ResultRetry {
		it.attempts, it.nextAt = res.Attempts, res.NextAt
		p.finished(instance, it, true)
		return
	}
	p.finished(instance, it, false)
}

// result turns a provider's outcome into the store's result under the retry policy: the
// provider's retry-after, else BackoffBase doubling per try up to BackoffMax; after
// MaxAttempts tries a dead letter.
func (p *Platform) result(it *item, e outbox.Envelope, out connectors.Outcome) outbox.Result {
	attempts := e.Attempts + 1
	res := outbox.Result{Seq: it.seq, Instance: e.Instance, Attempts: attempts, Reason: out.Reason}
	switch out.Kind {
	case connectors.Delivered:
		res.Kind, res.NativeID = outbox.ResultDelivered, out.NativeID
	case connectors.Retry:
		if attempts >= p.cfg.MaxAttempts {
			res.Kind = outbox.ResultDead
			res.Reason = fmt.Sprintf("gave up after %d tries: %s", attempts, out.Reason)
			break
		}
		delay := out.RetryAfter
		if delay <= 0 {
			delay = p.cfg.BackoffBase << min(attempts-1, 16)
		}
		res.Kind, res.NextAt = outbox.ResultRetry, p.now().Add(min(delay, p.cfg.BackoffMax))
		res.Reason = string(out.Class) + ": " + out.Reason
	default:
		res.Kind = outbox.ResultDead
		if res.Reason == "" {
			res.Reason = "the connector refused the message"
		}
	}
	return res
}

// finished frees the item's conversation and, with again set, puts it back in the schedule.
func (p *Platform) finished(instance string, it *item, again bool) {
	p.mu.Lock()
	if q := p.queues[instance]; q != nil {
		q.done(it, again)
	}
	p.mu.Unlock()
	p.poke()
}

// poke wakes the scheduler and the watchers of Changed.
func (p *Platform) poke() {
	p.mu.Lock()
	p.notifyLocked()
	p.mu.Unlock()
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
