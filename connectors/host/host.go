// Package host runs connector plugins as child processes of palyrad: it launches one process
// per provider kind through go-plugin (gRPC, AutoMTLS), checks an external plugin's
// SHA-256 before every launch, restarts a plugin that dies with backoff and starts its
// instances again, and hands a call cut off by a dying plugin over to the next process once.
// A Plugin is itself a connectors.Provider, so the outbox neither knows nor cares that the
// provider lives in another process.
package host

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-hclog"
	goplugin "github.com/hashicorp/go-plugin"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/plugin"
)

// Spec says how to launch one kind's plugin.
type Spec struct {
	Kind string
	// Path and Args are the program to run: palyrad itself for a built-in provider, a
	// palyra-connector-<kind> executable for an external one.
	Path string
	Args []string
	// Checksum, when set, is the SHA-256 the executable must have at every launch.
	Checksum []byte
	// Check, when set, runs before every launch; its error stops the launch (say, the
	// file became writable by others).
	Check func() error
}

// Options tune a Plugin; zero values take the defaults.
type Options struct {
	Logger       *slog.Logger
	StartTimeout time.Duration // to the handshake; default 10 s
	// BackoffInitial and BackoffMax bound the wait before a restart after a crash: it starts
	// at BackoffInitial, doubles each crash within StableAfter of the last start, and is
	// BackoffInitial again after a stable run. Defaults 100 ms, 30 s, 60 s.
	BackoffInitial, BackoffMax, StableAfter time.Duration
	// FailoverWait bounds how long a call cut off by a dying plugin waits for the next
	// process before it fails. Default 15 s.
	FailoverWait time.Duration
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.StartTimeout <= 0 {
		o.StartTimeout = 10 * time.Second
	}
	if o.BackoffInitial <= 0 {
		o.BackoffInitial = 100 * time.Millisecond
	}
	if o.BackoffMax <= 0 {
		o.BackoffMax = 30 * time.Second
	}
	if o.StableAfter <= 0 {
		o.StableAfter = 60 * time.Second
	}
	if o.FailoverWait <= 0 {
		o.FailoverWait = 15 * time.Second
	}
	return o
}

// Facts describe a plugin's process for the operator.
type Facts struct {
	Kind      string
	PID       int // 0 while no process runs
	StartedAt time.Time
	Restarts  int
	// LastError is why the last process ended or failed to start; Crash holds the first
	// lines of its panic or fatal error, when it had one.
	LastError string
	Crash     []string
}

// Plugin is one kind's plugin process, restarted as needed. Start it with Run.
type Plugin struct {
	spec   Spec
	opts   Options
	stderr *stderrLog
	events chan connectors.Event

	mu        sync.Mutex
	changed   chan struct{} // closed and replaced when a process comes up or goes away
	proc      *process
	conn      *plugin.Client
	running   bool
	gen       uint64 // counts processes started
	launches  uint64 // counts launch attempts that ended, in a process or an error
	facts     Facts
	instances map[string]connectors.Instance // started instances, to start again after a restart
}

var (
	_ connectors.Provider    = (*Plugin)(nil)
	_ connectors.BatchSender = (*Plugin)(nil)
)

// New returns a Plugin for spec; nothing runs until Run.
func New(spec Spec, opts Options) *Plugin {
	opts = opts.withDefaults()
	log := opts.Logger.With("connector", spec.Kind)
	opts.Logger = log
	return &Plugin{
		spec: spec, opts: opts, stderr: &stderrLog{log: log},
		events:    make(chan connectors.Event, 1024),
		changed:   make(chan struct{}),
		facts:     Facts{Kind: spec.Kind},
		instances: map[string]connectors.Instance{},
	}
}

