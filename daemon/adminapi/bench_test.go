package adminapi

import (
	"slices"
	"testing"
	"time"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// BenchmarkDecisionVisibleToWatcher measures an operator's decision, from the Decide call to
// the moment another client's WatchApprovals stream shows it, through real gRPC and an
// fsync'd bbolt transaction. Reports p50 and p99.
func BenchmarkDecisionVisibleToWatcher(b *testing.B) {
	f := newServer(b)
	ctx := b.Context()
	admin := f.client(b, adminToken)
	watch, err := f.client(b, adminToken).Approvals.WatchApprovals(ctx, &palyrav1.WatchApprovalsRequest{})
	if err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		a := ask(b, f, "bench") // straight into the store: watchers hear only of the decision
		b.StartTimer()
		start := time.Now()
		if _, err := admin.Approvals.Decide(ctx, &palyrav1.DecideRequest{Id: a.ID(), Approve: true}); err != nil {
			b.Fatal(err)
		}
		for {
			ev, err := watch.Recv()
			if err != nil {
				b.Fatal(err)
			}
			if ev.GetKind() == "decided" && ev.GetApproval().GetId() == a.ID() {
				break
			}
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
