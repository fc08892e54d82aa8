package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/preflight"
	"github.com/palyra/palyra/supervisor/stack"
	"github.com/palyra/palyra/tui/termtext"
)

func newDoctorCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check that this machine can run the stack, with a fix for each problem (exit 1 if blocked)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			checks, err := doctor(cmd.Context(), g.cfg)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				enc.Encode(checksJSON(checks))
			} else {
				printChecks(out, checks)
			}
			if preflight.Blocked(checks) {
				return &exitError{code: exitFailure, err: errors.New("")}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

// printChecks prints one line per check, its fix below its detail, in columns as wide as
// the widest status and label.
func printChecks(w io.Writer, checks []supervisor.Check) {
	statusWidth, labelWidth := 0, 0
	for _, c := range checks {
		statusWidth = max(statusWidth, termtext.Width(string(c.Status)))
		labelWidth = max(labelWidth, termtext.Width(textsafe.Clean(c.Label)))
	}
	indent := strings.Repeat(" ", statusWidth+2+labelWidth+2)
	for _, c := range checks {
		fmt.Fprintf(w, "%s  %s  %s\n", termtext.Pad(string(c.Status), statusWidth),
			termtext.Pad(textsafe.Clean(c.Label), labelWidth), textsafe.Clean(c.Detail))
		if c.Fix != "" {
			fmt.Fprintf(w, "%sfix: %s\n", indent, textsafe.Clean(c.Fix))
		}
	}
}

// checkJSON is the documented shape of one `doctor --json` entry.
type checkJSON struct {
	Key    string `json:"key"`
	Label  string `json:"label"`
	Status string `json:"status"`
	Detail string `json:"detail"`
	Fix    string `json:"fix"`
}

func checksJSON(checks []supervisor.Check) []checkJSON {
	out := make([]checkJSON, 0, len(checks))
	for _, c := range checks {
		out = append(out, checkJSON{Key: c.Key, Label: c.Label, Status: string(c.Status), Detail: c.Detail, Fix: c.Fix})
	}
	return out
}

// doctor asks the running supervisor, which knows which ports its services hold; with none
// running it checks from here, which is when the answers matter most.
func doctor(ctx context.Context, cfg stack.Config) ([]supervisor.Check, error) {
	client, err := stack.Attach(ctx, cfg)
	if errors.Is(err, api.ErrNotRunning) {
		return preflight.Run(ctx, cfg.PreflightTarget(nil)), nil
	}
	if err != nil {
		return nil, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	return client.Preflight(ctx)
}
