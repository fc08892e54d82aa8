package main

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func pendingApproval(id string) *palyrav1.Approval {
	return &palyrav1.Approval{
		Id: id, SubjectType: "device_pairing", SubjectId: "d1", Risk: "high", Requester: "palyrad",
		Summary: "pair kitchen-pi (linux/arm64)", Details: `{"peer":"192.0.2.4:51234"}`,
		CreatedUnixMs: time.Now().Add(-time.Minute).UnixMilli(), ExpiresUnixMs: time.Now().Add(9 * time.Minute).UnixMilli(),
		State: "pending",
	}
}

func TestApprovalsList(t *testing.T) {
	f := newFakeAdmin(t)
	hostile := pendingApproval("ap-8")
	hostile.Summary = "run \x1b]52;c;cm0gLXJmIH4=\x07this on every node, a summary far too long for one row of the table"
	f.reply(palyrav1.ApprovalsService_ListApprovals_FullMethodName, &palyrav1.ListApprovalsReply{
		Approvals: []*palyrav1.Approval{hostile, pendingApproval("ap-7")}})

	o := f.runOn(t, newTerminal(t, narrowest), "approvals", "list")
	o.expect(t, exitOK)
	checkWidth(t, o.stdout)
	if strings.ContainsRune(o.stdout, 0x1b) {
		t.Errorf("summary not sanitized: %q", o.stdout)
	}
	lines := strings.Split(strings.TrimSuffix(o.stdout, "\n"), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "ID    STATE    RISK  SUBJECT") ||
		!strings.HasPrefix(lines[1], "ap-8  pending  high  device_pairing") || !strings.Contains(lines[2], "in 8m") {
		t.Errorf("table:\n%s", o.stdout)
	}
	// Piped, nothing is cut.
	o = f.run(t, "approvals", "list")
	if !strings.Contains(o.stdout, "  pair kitchen-pi (linux/arm64)\n") || !strings.Contains(o.stdout, "a summary far too long for one row of the table\n") ||
		strings.Contains(o.stdout, "…") || strings.ContainsRune(o.stdout, 0x1b) {
		t.Errorf("piped table:\n%s", o.stdout)
	}

	f.run(t, "approvals", "list", "--all").expect(t, exitOK)
	f.run(t, "approvals", "list", "--state", "denied").expect(t, exitOK)
	f.run(t, "approvals", "list", "--all", "--state", "denied").expect(t, exitUsage, "--all")
	reqs := f.got(palyrav1.ApprovalsService_ListApprovals_FullMethodName)
	if len(reqs) != 4 {
		t.Fatalf("%d list calls, want 4", len(reqs))
	}
	for i, want := range []*palyrav1.ListApprovalsRequest{{State: "pending", PageSize: 200}, {State: "pending", PageSize: 200}, {PageSize: 200}, {State: "denied", PageSize: 200}} {
		checkRequest(t, reqs[i], want)
	}
}

func TestApprovalsListSaysWhenMoreExist(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.ApprovalsService_ListApprovals_FullMethodName, &palyrav1.ListApprovalsReply{
		Approvals: []*palyrav1.Approval{pendingApproval("ap-8"), pendingApproval("ap-7")}, NextPageToken: "7"})
	o := f.run(t, "approvals", "list", "--all", "--json", "--limit", "2")
	o.expect(t, exitOK)
	if !strings.Contains(o.stderr, "the newest 2 shown; more exist: --limit 0 lists them all") {
		t.Errorf("stderr %q, want a note that more exist", o.stderr)
	}
	var list []approvalJSON
	if err := json.Unmarshal([]byte(o.stdout), &list); err != nil || len(list) != 2 {
		t.Fatalf("stdout %q: %v", o.stdout, err)
	}
	checkRequest(t, f.got(palyrav1.ApprovalsService_ListApprovals_FullMethodName)[0], &palyrav1.ListApprovalsRequest{PageSize: 2})
	f.run(t, "approvals", "list", "--limit", "-1").expect(t, exitUsage, "--limit")
}