// Run keeps the plugin's process up until ctx is done, then kills it. Only the first call
// runs it; a second just waits for its ctx.
func (p *Plugin) Run(ctx context.Context) {
	p.mu.Lock()
	already := p.running
	p.running = true
	p.mu.Unlock()
	if already {
		<-ctx.Done()
		return
	}
	defer p.kill()
	backoff := time.Duration(0)
	for ctx.Err() == nil {
		started := time.Now()
		conn, err := p.launch(ctx)
		if err == nil {
			select {
			case <-ctx.Done():
				return
			case <-conn.Done():
			}
			err = errors.New("plugin process exited")
		}
		p.ended(err, conn != nil)
		if time.Since(started) >= p.opts.StableAfter || backoff == 0 {
			backoff = p.opts.BackoffInitial
		} else {
			backoff = min(2*backoff, p.opts.BackoffMax)
		}
		p.opts.Logger.Warn("connector plugin down; restarting", "err", err, "in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
	}
}

// launch starts a process and connects to it.
func (p *Plugin) launch(ctx context.Context) (*plugin.Client, error) {
	if p.spec.Check != nil {
		if err := p.spec.Check(); err != nil {
			return nil, err
		}
	}
	cmd := exec.Command(p.spec.Path, p.spec.Args...)
	// The plugin gets no secrets through its environment: only what a program needs.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "TZ=" + os.Getenv("TZ")}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cfg := &goplugin.ClientConfig{
		HandshakeConfig:  plugin.Handshake,
		Plugins:          plugin.Plugins(),
		Cmd:              cmd,
		AllowedProtocols: []goplugin.Protocol{goplugin.ProtocolGRPC},
		AutoMTLS:         true,
		SkipHostEnv:      true,
		StartTimeout:     p.opts.StartTimeout,
		Stderr:           p.stderr,
		Logger:           hclog.NewNullLogger(),
		GRPCDialOptions:  plugin.DialOptions(),
	}
	if len(p.spec.Checksum) > 0 {
		cfg.SecureConfig = &goplugin.SecureConfig{Checksum: p.spec.Checksum, Hash: sha256.New()}
	}
	client := goplugin.NewClient(cfg)
	proc := &process{client: client, cmd: cmd}
	conn, err := dispense(client)
	if err != nil {
		proc.kill()
		return nil, p.explain(err)
	}
	d, err := conn.Describe(ctx)
	if err == nil && d.Kind != p.spec.Kind {
		err = fmt.Errorf("the plugin says it is %q, not %q", d.Kind, p.spec.Kind)
	}
	if err != nil {
		proc.kill()
		return nil, err
	}
	p.forwardEvents(ctx, conn)
	// After a restart the instances run again before any call reaches the new process.
	p.mu.Lock()
	restart := p.gen > 0
	p.mu.Unlock()
	if restart {
		p.restore(ctx, conn)
	}
	p.mu.Lock()
	p.proc, p.conn = proc, conn
	p.gen++
	p.launches++
	p.facts.StartedAt = time.Now()
	p.facts.PID = cmd.Process.Pid
	p.signal()
	p.mu.Unlock()
	p.opts.Logger.Info("connector plugin started", "pid", cmd.Process.Pid, "path", p.spec.Path)
	return conn, nil
}

// process is one launched plugin process.
type process struct {
	client *goplugin.Client
	cmd    *exec.Cmd
}

// kill ends the process and everything it started (its process group): go-plugin kills
// only the process, and waits for output pipes a child of the plugin may still hold.
func (pr *process) kill() {
	if pr.cmd.Process != nil {
		_ = syscall.Kill(-pr.cmd.Process.Pid, syscall.SIGKILL)
	}
	pr.client.Kill()
}

func dispense(client *goplugin.Client) (*plugin.Client, error) {
	rpc, err := client.Client()
	if err != nil {
		return nil, err
	}
	raw, err := rpc.Dispense(plugin.Name)
	if err != nil {
		return nil, err
	}
	conn, ok := raw.(*plugin.Client)
	if !ok {
		return nil, fmt.Errorf("plugin dispensed %T", raw)
	}
	return conn, nil
}

