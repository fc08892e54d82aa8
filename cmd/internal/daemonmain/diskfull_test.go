package daemonmain_test

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/testfs"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// TestAFullDiskKeepsPalyradServing fills palyrad's file system while approvals are about to
// expire. It once exited on the failed expiry write and crash-looped; now it keeps serving
// reads, refuses what it cannot save with a clear error, and catches up once space is back.
func TestAFullDiskKeepsPalyradServing(t *testing.T) {
	home := testfs.Small(t, 4<<20)
	// Large approvals that expire in two seconds: their timeouts need more room than the
	// pages bbolt keeps free.
	st, err := store.Open(filepath.Join(home, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	var due []string
	for i := range 20 {
		a, err := st.CreateApproval(store.Approval{SubjectType: approvals.External, SubjectID: fmt.Sprint("job-", i), Risk: "low",
			Requester: fmt.Sprint("ci#", i), Summary: "run a job", Details: strings.Repeat("d", approvals.MaxDetails),
			CreatedAt: now, ExpiresAt: now.Add(2 * time.Second)}, 1)
		if err != nil {
			t.Fatal(err)
		}
		due = append(due, a.ID())
	}
	st.Close()

	p, addr := start(t, home)
	c := adminClient(t, home, addr)
	filler := testfs.Fill(t, home)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	time.Sleep(3 * time.Second) // past the expiry, a few ticks of the engine

	page, err := c.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: store.ApprovalPending})
	if err != nil {
		t.Fatalf("palyrad no longer serves reads on a full disk: %v\nstderr:\n%s", err, p.Stderr())
	}
	if len(page.GetApprovals()) != len(due) {
		t.Fatalf("%d pending, want the %d whose timeouts could not be written", len(page.GetApprovals()), len(due))
	}
	_, err = c.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{SubjectType: approvals.External, SubjectId: "deploy",
		Risk: "low", Summary: "deploy", Details: strings.Repeat("d", approvals.MaxDetails)})
	if status.Code(err) != codes.ResourceExhausted || !strings.Contains(err.Error(), "the disk is full") ||
		!strings.Contains(err.Error(), "free space") {
		t.Fatalf("a request on a full disk: %v; want RESOURCE_EXHAUSTED saying the disk is full and what to do", err)
	}
	if !strings.Contains(p.Stderr(), "cannot time out expired approvals") {
		t.Errorf("the failing expiry is not logged:\n%s", p.Stderr())
	}

	testfs.Free(t, filler)
	for {
		page, err := c.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: store.ApprovalTimedOut})
		if err != nil {
			t.Fatal(err)
		}
		if len(page.GetApprovals()) == len(due) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d timed out once space was back, want %d\nstderr:\n%s", len(page.GetApprovals()), len(due), p.Stderr())
		case <-time.After(100 * time.Millisecond):
		}
	}
	if v, err := c.Audit.VerifyAudit(ctx, &palyrav1.VerifyAuditRequest{}); err != nil || !v.GetOk() {
		t.Fatalf("audit after the full disk: %v, %v", v, err)
	}
	if p.Cmd.ProcessState != nil {
		t.Fatalf("palyrad exited: %v", p.Cmd.ProcessState)
	}
}
