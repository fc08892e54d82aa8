// Package channelgov holds back the channel message changes the operator must allow: a
// delete, or an edit of an old message or of someone else's, becomes a channel_mutation
// approval, and the change runs once that approval is allowed. The approval itself carries
// the change (in its details), so a change held before palyrad restarted still runs when it
// is allowed afterwards; only palyrad creates approvals of that subject.
package channelgov

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/store"
)

// HeldError says a change waits for the operator's approval.
type HeldError struct{ ApprovalID string }

func (e *HeldError) Error() string {
	return "held for the operator's approval " + e.ApprovalID + "; it runs once allowed"
}

// Governor decides channel message changes. Start it with Run.
type Governor struct {
	approvals *approvals.Engine
	platform  *platform.Platform
	log       *slog.Logger
	now       func() time.Time
}

// New returns a governor over the approvals engine and the connector platform.
func New(a *approvals.Engine, p *platform.Platform, log *slog.Logger) *Governor {
	return &Governor{approvals: a, platform: p, log: log, now: time.Now}
}

// change is what a held approval carries: enough to run the change later.
type change struct {
	Connector    string `json:"connector"`
	Kind         string `json:"kind"`
	Conversation string `json:"conversation"`
	Message      string `json:"message"`
	Text         string `json:"text,omitempty"`
	Emoji        string `json:"emoji,omitempty"`
	// What the message was when the change was asked, for the operator.
	Author  string `json:"author"`
	Excerpt string `json:"excerpt"`
}

const excerptRunes = 200

// Mutate runs m through connector id: at once if the rule lets it, else it asks the
// operator and returns a *HeldError.
func (g *Governor) Mutate(ctx context.Context, id string, m connectors.Mutation, requester string) (connectors.MutationResult, error) {
	return g.platform.Mutate(ctx, id, m, func(_ context.Context, id string, m connectors.Mutation, target connectors.Message) error {
		needs, why := platform.NeedsApproval(m, target, g.now())
		if !needs {
			return nil
		}
		return g.hold(id, m, target, why, requester)
	})
}

func (g *Governor) hold(id string, m connectors.Mutation, target connectors.Message, why, requester string) error {
	c := change{
		Connector: id, Kind: string(m.Kind), Conversation: m.ConversationID, Message: m.MessageID,
		Text: m.Text, Emoji: m.Emoji, Author: target.SenderID, Excerpt: excerpt(target.Text),
	}
	details, err := json.Marshal(c)
	if err != nil {
		return err
	}
	risk := "medium"
	if m.Kind == connectors.Delete {
		risk = "high"
	}
	subject := id + "/" + m.ConversationID + "/" + m.MessageID
	if len(subject) > approvals.MaxSubjectID {
		subject = subject[:approvals.MaxSubjectID]
	}
	a, err := g.approvals.Ask(approvals.Request{
		SubjectType: approvals.ChannelMutation, SubjectID: subject, Risk: risk, Requester: requester,
		Summary: fmt.Sprintf("%s: %s %s in %s on %s (%q)", why, m.Kind, m.MessageID, m.ConversationID, id, c.Excerpt),
		Details: string(details),
	})
	if err != nil {
		return err
	}
	if a.State == store.ApprovalApproved { // an earlier grant covers it: run now
		return nil
	}
	return &HeldError{ApprovalID: a.ID()}
}

func excerpt(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > excerptRunes {
		return string(r[:excerptRunes]) + "…"
	}
	return s
}

// Run carries out held changes as their approvals are allowed, until ctx is done.
func (g *Governor) Run(ctx context.Context) error {
	for {
		events, stop := g.approvals.Watch(256)
		if err := g.follow(ctx, events); err != nil {
			stop()
			return nil
		}
		stop()
	}
}

// follow runs the approved changes it hears of; it returns nil when the watch was dropped
// for falling behind (watch again) and ctx's error when ctx is done.
func (g *Governor) follow(ctx context.Context, events <-chan approvals.Event) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-events:
			if !ok {
				return nil
			}
			a := ev.Approval
			if ev.Kind == "decided" && a.SubjectType == approvals.ChannelMutation && a.State == store.ApprovalApproved && a.Decision.Decider != "grant" {
				go g.run(*a)
			}
		}
	}
}

// run carries out the change an allowed approval holds.
func (g *Governor) run(a store.Approval) {
	var c change
	if err := json.Unmarshal([]byte(a.Details), &c); err != nil {
		g.log.Error("a channel change approval holds no change", "approval", a.ID(), "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	m := connectors.Mutation{Kind: connectors.MutationKind(c.Kind), ConversationID: c.Conversation, MessageID: c.Message, Text: c.Text, Emoji: c.Emoji}
	res, err := g.platform.Mutate(ctx, c.Connector, m, func(context.Context, string, connectors.Mutation, connectors.Message) error { return nil })
	if err != nil && !errors.Is(err, context.Canceled) {
		g.log.Warn("an allowed channel change failed", "approval", a.ID(), "connector", c.Connector, "err", err)
		return
	}
	g.log.Info("an allowed channel change ran", "approval", a.ID(), "connector", c.Connector, "kind", c.Kind, "done", res.Done, "reason", res.Reason)
}
