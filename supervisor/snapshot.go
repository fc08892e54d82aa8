package supervisor

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/palyra/palyra/internal/diskspace"
)

// Snapshot returns a copy of the current state that the caller may keep and change.
func (s *Supervisor) Snapshot() Snapshot {
	now := time.Now()
	specs := make([]Spec, len(s.services))
	s.mu.Lock()
	snap := Snapshot{GeneratedAt: now, Supervisor: s.info, Services: make([]ServiceStatus, len(s.services))}
	for i, svc := range s.services {
		specs[i] = svc.spec
		snap.Services[i] = cloneStatus(svc.status)
	}
	diskFree := s.diskFree
	s.mu.Unlock()
	for i := range snap.Services {
		snap.Services[i].DroppedLines = s.logs.Dropped(snap.Services[i].Name)
	}
	snap.Overall, snap.Reasons = overall(specs, snap.Services, now)
	if diskFree >= 0 && diskFree < DiskFullBelow {
		// Nothing stops, but nothing new is kept: decisions are refused and log lines lost.
		snap.Reasons = append(snap.Reasons, fmt.Sprintf("disk: the file system of %s is full (%s free): palyrad cannot save "+
			"approvals or devices and log lines are lost; free space there", s.info.Home, diskspace.Format(uint64(diskFree))))
		if snap.Overall == OverallHealthy {
			snap.Overall = OverallDegraded
		}
	}
	return snap
}

// DiskFullBelow is the free space under which the state directory's file system counts as
// full: less than a bbolt transaction or a batch of log lines may need.
const DiskFullBelow = 1 << 20

func cloneStatus(st ServiceStatus) ServiceStatus {
	st.Addrs = maps.Clone(st.Addrs)
	st.RecentExits = slices.Clone(st.RecentExits)
	st.Command = slices.Clone(st.Command)
	if st.LastExit != nil {
		e := *st.LastExit
		st.LastExit = &e
	}
	return st
}

// overall grades the stack: down while a critical service is not running, degraded while any
// service is not running and healthy, else healthy. Each problem gets a reason.
func overall(specs []Spec, statuses []ServiceStatus, now time.Time) (Overall, []string) {
	grade := OverallHealthy
	var reasons []string
	for i, st := range statuses {
		problem := problemOf(specs[i], st, now)
		if problem == "" {
			continue
		}
		reasons = append(reasons, st.Name+": "+problem)
		switch {
		case specs[i].Critical && st.State != StateRunning:
			grade = OverallDown
		case grade == OverallHealthy:
			grade = OverallDegraded
		}
	}
	return grade, reasons
}

// problemOf says what keeps a service from running healthy, or "" if nothing does.
func problemOf(spec Spec, st ServiceStatus, now time.Time) string {
	switch st.State {
	case StateRunning:
		switch {
		case spec.HealthAddr == "" || st.Health == HealthHealthy:
			return ""
		case st.Health == HealthUnhealthy:
			return fmt.Sprintf("unhealthy (%s)", st.HealthDetail)
		default:
			return "health not yet known"
		}
	case StateBackoff:
		return fmt.Sprintf("backoff (%s), restart in %s", st.Reason, shortDuration(max(st.NextRestart.Sub(now), 0)))
	case StateFatal:
		return "fatal: " + st.Reason
	default:
		return string(st.State)
	}
}
