package supervisor

import (
	"fmt"
	"time"
)

// State is where a service is in its lifecycle.
type State string

// The service states. backoff waits to restart after a crash; fatal gave up and only an
// operator start clears it.
const (
	StateStopped  State = "stopped"
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateBackoff  State = "backoff"
	StateFatal    State = "fatal"
)

// Health is the result of the standard gRPC health probe, kept apart from State.
type Health string

// The health values.
const (
	HealthUnknown   Health = "unknown"
	HealthHealthy   Health = "healthy"
	HealthUnhealthy Health = "unhealthy"
)

// Overall summarizes the whole stack.
type Overall string

// The overall values.
const (
	OverallHealthy  Overall = "healthy"
	OverallDegraded Overall = "degraded"
	OverallDown     Overall = "down"
)

// Exit records how one run of a service ended.
type Exit struct {
	At     time.Time
	Code   int    // -1 when killed by a signal
	Signal string // "SIGKILL" when killed by a signal, else empty
	Ran    time.Duration
}

// ServiceStatus is one service's row in a snapshot.
type ServiceStatus struct {
	Name         string
	State        State
	Health       Health
	HealthDetail string
	PID          int
	Addrs        map[string]string // from the child's ready line, e.g. "admin": "127.0.0.1:7443"
	StartedAt    time.Time         // zero unless running or starting
	Restarts     int               // restarts since the supervisor started, by crash or by operator
	Attempt      int               // consecutive failed runs; 0 after a stable run
	NextRestart  time.Time         // set in backoff
	LastExit     *Exit
	RecentExits  []Exit // newest first, at most a handful
	CPUPercent   float64
	RSSBytes     uint64
	Command      []string
	LogFile      string
	DroppedLines uint64
	Reason       string // why it is fatal or why it could not start
	Version      string // reported by the child's ready line
}

// Snapshot is everything the cockpit shows, built by the supervisor and pushed to watchers.
type Snapshot struct {
	GeneratedAt time.Time
	Overall     Overall
	Reasons     []string
	Services    []ServiceStatus
	Supervisor  Info
}

// Info describes the supervisor process itself.
type Info struct {
	PID        int
	Version    string
	Home       string
	Socket     string
	StartedAt  time.Time
	CPUPercent float64
	RSSBytes   uint64
}

// CheckStatus grades one preflight check.
type CheckStatus string

// The preflight grades.
const (
	CheckOK      CheckStatus = "ok"
	CheckWarning CheckStatus = "warning"
	CheckBlocked CheckStatus = "blocked"
)

// Check is one preflight result with the fix an operator can apply.
type Check struct {
	Key    string
	Label  string
	Status CheckStatus
	Detail string
	Fix    string
}

// String describes the exit in a few words, e.g. "exit 1 after 0.2s" or "SIGKILL after 3m2s".
func (e Exit) String() string {
	how := fmt.Sprintf("exit %d", e.Code)
	if e.Signal != "" {
		how = e.Signal
	}
	return how + " after " + shortDuration(e.Ran)
}

func shortDuration(d time.Duration) string {
	switch {
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	case d < time.Minute:
		return d.Round(100 * time.Millisecond).String()
	default:
		return d.Round(time.Second).String()
	}
}
