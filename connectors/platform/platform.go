// Package platform is the part of palyrad that hosts channel connectors: it keeps each
// instance's provider running, sends the outbox as soon as something is queued (retrying
// with backoff, dead-lettering what cannot be sent), takes inbound messages through
// dedupe into the inbox, and hands them to the attached agent. It knows connectors only
// through connectors.Provider and its store only through package outbox; it knows nothing
// of gRPC or the TUI.
package platform

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/host"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/textsplit"
)

// Plugin is a provider kind as the platform runs it: host.Plugin, or InProcess for tests.
type Plugin interface {
	connectors.Provider
	Run(ctx context.Context) // keeps the provider up until ctx is done
	Facts() host.Facts
}

// Config is what a Platform needs; zero durations take the defaults.
type Config struct {
	Store   *outbox.Store
	Plugins map[string]Plugin // the built-in kinds, by kind
	// PluginDir holds external plugins, palyra-connector-<kind> executables, run once
	// trusted (see Trust). "": none.
	PluginDir string
	// Launch makes the Plugin of a trusted external executable; nil: host.New.
	Launch func(host.Spec) Plugin
	// Credentials returns the values of an instance's secret fields (by field name), read
	// from palyrad's secret store. Nil: no secrets.
	Credentials func(inst outbox.Instance, desc connectors.Description) (map[string][]byte, error)
	Logger      *slog.Logger
	Now         func() time.Time

	InFlight    int           // sends at once per instance; default 128
	SendTimeout time.Duration // per send; default 30 s
	MaxAttempts int           // tries before a dead letter; default 5
	BackoffBase time.Duration // first retry delay, doubling; default 1 s
	BackoffMax  time.Duration // default 60 s
}

// Errors a caller can act on.
var (
	ErrNotFound      = outbox.ErrNotFound
	ErrInvalid       = errors.New("invalid")
	ErrUnknownKind   = errors.New("no such connector kind")
	ErrDisabled      = errors.New("the connector is disabled")
	ErrAgentAttached = errors.New("another agent is attached")
)

// Platform hosts the connectors. Start it with Run.
type Platform struct {
	cfg  Config
	now  func() time.Time
	wake chan struct{}
	work sync.WaitGroup // sends and starts in flight

	mu      sync.Mutex
	plugins map[string]Plugin     // by kind: the built-in ones and the trusted external ones
	pins    map[string]outbox.Pin // the pins the external plugins were made from, by kind
	trustMu sync.Mutex            // one Trust or Untrust at a time
	runtime map[string]*runtime   // by instance id
	queues  map[string]*queue
	running map[string]context.CancelFunc     // kinds whose plugin runs, and how to stop it
	kinds   map[string]connectors.Description // what each kind's plugin said of itself
	runCtx  context.Context
	started chan struct{} // closed once Run has set runCtx
	inbound chan struct{} // closed and replaced when the inbox gains a message
	changed chan struct{} // closed and replaced when anything an operator sees changes
	agent   bool
	unacked map[inboxKey]bool // inbound messages the agent has and has not acknowledged
	acks    chan struct{}     // the agent acknowledged something
	// heldText is the bytes of text the schedule's items hold (see item.env).
	heldText int
}

// runtime is what the platform knows of an instance beyond its stored record.
type runtime struct {
	provider      connectors.Provider
	kind          string
	status        connectors.Status
	enabled       bool
	paused        bool
	startFailures int // starts failed in a row
	starts        int // starts begun, so a late one does not overwrite a newer one's status
}

// New returns a platform over cfg; nothing runs until Run.
func New(cfg Config) *Platform {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.InFlight <= 0 {
		cfg.InFlight = 128
	}
	if cfg.SendTimeout <= 0 {
		cfg.SendTimeout = 30 * time.Second
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 5
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase = time.Second
	}
	if cfg.BackoffMax <= 0 {
		cfg.BackoffMax = 60 * time.Second
	}
	return &Platform{
		cfg: cfg, now: cfg.Now, wake: make(chan struct{}, 1),
		plugins: maps.Clone(cfg.Plugins), pins: map[string]outbox.Pin{}, runtime: map[string]*runtime{}, queues: map[string]*queue{}, running: map[string]context.CancelFunc{},
		kinds:   map[string]connectors.Description{},
		inbound: make(chan struct{}), changed: make(chan struct{}), started: make(chan struct{}),
	}
}

// Changed returns a channel that is closed at the next change of what List shows.
func (p *Platform) Changed() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.changed
}