func TestApprovalsListJSON(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.ApprovalsService_ListApprovals_FullMethodName, &palyrav1.ListApprovalsReply{Approvals: []*palyrav1.Approval{{
		Id: "ap-3", SubjectType: "external", SubjectId: "deploy/prod", Risk: "critical", Requester: "ci",
		Summary: "deploy 412", Details: "d", CreatedUnixMs: 1790000000000, ExpiresUnixMs: 1790000600000,
		State: "approved", Scope: "ttl", GrantMs: 7200000, Decider: "admin", DecidedUnixMs: 1790000010000,
	}}})
	o := f.run(t, "approvals", "list", "--all", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `[{"id":"ap-3","subject_type":"external","subject_id":"deploy/prod","risk":"critical",
		"requester":"ci","summary":"deploy 412","details":"d","created_unix_ms":1790000000000,
		"expires_unix_ms":1790000600000,"state":"approved","scope":"ttl","grant_ms":7200000,"reason":"",
		"decider":"admin","decided_unix_ms":1790000010000}]`)

	f.reply(palyrav1.ApprovalsService_ListApprovals_FullMethodName, &palyrav1.ListApprovalsReply{})
	o = f.run(t, "approvals", "list", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `[]`)
}

func TestApprovalsShow(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.ApprovalsService_GetApproval_FullMethodName, pendingApproval("ap-7"))
	o := f.run(t, "approvals", "show", "ap-7")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.GetApprovalRequest](t, f, palyrav1.ApprovalsService_GetApproval_FullMethodName),
		&palyrav1.GetApprovalRequest{Id: "ap-7"})
	for _, want := range []string{"ap-7  pair kitchen-pi (linux/arm64)\n", "state      pending\n",
		"subject    device_pairing d1\n", "DETAILS\n  {\n    \"peer\": \"192.0.2.4:51234\"\n  }\n"} {
		if !strings.Contains(o.stdout, want) {
			t.Errorf("output lacks %q:\n%s", want, o.stdout)
		}
	}
	o = f.run(t, "approvals", "show", "ap-7", "--json")
	o.expect(t, exitOK)
	if !strings.Contains(o.stdout, `"subject_type": "device_pairing"`) {
		t.Errorf("JSON: %s", o.stdout)
	}
}

func TestApprovalsShowDetailsCannotForgeFields(t *testing.T) {
	f := newFakeAdmin(t)
	forged := pendingApproval("ap-9")
	forged.Summary = "pair kitchen-pi\nstate      approved (session) by admin"
	forged.Details = "the node asks nicely\nstate      approved (session) by admin\r\n" +
		"requester  admin\rrisk       low\u2028expires    never"
	f.reply(palyrav1.ApprovalsService_GetApproval_FullMethodName, forged)
	o := f.run(t, "approvals", "show", "ap-9")
	o.expect(t, exitOK)
	if strings.ContainsAny(o.stdout, "\r\u2028") {
		t.Fatalf("a carriage return or line separator reached the terminal: %q", o.stdout)
	}
	head, details, ok := strings.Cut(o.stdout, "\nDETAILS\n")
	if !ok {
		t.Fatalf("no DETAILS section:\n%s", o.stdout)
	}
	if n := strings.Count("\n"+head, "\nstate "); n != 1 {
		t.Errorf("%d state lines above DETAILS, want 1: the summary forged one:\n%s", n, head)
	}
	lines := strings.Split(strings.TrimSuffix(details, "\n"), "\n")
	if len(lines) != 3 {
		t.Errorf("details shown as %d lines, want 3:\n%s", len(lines), details)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, "  ") {
			t.Errorf("details line %q is not indented under DETAILS:\n%s", l, o.stdout)
		}
	}
}

