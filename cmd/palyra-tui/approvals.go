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
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

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
	verbs := "list, show, approve, deny, watch, request or wait"
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
		newApprovalsWaitCmd(g),
	)
	return cmd
}

func newApprovalsListCmd(g *globals) *cobra.Command {
	var (
		state  string
		all    bool
		limit  int
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
			if limit < 0 {
				return usageError{errors.New("--limit must be 0 (everything) or more")}
			}
			if all {
				state = ""
			}
			list, more, err := collectPages(cmd, g, limit, func(ctx context.Context, gw *gateway, size uint32, token string) ([]*palyrav1.Approval, string, error) {
				reply, err := gw.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: state, PageSize: size, PageToken: token})
				return reply.GetApprovals(), reply.GetNextPageToken(), err
			})
			if err != nil {
				return err
			}
			if more {
				fmt.Fprintf(cmd.ErrOrStderr(), "palyra-tui: the newest %d shown; more exist: --limit 0 lists them all\n", limit)
			}
			out := cmd.OutOrStdout()
			if asJSON {
				out := make([]approvalJSON, 0, len(list))
				for _, a := range list {
					out = append(out, toApprovalJSON(a))
				}
				return writeJSON(cmd.OutOrStdout(), out)
			}
			printApprovals(out, list, state, time.Now())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&state, "state", "pending", "only approvals in this state: pending, approved, denied, timed_out")
	f.BoolVar(&all, "all", false, "approvals in every state")
	f.IntVar(&limit, "limit", 200, "at most this many, the newest; 0 for all")
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
	writeTable(w, tableWidth(w), []column{{header: "ID"}, {header: "STATE"}, {header: "RISK"},
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
			defer interruptible(cmd)()
			ctx := cmd.Context()
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

// The wait for a decision: each WaitApproval call's own wait, and the back-off while palyrad
// does not answer (a restart), between the first and the longest pause.
const (
	waitCall       = time.Minute
	waitRetryFirst = 250 * time.Millisecond
	waitRetryMax   = 2 * time.Second
)

func newApprovalsRequestCmd(g *globals) *cobra.Command {
	var (
		req    palyrav1.RequestApprovalRequest
		asJSON bool
	)
	cmd := &cobra.Command{
		Use:   "request --subject S --risk R --summary TEXT",
		Short: "Ask the operator for an approval and wait: exit 0 approved, 1 denied or timed out",
		Long: "request prints the approval's id as soon as it exists, then waits for the decision, across\n" +
			"restarts of palyrad. If it is interrupted, `palyra-tui approvals wait ID` waits on. With --json\n" +
			"it prints one JSON line as the approval is stored (state pending) and one when it is settled.",
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
			// From the start: an interrupt after the id is printed must say how to wait on.
			defer interruptible(cmd)()
			a, err := callGateway(cmd, g, func(ctx context.Context, gw *gateway) (*palyrav1.Approval, error) {
				return gw.Approvals.RequestApproval(ctx, &req)
			})
			if err != nil {
				return err
			}
			report := approvalReporter(cmd.OutOrStdout(), asJSON)
			if a.GetState() == "pending" {
				if err := report(a); err != nil {
					return err
				}
				if a, err = awaitDecision(cmd, g, a); err != nil {
					return err
				}
			}
			return settled(a, report)
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.SubjectType, "subject-type", "external", "external (the only type API clients may ask about)")
	f.StringVar(&req.SubjectId, "subject", "", "what the approval is about, e.g. deploy/prod (required)")
	f.StringVar(&req.Risk, "risk", "", "low, medium, high or critical (required)")
	f.StringVar(&req.Summary, "summary", "", "one line for the operator (required)")
	f.StringVar(&req.Details, "details", "", "more for the detail view, often JSON")
	f.Duration("ttl", 0, "how long to wait for a decision, 30s to 24h (default 10m)")
	f.BoolVar(&asJSON, "json", false, "print the approval as JSON lines")
	return cmd
}

func newApprovalsWaitCmd(g *globals) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "wait ID",
		Short: "Wait for an approval's decision: exit 0 approved, 1 denied or timed out",
		Long: "wait waits until the approval is decided or times out, across restarts of palyrad, and\n" +
			"prints the outcome (with --json, the approval as one JSON line).",
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			defer interruptible(cmd)()
			a, err := awaitDecision(cmd, g, &palyrav1.Approval{Id: args[0], State: "pending"})
			if err != nil {
				return err
			}
			return settled(a, approvalReporter(cmd.OutOrStdout(), asJSON))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the approval as one JSON line")
	return cmd
}

// approvalReporter prints an approval as one line: "ap-7 pending: deploy…" or a JSON object.
func approvalReporter(w io.Writer, asJSON bool) func(*palyrav1.Approval) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return func(a *palyrav1.Approval) error {
		if asJSON {
			return enc.Encode(toApprovalJSON(a))
		}
		text := decisionText(a)
		if a.GetState() == "pending" {
			text = "pending: waiting for a decision (`palyra-tui approvals wait " + clean(a.GetId()) + "` waits on if this is interrupted)"
		}
		_, err := fmt.Fprintf(w, "%s %s\n", clean(a.GetId()), text)
		return err
	}
}

