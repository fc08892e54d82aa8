package supervisor

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/palyra/palyra/internal/logtext"
	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/supervisor/logs"
)

// keepExits is how many exits a status remembers.
const keepExits = 5

// lastWordsWait bounds the wait for a crashed child's output; maxLastWords trims it.
const (
	lastWordsWait = 200 * time.Millisecond
	maxLastWords  = 300
)

type verb int

const (
	verbStart verb = iota
	verbStop
	verbRestart
)

type command struct {
	verb  verb
	reply chan error // buffered; answered exactly once
}

// service is one supervised service. Its actor goroutine makes every change; Snapshot, the
// prober and the sampler read status and current under Supervisor.mu.
type service struct {
	spec Spec
	cmds chan command
	done chan struct{} // closed when the actor returns

	status  ServiceStatus // guarded by Supervisor.mu; only the actor changes State
	current *run          // guarded by Supervisor.mu
}

// actor owns one service's process and timers. Serializing every start, stop and exit through
// one goroutine is what keeps concurrent restarts from ever running two copies.
type actor struct {
	s   *Supervisor
	svc *service
	p   Policy

	run            *run
	waiters        []chan error // answered when the stop in progress completes
	startAfterStop bool
	attempt        int // consecutive failures; sets the backoff delay
	failures       int // consecutive failed runs shorter than FailureRun; sets when to give up
	restarts       int
	started        bool // whether the service was started before
	shutdown       bool

	backoff, kill, readyTimeout, stable *time.Timer
}

func (a *actor) loop(done <-chan struct{}) {
	defer close(a.svc.done)
	a.startNow(nil)
	for !a.shutdown || a.run != nil {
		var exited <-chan Exit
		var readyLine <-chan ready.Line
		if a.run != nil {
			exited, readyLine = a.run.exited, a.run.ready
		}
		select {
		case c := <-a.svc.cmds:
			a.handle(c)
		case e := <-exited:
			a.exited(e)
		case l := <-readyLine:
			a.ready(l)
		case <-timerC(a.backoff):
			a.backoff = nil
			a.restarts++
			a.spawn()
		case <-timerC(a.kill):
			a.kill = nil
			a.note(fmt.Sprintf("did not stop within %s; SIGKILL", shortDuration(a.p.StopTimeout)))
			syscall.Kill(-a.run.pid, syscall.SIGKILL)
		case <-timerC(a.readyTimeout):
			a.readyTimeout = nil
			a.run.failure = fmt.Sprintf("no ready line within %s", shortDuration(a.p.ReadyTimeout))
			a.note(a.run.failure)
			a.terminate()
		case <-timerC(a.stable):
			a.stable = nil
			a.attempt, a.failures = 0, 0
			a.set(func(st *ServiceStatus) { st.Attempt = 0 })
		case <-done:
			done = nil
			a.beginShutdown()
		}
	}
	a.answerWaiters(ErrStopped)
}

func (a *actor) handle(c command) {
	if a.shutdown {
		c.reply <- ErrStopped
		return
	}
	switch c.verb {
	case verbStart:
		switch {
		case a.run == nil:
			a.startNow(c.reply)
		case a.run.terminating:
			a.stopThen(true, c.reply)
		default:
			c.reply <- nil
		}
	case verbStop:
		switch {
		case a.run != nil:
			a.stopThen(false, c.reply)
		case a.svc.status.State == StateBackoff:
			stopTimer(&a.backoff)
			a.set(func(st *ServiceStatus) {
				st.State = StateStopped
				st.NextRestart = time.Time{}
			})
			a.note("restart cancelled")
			c.reply <- nil
		default:
			c.reply <- nil
		}
	case verbRestart:
		if a.run != nil {
			a.stopThen(true, c.reply)
			return
		}
		a.startNow(c.reply)
	}
}

// stopThen stops the current run for an operator and answers reply once it has exited and,
// if start, a new run has spawned. The latest request decides whether to start again.
func (a *actor) stopThen(start bool, reply chan error) {
	a.run.stopRequested = true
	a.startAfterStop = start
	a.waiters = append(a.waiters, reply)
	a.terminate()
}

