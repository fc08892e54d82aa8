// Package capabilities is what a node can do for the gateway: each capability takes JSON
// input and returns JSON output, within the size the caller allows. Mediated ones ask the
// node's own operator first.
package capabilities

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"time"
)

// The capabilities a node offers.
const (
	Echo         = "echo"
	SystemHealth = "system.health"
	SystemInfo   = "system.info"
	OpenURL      = "desktop.open_url"
)

// AwaitingMediation is the progress state a mediated call reports before it asks.
const AwaitingMediation = "awaiting_mediation"

// DefaultMaxOutput applies when a call names no output limit.
const DefaultMaxOutput = 64 << 10

// ErrUnsupported is the error of a call to a capability this node does not have.
var ErrUnsupported = errors.New("unsupported capability")

// Mediator asks the node's operator whether a mediated call may run; question is safe to print.
type Mediator interface {
	Ask(ctx context.Context, question string) (bool, error)
}

// Config is what the capabilities need from the node.
type Config struct {
	Mediator Mediator
	// Opener opens a URL: a program and its leading arguments; the URL is appended as one
	// more argument. It runs directly, never through a shell.
	Opener  []string
	ProcDir string    // "/proc" outside tests
	Started time.Time // when the node started, for its uptime
	Version string    // the node's version
}

// Capability describes a capability as the node announces it.
type Capability struct {
	Name      string
	Available bool
	Mediated  bool
}

// Result is the outcome of a call: JSON output when OK, else an error for the caller.
type Result struct {
	OK     bool
	Output []byte
	Error  string
}

// handler runs one call. progress reports a state change to the gateway.
type handler func(ctx context.Context, input json.RawMessage, progress func(state string)) (any, error)

type entry struct {
	Capability
	run handler
}

// Set is the node's capabilities.
type Set struct {
	entries []entry
}

// New returns the node's capabilities as cfg sets them up.
func New(cfg Config) *Set {
	sys := system{procDir: cfg.ProcDir, started: cfg.Started, version: cfg.Version}
	open := opener{mediator: cfg.Mediator, argv: cfg.Opener}
	return &Set{entries: []entry{
		{Capability{Name: Echo, Available: true}, echo},
		{Capability{Name: SystemHealth, Available: true}, sys.health},
		{Capability{Name: SystemInfo, Available: true}, sys.info},
		{Capability{Name: OpenURL, Available: open.available(), Mediated: true}, open.run},
	}}
}

// List returns the capabilities in a fixed order.
func (s *Set) List() []Capability {
	list := make([]Capability, len(s.entries))
	for i, e := range s.entries {
		list[i] = e.Capability
	}
	return list
}

// Call runs capability name on input. Output larger than maxOutput bytes (DefaultMaxOutput
// when 0) is not returned: the call fails instead.
func (s *Set) Call(ctx context.Context, name string, input []byte, maxOutput int, progress func(state string)) Result {
	var run handler
	for _, e := range s.entries {
		if e.Name == name {
			run = e.run
		}
	}
	if run == nil {
		return failed(ErrUnsupported)
	}
	if len(input) == 0 {
		input = []byte("null")
	}
	if err := checkJSON(input); err != nil {
		return failed(err)
	}
	out, err := run(ctx, input, progress)
	if err != nil {
		return failed(err)
	}
	return encode(out, maxOutput)
}

func checkJSON(input []byte) error {
	var v any
	if err := json.Unmarshal(input, &v); err != nil {
		return fmt.Errorf("input is not valid JSON: %v", err)
	}
	return nil
}

// encode marshals out, refusing output above the limit.
func encode(out any, maxOutput int) Result {
	if maxOutput <= 0 {
		maxOutput = DefaultMaxOutput
	}
	data, err := json.Marshal(out)
	if err != nil {
		return failed(fmt.Errorf("encode output: %w", err))
	}
	if len(data) > maxOutput {
		return failed(fmt.Errorf("output exceeds %d bytes", maxOutput))
	}
	return Result{OK: true, Output: data}
}

func failed(err error) Result { return Result{Error: err.Error()} }

// echo returns its input.
func echo(_ context.Context, input json.RawMessage, _ func(string)) (any, error) {
	return input, nil
}

// lookPath reports whether the program argv names can be run.
func lookPath(argv []string) bool {
	if len(argv) == 0 {
		return false
	}
	_, err := exec.LookPath(argv[0])
	return err == nil
}