// settled reports a settled approval; anything but approved exits 1.
func settled(a *palyrav1.Approval, report func(*palyrav1.Approval) error) error {
	if err := report(a); err != nil {
		return err
	}
	if a.GetState() != "approved" {
		return &exitError{code: exitFailure, err: errors.New("")}
	}
	return nil
}

// awaitDecision waits until approval a is settled or the command's context ends (an
// interrupt). palyrad not answering (restarting, or moved to another port) is waited out,
// dialling again through the supervisor each time, until the approval's expiry is well past.
func awaitDecision(cmd *cobra.Command, g *globals, a *palyrav1.Approval) (*palyrav1.Approval, error) {
	ctx := cmd.Context()
	id := a.GetId()
	giveUp := time.Time{}
	if ms := a.GetExpiresUnixMs(); ms != 0 {
		giveUp = time.UnixMilli(ms).Add(waitCall)
	}
	retry := waitRetryFirst
	for {
		got, err := waitOnce(ctx, g, id)
		switch {
		case ctx.Err() != nil:
			return nil, fmt.Errorf("interrupted; %s stays pending until it is decided or expires: `palyra-tui approvals wait %s` waits on", clean(id), clean(id))
		case err == nil && got.GetState() != "pending":
			return got, nil
		case err == nil:
			giveUp, retry = time.UnixMilli(got.GetExpiresUnixMs()).Add(waitCall), waitRetryFirst
			continue
		case !errors.Is(err, errGatewayDown):
			return nil, err
		case !giveUp.IsZero() && time.Now().After(giveUp):
			return nil, fmt.Errorf("%w; %s may have been decided meanwhile: `palyra-tui approvals wait %s`", err, clean(id), clean(id))
		}
		select {
		case <-ctx.Done():
		case <-time.After(retry):
			retry = min(2*retry, waitRetryMax)
		}
	}
}

// errGatewayDown marks a wait that palyrad did not answer: worth trying again.
var errGatewayDown = errors.New("palyrad is not answering")

// waitOnce makes one WaitApproval call on a fresh connection, so a palyrad that came back on
// another port is found again.
func waitOnce(ctx context.Context, g *globals, id string) (*palyrav1.Approval, error) {
	gw, err := dialGateway(ctx, g)
	if err != nil {
		if errors.Is(err, errDaemonNotRunning) {
			return nil, fmt.Errorf("%w: %w", errGatewayDown, err)
		}
		return nil, err
	}
	defer gw.Close()
	callCtx, cancel := context.WithTimeout(ctx, waitCall+callTimeout)
	defer cancel()
	a, err := gw.Approvals.WaitApproval(callCtx, &palyrav1.WaitApprovalRequest{Id: id, WaitMs: waitCall.Milliseconds()})
	if st, ok := status.FromError(err); ok && err != nil && (st.Code() == codes.Unavailable || st.Code() == codes.DeadlineExceeded) {
		return nil, fmt.Errorf("%w: %w", errGatewayDown, gw.fail(err))
	}
	if err != nil {
		return nil, gw.fail(err)
	}
	return a, nil
}
