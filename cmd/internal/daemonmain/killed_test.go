package daemonmain_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func adminClient(t *testing.T, home, addr string) *adminclient.Client {
	t.Helper()
	token, err := os.ReadFile(filepath.Join(home, access.AdminTokenFile))
	if err != nil {
		t.Fatal(err)
	}
	c, err := adminclient.Dial(addr, strings.TrimSpace(string(token)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// TestKilledWhileDecidingLeavesNothingHalfWritten kills palyrad with SIGKILL while operators
// decide a batch of approvals. After a restart every approval is either still pending or
// decided with its audit entry, and the audit chain holds.
func TestKilledWhileDecidingLeavesNothingHalfWritten(t *testing.T) {
	home := t.TempDir()
	p, addr := start(t, home)
	c := adminClient(t, home, addr)

	const n = 20 // one token may have this many requests in a burst
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var asked sync.WaitGroup
	for i := range n {
		asked.Go(func() {
			// The requester gives up when the daemon dies; its approval stays.
			c.Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
				SubjectType: "external", SubjectId: fmt.Sprint("job-", i),
				Risk: "low", Summary: "run a job",
			})
		})
	}
	var ids []string
	deadline := time.Now().Add(30 * time.Second)
	for len(ids) < n && time.Now().Before(deadline) {
		list, err := c.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{State: "pending"})
		if err != nil {
			t.Fatal(err)
		}
		ids = ids[:0]
		for _, a := range list.GetApprovals() {
			ids = append(ids, a.GetId())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if len(ids) != n {
		t.Fatalf("%d approvals pending, want %d", len(ids), n)
	}

	var decided sync.WaitGroup
	for _, id := range ids {
		decided.Go(func() {
			c.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: id, Approve: true})
		})
	}
	time.Sleep(15 * time.Millisecond) // some decisions land, others are in flight
	p.Signal(t, syscall.SIGKILL)
	p.Wait(t)
	decided.Wait()
	cancel()
	asked.Wait()

	_, addr = start(t, home)
	c = adminClient(t, home, addr)
	ctx = context.Background()
	list, err := c.Approvals.ListApprovals(ctx, &palyrav1.ListApprovalsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	states := map[string]int{}
	for _, a := range list.GetApprovals() {
		states[a.GetState()]++
	}
	if len(list.GetApprovals()) != n || states["pending"]+states["approved"] != n {
		t.Fatalf("after kill -9: %d approvals in states %v; want %d, each pending or approved", len(list.GetApprovals()), states, n)
	}
	verify, err := c.Audit.VerifyAudit(ctx, &palyrav1.VerifyAuditRequest{})
	if err != nil || !verify.GetOk() {
		t.Fatalf("audit after kill -9: %v, %v", verify, err)
	}
	journal, err := c.Audit.ListAudit(ctx, &palyrav1.ListAuditRequest{PageSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]int{}
	for _, e := range journal.GetEntries() {
		kinds[e.GetKind()]++
	}
	if kinds["approval.requested"] != n || kinds["approval.decided"] != states["approved"] {
		t.Fatalf("journal %v does not match the approvals %v", kinds, states)
	}
	t.Logf("at the kill: %d decided, %d still pending", states["approved"], states["pending"])
}
