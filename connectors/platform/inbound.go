package platform

import (
	"context"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/internal/textsafe"
)

// readEvents takes a plugin's events until ctx is done: status changes update the instance,
// inbound messages go through dedupe into the inbox. A plugin speaks only for the instances
// it runs: an event about another kind's connector (an external plugin's code is not
// palyrad's) is dropped.
func (p *Platform) readEvents(ctx context.Context, kind string, plug Plugin) {
	events, err := plug.Events(ctx)
	if err != nil {
		p.cfg.Logger.Error("connector events", "err", err)
		return
	}
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-events:
			if !ok {
				return
			}
			p.mu.Lock()
			rt := p.runtime[e.InstanceID]
			ours := rt != nil && rt.kind == kind && rt.provider == plug
			if ours && e.Kind == connectors.EventStatus {
				rt.status = e.Status
			}
			p.mu.Unlock()
			if !ours {
				p.cfg.Logger.Warn("connector event for an instance its plugin does not run; dropped", "plugin", kind, "instance", e.InstanceID)
				continue
			}
			switch e.Kind {
			case connectors.EventStatus:
				p.poke()
			case connectors.EventInbound:
				if _, err := p.receive(ctx, e.InstanceID, e.Inbound); err != nil {
					p.cfg.Logger.Warn("inbound message refused", "instance", e.InstanceID, "err", err)
				}
			}
		}
	}
}

// receive checks an inbound message, drops it if seen before, and keeps it in the inbox for
// the agent. It reports whether the message was a duplicate.
func (p *Platform) receive(ctx context.Context, id string, m connectors.Inbound) (dup bool, err error) {
	p.mu.Lock()
	rt := p.runtime[id]
	p.mu.Unlock()
	switch {
	case rt == nil:
		return false, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	case !rt.enabled:
		return false, fmt.Errorf("connector %s: %w", id, ErrDisabled)
	}
	if err := checkInbound(&m); err != nil {
		return false, err
	}
	if m.ReceivedAt.IsZero() {
		m.ReceivedAt = p.now()
	}
	dup, _, err = p.cfg.Store.Inbound(ctx, id, m, true)
	if err != nil || dup {
		return dup, err
	}
	p.mu.Lock()
	close(p.inbound)
	p.inbound = make(chan struct{})
	p.notifyLocked()
	p.mu.Unlock()
	return false, nil
}

// checkInbound bounds an inbound message's fields and cleans the ones shown as text.
func checkInbound(m *connectors.Inbound) error {
	switch {
	case m.EnvelopeID == "" || len(m.EnvelopeID) > connectors.MaxIDBytes:
		return fmt.Errorf("%w: inbound envelope id of %d bytes", ErrInvalid, len(m.EnvelopeID))
	case m.ConversationID == "" || len(m.ConversationID) > connectors.MaxTargetBytes:
		return fmt.Errorf("%w: inbound conversation id of %d bytes", ErrInvalid, len(m.ConversationID))
	case m.SenderID == "" || len(m.SenderID) > connectors.MaxTargetBytes:
		return fmt.Errorf("%w: inbound sender id of %d bytes", ErrInvalid, len(m.SenderID))
	case len(m.ThreadID) > connectors.MaxTargetBytes || len(m.NativeID) > connectors.MaxTargetBytes:
		return fmt.Errorf("%w: inbound thread or message id over %d bytes", ErrInvalid, connectors.MaxTargetBytes)
	case strings.TrimSpace(m.Text) == "":
		return fmt.Errorf("%w: inbound message without text", ErrInvalid)
	case len(m.Text) > connectors.MaxTextBytes:
		return fmt.Errorf("%w: inbound message of %d bytes; the limit is %d KiB", ErrInvalid, len(m.Text), connectors.MaxTextBytes>>10)
	case !utf8.ValidString(m.Text):
		return fmt.Errorf("%w: inbound message is not UTF-8", ErrInvalid)
	}
	m.SenderDisplay = textsafe.Clean(m.SenderDisplay)
	if len(m.SenderDisplay) > connectors.MaxDisplayNameBytes {
		m.SenderDisplay = m.SenderDisplay[:connectors.MaxDisplayNameBytes]
	}
	return nil
}

// Inject puts a synthetic inbound message through the same path a provider's would take:
// `channels test`.
func (p *Platform) Inject(ctx context.Context, id string, m connectors.Inbound) (dup bool, err error) {
	if m.EnvelopeID == "" {
		m.EnvelopeID = newEnvelopeID()
	}
	if m.SenderID == "" {
		m.SenderID = "operator"
	}
	if m.ConversationID == "" {
		m.ConversationID = "test"
	}
	return p.receive(ctx, id, m)
}

// Inbox pages the inbound messages waiting for an agent, newest first.
func (p *Platform) Inbox(id string, before uint64, limit int) ([]outbox.InboxMessage, uint64, error) {
	return p.cfg.Store.Inbox(id, before, limit)
}

// AgentWindow is how many inbound messages an agent may hold unacknowledged; past it,
// the rest wait in the inbox until it acknowledges.
const AgentWindow = 64