func TestApprovalsApprove(t *testing.T) {
	tests := []struct {
		args []string
		want *palyrav1.DecideRequest
	}{
		{nil, &palyrav1.DecideRequest{Id: "ap-7", Approve: true, Scope: "once"}},
		{[]string{"--scope", "session"}, &palyrav1.DecideRequest{Id: "ap-7", Approve: true, Scope: "session"}},
		{[]string{"--scope", "ttl=2h"}, &palyrav1.DecideRequest{Id: "ap-7", Approve: true, Scope: "ttl", GrantMs: 7200000}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			f := newFakeAdmin(t)
			on(f, palyrav1.ApprovalsService_Decide_FullMethodName, func(req *palyrav1.DecideRequest) (*palyrav1.Approval, error) {
				a := pendingApproval(req.Id)
				a.State, a.Scope, a.GrantMs, a.Decider = "approved", req.Scope, req.GrantMs, "admin"
				return a, nil
			})
			o := f.run(t, append([]string{"approvals", "approve", "ap-7"}, tc.args...)...)
			o.expect(t, exitOK)
			checkRequest(t, only[*palyrav1.DecideRequest](t, f, palyrav1.ApprovalsService_Decide_FullMethodName), tc.want)
			if !strings.HasPrefix(o.stdout, "ap-7 approved (") || !strings.Contains(o.stdout, ") by admin: pair kitchen-pi") {
				t.Errorf("output %q", o.stdout)
			}
		})
	}
}

func TestApprovalsDecideUsage(t *testing.T) {
	f := newFakeAdmin(t)
	for _, args := range [][]string{
		{"approve", "ap-7", "--scope", "forever"},
		{"approve", "ap-7", "--scope", "ttl="},
		{"approve", "ap-7", "--scope", "ttl=-1h"},
		{"approve", "ap-7", "--scope", "ttl=2"},
	} {
		f.run(t, append([]string{"approvals"}, args...)...).expect(t, exitUsage, "--scope")
	}
	f.run(t, "approvals", "deny", "ap-7").expect(t, exitUsage, "deny needs --reason")
	f.run(t, "approvals", "deny", "ap-7", "--reason", "  ").expect(t, exitUsage, "deny needs --reason")
	f.run(t, "approvals", "approve").expect(t, exitUsage)
	f.run(t, "approvals").expect(t, exitUsage, "approvals needs one of")
	if n := len(f.got(palyrav1.ApprovalsService_Decide_FullMethodName)); n != 0 {
		t.Errorf("%d decisions sent despite usage errors", n)
	}
}

func TestApprovalsDeny(t *testing.T) {
	f := newFakeAdmin(t)
	denied := pendingApproval("ap-7")
	denied.State, denied.Decider, denied.Reason = "denied", "admin", "unknown device"
	f.reply(palyrav1.ApprovalsService_Decide_FullMethodName, denied)
	o := f.run(t, "approvals", "deny", "ap-7", "--reason", "unknown device")
	o.expect(t, exitOK)
	checkRequest(t, only[*palyrav1.DecideRequest](t, f, palyrav1.ApprovalsService_Decide_FullMethodName),
		&palyrav1.DecideRequest{Id: "ap-7", Reason: "unknown device"})
	if o.stdout != "ap-7 denied by admin: unknown device: pair kitchen-pi (linux/arm64)\n" {
		t.Errorf("output %q", o.stdout)
	}
}

func TestApprovalsAlreadyDecided(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.ApprovalsService_Decide_FullMethodName, codes.FailedPrecondition, "ap-7 was already approved (once) by ops")
	f.run(t, "approvals", "approve", "ap-7").expect(t, exitFailure, "palyra-tui: ap-7 was already approved (once) by ops\n")
}

