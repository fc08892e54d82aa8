package supervisor

import (
	"testing"
	"time"
)

func TestNextProbeWaitsForTheFirstDue(t *testing.T) {
	p := Policy{Tick: 500 * time.Millisecond, HealthyProbe: 5 * time.Second}
	now := time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)
	fine, sick, fresh := &run{}, &run{}, &run{}
	last := map[*run]time.Time{fine: now.Add(-2 * time.Second), sick: now.Add(-200 * time.Millisecond)}
	cases := []struct {
		name    string
		targets []probeTarget
		want    time.Duration
	}{
		{"nothing to probe", nil, 5 * time.Second},
		{"a healthy service", []probeTarget{{run: fine, healthy: true}}, 3 * time.Second},
		{"and one not yet healthy", []probeTarget{{run: fine, healthy: true}, {run: sick}}, 300 * time.Millisecond},
		{"and one never probed", []probeTarget{{run: fine, healthy: true}, {run: fresh}}, 0},
	}
	for _, c := range cases {
		if got := p.nextProbeIn(c.targets, last, now); got != c.want {
			t.Errorf("%s: next probe in %v, want %v", c.name, got, c.want)
		}
	}
}
