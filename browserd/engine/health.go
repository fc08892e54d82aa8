package engine

import "time"

// Status is the engine's overall state in a Health.
type Status string

// The engine's states.
const (
	StatusStarting Status = "starting" // Start has not finished launching the browser
	StatusOK       Status = "ok"       // the browser runs; sessions can be created
	StatusDegraded Status = "degraded" // no browser: missing, failed to start, or restarting
)

// Health is the browser's state as browserd reports it.
type Health struct {
	Status         Status
	Reason         string // why degraded, with the fix when there is one
	BrowserPID     int
	BrowserVersion string
	Sessions       int
	Restarts       int       // browser restarts after a crash
	LastCrash      string    // what happened the last time the browser died, "" if never
	LastCrashAt    time.Time // when
}
