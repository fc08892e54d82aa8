// Package echo is the Echo connector: a provider with no outside service, for trying the
// connector path end to end. It delivers every message to an in-memory conversation (which
// Read, Mutate and the operator see), can reflect each message back as an inbound one, and
// takes markers in the text that make a send fail the way real providers fail:
//
//	[rate-limit-once]  the first try is rate limited (retry after 10 ms)
//	[rate-limit-always] every try is rate limited
//	[restart-once]     the first try says the connector is restarting
//	[nack]             the send fails for good
//	[hang]             the send blocks until the caller gives up (in a batch: the batch)
//
// Sends are idempotent by key: a message sent again returns the first delivery's id. With
// the ledger setting the delivered keys are also appended to a file and read back at start,
// so the guarantee holds across a killed plugin process (the benchmarks count on it). Echo
// implements SendBatch: palyrad sends it many messages in one call.
package echo

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palyra/palyra/connectors"
)

// Kind is Echo's connector kind.
const Kind = "echo"

const keptPerConversation = 1000

var fields = []connectors.ConfigField{
	{Name: "reflect", Label: "Reflect", Type: connectors.FieldBool, Default: "false",
		Help: "send each message back as an inbound message from echo (answers to it are not reflected)"},
	{Name: "ledger", Label: "Ledger file", Type: connectors.FieldString,
		Help: "an absolute path: every delivered message's key is appended there and read back at start"},
}

// Provider is the Echo provider. The zero value is not usable: call New.
type Provider struct {
	version string
	now     func() time.Time

	mu        sync.Mutex
	instances map[string]*instance
	events    chan connectors.Event
	seq       int
}

type instance struct {
	reflect    bool
	ledgerPath string
	ledger     *os.File
	delivered  map[string]string                // idempotency key → native id
	failed     map[string]bool                  // keys whose once-marker already fired
	messages   map[string][]*connectors.Message // conversation → messages, oldest first
}

// New returns an Echo provider.
func New(version string) *Provider {
	return &Provider{version: version, now: time.Now, instances: map[string]*instance{}, events: make(chan connectors.Event, 512)}
}

func (p *Provider) Describe(context.Context) (connectors.Description, error) {
	return connectors.Description{
		Kind: Kind, Version: p.version, Availability: connectors.InternalTestOnly,
		Capabilities: []connectors.Capability{connectors.CapInbound, connectors.CapEdit, connectors.CapDelete, connectors.CapReact, connectors.CapRead},
		MaxTextRunes: 2000, Config: fields,
	}, nil
}

func (p *Provider) Validate(_ context.Context, config map[string]string) error {
	if err := connectors.CheckConfig(fields, config); err != nil {
		return err
	}
	if l := config["ledger"]; l != "" && !filepath.IsAbs(l) {
		return &connectors.ConfigError{Fields: []connectors.FieldError{{Field: "ledger", Message: "must be an absolute path"}}}
	}
	return nil
}

