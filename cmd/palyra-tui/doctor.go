package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/preflight"
	"github.com/palyra/palyra/supervisor/stack"
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
				for _, c := range checks {
					fmt.Fprintf(out, "%-8s %-20s %s\n", c.Status, c.Label, textsafe.Clean(c.Detail))
					if c.Fix != "" {
						fmt.Fprintf(out, "%-8s %-20s fix: %s\n", "", "", textsafe.Clean(c.Fix))
					}
				}
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
