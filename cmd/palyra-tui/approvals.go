package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// approvalJSON is the documented shape of one approval (`approvals list --json` prints an
// array of them; `approvals show --json` and `approvals request --json` one):
//
//	{"id": "ap-7", "subject_type": "device_pairing", "subject_id": "…", "risk": "high",
//	 "requester": "palyrad", "summary": "pair kitchen-pi (linux/arm64)", "details": "…",
//	 "created_unix_ms": …, "expires_unix_ms": …, "state": "pending",
//	 "scope": "", "grant_ms": 0, "reason": "", "decider": "", "decided_unix_ms": 0}
//
// subject_type is device_pairing, node_capability, channel_mutation or external; risk low,
// medium, high or critical; state pending, approved, denied or timed_out; scope once, session
// or ttl once approved (grant_ms is the time box of ttl); reason is a denial's.
type approvalJSON struct {
	ID            string `json:"id"`
	SubjectType   string `json:"subject_type"`
	SubjectID     string `json:"subject_id"`
	Risk          string `json:"risk"`
	Requester     string `json:"requester"`
	Summary       string `json:"summary"`
	Details       string `json:"details"`
	CreatedUnixMs int64  `json:"created_unix_ms"`
	ExpiresUnixMs int64  `json:"expires_unix_ms"`
	State         string `json:"state"`
	Scope         string `json:"scope"`
	GrantMs       int64  `json:"grant_ms"`
	Reason        string `json:"reason"`
	Decider       string `json:"decider"`
	DecidedUnixMs int64  `json:"decided_unix_ms"`
}

// approvalEventJSON is the documented shape of one `approvals watch` line:
//
//	{"kind": "requested", "approval": <approval>}
//
// kind is "pending" (one line per approval pending when the watch starts), then
// "requested", "decided" or "timed_out" as they happen.
type approvalEventJSON struct {
	Kind     string       `json:"kind"`
	Approval approvalJSON `json:"approval"`
}

func toApprovalJSON(a *palyrav1.Approval) approvalJSON {
	return approvalJSON{
		ID: a.GetId(), SubjectType: a.GetSubjectType(), SubjectID: a.GetSubjectId(), Risk: a.GetRisk(),
		Requester: a.GetRequester(), Summary: a.GetSummary(), Details: a.GetDetails(),
		CreatedUnixMs: a.GetCreatedUnixMs(), ExpiresUnixMs: a.GetExpiresUnixMs(), State: a.GetState(),
		Scope: a.GetScope(), GrantMs: a.GetGrantMs(), Reason: a.GetReason(), Decider: a.GetDecider(),
		DecidedUnixMs: a.GetDecidedUnixMs(),
	}
}

func newApprovalsCmd(g *globals) *cobra.Command {
	verbs := "list, show, approve, deny, watch or request"
	cmd := &cobra.Command{
		Use:   "approvals",
		Short: "List, show and decide approvals; watch them; request one from a script",
		Args:  noVerb(verbs),
		RunE: func(*cobra.Command, []string) error {
			return usageError{errors.New("approvals needs one of " + verbs)}
		},
	}
	cmd.AddCommand(
		newApprovalsListCmd(g),
		newApprovalsShowCmd(g),
		newApprovalsApproveCmd(g),
		newApprovalsDenyCmd(g),
		newApprovalsWatchCmd(g),
		newApprovalsRequestCmd(g),
	)
	return cmd
}

func newApprovalsListCmd(g *globals) *cobra.Command {
	var (
		state  string
		all    bool
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List pending approvals, newest first (--all: every state)",
		Args:  exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if all && cmd.Flags().Changed("state") {
				return usageError{errors.New("--all lists every state; leave out --state")}
			}
			if all {
				state = ""
			}
			reply, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.ListApprovalsReply, error) {
				return gw.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: state})
			})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				list := make([]approvalJSON, 0, len(reply.GetApprovals()))
				for _, a := range reply.GetApprovals() {
					list = append(list, toApprovalJSON(a))
				}
				return writeJSON(out, list)
			}
			printApprovals(out, reply.GetApprovals(), state, time.Now())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "pending", "only approvals in this state: pending, approved, denied, timed_out")
	f.BoolVar(&all, "all", false, "approvals in every state")
	f.BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printApprovals(w io.Writer, list []*palyrav1.Approval, state string, now time.Time) {
	if len(list) == 0 {
		if state == "" {
			fmt.Fprintln(w, "no approvals")
		} else {
			fmt.Fprintf(w, "no %s approvals\n", textsafe.Clean(state))
		}
		return
	}
	rows := make([][]string, 0, len(list))
	for _, a := range list {
		when := until(a.GetExpiresUnixMs(), now)
		if a.GetState() != "pending" {
			when = ago(a.GetDecidedUnixMs(), now)
		}
		rows = append(rows, []string{clean(a.GetId()), clean(a.GetState()), clean(a.GetRisk()),
			clean(a.GetSubjectType()), clean(a.GetRequester()), when, clean(a.GetSummary())})
	}
	writeTable(w, tableWidth, []column{{header: "ID"}, {header: "STATE"}, {header: "RISK"},
		{header: "SUBJECT", min: 8}, {header: "REQUESTER", min: 8}, {header: "WHEN"}, {header: "SUMMARY", min: 12}}, rows)
}

func newApprovalsShowCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one approval with its details",
		Args:  exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			a, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Approval, error) {
				return gw.Approvals.GetApproval(ctx, &palyrav1.GetApprovalRequest{Id: args[0]})
			})
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), toApprovalJSON(a))
			}
			printApproval(cmd.OutOrStdout(), a, time.Now())
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON (documented in the README)")
	return cmd
}

func printApproval(w io.Writer, a *palyrav1.Approval, now time.Time) {
	field := func(label, value string) { fmt.Fprintf(w, "%-10s %s\n", label, value) }
	fmt.Fprintf(w, "%s  %s\n", clean(a.GetId()), clean(a.GetSummary()))
	field("state", decisionText(a))
	field("subject", clean(a.GetSubjectType())+" "+clean(a.GetSubjectId()))
	field("risk", clean(a.GetRisk()))
	field("requester", clean(a.GetRequester()))
	field("created", stamp(a.GetCreatedUnixMs(), now))
	field("expires", stamp(a.GetExpiresUnixMs(), now))
	if a.GetDecidedUnixMs() != 0 {
		field("decided", stamp(a.GetDecidedUnixMs(), now))
	}
	if details := a.GetDetails(); details != "" {
		// Indented, every line of them: text from the requester cannot pass for a field.
		fmt.Fprintln(w, "\nDETAILS")
		printIndented(w, []byte(details), "  ")
	}
}

// decisionText says where an approval stands: "pending", "approved (session) by admin",
// "denied by admin: not this one", "timed out".
func decisionText(a *palyrav1.Approval) string {
	switch a.GetState() {
	case "approved":
		scope := clean(a.GetScope())
		if a.GetScope() == "ttl" {
			scope = "for " + (time.Duration(a.GetGrantMs()) * time.Millisecond).String()
		}
		return "approved (" + scope + ") by " + clean(a.GetDecider())
	case "denied":
		return "denied by " + clean(a.GetDecider()) + ": " + clean(a.GetReason())
	case "timed_out":
		return "timed out"
	default:
		return clean(a.GetState())
	}
}

// parseScope reads --scope: once, session or ttl=DURATION.
func parseScope(s string) (scope string, grantMs int64, err error) {
	switch {
	case s == "once" || s == "session":
		return s, 0, nil
	case strings.HasPrefix(s, "ttl="):
		d, err := time.ParseDuration(strings.TrimPrefix(s, "ttl="))
		if err == nil && d >= time.Millisecond {
			return "ttl", d.Milliseconds(), nil
		}
	}
	return "", 0, usageError{fmt.Errorf("--scope %q: want once, session or ttl=DURATION (e.g. ttl=2h)", s)}
}

func newApprovalsApproveCmd(g *globals) *cobra.Command {
	var scope string
	cmd := &cobra.Command{
		Use:   "approve ID",
		Short: "Approve a pending approval",
		Example: "  palyra-tui approvals approve ap-7\n" +
			"  palyra-tui approvals approve ap-7 --scope ttl=2h",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			s, grant, err := parseScope(scope)
			if err != nil {
				return err
			}
			return decide(cmd, g, &palyrav1.DecideRequest{Id: args[0], Approve: true, Scope: s, GrantMs: grant})
		},
	}
	cmd.Flags().StringVar(&scope, "scope", "once", "once, session (the same request is allowed for the requester's session) or ttl=DURATION")
	return cmd
}