// AgentAttached reports whether an agent holds the Conversations stream.
func (p *Platform) AgentAttached() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.agent
}

// notifyLocked wakes the watchers of Changed; p.mu must be held.
func (p *Platform) notifyLocked() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Run starts the stored instances, loads the queue and sends until ctx is done. Sends in
// flight then end without a result, so their envelopes go again after a restart.
func (p *Platform) Run(ctx context.Context) error {
	if err := p.loadPins(); err != nil {
		return err
	}
	p.mu.Lock()
	p.runCtx = ctx
	p.mu.Unlock()
	close(p.started)
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		return err
	}
	for _, in := range insts {
		p.activate(ctx, in)
	}
	pending, err := p.cfg.Store.Pending()
	if err != nil {
		return err
	}
	p.mu.Lock()
	for _, e := range pending {
		p.queueFor(e.Instance).add(&item{seq: e.Seq, conversation: e.ConversationID, attempts: e.Attempts, nextAt: e.NextAt})
	}
	p.mu.Unlock()
	p.schedule(ctx)
	p.work.Wait()
	return nil
}

func (p *Platform) queueFor(instance string) *queue {
	q := p.queues[instance]
	if q == nil {
		q = newQueue()
		p.queues[instance] = q
	}
	return q
}

// activate brings a stored instance up in its provider, starting the kind's plugin first.
func (p *Platform) activate(ctx context.Context, in outbox.Instance) {
	plug := p.plugin(in.Kind)
	rt := &runtime{enabled: in.Enabled, paused: in.Paused}
	if plug == nil {
		rt.status = connectors.Status{Readiness: connectors.Misconfigured, Detail: fmt.Sprintf("no connector of kind %q is installed", in.Kind)}
		p.setRuntime(in.ID, rt)
		return
	}
	p.runPlugin(ctx, in.Kind, plug)
	rt.provider, rt.kind = plug, in.Kind
	rt.status = connectors.Status{Readiness: connectors.Starting}
	p.setRuntime(in.ID, rt)
	if !in.Enabled {
		return
	}
	p.work.Go(func() { p.start(ctx, in, plug) })
}

func (p *Platform) setRuntime(id string, rt *runtime) {
	p.mu.Lock()
	p.runtime[id] = rt
	p.queueFor(id)
	p.mu.Unlock()
	p.poke()
}

// start describes the provider and starts the instance in it, recording its status. A
// start that fails (the provider unreachable, its plugin down) is tried again with backoff
// while the instance stays enabled.
func (p *Platform) start(ctx context.Context, in outbox.Instance, plug Plugin) {
	p.mu.Lock()
	rt := p.runtime[in.ID]
	if rt == nil {
		p.mu.Unlock()
		return
	}
	rt.starts++
	attempt := rt.starts
	p.mu.Unlock()
	st, err := p.startIn(ctx, in, plug)
	p.mu.Lock()
	if p.runtime[in.ID] != rt || !rt.enabled {
		// Removed or disabled while it started: the provider must not keep it running.
		p.mu.Unlock()
		if err == nil {
			if stopErr := plug.Stop(ctx, in.ID); stopErr != nil {
				p.cfg.Logger.Warn("stop a connector removed while it started", "instance", in.ID, "err", stopErr)
			}
		}
		return
	}
	if rt.starts != attempt {
		p.mu.Unlock() // started again meanwhile: the later start says how it went
		return
	}
	var retryIn time.Duration
	if err != nil {
		rt.startFailures++
		retryIn = min(p.cfg.BackoffBase<<min(rt.startFailures-1, 16), p.cfg.BackoffMax)
		st = connectors.Status{Readiness: connectors.Starting,
			Detail: fmt.Sprintf("the connector did not start: %v; trying again in %s", err, retryIn)}
	} else {
		rt.startFailures = 0
	}
	rt.status = st
	p.mu.Unlock()
	kind, level := "instance.started", "info"
	if err != nil {
		kind, level = "instance.start_failed", "warn"
	}
	p.event(in.ID, kind, level, strings.TrimSpace(fmt.Sprintf("readiness %s %s", st.Readiness, st.Detail)))
	p.poke()
	if err != nil && ctx.Err() == nil {
		p.work.Go(func() { p.retryStart(ctx, in, plug, rt, attempt, retryIn) })
	}
}

