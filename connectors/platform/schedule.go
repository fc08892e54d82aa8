package platform

import (
	"cmp"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
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
	// env is the envelope as it was queued, held while the platform's items hold little
	// text in all (maxHeldText), so that its first send needs no read; nil: read it.
	env *outbox.Envelope
}

// maxBatchCalls bounds an instance's SendBatch calls in flight. While they are out, what
// comes due waits and goes in the next call: many messages a call when many are queued, and
// no wait when few are.
const maxBatchCalls = 2

// maxHeldText bounds the text the schedule's items hold, summed over every instance.
const maxHeldText = 32 << 20

// queue is one instance's schedule. Messages of one conversation go one at a time, in
// the order they were queued (a retry holds its conversation until it is due again);
// different conversations go side by side, up to InFlight sends at once.
type queue struct {
	convs    map[string]*conversation
	heads    heads // conversations with a message waiting and none in flight
	inFlight int
	batches  int // SendBatch calls in flight
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

// insert puts an item back into its conversation, in seq order, after its send's result
// failed to be recorded.
func (q *queue) insert(it *item) {
	c := q.convs[it.conversation]
	if c == nil {
		q.add(it)
		return
	}
	i, _ := slices.BinarySearchFunc(c.items, it.seq, func(a *item, seq uint64) int { return cmp.Compare(a.seq, seq) })
	c.items = slices.Insert(c.items, i, it)
	q.queued++
	switch {
	case c.busy:
	case c.index < 0:
		heap.Push(&q.heads, c)
	default:
		heap.Fix(&q.heads, c.index)
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
		provider connectors.Provider
		items    []*item
	}
	var starts []send
	p.mu.Lock()
	for id, q := range p.queues {
		rt := p.runtime[id]
		if rt == nil || !rt.enabled || (rt.paused && !q.drain) || rt.provider == nil {
			continue
		}
		_, batches := rt.provider.(connectors.BatchSender)
		var items []*item
		for q.inFlight < p.cfg.InFlight && (!batches || q.batches < maxBatchCalls) {
			it := q.next(now)
			if it == nil {
				break
			}
			if it.env != nil {
				p.heldText -= len(it.env.Text)
			}
			items = append(items, it)
		}
		if len(items) > 0 {
			starts = append(starts, send{id, rt.provider, items})
			if batches {
				q.batches += (len(items) + connectors.MaxBatch - 1) / connectors.MaxBatch
			}
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
		p.startSends(ctx, s.instance, s.provider, s.items)
	}
	return max(wait, time.Millisecond)
}

// sending is an item on its way, with its envelope.
type sending struct {
	it  *item
	env outbox.Envelope
}

// startSends takes the items' envelopes (held by the items, else read from disk) and sends
// them: in one SendBatch (per MaxBatch) on a goroutine of its own if the provider takes
// batches, else each with Send on its own goroutine. The items are of different
// conversations (a conversation has one in flight).
func (p *Platform) startSends(ctx context.Context, instance string, provider connectors.Provider, items []*item) {
	sends := make([]sending, 0, len(items))
	var seqs []uint64
	for _, it := range items {
		if it.env != nil {
			sends = append(sends, sending{it, *it.env})
			it.env = nil // a retry reads it
			continue
		}
		seqs = append(seqs, it.seq)
	}
	var gone []*item
	if len(seqs) > 0 {
		envs, err := p.cfg.Store.Envelopes(seqs)
		if err != nil {
			p.cfg.Logger.Error("read queued messages", "instance", instance, "err", err)
			p.finished(instance, items...)
			if _, batches := provider.(connectors.BatchSender); batches {
				p.batchesDone(instance, (len(items)+connectors.MaxBatch-1)/connectors.MaxBatch)
			}
			return
		}
		j := 0
		for _, it := range items {
			if len(seqs) == 0 || it.seq != seqs[0] {
				continue // held its envelope
			}
			seqs = seqs[1:]
			// Envelopes come back in the order asked for, without the ones no longer queued.
			if j < len(envs) && envs[j].Seq == it.seq {
				sends = append(sends, sending{it, envs[j]})
				j++
				continue
			}
			gone = append(gone, it) // removed or discarded meanwhile
		}
	}
	if len(gone) > 0 {
		p.finished(instance, gone...)
	}
	bs, batches := provider.(connectors.BatchSender)
	if !batches {
		for _, s := range sends {
			p.work.Go(func() { p.deliver(ctx, instance, provider, s) })
		}
		return
	}
	calls := (len(items) + connectors.MaxBatch - 1) / connectors.MaxBatch
	for len(sends) > 0 {
		n := min(len(sends), connectors.MaxBatch)
		batch := sends[:n:n]
		sends = sends[n:]
		calls--
		p.work.Go(func() { p.deliverBatch(ctx, instance, provider, bs, batch) })
	}
	if calls > 0 { // the calls counted for envelopes no longer queued
		p.batchesDone(instance, calls)
	}
}

// batchesDone frees n of an instance's SendBatch calls.
func (p *Platform) batchesDone(instance string, n int) {
	p.mu.Lock()
	if q := p.queues[instance]; q != nil {
		q.batches -= n
	}
	p.mu.Unlock()
	p.wakeScheduler()
}

// outgoing is the send of s. Its tries are counted by the schedule's item: the envelope
// on disk may not have the last try's result yet.
func outgoing(instance string, s sending) connectors.Outgoing {
	e := s.env
	return connectors.Outgoing{
		InstanceID: instance, IdempotencyKey: e.IdempotencyKey(), ConversationID: e.ConversationID,
		ThreadID: e.ThreadID, ReplyTo: e.ReplyTo, Text: e.Text, Attempt: s.it.attempts + 1,
	}
}

// deliverBatch sends envelopes in one SendBatch and records their outcomes. A provider
// that answers ErrUnsupported gets them one by one through Send.
func (p *Platform) deliverBatch(ctx context.Context, instance string, provider connectors.Provider, bs connectors.BatchSender, sends []sending) {
	msgs := make([]connectors.Outgoing, len(sends))
	for i, s := range sends {
		msgs[i] = outgoing(instance, s)
	}
	sendCtx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	outs, err := bs.SendBatch(sendCtx, msgs)
	cancel()
	p.batchesDone(instance, 1)
	switch {
	case ctx.Err() != nil:
		// palyrad is stopping: the envelopes stay queued as they were, and are sent again
		// (idempotently) after the restart.
		p.finished(instance, items(sends)...)
		return
	case errors.Is(err, connectors.ErrUnsupported):
		for _, s := range sends {
			p.work.Go(func() { p.deliver(ctx, instance, provider, s) })
		}
		return
	case err == nil && len(outs) != len(msgs):
		err = fmt.Errorf("the connector answered %d outcomes for %d messages", len(outs), len(msgs))
	}
	if err != nil {
		outs = make([]connectors.Outcome, len(sends))
		for i := range outs {
			outs[i] = p.failedSend(err)
		}
	}
	p.record(ctx, instance, sends, outs)
}

// deliver sends one envelope with Send and records its outcome.
func (p *Platform) deliver(ctx context.Context, instance string, provider connectors.Provider, s sending) {
	sendCtx, cancel := context.WithTimeout(ctx, p.cfg.SendTimeout)
	out, err := provider.Send(sendCtx, outgoing(instance, s))
	cancel()
	if ctx.Err() != nil {
		p.finished(instance, s.it)
		return
	}
	if err != nil {
		out = p.failedSend(err)
	}
	p.record(ctx, instance, []sending{s}, []connectors.Outcome{out})
}

// failedSend is the outcome of a send that failed as a call: tried again.
func (p *Platform) failedSend(err error) connectors.Outcome {
	out := connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: err.Error()}
	if errors.Is(err, context.DeadlineExceeded) {
		out.Reason = fmt.Sprintf("the connector did not answer within %s", p.cfg.SendTimeout)
	}
	return out
}

func items(sends []sending) []*item {
	out := make([]*item, len(sends))
	for i, s := range sends {
		out[i] = s.it
	}
	return out
}

// record settles the outcomes of sends and frees their conversations. The results are
// queued for the store's next group commit, and the conversations go on without waiting
// for the disk: a conversation's next message is sent, and its result queued, after this
// one's, so it is never on disk before this one is. A crash before the commit sends the
// envelopes again with the same idempotency keys, which the contract allows. Retries and
// dead letters are logged in the same transaction.
func (p *Platform) record(ctx context.Context, instance string, sends []sending, outs []connectors.Outcome) {
	results := make([]outbox.Result, len(sends))
	for i, s := range sends {
		results[i] = p.result(s.it, s.env, outs[i])
	}
	p.work.Add(1)
	err := p.cfg.Store.SettleAsync(ctx, results, func(err error) {
		defer p.work.Done()
		p.settled(instance, sends, results, err)
	})
	if err != nil {
		p.work.Done()
		if ctx.Err() == nil {
			p.cfg.Logger.Error("record a send's outcome", "instance", instance, "messages", len(sends), "err", err)
		}
		// Not recorded: the envelopes stay queued as they were and go again.
		p.mu.Lock()
		q := p.queues[instance]
		for _, s := range sends {
			if q != nil {
				s.it.nextAt = p.now().Add(p.cfg.BackoffBase)
				q.done(s.it, ctx.Err() == nil)
			}
		}
		p.notifyLocked()
		p.mu.Unlock()
		p.wakeScheduler()
		return
	}
	p.mu.Lock()
	q, rt := p.queues[instance], p.runtime[instance]
	for i, s := range sends {
		again := results[i].Kind == outbox.ResultRetry
		if again {
			s.it.attempts, s.it.nextAt = results[i].Attempts, results[i].NextAt
		}
		if q != nil {
			q.done(s.it, again)
		}
		if rt != nil {
			observeLocked(rt, results[i], outs[i])
		}
	}
	p.notifyLocked()
	p.mu.Unlock()
	p.wakeScheduler()
}

// settled is called on the store's writer once results are on disk, or failed to get
// there. A delivery or dead letter that is not on disk leaves its envelope queued there:
// it is scheduled again, so that it is sent again (the provider knows it by its key) and its
// result recorded.
func (p *Platform) settled(instance string, sends []sending, results []outbox.Result, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	defer p.notifyLocked()
	if err == nil || errors.Is(err, outbox.ErrClosed) || (p.runCtx != nil && p.runCtx.Err() != nil) {
		return
	}
	p.cfg.Logger.Error("record a send's outcome", "instance", instance, "messages", len(sends), "err", err)
	q := p.queues[instance]
	if q == nil {
		return
	}
	for i, s := range sends {
		if results[i].Kind != outbox.ResultRetry {
			s.it.nextAt = p.now().Add(p.cfg.BackoffBase)
			q.insert(s.it)
		}
	}
	select {
	case p.wake <- struct{}{}:
	default:
	}
}

// result turns a provider's outcome into the store's result under the retry policy: the
// provider's retry-after, else BackoffBase doubling per try up to BackoffMax; after
// MaxAttempts tries a dead letter.
func (p *Platform) result(it *item, e outbox.Envelope, out connectors.Outcome) outbox.Result {
	attempts := it.attempts + 1
	res := outbox.Result{Seq: it.seq, Instance: e.Instance, ID: e.ID, Attempts: attempts, Reason: out.Reason}
	switch out.Kind {
	case connectors.Delivered:
		res.Kind, res.NativeID = outbox.ResultDelivered, out.NativeID
		return res
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
		res.Log = &outbox.Event{Kind: "delivery.retry", Level: "warn", Message: fmt.Sprintf("message %s, try %d: %s; next at %s", e.ID, res.Attempts, res.Reason, res.NextAt.Format("15:04:05.000"))}
		return res
	default:
		res.Kind = outbox.ResultDead
		if res.Reason == "" {
			res.Reason = "the connector refused the message"
		}
	}
	res.Log = &outbox.Event{Kind: "delivery.dead_letter", Level: "error", Message: fmt.Sprintf("message %s: %s", e.ID, res.Reason)}
	return res
}

// finished frees the items' conversations, the items no longer in the schedule: their
// envelopes stay on disk as they were.
func (p *Platform) finished(instance string, items ...*item) {
	p.mu.Lock()
	if q := p.queues[instance]; q != nil {
		for _, it := range items {
			q.done(it, false)
		}
	}
	p.mu.Unlock()
	p.poke()
}

// poke wakes the scheduler and the watchers of Changed.
func (p *Platform) poke() {
	p.mu.Lock()
	p.notifyLocked()
	p.mu.Unlock()
	p.wakeScheduler()
}

func (p *Platform) wakeScheduler() {
	select {
	case p.wake <- struct{}{}:
	default:
	}
}
