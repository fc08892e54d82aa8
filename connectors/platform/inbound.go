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
// inbound messages go through dedupe into the inbox.
func (p *Platform) readEvents(ctx context.Context, plug Plugin) {
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
			switch e.Kind {
			case connectors.EventStatus:
				p.mu.Lock()
				if rt := p.runtime[e.InstanceID]; rt != nil {
					rt.status = e.Status
				}
				p.mu.Unlock()
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

// Converse serves the attached agent until ctx is done: every inbound message, held ones
// first and oldest first, goes to deliver, and leaves the inbox once deliver returned nil.
// One agent is attached at a time. A deliver that blocks (an agent that never reads) holds
// only itself: messages wait in the inbox, bounded, for it or the next agent.
func (p *Platform) Converse(ctx context.Context, deliver func(outbox.InboxMessage) error) error {
	p.mu.Lock()
	if p.agent {
		p.mu.Unlock()
		return ErrAgentAttached
	}
	p.agent = true
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.agent = false
		p.mu.Unlock()
	}()
	for {
		p.mu.Lock()
		changed := p.inbound
		p.mu.Unlock()
		if err := p.deliverInbox(ctx, deliver); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
	}
}

func (p *Platform) deliverInbox(ctx context.Context, deliver func(outbox.InboxMessage) error) error {
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		return err
	}
	for _, in := range insts {
		for {
			held, _, err := p.cfg.Store.Inbox(in.ID, 0, outbox.MaxInbox)
			if err != nil {
				return err
			}
			if len(held) == 0 {
				break
			}
			for i := len(held) - 1; i >= 0; i-- { // oldest first
				if err := deliver(held[i]); err != nil {
					return err
				}
				if err := p.cfg.Store.TakeInbox(ctx, in.ID, []uint64{held[i].Seq}); err != nil {
					return err
				}
			}
		}
	}
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
		p.event(id, "message."+string(m.Kind)+".refused", "warn", err.Error())
		return connectors.MutationResult{}, err
	}
	res, err := rt.provider.Mutate(ctx, m)
	if err == nil {
		p.event(id, "message."+string(m.Kind), "info", fmt.Sprintf("message %s in %s: done %v %s", m.MessageID, m.ConversationID, res.Done, res.Reason))
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
