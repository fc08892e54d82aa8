package supervisor

import (
	"context"
	"math"
	"os"
	"time"

	"github.com/palyra/palyra/internal/diskspace"
)

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
	prev := s.sample(nil)
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			prev = s.sample(prev)
		}
	}
}

// sample takes one reading per process; CPU use is measured against prev, the last samples
// by pid, and the new samples are returned for the next call.
func (s *Supervisor) sample(prev map[int]procSample) map[int]procSample {
	targets := []sampleTarget{{pid: os.Getpid()}}
	s.mu.Lock()
	for _, svc := range s.services {
		if svc.status.PID > 0 {
			targets = append(targets, sampleTarget{svc: svc, pid: svc.status.PID})
		}
	}
	s.mu.Unlock()

	next := make(map[int]procSample, len(targets))
	readings := make([]reading, len(targets))
	for i, t := range targets {
		cur, err := readProcSample(t.pid)
		if err != nil {
			continue // it exited since the list was made
		}
		next[t.pid] = cur
		readings[i] = reading{ok: true, rssBytes: cur.rssBytes}
		if p, ok := prev[t.pid]; ok {
			readings[i].cpu = cpuPercent(p, cur)
		}
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
			changed = changed || noticeable(s.info.CPUPercent, s.info.RSSBytes, r)
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

func noticeable(cpu float64, rss uint64, r reading) bool {
	const rssStep = 1 << 20 / 10
	return math.Abs(cpu-r.cpu) >= 0.05 || max(rss, r.rssBytes)-min(rss, r.rssBytes) >= rssStep
}