// retryStart starts the instance again after wait, unless it was stopped, removed,
// restarted or reconfigured meanwhile.
func (p *Platform) retryStart(ctx context.Context, in outbox.Instance, plug Plugin, rt *runtime, attempt int, wait time.Duration) {
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return
	case <-t.C:
	}
	p.mu.Lock()
	current := p.runtime[in.ID] == rt && rt.starts == attempt && rt.enabled && p.plugins[in.Kind] == plug
	p.mu.Unlock()
	if current {
		p.start(ctx, in, plug)
	}
}

func (p *Platform) startIn(ctx context.Context, in outbox.Instance, plug Plugin) (connectors.Status, error) {
	desc, err := p.describe(ctx, in.Kind, plug)
	if err != nil {
		return connectors.Status{}, err
	}
	var creds map[string][]byte
	if p.cfg.Credentials != nil {
		creds, err = p.cfg.Credentials(in, desc)
		if err != nil {
			return connectors.Status{Readiness: connectors.MissingCredential, Detail: err.Error()}, nil
		}
	}
	return plug.Start(ctx, connectors.Instance{ID: in.ID, Config: in.Config, Credentials: creds})
}

// describe returns what kind's plugin says of itself, asking it once.
func (p *Platform) describe(ctx context.Context, kind string, plug Plugin) (connectors.Description, error) {
	p.mu.Lock()
	d, ok := p.kinds[kind]
	p.mu.Unlock()
	if ok {
		return d, nil
	}
	if plug == nil {
		return d, fmt.Errorf("%w: %q", ErrUnknownKind, kind)
	}
	d, err := plug.Describe(ctx)
	if err != nil {
		return d, err
	}
	if d.Kind == "" {
		d.Kind = kind
	}
	p.mu.Lock()
	if p.plugins[kind] == plug { // not replaced while it answered
		p.kinds[kind] = d
	}
	p.mu.Unlock()
	return d, nil
}

// runPlugin starts a kind's plugin, and the reader of its events, once.
func (p *Platform) runPlugin(ctx context.Context, kind string, plug Plugin) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.running[kind] != nil || ctx.Err() != nil || p.plugins[kind] != plug {
		return // running, shutting down, or plug was replaced meanwhile
	}
	ctx, p.running[kind] = context.WithCancel(ctx)
	go plug.Run(ctx)
	go p.readEvents(ctx, kind, plug)
}

var idPattern = regexp.MustCompile(`^[a-z0-9_-]{1,32}:[A-Za-z0-9._-]{1,64}$`)

