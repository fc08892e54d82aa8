package supervisor

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/testfs"
)

func TestPolicyDelay(t *testing.T) {
	p := DefaultPolicy()
	tests := []struct {
		attempt int
		want    time.Duration
	}{
		{1, 500 * time.Millisecond},
		{2, time.Second},
		{3, 2 * time.Second},
		{7, 30 * time.Second},
		{1000, 30 * time.Second},
	}
	for _, tt := range tests {
		if got := p.delay(tt.attempt); got != tt.want {
			t.Errorf("delay(%d) = %v, want %v", tt.attempt, got, tt.want)
		}
	}
	p.BackoffInitial = 0
	if got := p.delay(1 << 30); got != 0 {
		t.Errorf("delay without backoff = %v, want 0", got)
	}
}

func TestOverall(t *testing.T) {
	now := time.Unix(1000, 0)
	daemon := Spec{Name: "daemon", HealthAddr: "admin", Critical: true}
	browserd := Spec{Name: "browserd", HealthAddr: "grpc"}
	plain := Spec{Name: "node"}
	running := func(name string, h Health) ServiceStatus {
		return ServiceStatus{Name: name, State: StateRunning, Health: h}
	}
	tests := []struct {
		name        string
		specs       []Spec
		statuses    []ServiceStatus
		want        Overall
		wantReasons []string
	}{
		{
			name:     "all running and healthy",
			specs:    []Spec{daemon, browserd, plain},
			statuses: []ServiceStatus{running("daemon", HealthHealthy), running("browserd", HealthHealthy), running("node", HealthUnknown)},
			want:     OverallHealthy,
		},
		{
			name:  "optional service in backoff",
			specs: []Spec{daemon, browserd},
			statuses: []ServiceStatus{
				running("daemon", HealthHealthy),
				{Name: "browserd", State: StateBackoff, Reason: "exit 1 after 200ms", NextRestart: now.Add(2 * time.Second)},
			},
			want:        OverallDegraded,
			wantReasons: []string{"browserd: backoff (exit 1 after 200ms), restart in 2s"},
		},
		{
			name:        "unhealthy and not yet probed",
			specs:       []Spec{daemon, browserd},
			statuses:    []ServiceStatus{running("daemon", HealthUnknown), {Name: "browserd", State: StateRunning, Health: HealthUnhealthy, HealthDetail: "NOT_SERVING"}},
			want:        OverallDegraded,
			wantReasons: []string{"daemon: health not yet known", "browserd: unhealthy (NOT_SERVING)"},
		},
		{
			name:        "critical service fatal",
			specs:       []Spec{daemon, browserd},
			statuses:    []ServiceStatus{{Name: "daemon", State: StateFatal, Reason: "gave up"}, running("browserd", HealthHealthy)},
			want:        OverallDown,
			wantReasons: []string{"daemon: fatal: gave up"},
		},
		{
			name:        "critical unhealthy is only degraded",
			specs:       []Spec{daemon},
			statuses:    []ServiceStatus{{Name: "daemon", State: StateRunning, Health: HealthUnhealthy, HealthDetail: "deadline exceeded"}},
			want:        OverallDegraded,
			wantReasons: []string{"daemon: unhealthy (deadline exceeded)"},
		},
		{
			name:        "down stays down after a degraded service",
			specs:       []Spec{browserd, daemon},
			statuses:    []ServiceStatus{{Name: "browserd", State: StateStopped}, {Name: "daemon", State: StateStarting}},
			want:        OverallDown,
			wantReasons: []string{"browserd: stopped", "daemon: starting"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, reasons := overall(tt.specs, tt.statuses, now)
			if got != tt.want || !slices.Equal(reasons, tt.wantReasons) {
				t.Errorf("overall = %s %q, want %s %q", got, reasons, tt.want, tt.wantReasons)
			}
		})
	}
}

func TestCloneStatusIsDeep(t *testing.T) {
	st := ServiceStatus{
		Addrs:       map[string]string{"grpc": "a"},
		RecentExits: []Exit{{Code: 1}},
		Command:     []string{"x"},
		LastExit:    &Exit{Code: 1},
	}
	c := cloneStatus(st)
	c.Addrs["grpc"] = "b"
	c.RecentExits[0].Code = 2
	c.Command[0] = "y"
	c.LastExit.Code = 2
	if st.Addrs["grpc"] != "a" || st.RecentExits[0].Code != 1 || st.Command[0] != "x" || st.LastExit.Code != 1 {
		t.Errorf("changing the clone changed the original: %+v", st)
	}
}

// TestAFullDiskShowsInTheStatus: the services run on, but the operator is told that nothing
// new can be kept, and the status clears once space is back.
func TestAFullDiskShowsInTheStatus(t *testing.T) {
	home := testfs.Small(t, 4<<20)
	h := startIn(t, home, testPolicy(), child("svc", "ready"))
	h.waitFor(t, "healthy", func(s Snapshot) bool { return s.Overall == OverallHealthy })
	filler := testfs.Fill(t, home)
	snap := h.waitFor(t, "the full disk is reported", func(s Snapshot) bool { return s.Overall == OverallDegraded })
	if len(snap.Reasons) != 1 || !strings.Contains(snap.Reasons[0], "disk: the file system of "+home+" is full") ||
		!strings.Contains(snap.Reasons[0], "free space there") {
		t.Fatalf("reasons %q, want one naming the full disk and the fix", snap.Reasons)
	}
	testfs.Free(t, filler)
	h.waitFor(t, "healthy once space is back", func(s Snapshot) bool { return s.Overall == OverallHealthy && len(s.Reasons) == 0 })
}