// explain words a launch failure for the operator.
func (p *Plugin) explain(err error) error {
	msg := err.Error()
	switch {
	case errors.Is(err, goplugin.ErrChecksumsDoNotMatch):
		return fmt.Errorf("%s changed since it was trusted (its SHA-256 no longer matches); if the change is yours: palyra-tui channels trust %s", p.spec.Path, p.spec.Kind)
	case errors.Is(err, os.ErrNotExist) || strings.Contains(msg, "no such file"):
		return fmt.Errorf("%s: no such file", p.spec.Path)
	case strings.Contains(msg, "Unrecognized remote plugin message"):
		return fmt.Errorf("%s is not a Palyra connector plugin (it printed something other than the go-plugin handshake on stdout)", p.spec.Path)
	case strings.Contains(strings.ToLower(msg), "incompatible api version"):
		return fmt.Errorf("%s speaks another version of the connector protocol (palyrad speaks %d): %v", p.spec.Path, plugin.Handshake.ProtocolVersion, err)
	}
	return err
}

// forwardEvents copies the process's events into the plugin's channel until the stream ends.
func (p *Plugin) forwardEvents(ctx context.Context, conn *plugin.Client) {
	events, err := conn.Events(ctx)
	if err != nil {
		p.opts.Logger.Warn("connector events stream", "err", err)
		return
	}
	go func() {
		for e := range events {
			select {
			case p.events <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
}

// restore starts again, in a new process, the instances the last one ran.
func (p *Plugin) restore(ctx context.Context, conn *plugin.Client) {
	p.mu.Lock()
	insts := slicesOf(p.instances)
	p.mu.Unlock()
	for _, inst := range insts {
		st, err := conn.Start(ctx, inst)
		if err != nil {
			p.opts.Logger.Warn("connector instance did not start again", "instance", inst.ID, "err", err)
			continue
		}
		p.emitStatus(inst.ID, st)
	}
}

func slicesOf(m map[string]connectors.Instance) []connectors.Instance {
	out := make([]connectors.Instance, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func (p *Plugin) emitStatus(id string, st connectors.Status) {
	select {
	case p.events <- connectors.Event{Kind: connectors.EventStatus, InstanceID: id, Status: st}:
	default:
	}
}

// ended records why the process is gone, or (started false) why none came up.
func (p *Plugin) ended(err error, started bool) {
	crash := p.stderr.takeCrash()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.kill()
		p.facts.Restarts++
	}
	p.proc, p.conn = nil, nil
	if !started {
		p.launches++
	}
	p.facts.PID = 0
	p.facts.LastError = err.Error()
	p.facts.Crash = crash
	if len(crash) > 0 {
		p.facts.LastError = crash[0]
	}
	p.signal()
}

func (p *Plugin) kill() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.proc != nil {
		p.proc.kill()
	}
	p.proc, p.conn = nil, nil
	p.facts.PID = 0
	p.signal()
}

// signal wakes whoever waits for a change of process; p.mu is held.
func (p *Plugin) signal() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Facts returns the plugin's process facts.
func (p *Plugin) Facts() Facts {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := p.facts
	f.Crash = append([]string(nil), f.Crash...)
	return f
}

// current returns the connection and generation of a running process newer than after.
// While none runs it waits for the next launch: a failed launch ends the wait with its
// error, and so do FailoverWait and ctx.
func (p *Plugin) current(ctx context.Context, after uint64) (*plugin.Client, uint64, error) {
	timeout := time.NewTimer(p.opts.FailoverWait)
	defer timeout.Stop()
	p.mu.Lock()
	launchesAtStart := p.launches
	p.mu.Unlock()
	for {
		p.mu.Lock()
		conn, gen, changed, lastErr, launches := p.conn, p.gen, p.changed, p.facts.LastError, p.launches
		p.mu.Unlock()
		if conn != nil && gen > after {
			return conn, gen, nil
		}
		if launches > launchesAtStart && (conn == nil || gen <= after) {
			return nil, 0, fmt.Errorf("%w: %s plugin: %s", plugin.ErrPluginGone, p.spec.Kind, lastErr)
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return nil, 0, ctx.Err()
		case <-timeout.C:
			if lastErr == "" {
				lastErr = "not started"
			}
			return nil, 0, fmt.Errorf("%w: %s plugin: %s", plugin.ErrPluginGone, p.spec.Kind, lastErr)
		}
	}
}

// call runs f on the current process; if that process dies under the call, f runs once more
// on the next one. Every caller cut off by the same death waits for the same new process,
// which Run starts once.
func call[T any](ctx context.Context, p *Plugin, f func(*plugin.Client) (T, error)) (T, error) {
	conn, gen, err := p.current(ctx, 0)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := f(conn)
	if !errors.Is(err, plugin.ErrPluginGone) {
		return v, err
	}
	conn, _, err = p.current(ctx, gen)
	if err != nil {
		var zero T
		return zero, err
	}
	return f(conn)
}

func (p *Plugin) Describe(ctx context.Context) (connectors.Description, error) {
	return call(ctx, p, func(c *plugin.Client) (connectors.Description, error) { return c.Describe(ctx) })
}

func (p *Plugin) Validate(ctx context.Context, config map[string]string) error {
	_, err := call(ctx, p, func(c *plugin.Client) (struct{}, error) { return struct{}{}, c.Validate(ctx, config) })
	return err
}

// Start starts inst in the plugin and remembers it, so a restarted process runs it too.
func (p *Plugin) Start(ctx context.Context, inst connectors.Instance) (connectors.Status, error) {
	inst.Config = maps.Clone(inst.Config)
	inst.Credentials = maps.Clone(inst.Credentials)
	p.mu.Lock()
	p.instances[inst.ID] = inst
	p.mu.Unlock()
	return call(ctx, p, func(c *plugin.Client) (connectors.Status, error) { return c.Start(ctx, inst) })
}

func (p *Plugin) Stop(ctx context.Context, id string) error {
	p.mu.Lock()
	delete(p.instances, id)
	p.mu.Unlock()
	_, err := call(ctx, p, func(c *plugin.Client) (struct{}, error) { return struct{}{}, c.Stop(ctx, id) })
	return err
}

// Events returns the events of every process this plugin runs, one stream across restarts.
func (p *Plugin) Events(context.Context) (<-chan connectors.Event, error) { return p.events, nil }

func (p *Plugin) Send(ctx context.Context, m connectors.Outgoing) (connectors.Outcome, error) {
	return call(ctx, p, func(c *plugin.Client) (connectors.Outcome, error) { return c.Send(ctx, m) })
}

// SendBatch sends msgs in one call to the plugin; connectors.ErrUnsupported if the plugin
// sends one message at a time.
func (p *Plugin) SendBatch(ctx context.Context, msgs []connectors.Outgoing) ([]connectors.Outcome, error) {
	return call(ctx, p, func(c *plugin.Client) ([]connectors.Outcome, error) { return c.SendBatch(ctx, msgs) })
}

func (p *Plugin) Mutate(ctx context.Context, m connectors.Mutation) (connectors.MutationResult, error) {
	return call(ctx, p, func(c *plugin.Client) (connectors.MutationResult, error) { return c.Mutate(ctx, m) })
}

func (p *Plugin) Read(ctx context.Context, r connectors.ReadRequest) ([]connectors.Message, error) {
	return call(ctx, p, func(c *plugin.Client) ([]connectors.Message, error) { return c.Read(ctx, r) })
}

func (p *Plugin) Status(ctx context.Context, id string) (connectors.Status, error) {
	return call(ctx, p, func(c *plugin.Client) (connectors.Status, error) { return c.Status(ctx, id) })
}
