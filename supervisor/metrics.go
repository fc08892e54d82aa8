package supervisor

import (
	"context"
	"os"
	"time"
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

	s.mu.Lock()
	for i, t := range targets {
		r := readings[i]
		switch {
		case !r.ok:
		case t.svc == nil:
			s.info.CPUPercent, s.info.RSSBytes = r.cpu, r.rssBytes
		case t.svc.status.PID == t.pid:
			t.svc.status.CPUPercent, t.svc.status.RSSBytes = r.cpu, r.rssBytes
		}
	}
	s.mu.Unlock()
	s.notify()
	return next
}