// startNow is an operator's start: it forgets past failures, fatal included. Any start but
// the first is a restart.
func (a *actor) startNow(reply chan error) {
	stopTimer(&a.backoff)
	if a.started {
		a.restarts++
	}
	a.started = true
	a.attempt, a.failures = 0, 0
	err := a.spawn()
	if reply != nil {
		reply <- err
	}
}

func (a *actor) spawn() error {
	spec := a.svc.spec
	r, err := a.s.startRun(spec)
	if err != nil {
		what := "could not start: " + err.Error()
		a.s.log.Error("service could not start", "service", spec.Name, "err", err)
		a.failed(what, true, nil)
		return fmt.Errorf("start %s: %w", spec.Name, err)
	}
	a.run = r
	state := StateRunning
	if spec.WaitReady {
		state = StateStarting
		a.readyTimeout = time.NewTimer(a.p.ReadyTimeout)
	} else {
		a.stable = time.NewTimer(a.p.StableAfter)
	}
	a.set(func(st *ServiceStatus) {
		st.State = state
		st.PID = r.pid
		st.StartedAt = r.startedAt
		st.NextRestart = time.Time{}
		st.Reason = ""
		st.Attempt = a.attempt
		st.Restarts = a.restarts
	})
	a.note(fmt.Sprintf("started pid %d", r.pid))
	a.s.log.Info("service started", "service", spec.Name, "pid", r.pid)
	return nil
}

func (a *actor) ready(l ready.Line) {
	addrs := maps.Clone(l.Addrs)
	becameReady := a.svc.status.State == StateStarting && !a.run.terminating
	a.set(func(st *ServiceStatus) {
		st.Addrs = addrs
		st.Version = l.Version
		if becameReady {
			st.State = StateRunning
		}
	})
	if becameReady {
		stopTimer(&a.readyTimeout)
		a.stable = time.NewTimer(a.p.StableAfter)
		a.note("ready " + formatAddrs(addrs))
		a.s.requestProbe()
	}
}

// terminate sends SIGTERM to the run's process group once and arms the SIGKILL timer.
func (a *actor) terminate() {
	r := a.run
	if r.terminating {
		return
	}
	r.terminating = true
	stopTimer(&a.readyTimeout)
	a.set(func(st *ServiceStatus) {
		st.State = StateStopping
		st.Health, st.HealthDetail = HealthUnknown, ""
	})
	a.note("stopping (SIGTERM)")
	syscall.Kill(-r.pid, syscall.SIGTERM)
	a.kill = time.NewTimer(a.p.StopTimeout)
}

func (a *actor) exited(e Exit) {
	r := a.run
	a.run = nil
	stopTimer(&a.kill)
	stopTimer(&a.readyTimeout)
	stopTimer(&a.stable)
	if e.Ran >= a.p.StableAfter {
		a.attempt, a.failures = 0, 0
	}
	record := func(st *ServiceStatus) {
		st.PID = 0
		st.StartedAt = time.Time{}
		st.Addrs = nil
		st.Health, st.HealthDetail = HealthUnknown, ""
		st.CPUPercent, st.RSSBytes = 0, 0
		st.LastExit = &e
		st.RecentExits = append([]Exit{e}, st.RecentExits[:min(len(st.RecentExits), keepExits-1)]...)
	}
	what := describeExit(e)
	a.s.log.Info("service exited", "service", a.svc.spec.Name, "pid", r.pid, "exit", e.String())

	switch {
	case r.stopRequested || a.shutdown:
		a.set(func(st *ServiceStatus) {
			record(st)
			st.State = StateStopped
		})
		a.note(what)
		switch {
		case a.startAfterStop && a.shutdown:
			a.answerWaiters(ErrStopped)
		case a.startAfterStop:
			a.startAfterStop = false
			a.restarts++
			a.answerWaiters(a.spawn())
		default:
			a.answerWaiters(nil)
		}
	case r.failure != "":
		a.failed(r.failure+"; "+what, true, record)
	default:
		a.failed(what+a.lastWords(r), e.Ran < a.p.FailureRun, record)
	}
}

