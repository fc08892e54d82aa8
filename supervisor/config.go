package supervisor

import (
	"crypto/tls"
	"log/slog"
	"time"

	"github.com/palyra/palyra/supervisor/logs"
)

// Spec describes one supervised service.
type Spec struct {
	Name string
	Path string
	Args []string
	// Argv0 is the name the process is started under, which ps and the snapshot's command
	// show; empty means Path. It matters when Path is /proc/self/exe.
	Argv0 string
	// Env is added to the supervisor's own environment for the child. It may hold secrets, so
	// it travels only through the environment: never on the command line, never into a log.
	Env []string
	// HealthAddr names the entry of the ready line's addrs to probe with grpc.health.v1;
	// empty means no probe.
	HealthAddr string
	// HealthTLS, when set, gives the TLS configuration to probe with, for a service that
	// serves TLS only. It is called for each run, so it may read what the service made on
	// its first start.
	HealthTLS func() (*tls.Config, error)
	// WaitReady keeps the service starting until its ready line arrives on stdout.
	WaitReady bool
	// Critical makes the overall status down while the service is not running.
	Critical bool
}

func (s Spec) argv0() string {
	if s.Argv0 != "" {
		return s.Argv0
	}
	return s.Path
}

// Policy holds the restart, stop and probe timings.
type Policy struct {
	BackoffInitial time.Duration // first restart delay, doubled per consecutive failure; 0 restarts at once
	BackoffMax     time.Duration // cap on the restart delay
	StableAfter    time.Duration // running this long resets the attempt count
	FatalAfter     int           // consecutive failures before giving up
	FailureRun     time.Duration // a run shorter than this counts as a failure
	StopTimeout    time.Duration // SIGTERM to SIGKILL
	ReadyTimeout   time.Duration // spawn to ready line, for services that wait for it
	Tick           time.Duration // health probe period until a service is healthy
	HealthyProbe   time.Duration // health probe period while a service stays healthy
	MetricsEvery   time.Duration // CPU and memory sample period
}

// DefaultPolicy returns the timings from the design: 500 ms backoff doubling to 30 s, reset
// after 60 s of stable running, fatal after 10 failed runs under 10 s each.
func DefaultPolicy() Policy {
	return Policy{
		BackoffInitial: 500 * time.Millisecond,
		BackoffMax:     30 * time.Second,
		StableAfter:    60 * time.Second,
		FatalAfter:     10,
		FailureRun:     10 * time.Second,
		StopTimeout:    10 * time.Second,
		ReadyTimeout:   30 * time.Second,
		Tick:           500 * time.Millisecond,
		HealthyProbe:   5 * time.Second,
		MetricsEvery:   2 * time.Second,
	}
}

// delay is the wait before restart number attempt (1-based).
func (p Policy) delay(attempt int) time.Duration {
	d := p.BackoffInitial
	for i := 1; i < attempt && d > 0 && d < p.BackoffMax; i++ {
		d *= 2
	}
	return min(d, p.BackoffMax)
}

// Config wires a Supervisor. A zero Policy means DefaultPolicy.
type Config struct {
	Specs   []Spec
	Policy  Policy
	Logs    *logs.Store  // required: receives the children's output and the supervisor's notes
	Logger  *slog.Logger // nil discards
	Home    string
	Socket  string
	Version string
}
