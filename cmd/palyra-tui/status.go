package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/stack"
)

// statusJSON is the documented, stable shape of `status --json`.
type statusJSON struct {
	Overall    string          `json:"overall"`
	Reasons    []string        `json:"reasons"`
	Supervisor *supervisorJSON `json:"supervisor"`
	Services   []serviceJSON   `json:"services"`
}

type supervisorJSON struct {
	PID     int    `json:"pid"`
	Version string `json:"version"`
	Home    string `json:"home"`
	Socket  string `json:"socket"`
}

type serviceJSON struct {
	Name         string            `json:"name"`
	State        string            `json:"state"`
	Health       string            `json:"health"`
	PID          int               `json:"pid"`
	Addrs        map[string]string `json:"addrs"`
	UptimeS      float64           `json:"uptime_s"`
	Restarts     int               `json:"restarts"`
	Attempt      int               `json:"attempt"`
	NextRestart  *time.Time        `json:"next_restart"`
	LastExit     *exitJSON         `json:"last_exit"`
	CPUPercent   float64           `json:"cpu_percent"`
	RSSBytes     uint64            `json:"rss_bytes"`
	DroppedLines uint64            `json:"dropped_lines"`
	Reason       string            `json:"reason"`
	Version      string            `json:"version"`
	LogFile      string            `json:"log_file"`
}

type exitJSON struct {
	At          time.Time `json:"at"`
	Code        int       `json:"code"`
	Signal      string    `json:"signal"`
	RanS        float64   `json:"ran_s"`
	Description string    `json:"description"`
}

func toStatusJSON(s supervisor.Snapshot, now time.Time) statusJSON {
	out := statusJSON{Overall: string(s.Overall), Reasons: s.Reasons, Services: []serviceJSON{}}
	if out.Reasons == nil {
		out.Reasons = []string{}
	}
	if s.Supervisor.PID != 0 {
		out.Supervisor = &supervisorJSON{PID: s.Supervisor.PID, Version: s.Supervisor.Version, Home: s.Supervisor.Home, Socket: s.Supervisor.Socket}
	}
	for _, svc := range s.Services {
		j := serviceJSON{
			Name: svc.Name, State: string(svc.State), Health: string(svc.Health), PID: svc.PID,
			Addrs: svc.Addrs, Restarts: svc.Restarts, Attempt: svc.Attempt,
			CPUPercent: svc.CPUPercent, RSSBytes: svc.RSSBytes, DroppedLines: svc.DroppedLines,
			Reason: svc.Reason, Version: svc.Version, LogFile: svc.LogFile,
		}
		if j.Addrs == nil {
			j.Addrs = map[string]string{}
		}
		if !svc.StartedAt.IsZero() && svc.PID != 0 {
			j.UptimeS = now.Sub(svc.StartedAt).Round(time.Millisecond).Seconds()
		}
		if !svc.NextRestart.IsZero() {
			t := svc.NextRestart
			j.NextRestart = &t
		}
		if e := svc.LastExit; e != nil {
			j.LastExit = &exitJSON{At: e.At, Code: e.Code, Signal: e.Signal, RanS: e.Ran.Seconds(), Description: e.String()}
		}
		out.Services = append(out.Services, j)
	}
	return out
}

func newStatusCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the services (exit 0 healthy, 3 degraded, 1 down or no supervisor)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			snap, err := currentSnapshot(cmd.Context(), g.cfg)
			if errors.Is(err, api.ErrNotRunning) {
				snap = supervisor.Snapshot{Overall: supervisor.OverallDown, Reasons: []string{"supervisor not running on " + g.cfg.Home}}
			} else if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				if err := enc.Encode(toStatusJSON(snap, time.Now())); err != nil {
					return err
				}
			} else {
				printStatus(out, snap, time.Now())
			}
			switch snap.Overall {
			case supervisor.OverallHealthy:
				return nil
			case supervisor.OverallDegraded:
				return &exitError{code: exitDegraded, err: errors.New("")}
			default:
				return &exitError{code: exitFailure, err: errors.New("")}
			}
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func currentSnapshot(ctx context.Context, cfg stack.Config) (supervisor.Snapshot, error) {
	client, err := stack.Attach(ctx, cfg)
	if err != nil {
		return supervisor.Snapshot{}, err
	}
	defer client.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	return client.GetSnapshot(ctx)
}

func printStatus(w io.Writer, s supervisor.Snapshot, now time.Time) {
	fmt.Fprintf(w, "palyra: %s", s.Overall)
	if s.Supervisor.PID != 0 {
		fmt.Fprintf(w, "   supervisor pid %d · %s · %s", s.Supervisor.PID, s.Supervisor.Version, s.Supervisor.Home)
	}
	fmt.Fprintln(w)
	if v := s.Supervisor.Version; v != "" && v != buildinfo.Version {
		fmt.Fprintf(w, "  note: the supervisor runs %s, this palyra-tui is %s; `palyra-tui shutdown` and start again to switch\n", textsafe.Clean(v), buildinfo.Version)
	}
	for _, r := range s.Reasons {
		fmt.Fprintln(w, "  -", textsafe.Clean(r))
	}
	if len(s.Services) == 0 {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTATE\tHEALTH\tPID\tADDRESS\tUPTIME\tRESTARTS\tCPU\tMEM\tLAST EXIT")
	for _, svc := range s.Services {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\n",
			svc.Name, stateText(svc, now), svc.Health, dash(svc.PID), addrsText(svc.Addrs),
			uptimeText(svc, now), svc.Restarts, fmt.Sprintf("%.1f%%", svc.CPUPercent),
			memText(svc.RSSBytes), exitText(svc.LastExit))
	}
	tw.Flush()
}

func stateText(svc supervisor.ServiceStatus, now time.Time) string {
	if svc.State == supervisor.StateBackoff && !svc.NextRestart.IsZero() {
		return fmt.Sprintf("backoff (restart in %s)", roundDur(svc.NextRestart.Sub(now)))
	}
	return string(svc.State)
}

func dash(pid int) string {
	if pid == 0 {
		return "-"
	}
	return fmt.Sprint(pid)
}

func addrsText(addrs map[string]string) string {
	if len(addrs) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(addrs))
	for k := range addrs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, textsafe.Clean(addrs[k]))
	}
	return strings.Join(parts, ",")
}

func uptimeText(svc supervisor.ServiceStatus, now time.Time) string {
	if svc.PID == 0 || svc.StartedAt.IsZero() {
		return "-"
	}
	return roundDur(now.Sub(svc.StartedAt))
}

func roundDur(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d < time.Minute {
		return d.Round(100 * time.Millisecond).String()
	}
	return d.Round(time.Second).String()
}

func memText(b uint64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20))
}

func exitText(e *supervisor.Exit) string {
	if e == nil {
		return "-"
	}
	return e.String()
}