// lastWords is the last line a crashed run wrote to stderr, usually the error that killed it
// ("listen 127.0.0.1:7443: address already in use"), so the reason an operator reads says
// why and not only how. The exit is noticed before the pipes are drained, so it waits a
// moment for the output to land.
func (a *actor) lastWords(r *run) string {
	select {
	case <-r.captured:
	case <-time.After(lastWordsWait):
	}
	lines, err := a.s.logs.Tail([]string{a.svc.spec.Name}, 20)
	if err != nil {
		return ""
	}
	for i := len(lines) - 1; i >= 0; i-- {
		l := lines[i]
		if l.Stream != logs.Stderr || l.Time.Before(r.startedAt) || strings.TrimSpace(l.Text) == "" {
			continue
		}
		text := logtext.Compact(l.Text)
		if r := []rune(text); len(r) > maxLastWords {
			text = string(r[:maxLastWords]) + "…"
		}
		return ": " + text
	}
	return ""
}

// failed counts a failed run or spawn and schedules the restart, or gives up. record, if
// set, updates the status in the same step.
func (a *actor) failed(what string, short bool, record func(*ServiceStatus)) {
	a.attempt++
	if short {
		a.failures++
	} else {
		a.failures = 0
	}
	if a.failures >= a.p.FatalAfter {
		gaveUp := fmt.Sprintf("gave up after %d failed starts", a.failures)
		a.set(func(st *ServiceStatus) {
			if record != nil {
				record(st)
			}
			st.State = StateFatal
			st.Reason = gaveUp + "; last: " + what
			st.Attempt = a.attempt
			st.Restarts = a.restarts
		})
		a.note(what + "; " + gaveUp)
		a.s.log.Warn("service gave up", "service", a.svc.spec.Name, "failures", a.failures, "last", what)
		return
	}
	delay := a.p.delay(a.attempt)
	next := time.Now().Add(delay)
	a.backoff = time.NewTimer(delay)
	a.set(func(st *ServiceStatus) {
		if record != nil {
			record(st)
		}
		st.State = StateBackoff
		st.NextRestart = next
		st.Reason = what
		st.Attempt = a.attempt
		st.Restarts = a.restarts
	})
	a.note(fmt.Sprintf("%s; restart in %s (attempt %d)", what, shortDuration(delay), a.attempt))
}

func (a *actor) beginShutdown() {
	a.shutdown = true
	if a.run != nil {
		a.run.stopRequested = true
		a.terminate()
		return
	}
	if a.backoff != nil {
		stopTimer(&a.backoff)
		a.set(func(st *ServiceStatus) {
			st.State = StateStopped
			st.NextRestart = time.Time{}
		})
	}
}

func (a *actor) answerWaiters(err error) {
	for _, w := range a.waiters {
		w <- err
	}
	a.waiters = nil
}

// set changes the status under the lock and tells the watchers.
func (a *actor) set(change func(*ServiceStatus)) {
	a.s.mu.Lock()
	a.svc.current = a.run
	change(&a.svc.status)
	a.s.mu.Unlock()
	a.s.notify()
}

func (a *actor) note(text string) { a.s.logs.Note(a.svc.spec.Name, text) }

// describeExit words an exit for the service's log, e.g. "exited with code 1 after 200ms".
func describeExit(e Exit) string {
	if e.Signal != "" {
		return fmt.Sprintf("killed by %s after %s", e.Signal, shortDuration(e.Ran))
	}
	return fmt.Sprintf("exited with code %d after %s", e.Code, shortDuration(e.Ran))
}

func formatAddrs(addrs map[string]string) string {
	var parts []string
	for _, k := range slices.Sorted(maps.Keys(addrs)) {
		parts = append(parts, k+"="+addrs[k])
	}
	return strings.Join(parts, " ")
}

func timerC(t *time.Timer) <-chan time.Time {
	if t == nil {
		return nil
	}
	return t.C
}

func stopTimer(t **time.Timer) {
	if *t != nil {
		(*t).Stop()
		*t = nil
	}
}