func (p *Provider) Start(ctx context.Context, inst connectors.Instance) (connectors.Status, error) {
	if err := p.Validate(ctx, inst.Config); err != nil {
		return connectors.Status{Readiness: connectors.Misconfigured, Detail: err.Error()}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	// Starting an instance that runs only reconfigures it: what it delivered stays.
	in := p.instances[inst.ID]
	if in == nil {
		in = &instance{delivered: map[string]string{}, failed: map[string]bool{}, messages: map[string][]*connectors.Message{}}
	}
	in.reflect = inst.Config["reflect"] == "true"
	if path := inst.Config["ledger"]; path != in.ledgerPath {
		if in.ledger != nil {
			in.ledger.Close()
			in.ledger = nil
		}
		in.ledgerPath = path
		if path != "" {
			f, err := openLedger(path, in.delivered)
			if err != nil {
				return connectors.Status{Readiness: connectors.Misconfigured, Detail: err.Error()}, nil
			}
			in.ledger = f
		}
	}
	p.instances[inst.ID] = in
	return connectors.Status{Readiness: connectors.Ready, Facts: map[string]string{"delivered": fmt.Sprint(len(in.delivered))}}, nil
}

// openLedger reads the keys delivered before and opens the file for appending.
func openLedger(path string, delivered map[string]string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("ledger: %w", err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if key := sc.Text(); key != "" {
			delivered[key] = nativeID(key)
		}
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, fmt.Errorf("ledger %s: %w", path, err)
	}
	return f, nil
}

func (p *Provider) Stop(_ context.Context, id string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if in := p.instances[id]; in != nil && in.ledger != nil {
		in.ledger.Close()
	}
	delete(p.instances, id)
	return nil
}

func (p *Provider) Events(context.Context) (<-chan connectors.Event, error) { return p.events, nil }

func (p *Provider) Send(ctx context.Context, m connectors.Outgoing) (connectors.Outcome, error) {
	if strings.Contains(m.Text, "[hang]") {
		<-ctx.Done()
		return connectors.Outcome{}, ctx.Err()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.instances[m.InstanceID]
	if in == nil {
		return connectors.Outcome{}, fmt.Errorf("%w: %s", connectors.ErrUnknownInstance, m.InstanceID)
	}
	out, deliver := in.decide(m)
	if !deliver {
		return out, nil
	}
	if in.ledger != nil {
		if _, err := in.ledger.WriteString(m.IdempotencyKey + "\n"); err != nil {
			return ledgerFailed(err), nil
		}
	}
	return p.deliver(in, m), nil
}

// SendBatch delivers msgs as Send would, under one lock, with one ledger write per
// instance. A message with [hang] holds the whole batch until the caller gives up.
func (p *Provider) SendBatch(ctx context.Context, msgs []connectors.Outgoing) ([]connectors.Outcome, error) {
	for _, m := range msgs {
		if strings.Contains(m.Text, "[hang]") {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	outs := make([]connectors.Outcome, len(msgs))
	deliver := make([]bool, len(msgs))
	lines := map[*instance][]byte{}
	seen := make(map[string]bool, len(msgs))
	for i, m := range msgs {
		in := p.instances[m.InstanceID]
		switch {
		case in == nil:
			outs[i] = connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: fmt.Sprintf("%v: %s", connectors.ErrUnknownInstance, m.InstanceID)}
			continue
		case seen[m.IdempotencyKey]:
			outs[i] = connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: "echo: the same idempotency key twice in one batch"}
			continue
		}
		seen[m.IdempotencyKey] = true
		outs[i], deliver[i] = in.decide(m)
		if deliver[i] && in.ledger != nil {
			lines[in] = append(append(lines[in], m.IdempotencyKey...), '\n')
		}
	}
	failed := map[*instance]error{}
	for in, buf := range lines {
		if _, err := in.ledger.Write(buf); err != nil {
			failed[in] = err
		}
	}
	for i, m := range msgs {
		if !deliver[i] {
			continue
		}
		in := p.instances[m.InstanceID]
		if err := failed[in]; err != nil {
			outs[i] = ledgerFailed(err)
			continue
		}
		outs[i] = p.deliver(in, m)
	}
	return outs, nil
}

// decide answers a message that is not to be delivered now (delivered before, or marked to
// fail); deliver is true for one to deliver. p.mu is held.
func (in *instance) decide(m connectors.Outgoing) (out connectors.Outcome, deliver bool) {
	if id, ok := in.delivered[m.IdempotencyKey]; ok {
		return connectors.Outcome{Kind: connectors.Delivered, NativeID: id}, false
	}
	switch {
	case strings.Contains(m.Text, "[nack]"):
		return connectors.Outcome{Kind: connectors.Permanent, Reason: "echo refuses messages marked [nack]"}, false
	case strings.Contains(m.Text, "[rate-limit-always]"):
		return connectors.Outcome{Kind: connectors.Retry, Class: connectors.RateLimited, Reason: "echo rate limit (always)"}, false
	case strings.Contains(m.Text, "[rate-limit-once]") && in.once(m.IdempotencyKey):
		return connectors.Outcome{Kind: connectors.Retry, Class: connectors.RateLimited, RetryAfter: 10 * time.Millisecond, Reason: "echo rate limit (once)"}, false
	case strings.Contains(m.Text, "[restart-once]") && in.once(m.IdempotencyKey):
		return connectors.Outcome{Kind: connectors.Retry, Class: connectors.Restarting, Reason: "echo restarting (once)"}, false
	}
	return connectors.Outcome{}, true
}

func ledgerFailed(err error) connectors.Outcome {
	return connectors.Outcome{Kind: connectors.Retry, Class: connectors.Transient, Reason: "ledger: " + err.Error()}
}

// deliver records m as delivered (its key is in the ledger already) and reflects it.
// p.mu is held.
func (p *Provider) deliver(in *instance, m connectors.Outgoing) connectors.Outcome {
	id := nativeID(m.IdempotencyKey)
	in.delivered[m.IdempotencyKey] = id
	msg := &connectors.Message{ID: id, ConversationID: m.ConversationID, SenderID: m.InstanceID, Text: m.Text, CreatedAt: p.now(), ByConnector: true}
	in.keep(msg)
	if in.reflect && m.ReplyTo == "" {
		p.seq++
		p.emit(connectors.Event{Kind: connectors.EventInbound, InstanceID: m.InstanceID, Inbound: connectors.Inbound{
			EnvelopeID: "reflect-" + id, ConversationID: m.ConversationID, SenderID: "echo", SenderDisplay: "echo",
			Text: m.Text, NativeID: fmt.Sprintf("echo-in-%d", p.seq), ReceivedAt: p.now(),
		}})
	}
	return connectors.Outcome{Kind: connectors.Delivered, NativeID: id}
}

// emit queues an event, dropping it when nobody reads (the host counts inbound by dedupe,
// not by this channel).
func (p *Provider) emit(e connectors.Event) {
	select {
	case p.events <- e:
	default:
	}
}

// once reports true the first time it is asked about key.
func (in *instance) once(key string) bool {
	if in.failed[key] {
		return false
	}
	in.failed[key] = true
	return true
}

func (in *instance) keep(m *connectors.Message) {
	msgs := append(in.messages[m.ConversationID], m)
	if len(msgs) > keptPerConversation {
		msgs = msgs[len(msgs)-keptPerConversation:]
	}
	in.messages[m.ConversationID] = msgs
}

func nativeID(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "echo-" + hex.EncodeToString(sum[:16])
}

func (p *Provider) Mutate(_ context.Context, m connectors.Mutation) (connectors.MutationResult, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.instances[m.InstanceID]
	if in == nil {
		return connectors.MutationResult{}, fmt.Errorf("%w: %s", connectors.ErrUnknownInstance, m.InstanceID)
	}
	msgs := in.messages[m.ConversationID]
	for i, msg := range msgs {
		if msg.ID != m.MessageID {
			continue
		}
		switch m.Kind {
		case connectors.Edit:
			msg.Text, msg.EditedAt = m.Text, p.now()
		case connectors.Delete:
			in.messages[m.ConversationID] = append(msgs[:i:i], msgs[i+1:]...)
			return connectors.MutationResult{Done: true}, nil
		case connectors.React:
			msg.Text += " " + m.Emoji
		default:
			return connectors.MutationResult{}, fmt.Errorf("%w: %q", connectors.ErrUnsupported, m.Kind)
		}
		copied := *msg
		return connectors.MutationResult{Done: true, Message: &copied}, nil
	}
	return connectors.MutationResult{Reason: "no such message"}, nil
}

func (p *Provider) Read(_ context.Context, r connectors.ReadRequest) ([]connectors.Message, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.instances[r.InstanceID]
	if in == nil {
		return nil, fmt.Errorf("%w: %s", connectors.ErrUnknownInstance, r.InstanceID)
	}
	var out []connectors.Message
	msgs := in.messages[r.ConversationID]
	started := r.Before == ""
	for i := len(msgs) - 1; i >= 0 && len(out) < max(1, r.Limit); i-- {
		m := msgs[i]
		switch {
		case r.MessageID != "":
			if m.ID == r.MessageID {
				return []connectors.Message{*m}, nil
			}
		case !started:
			started = m.ID == r.Before
		default:
			out = append(out, *m)
		}
	}
	if r.MessageID != "" {
		return nil, nil
	}
	return out, nil
}

// Instances lists the started instances' ids.
func (p *Provider) Instances() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.instances))
}

func (p *Provider) Status(_ context.Context, id string) (connectors.Status, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	in := p.instances[id]
	if in == nil {
		return connectors.Status{}, fmt.Errorf("%w: %s", connectors.ErrUnknownInstance, id)
	}
	return connectors.Status{Readiness: connectors.Ready, Facts: map[string]string{"delivered": fmt.Sprint(len(in.delivered))}}, nil
}