// Add registers a new instance "<kind>:<name>", checks its config with its provider, and
// starts it.
func (p *Platform) Add(ctx context.Context, id string, config map[string]string) (View, error) {
	kind, _, _ := cutKind(id)
	if !idPattern.MatchString(id) {
		return View{}, fmt.Errorf("%w: connector id %q: want <kind>:<name>, e.g. echo:test (name: letters, digits, . _ -)", ErrInvalid, id)
	}
	plug := p.plugin(kind)
	if plug == nil {
		return View{}, fmt.Errorf("%w %q (installed: %v)", ErrUnknownKind, kind, p.Kinds())
	}
	p.runPlugin(p.context(ctx), kind, plug)
	if err := plug.Validate(ctx, config); err != nil {
		return View{}, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	in := outbox.Instance{ID: id, Kind: kind, Config: config, Enabled: true}
	if err := p.cfg.Store.PutInstance(ctx, in, false); err != nil {
		return View{}, err
	}
	p.event(id, "instance.added", "info", "added")
	stored, err := p.cfg.Store.GetInstance(id)
	if err != nil {
		return View{}, err
	}
	p.activate(p.context(ctx), stored)
	return p.Get(id)
}

func cutKind(id string) (kind, name string, ok bool) {
	for i := 0; i < len(id); i++ {
		if id[i] == ':' {
			return id[:i], id[i+1:], true
		}
	}
	return id, "", false
}

// context is the platform's own context for work that outlives a request: Run's. A
// request that comes before Run has begun waits for it, or ends with its own context (the
// work then gives up at once).
func (p *Platform) context(request context.Context) context.Context {
	select {
	case <-p.started:
		p.mu.Lock()
		defer p.mu.Unlock()
		return p.runCtx
	case <-request.Done():
		return request
	}
}

// Remove stops an instance and deletes it with its queue, inbox and logs.
func (p *Platform) Remove(ctx context.Context, id string) error {
	p.mu.Lock()
	rt := p.runtime[id]
	delete(p.runtime, id)
	if q := p.queues[id]; q != nil {
		for _, c := range q.convs {
			for _, it := range c.items {
				if it.env != nil {
					p.heldText -= len(it.env.Text)
				}
			}
		}
	}
	delete(p.queues, id)
	p.mu.Unlock()
	if rt != nil && rt.provider != nil {
		if err := rt.provider.Stop(ctx, id); err != nil {
			p.cfg.Logger.Warn("stop connector instance", "instance", id, "err", err)
		}
	}
	return p.cfg.Store.RemoveInstance(ctx, id)
}

// SetEnabled enables or disables an instance. A disabled instance sends nothing and takes
// no inbound messages; its queue waits.
func (p *Platform) SetEnabled(ctx context.Context, id string, enabled bool) (View, error) {
	in, err := p.cfg.Store.UpdateInstance(ctx, id, func(in *outbox.Instance) { in.Enabled = enabled })
	if err != nil {
		return View{}, err
	}
	p.mu.Lock()
	rt := p.runtime[id]
	if rt != nil {
		rt.enabled = enabled
	}
	p.mu.Unlock()
	if rt != nil && rt.provider != nil {
		if enabled {
			p.work.Go(func() { p.start(p.context(ctx), in, p.plugin(in.Kind)) })
		} else if err := rt.provider.Stop(ctx, id); err != nil {
			p.cfg.Logger.Warn("stop connector instance", "instance", id, "err", err)
		}
	}
	p.event(id, "instance.enabled", "info", fmt.Sprintf("enabled %v", enabled))
	p.poke()
	return p.Get(id)
}

// SetPaused pauses or resumes an instance's queue; inbound messages still arrive.
func (p *Platform) SetPaused(ctx context.Context, id string, paused bool) (View, error) {
	if _, err := p.cfg.Store.UpdateInstance(ctx, id, func(in *outbox.Instance) { in.Paused = paused }); err != nil {
		return View{}, err
	}
	p.mu.Lock()
	if rt := p.runtime[id]; rt != nil {
		rt.paused = paused
	}
	p.mu.Unlock()
	kind := "queue.resumed"
	if paused {
		kind = "queue.paused"
	}
	p.event(id, kind, "info", kind)
	p.poke()
	return p.Get(id)
}

// Drain sends what is due in an instance's queue now, paused or not, until it is empty.
func (p *Platform) Drain(ctx context.Context, id string) (View, error) {
	p.mu.Lock()
	q, rt := p.queues[id], p.runtime[id]
	if q == nil || rt == nil {
		p.mu.Unlock()
		return View{}, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	q.drain = true
	now := p.now()
	for _, c := range q.convs {
		for _, it := range c.items {
			if it.nextAt.After(now) {
				it.nextAt = now
			}
		}
	}
	q.heads.fix()
	p.mu.Unlock()
	p.event(id, "queue.drain", "info", "drain requested")
	p.poke()
	return p.Get(id)
}

// Send queues an outbound message; text longer than the provider takes becomes several
// messages. It returns once they are on disk.
func (p *Platform) Send(ctx context.Context, id string, m Outbound) ([]outbox.Enqueued, error) {
	p.mu.Lock()
	rt := p.runtime[id]
	p.mu.Unlock()
	if rt == nil {
		return nil, fmt.Errorf("connector %s: %w", id, ErrNotFound)
	}
	if m.EnvelopeID == "" {
		m.EnvelopeID = newEnvelopeID()
	}
	if len(m.Text) > connectors.MaxTextBytes {
		return nil, fmt.Errorf("%w: the message is %d bytes; at most %d", ErrInvalid, len(m.Text), connectors.MaxTextBytes)
	}
	desc, err := p.describe(ctx, rt.kind, p.plugin(rt.kind))
	if err != nil {
		return nil, fmt.Errorf("connector %s cannot say how long a message may be: %w", id, err)
	}
	parts := []string{m.Text}
	if desc.MaxTextRunes > 0 {
		parts = textsplit.Split(m.Text, desc.MaxTextRunes)
	}
	envs := make([]outbox.Envelope, len(parts))
	for i, text := range parts {
		envs[i] = outbox.Envelope{Instance: id, ID: m.EnvelopeID, ConversationID: m.ConversationID, ThreadID: m.ThreadID, ReplyTo: m.ReplyTo, Text: text}
		if len(parts) > 1 {
			envs[i].ID = fmt.Sprintf("%s.%d", m.EnvelopeID, i+1)
		}
	}
	res, err := p.cfg.Store.Enqueue(ctx, envs)
	if err != nil {
		return nil, err
	}
	p.mu.Lock()
	q := p.queueFor(id)
	for i, r := range res {
		if r.Err != nil || r.Duplicate {
			continue
		}
		it := &item{seq: r.Seq, conversation: m.ConversationID, nextAt: p.now()}
		if p.heldText+len(envs[i].Text) <= maxHeldText {
			e := envs[i]
			e.Seq = r.Seq
			it.env = &e
			p.heldText += len(e.Text)
		}
		q.add(it)
	}
	p.mu.Unlock()
	p.poke()
	return res, nil
}

// Outbound is a message to send through a connector.
type Outbound struct {
	EnvelopeID     string // the caller's id for it, for idempotency; "" picks one
	ConversationID string
	ThreadID       string
	ReplyTo        string
	Text           string
}

// Kinds lists the installed connector kinds.
func (p *Platform) Kinds() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.plugins))
}

