package daemonmain_test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/adminclient"
	"github.com/palyra/palyra/internal/ready"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// BenchmarkWatchApprovalsMemory opens 2000 WatchApprovals streams on a real palyrad (built
// without the race detector, so its memory is what an operator's would be) and reports what
// they add to its RSS, over an empty history and over 2000 settled approvals of the largest
// size a client may send. The target: under 50 MB either way.
func BenchmarkWatchApprovalsMemory(b *testing.B) {
	bin := filepath.Join(b.TempDir(), "palyrad")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/palyra/palyra/cmd/palyrad").CombinedOutput(); err != nil {
		b.Fatalf("build palyrad: %v\n%s", err, out)
	}
	for _, history := range []int{0, 2000} {
		b.Run(fmt.Sprintf("history=%d", history), func(b *testing.B) {
			for range b.N {
				before, after := watchersRSS(b, bin, history, 2000)
				b.ReportMetric(float64(after-before)/(1<<20), "MiB-added")
				b.ReportMetric(float64(before)/(1<<20), "MiB-before")
			}
		})
	}
}

// watchersRSS starts palyrad over a history of settled approvals, then opens watchers
// streams and returns its RSS before and after.
func watchersRSS(b *testing.B, bin string, history, watchers int) (before, after int64) {
	home := b.TempDir()
	fillHistory(b, home, history)
	cmd := exec.Command(bin, "--home", home, "--admin-addr", "127.0.0.1:0", "--node-addr", "127.0.0.1:0")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	}()
	line, err := bufio.NewReader(stdout).ReadBytes('\n')
	if err != nil {
		b.Fatalf("palyrad ready line: %v", err)
	}
	l, ok := ready.Parse(line)
	if !ok {
		b.Fatalf("palyrad printed %q, not its ready line", line)
	}
	token, err := os.ReadFile(filepath.Join(home, access.AdminTokenFile))
	if err != nil {
		b.Fatal(err)
	}
	// Each watcher's first event is this pending approval: when all have it, all are open.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	const perConn = 100
	var clients []*adminclient.Client
	for range (watchers + perConn - 1) / perConn {
		c, err := adminclient.Dial(l.Addrs["admin"], strings.TrimSpace(string(token)))
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		clients = append(clients, c)
	}
	if _, err := clients[0].Approvals.RequestApproval(ctx, &palyrav1.RequestApprovalRequest{
		SubjectType: approvals.External, SubjectId: "bench", Risk: "low", Summary: "watch me"}); err != nil {
		b.Fatal(err)
	}
	settle()
	before = rss(b, cmd.Process.Pid)
	for i := range watchers {
		w, err := clients[i/perConn].Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
		if err != nil {
			b.Fatal(err)
		}
		if ev, err := w.Recv(); err != nil || ev.GetKind() != "pending" {
			b.Fatalf("watcher %d: %v, %v", i, ev, err)
		}
	}
	settle()
	return before, rss(b, cmd.Process.Pid)
}

// fillHistory writes n settled approvals with the largest details allowed into home's
// daemon.db before palyrad opens it.
func fillHistory(b *testing.B, home string, n int) {
	st, err := store.Open(filepath.Join(home, store.FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	details := strings.Repeat("d", approvals.MaxDetails)
	summary := strings.Repeat("s", approvals.MaxSummary)
	now := time.Now()
	for i := range n {
		a, err := st.CreateApproval(store.Approval{SubjectType: approvals.External, SubjectID: fmt.Sprint("job-", i), Risk: "low",
			Requester: "ci", Summary: summary, Details: details, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 1)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := st.DecideApproval(a.Seq, true, store.Decision{Scope: approvals.Once, Decider: "admin", At: now}); err != nil {
			b.Fatal(err)
		}
	}
}

// settle gives the runtime a moment to return what a burst of work freed.
func settle() { time.Sleep(500 * time.Millisecond) }

func rss(b *testing.B, pid int) int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for line := range strings.SplitSeq(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb << 10
		}
	}
	b.Fatal("no VmRSS")
	return 0
}