// watchApprovals serves two events, then ends the stream when end is closed.
func watchApprovals(f *fakeAdmin, end <-chan struct{}) {
	f.onStream(palyrav1.ApprovalsService_WatchApprovals_FullMethodName, func(ctx context.Context, _ proto.Message, send func(proto.Message) error) error {
		decided := pendingApproval("ap-6")
		decided.State, decided.Scope, decided.Decider = "approved", "once", "admin"
		for _, ev := range []*palyrav1.ApprovalEvent{
			{Kind: "pending", Approval: pendingApproval("ap-7")},
			{Kind: "decided", Approval: decided},
		} {
			if err := send(ev); err != nil {
				return err
			}
		}
		select {
		case <-end:
		case <-ctx.Done():
		}
		return nil
	})
}

// startWatch runs `approvals watch` with ctx and returns its lines as they come and its outcome.
func startWatch(t *testing.T, f *fakeAdmin, ctx context.Context) (*bufio.Scanner, <-chan outcome) {
	t.Helper()
	t.Setenv("PALYRA_TOKEN", "")
	pr, pw := io.Pipe()
	done := make(chan outcome, 1)
	go func() {
		o := execCLI(ctx, pw, "--home", f.home, "--gateway", f.addr, "--token-file", f.tokenFile, "approvals", "watch")
		pw.Close()
		done <- o
	}()
	return bufio.NewScanner(pr), done
}

func readWatchLines(t *testing.T, lines *bufio.Scanner) {
	t.Helper()
	for _, want := range []string{`{"kind":"pending","approval":{"id":"ap-7",`, `{"kind":"decided","approval":{"id":"ap-6",`} {
		if !lines.Scan() {
			t.Fatalf("watch ended before %s", want)
		}
		if !strings.HasPrefix(lines.Text(), want) || !strings.Contains(lines.Text(), `"subject_type":"device_pairing"`) {
			t.Errorf("line %s, want it to start with %s", lines.Text(), want)
		}
	}
}

func TestApprovalsWatchInterrupted(t *testing.T) {
	f := newFakeAdmin(t)
	watchApprovals(f, make(chan struct{}))
	ctx, cancel := context.WithCancel(context.Background())
	lines, done := startWatch(t, f, ctx)
	readWatchLines(t, lines)
	cancel() // what SIGINT does
	for lines.Scan() {
		t.Errorf("extra line %s", lines.Text())
	}
	(<-done).expect(t, exitOK)
}

func TestApprovalsWatchStreamEnds(t *testing.T) {
	f := newFakeAdmin(t)
	end := make(chan struct{})
	watchApprovals(f, end)
	lines, done := startWatch(t, f, context.Background())
	readWatchLines(t, lines)
	close(end)
	for lines.Scan() {
		t.Errorf("extra line %s", lines.Text())
	}
	(<-done).expect(t, exitFailure, "palyrad ended the approval stream")
}

func TestApprovalsRequest(t *testing.T) {
	tests := []struct {
		state, scope, reason string
		code                 int
		out                  string
	}{
		{"approved", "once", "", exitOK, "ap-9 approved (once) by admin\n"},
		{"denied", "", "not now", exitFailure, "ap-9 denied by admin: not now\n"},
		{"timed_out", "", "", exitFailure, "ap-9 timed out\n"},
	}
	for _, tc := range tests {
		t.Run(tc.state, func(t *testing.T) {
			f := newFakeAdmin(t)
			f.reply(palyrav1.ApprovalsService_RequestApproval_FullMethodName, &palyrav1.Approval{
				Id: "ap-9", State: tc.state, Scope: tc.scope, Reason: tc.reason, Decider: "admin"})
			o := f.run(t, "approvals", "request", "--subject", "deploy/prod", "--risk", "high",
				"--summary", "deploy 412", "--details", `{"build":412}`, "--ttl", "15m")
			o.expect(t, tc.code)
			if o.stdout != tc.out {
				t.Errorf("output %q, want %q", o.stdout, tc.out)
			}
			checkRequest(t, only[*palyrav1.RequestApprovalRequest](t, f, palyrav1.ApprovalsService_RequestApproval_FullMethodName),
				&palyrav1.RequestApprovalRequest{SubjectType: "external", SubjectId: "deploy/prod", Risk: "high",
					Summary: "deploy 412", Details: `{"build":412}`, TtlMs: 15 * 60 * 1000})
		})
	}
}