// plugin returns the plugin of kind, nil if none is installed.
func (p *Platform) plugin(kind string) Plugin {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.plugins[kind]
}

// event writes a line to an instance's event log; a failure is logged.
func (p *Platform) event(id, kind, level, msg string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := p.cfg.Store.AppendEvent(ctx, id, outbox.Event{Kind: kind, Level: level, Message: msg}); err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, outbox.ErrClosed) {
		p.cfg.Logger.Warn("connector event log", "instance", id, "err", err)
	}
}

// InProcess runs a provider inside palyrad's own process, as a Plugin (tests, benchmarks).
func InProcess(kind string, provider connectors.Provider) Plugin {
	return &inProcess{Provider: provider, kind: kind, started: time.Now()}
}

type inProcess struct {
	connectors.Provider
	kind    string
	started time.Time
}

// SendBatch is the provider's, or ErrUnsupported if it sends one message at a time.
func (p *inProcess) SendBatch(ctx context.Context, msgs []connectors.Outgoing) ([]connectors.Outcome, error) {
	if bs, ok := p.Provider.(connectors.BatchSender); ok {
		return bs.SendBatch(ctx, msgs)
	}
	return nil, connectors.ErrUnsupported
}

func (p *inProcess) Run(ctx context.Context) { <-ctx.Done() }
func (p *inProcess) Facts() host.Facts {
	return host.Facts{Kind: p.kind, PID: os.Getpid(), StartedAt: p.started}
}

// Restart starts an enabled instance again in its provider: its credentials are read anew.
func (p *Platform) Restart(ctx context.Context, id string) (View, error) {
	in, err := p.cfg.Store.GetInstance(id)
	if err != nil {
		return View{}, err
	}
	plug := p.plugin(in.Kind)
	if plug == nil || !in.Enabled {
		return p.Get(id)
	}
	p.mu.Lock()
	if rt := p.runtime[id]; rt != nil {
		rt.status, rt.startFailures = connectors.Status{Readiness: connectors.Starting}, 0
	}
	p.mu.Unlock()
	p.work.Go(func() { p.start(p.context(ctx), in, plug) })
	p.event(id, "instance.restarted", "info", "started again")
	return p.Get(id)
}

// RestartUsing restarts the instances whose config names secret in a secret field.
func (p *Platform) RestartUsing(ctx context.Context, secret string) {
	insts, err := p.cfg.Store.Instances()
	if err != nil {
		p.cfg.Logger.Warn("connectors using a changed secret", "err", err)
		return
	}
	for _, in := range insts {
		plug := p.plugin(in.Kind)
		if plug == nil {
			continue
		}
		desc, err := p.describe(ctx, in.Kind, plug)
		if err != nil {
			continue
		}
		for _, f := range desc.Config {
			if f.Type == connectors.FieldSecret && in.Config[f.Name] == secret {
				if _, err := p.Restart(ctx, in.ID); err != nil {
					p.cfg.Logger.Warn("restart connector", "instance", in.ID, "err", err)
				}
				break
			}
		}
	}
}

// Kind is an installed connector kind as its plugin describes itself.
type Kind struct {
	connectors.Description
	Err error // the plugin could not describe itself
}

// Describe asks every installed kind's plugin what it is, starting plugins as needed.
func (p *Platform) Describe(ctx context.Context) []Kind {
	var out []Kind
	for _, k := range p.Kinds() {
		plug := p.plugin(k)
		p.runPlugin(p.context(ctx), k, plug)
		d, err := p.describe(ctx, k, plug)
		if d.Kind == "" {
			d.Kind = k
		}
		out = append(out, Kind{Description: d, Err: err})
	}
	return out
}
