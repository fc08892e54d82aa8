// Package supervisor runs the Palyra services as child processes: it starts them in their own
// process groups, restarts them with backoff when they crash, stops them without leaving
// orphans, probes their health, samples their CPU and memory and keeps a snapshot of it all
// that clients can watch.
package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/palyra/palyra/supervisor/logs"
)

// All names every service in Start, Stop and Restart.
const All = "all"

var (
	// ErrUnknownService means no service has the given name.
	ErrUnknownService = errors.New("no such service")
	// ErrStopped means the supervisor is shutting down or has stopped.
	ErrStopped = errors.New("the supervisor is shutting down")
)

// Supervisor runs a fixed set of services. Create it with New and drive it with Run.
type Supervisor struct {
	policy   Policy
	logs     *logs.Store
	log      *slog.Logger
	services []*service
	byName   map[string]*service
	started  atomic.Bool
	runs     sync.WaitGroup // one per spawned process, until its output is drained
	runSeq   atomic.Uint64  // numbers the runs, for their leftover markers

	mu       sync.Mutex
	info     Info  // guarded by mu
	diskFree int64 // bytes free for the state directory; -1 until known; guarded by mu

	watchMu  sync.Mutex
	watchers map[chan struct{}]struct{}

	// probeSoon asks for a health probe before the next tick: a service that just became
	// ready is reported healthy at once instead of up to a tick later.
	probeSoon chan struct{}

	// onExitNoticed and onSpawned let the benchmark time the restart path; nil otherwise.
	onExitNoticed func(time.Time)
	onSpawned     func(time.Time)
}

// New builds a supervisor for cfg.Specs; nothing starts before Run. Service names must be
// unique and differ from All.
func New(cfg Config) *Supervisor {
	if cfg.Policy == (Policy{}) {
		cfg.Policy = DefaultPolicy()
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	s := &Supervisor{
		policy:    cfg.Policy,
		logs:      cfg.Logs,
		log:       logger,
		byName:    make(map[string]*service, len(cfg.Specs)),
		watchers:  make(map[chan struct{}]struct{}),
		probeSoon: make(chan struct{}, 1),
		diskFree:  -1,
		info: Info{
			PID:       os.Getpid(),
			Version:   cfg.Version,
			Home:      cfg.Home,
			Socket:    cfg.Socket,
			StartedAt: time.Now(),
		},
	}
	for _, spec := range cfg.Specs {
		if _, dup := s.byName[spec.Name]; dup || spec.Name == All {
			panic(fmt.Sprintf("supervisor: service name %q is taken", spec.Name))
		}
		svc := &service{
			spec: spec,
			cmds: make(chan command),
			done: make(chan struct{}),
			status: ServiceStatus{
				Name:    spec.Name,
				State:   StateStopped,
				Health:  HealthUnknown,
				Command: append([]string{spec.argv0()}, spec.Args...),
				LogFile: cfg.Logs.FilePath(spec.Name),
			},
		}
		s.services = append(s.services, svc)
		s.byName[spec.Name] = svc
	}
	return s
}

// Run starts every service, keeps them running, probes and samples them, and when ctx ends
// stops them all (SIGTERM to each process group, then SIGKILL after the stop timeout) and
// returns. It may be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	if s.started.Swap(true) {
		return errors.New("supervisor: Run called twice")
	}
	if pids := reapLeftovers(s.info.Home); len(pids) > 0 {
		s.log.Warn("killed processes left by an earlier supervisor of this state directory", "pids", pids)
	}
	var actors, loops sync.WaitGroup
	for _, svc := range s.services {
		a := &actor{s: s, svc: svc, p: s.policy}
		actors.Go(func() { a.loop(ctx.Done()) })
	}
	loops.Go(func() { s.probeLoop(ctx) })
	loops.Go(func() { s.sampleLoop(ctx) })
	actors.Wait()
	loops.Wait()
	s.runs.Wait()
	return nil
}

// Start starts the named service, or every service for All, and returns once it has
// spawned. Starting a fatal service clears its failures. It needs Run to be running.
func (s *Supervisor) Start(ctx context.Context, name string) error {
	return s.do(ctx, name, verbStart)
}

// Stop stops the named service, or every service for All, and returns once it has exited or
// ctx ends.
func (s *Supervisor) Stop(ctx context.Context, name string) error {
	return s.do(ctx, name, verbStop)
}

// Restart stops the named service, or every service for All, and starts it again; it
// returns once the new process has spawned. Concurrent restarts never run two copies.
func (s *Supervisor) Restart(ctx context.Context, name string) error {
	return s.do(ctx, name, verbRestart)
}

func (s *Supervisor) do(ctx context.Context, name string, v verb) error {
	if name != All {
		svc, ok := s.byName[name]
		if !ok {
			return fmt.Errorf("%w: %q", ErrUnknownService, name)
		}
		return s.send(ctx, svc, v)
	}
	errs := make([]error, len(s.services))
	var wg sync.WaitGroup
	for i, svc := range s.services {
		wg.Go(func() { errs[i] = s.send(ctx, svc, v) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Supervisor) send(ctx context.Context, svc *service, v verb) error {
	reply := make(chan error, 1)
	select {
	case svc.cmds <- command{verb: v, reply: reply}:
	case <-svc.done:
		return ErrStopped
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Watch returns a channel that receives a value after every change to the snapshot (state,
// health, metrics). Changes coalesce while the receiver is busy. Call the returned func to
// stop watching.
func (s *Supervisor) Watch() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	s.watchMu.Lock()
	s.watchers[ch] = struct{}{}
	s.watchMu.Unlock()
	return ch, func() {
		s.watchMu.Lock()
		delete(s.watchers, ch)
		s.watchMu.Unlock()
	}
}

func (s *Supervisor) notify() {
	s.watchMu.Lock()
	defer s.watchMu.Unlock()
	for ch := range s.watchers {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}
