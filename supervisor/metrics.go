package supervisor

import (
	"context"
	"math"
	"os"
	"time"

	"github.com/palyra/palyra/internal/diskspace"
)

// cpuWindow is the span CPU use is measured over. /proc counts CPU time in 10 ms ticks, so
// over the 2 s between samples one tick reads as 0.5 %: an idle process flickered between
// 0.0 and 0.5 %, and every flicker was pushed to the watchers. Over 10 s a tick is 0.1 %,
// the precision shown.
const cpuWindow = 10 * time.Second

type sampleTarget struct {
	svc *service // nil for the supervisor itself
	pid int
}

type reading struct {
	ok       bool
	cpu      float64
	rssBytes uint64
}

// sampleLoop reads the CPU and memory use of the supervisor and every live child.
func (s *Supervisor) sampleLoop(ctx context.Context) {
	tick := time.NewTicker(s.policy.MetricsEvery)
	defer tick.Stop()
	history := s.sample(nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			history = s.sample(history)
		}
	}
}

// sample takes one reading per process; CPU use is measured over cpuWindow against the
// earlier samples of the same pid in history, and the history for the next call is returned.
func (s *Supervisor) sample(history map[int][]procSample) map[int][]procSample {
	targets := []sampleTarget{{pid: os.Getpid()}}
	s.mu.Lock()
	for _, svc := range s.services {
		if svc.status.PID > 0 {
			targets = append(targets, sampleTarget{svc: svc, pid: svc.status.PID})
		}
	}
	s.mu.Unlock()

	next := make(map[int][]procSample, len(targets))
	readings := make([]reading, len(targets))
	for i, t := range targets {
		cur, err := readProcSample(t.pid)
		if err != nil {
			continue // it exited since the list was made
		}
		past := sinceWindow(history[t.pid], cur.at)
		readings[i] = reading{ok: true, rssBytes: cur.rssBytes}
		if len(past) > 0 {
			readings[i].cpu = cpuPercent(past[0], cur)
		}
		next[t.pid] = append(past, cur)
	}

	free := int64(-1)
	if s.info.Home != "" {
		if n, err := diskspace.Free(s.info.Home); err == nil {
			free = int64(n)
		}
	}

	changed := false
	s.mu.Lock()
	if (free >= 0 && free < DiskFullBelow) != (s.diskFree >= 0 && s.diskFree < DiskFullBelow) {
		changed = true
	}
	s.diskFree = free
	for i, t := range targets {
		r := readings[i]
		switch {
		case !r.ok:
		case t.svc == nil:
			// No watcher shows the supervisor's own figures; pushing them would also cost
			// the CPU the next reading shows.
			s.info.CPUPercent, s.info.RSSBytes = r.cpu, r.rssBytes
		case t.svc.status.PID == t.pid:
			changed = changed || noticeable(t.svc.status.CPUPercent, t.svc.status.RSSBytes, r)
			t.svc.status.CPUPercent, t.svc.status.RSSBytes = r.cpu, r.rssBytes
		}
	}
	s.mu.Unlock()
	// Watchers (every open UI) redraw on each push; an idle stack whose figures did not move
	// at the precision shown (0.1 %, 0.1 MiB) has nothing to push.
	if changed {
		s.notify()
	}
	return next
}

// sinceWindow drops the samples older than the newest one at least cpuWindow before now,
// which a reading at now measures from (or from the oldest there is, early on).
func sinceWindow(samples []procSample, now time.Time) []procSample {
	for len(samples) > 1 && now.Sub(samples[1].at) >= cpuWindow {
		samples = samples[1:]
	}
	return samples
}

func noticeable(cpu float64, rss uint64, r reading) bool {
	const rssStep = 1 << 20 / 10
	return math.Abs(cpu-r.cpu) >= 0.05 || max(rss, r.rssBytes)-min(rss, r.rssBytes) >= rssStep
}