// Converse serves the attached agent until ctx is done: every inbound message, held ones
// first and oldest first per connector, goes to deliver, at most AgentWindow of them not yet
// acknowledged with Ack. A message leaves the inbox only when acknowledged, so what an agent
// took but did not acknowledge before it went away goes to the next agent. One agent is
// attached at a time; deliver must not block for long (the caller bounds it).
func (p *Platform) Converse(ctx context.Context, deliver func(outbox.InboxMessage) error) error {
	p.mu.Lock()
	if p.agent {
		p.mu.Unlock()
		return ErrAgentAttached
	}
	p.agent = true
	p.acks = make(chan struct{}, 1)
	p.unacked = map[inboxKey]bool{}
	p.notifyLocked()
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.agent, p.unacked = false, nil
		p.notifyLocked()
		p.mu.Unlock()
	}()
	for {
		p.mu.Lock()
		changed, acks := p.inbound, p.acks
		p.mu.Unlock()
		if err := p.deliverInbox(deliver); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-acks:
		}
	}
}

type inboxKey struct {
	instance string
	seq      uint64
}

// deliverInbox hands the agent what it has not been given yet, oldest first, within the
// window.
func (p *Platform) deliverInbox(deliver func(outbox.InboxMessage) error) error {
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		return err
	}
	for _, in := range insts {
		if in.Inbox == 0 {
			continue
		}
		held, _, err := p.cfg.Store.Inbox(in.ID, 0, outbox.MaxInbox)
		if err != nil {
			return err
		}
		for i := len(held) - 1; i >= 0; i-- { // oldest first
			key := inboxKey{in.ID, held[i].Seq}
			p.mu.Lock()
			given, full := p.unacked[key], len(p.unacked) >= AgentWindow
			if !given && !full {
				p.unacked[key] = true
			}
			p.mu.Unlock()
			if full {
				return nil
			}
			if given {
				continue
			}
			if err := deliver(held[i]); err != nil {
				return err
			}
		}
	}
	return nil
}

// Ack takes an inbound message the agent has out of the inbox.
func (p *Platform) Ack(ctx context.Context, instance string, seq uint64) error {
	if err := p.cfg.Store.TakeInbox(ctx, instance, []uint64{seq}); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.unacked, inboxKey{instance, seq})
	if p.acks != nil {
		select {
		case p.acks <- struct{}{}:
		default:
		}
	}
	p.notifyLocked()
	p.mu.Unlock()
	return nil
}

// Governance decides whether a mutation of a channel message may run: it returns nil to
// allow it (after asking the operator, if the rule says so) or an error saying why not.
type Governance func(ctx context.Context, id string, m connectors.Mutation, target connectors.Message) error

// Mutate edits, deletes or reacts to a message through an instance, once gov allows it.
func (p *Platform) Mutate(ctx context.Context, id string, m connectors.Mutation, gov Governance) (connectors.MutationResult, error) {
	p.mu.Lock()
	rt := p.runtime[id]
	p.mu.Unlock()
	if rt == nil || rt.provider == nil {
		return connectors.MutationResult{}, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	m.InstanceID = id
	msgs, err := rt.provider.Read(ctx, connectors.ReadRequest{InstanceID: id, ConversationID: m.ConversationID, MessageID: m.MessageID, Limit: 1})
	if err != nil {
		return connectors.MutationResult{}, err
	}
	if len(msgs) == 0 {
		return connectors.MutationResult{Reason: "no such message"}, nil
	}
	if err := gov(ctx, id, m, msgs[0]); err != nil {
		p.event(id, "message."+string(m.Kind)+".governed", "warn", err.Error())
		return connectors.MutationResult{}, err
	}
	res, err := rt.provider.Mutate(ctx, m)
	switch {
	case err != nil:
		p.event(id, "message."+string(m.Kind), "error", fmt.Sprintf("message %s in %s: %v", m.MessageID, m.ConversationID, err))
	case res.Done:
		p.event(id, "message."+string(m.Kind), "info", fmt.Sprintf("message %s in %s: done", m.MessageID, m.ConversationID))
	default:
		p.event(id, "message."+string(m.Kind), "warn", fmt.Sprintf("message %s in %s: refused: %s", m.MessageID, m.ConversationID, res.Reason))
	}
	return res, err
}

// Read reads messages through an instance.
func (p *Platform) Read(ctx context.Context, id string, r connectors.ReadRequest) ([]connectors.Message, error) {
	p.mu.Lock()
	rt := p.runtime[id]
	p.mu.Unlock()
	if rt == nil || rt.provider == nil {
		return nil, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	r.InstanceID = id
	r.Limit = min(max(r.Limit, 1), connectors.MaxReadLimit)
	return rt.provider.Read(ctx, r)
}

// EditWindow is how old a message may be for an edit to run without an approval.
const EditWindow = 15 * time.Minute

// NeedsApproval is the governance rule: a delete always needs the operator's approval, and
// so does an edit of a message older than EditWindow or not sent by the connector.
func NeedsApproval(m connectors.Mutation, target connectors.Message, now time.Time) (bool, string) {
	switch m.Kind {
	case connectors.Delete:
		return true, "deleting a channel message"
	case connectors.Edit:
		if !target.ByConnector {
			return true, "editing a message the connector did not send"
		}
		if now.Sub(target.CreatedAt) > EditWindow {
			return true, fmt.Sprintf("editing a message older than %s", EditWindow)
		}
	}
	return false, ""
}