func newApprovalsDenyCmd(g *globals) *cobra.Command {
	var reason string
	cmd := &cobra.Command{
		Use:     "deny ID --reason REASON",
		Short:   "Deny a pending approval, saying why",
		Example: "  palyra-tui approvals deny ap-7 --reason 'unknown device'",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if strings.TrimSpace(reason) == "" {
				return usageError{errors.New("deny needs --reason: the requester and the audit journal see it")}
			}
			return decide(cmd, g, &palyrav1.DecideRequest{Id: args[0], Reason: reason})
		},
	}
	cmd.Flags().StringVar(&reason, "reason", "", "why (required)")
	return cmd
}

func decide(cmd *cobra.Command, g *globals, req *palyrav1.DecideRequest) error {
	a, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Approval, error) {
		return gw.Approvals.Decide(ctx, req)
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s %s: %s\n", clean(a.GetId()), decisionText(a), clean(a.GetSummary()))
	return nil
}

func newApprovalsWatchCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "watch",
		Short: "Print approval events as JSON lines until interrupted (exit 1 if the stream breaks)",
		Long: "watch prints one JSON object per line: first every pending approval (kind \"pending\"),\n" +
			"then each one requested, decided or timed out. It runs until SIGINT or SIGTERM (exit 0);\n" +
			"if palyrad ends the stream it exits 1, so a supervising script can start it again.",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			gw, err := dialGateway(ctx, g)
			if err != nil {
				return err
			}
			defer gw.Close()
			stream, err := gw.Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
			if err != nil {
				return gw.fail(err)
			}
			// Each Encode is one write of one line, so a pipe sees every event at once.
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetEscapeHTML(false)
			for {
				ev, err := stream.Recv()
				if ctx.Err() != nil {
					return nil
				}
				if errors.Is(err, io.EOF) {
					return errors.New("palyrad ended the approval stream")
				}
				if err != nil {
					return gw.fail(err)
				}
				if err := enc.Encode(approvalEventJSON{Kind: ev.GetKind(), Approval: toApprovalJSON(ev.GetApproval())}); err != nil {
					return err
				}
			}
		},
	}
}

// requestGrace is how much longer than the approval's own expiry the client waits for
// palyrad to report the outcome.
const requestGrace = 30 * time.Second

// defaultRequestTTL is the server's default wait for a decision.
const defaultRequestTTL = 10 * time.Minute

func newApprovalsRequestCmd(g *globals) *cobra.Command {
	var (
		req    palyrav1.RequestApprovalRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "request --subject S --risk R --summary TEXT",
		Short: "Ask the operator for an approval and wait: exit 0 approved, 1 denied or timed out",
		Example: "  palyra-tui approvals request --subject deploy/prod --risk high \\\n" +
			"      --summary 'deploy build 412 to prod' --ttl 15m && ./deploy.sh",
		Args: exactArgs(0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, name := range []string{"subject-type", "subject", "risk", "summary"} {
				if v, _ := cmd.Flags().GetString(name); strings.TrimSpace(v) == "" {
					return usageError{fmt.Errorf("request needs --%s", name)}
				}
			}
			var err error
			if req.TtlMs, err = durationMs(cmd, "ttl"); err != nil {
				return err
			}
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGINT, syscall.SIGTERM)
			defer stop()
			gw, err := dialGateway(ctx, g)
			if err != nil {
				return err
			}
			defer gw.Close()
			wait := defaultRequestTTL
			if req.TtlMs > 0 {
				wait = time.Duration(req.TtlMs) * time.Millisecond
			}
			ctx, cancel := context.WithTimeout(ctx, wait+requestGrace)
			defer cancel()
			a, err := gw.Approvals.RequestApproval(ctx, &req)
			if err != nil {
				if ctx.Err() == context.Canceled {
					return errors.New("interrupted; the request stays pending until it expires")
				}
				return gw.fail(err)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				if err := writeJSON(out, toApprovalJSON(a)); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "%s %s\n", clean(a.GetId()), decisionText(a))
			}
			if a.GetState() != "approved" {
				return &exitError{code: exitFailure, err: errors.New("")}
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.SubjectType, "subject-type", "external", "external or channel_mutation")
	f.StringVar(&req.SubjectId, "subject", "", "what the approval is about, e.g. deploy/prod (required)")
	f.StringVar(&req.Risk, "risk", "", "low, medium, high or critical (required)")
	f.StringVar(&req.Summary, "summary", "", "one line for the operator (required)")
	f.StringVar(&req.Details, "details", "", "more for the detail view, often JSON")
	f.Duration("ttl", 0, "how long to wait for a decision (default 10m)")
	f.BoolVar(&asJSON, "json", false, "print the decided approval as JSON")
	return cmd
}