func TestApprovalsRequestJSON(t *testing.T) {
	f := newFakeAdmin(t)
	f.reply(palyrav1.ApprovalsService_RequestApproval_FullMethodName, &palyrav1.Approval{Id: "ap-9", State: "approved", Scope: "session"})
	o := f.run(t, "approvals", "request", "--subject-type", "external", "--subject", "c1", "--risk", "low",
		"--summary", "edit", "--json")
	o.expect(t, exitOK)
	sameJSON(t, o.stdout, `{"id":"ap-9","subject_type":"","subject_id":"","risk":"","requester":"","summary":"",
		"details":"","created_unix_ms":0,"expires_unix_ms":0,"state":"approved","scope":"session","grant_ms":0,
		"reason":"","decider":"","decided_unix_ms":0}`)
	checkRequest(t, only[*palyrav1.RequestApprovalRequest](t, f, palyrav1.ApprovalsService_RequestApproval_FullMethodName),
		&palyrav1.RequestApprovalRequest{SubjectType: "external", SubjectId: "c1", Risk: "low", Summary: "edit"})
}

func TestApprovalsRequestUsage(t *testing.T) {
	f := newFakeAdmin(t)
	f.run(t, "approvals", "request", "--subject", "s", "--summary", "x").expect(t, exitUsage, "request needs --risk")
	f.run(t, "approvals", "request", "--risk", "low", "--summary", "x").expect(t, exitUsage, "request needs --subject")
	f.run(t, "approvals", "request", "--subject", "s", "--risk", "low", "--summary", "x", "--ttl", "0s").expect(t, exitUsage, "--ttl")
	if n := len(f.got(palyrav1.ApprovalsService_RequestApproval_FullMethodName)); n != 0 {
		t.Errorf("%d requests sent despite usage errors", n)
	}
}

func TestApprovalsRequestRefusedSubject(t *testing.T) {
	f := newFakeAdmin(t)
	f.fail(palyrav1.ApprovalsService_RequestApproval_FullMethodName, codes.InvalidArgument,
		`subject type "device_pairing": API clients may ask about [external]`)
	f.run(t, "approvals", "request", "--subject-type", "device_pairing", "--subject", "s", "--risk", "low", "--summary", "x").
		expect(t, exitFailure, `subject type "device_pairing": API clients may ask about`)
}

// TestApprovalsListSaysNothingWhenOnlyEmptyPagesFollow: a page read under a filter may come
// back empty with a token; the note says "more exist" only when something does.
func TestApprovalsListSaysNothingWhenOnlyEmptyPagesFollow(t *testing.T) {
	f := newFakeAdmin(t)
	on(f, palyrav1.ApprovalsService_ListApprovals_FullMethodName, func(req *palyrav1.ListApprovalsRequest) (*palyrav1.ListApprovalsReply, error) {
		switch req.GetPageToken() {
		case "":
			return &palyrav1.ListApprovalsReply{Approvals: []*palyrav1.Approval{pendingApproval("ap-9"), pendingApproval("ap-8")}, NextPageToken: "8"}, nil
		case "8":
			return &palyrav1.ListApprovalsReply{NextPageToken: "4"}, nil
		}
		return &palyrav1.ListApprovalsReply{}, nil
	})
	o := f.run(t, "approvals", "list", "--state", "denied", "--limit", "2")
	o.expect(t, exitOK)
	if strings.Contains(o.stderr, "more exist") {
		t.Errorf("stderr %q: nothing more exists", o.stderr)
	}
	if n := len(f.got(palyrav1.ApprovalsService_ListApprovals_FullMethodName)); n != 3 {
		t.Errorf("%d list calls, want the page and two looks past it", n)
	}
}
