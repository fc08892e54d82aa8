package tui

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/internal/admintest"
	"github.com/palyra/palyra/tui/internal/cmdtest"
)

// BenchmarkKeyToView times what a key costs the UI before the renderer's next frame: Update
// for a pane switch, then View of the new screen at 200×50.
func BenchmarkKeyToView(b *testing.B) {
	clock := &cmdtest.Immediate{At: t0}
	opts := Options{Now: func() time.Time { return t0 }, Location: time.UTC}
	m := newModel(&fakeBackend{checks: checks()}, opts, slog.New(slog.DiscardHandler), clock.Tick)
	m.resize(200, 50)
	s := snapshot()
	m.cockpit.SetSnapshot(s, t0)
	m.logs.SetServices(s.Services)
	m.snap = s
	keys := []tea.KeyPressMsg{cmdtest.Key("5"), cmdtest.Key("1")}
	i := 0
	for b.Loop() {
		next, _ := m.Update(keys[i%len(keys)])
		m = next.(model)
		_ = m.View()
		i++
	}
}

// BenchmarkApprovalEvent times an approvals watch event in the root model: a new approval
// (which rings the bell) and its decision, each routed to the pane and counted in the badge.
func BenchmarkApprovalEvent(b *testing.B) {
	clock := &cmdtest.Immediate{At: t0}
	opts := Options{Now: func() time.Time { return t0 }, Location: time.UTC}
	m := newModel(&fakeBackend{}, opts, slog.New(slog.DiscardHandler), clock.Tick)
	m.link.gen = 1
	m.approvals.StreamOpened(t0)
	for i := range 50 {
		a := &palyrav1.Approval{Id: fmt.Sprintf("ap-%d", i+1), State: "pending", CreatedUnixMs: t0.Add(-time.Hour).UnixMilli()}
		m.approvals.Apply(&palyrav1.ApprovalEvent{Kind: "pending", Approval: a})
	}
	fresh := &palyrav1.ApprovalEvent{Kind: "requested", Approval: &palyrav1.Approval{Id: "ap-100", State: "pending", CreatedUnixMs: t0.UnixMilli()}}
	decided := &palyrav1.ApprovalEvent{Kind: "decided", Approval: &palyrav1.Approval{Id: "ap-100", State: "approved"}}
	b.ReportAllocs()
	for b.Loop() {
		for _, ev := range []*palyrav1.ApprovalEvent{fresh, decided} {
			next, _ := m.Update(approvalMsg{gen: 1, ev: ev})
			m = next.(model)
		}
	}
	if m.approvals.Pending() != 50 {
		b.Fatalf("%d pending", m.approvals.Pending())
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/event")
}

// BenchmarkApprovalEventOverGRPC times an approval from palyrad's stream to the model:
// the event sent by an in-memory admin API, received over loopback gRPC, applied by Update.
func BenchmarkApprovalEventOverGRPC(b *testing.B) {
	srv := admintest.Start(b)
	c := srv.Client(b, admintest.AdminToken)
	clock := &cmdtest.Immediate{At: t0}
	opts := Options{Now: func() time.Time { return t0 }, Location: time.UTC}
	m := newModel(&fakeBackend{}, opts, slog.New(slog.DiscardHandler), clock.Tick)
	m.link.gen = 1
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	opened := watchApprovals(ctx, 1, c)().(approvalMsg)
	if opened.err != nil {
		b.Fatal(opened.err)
	}
	next, cmd := m.Update(opened)
	m = next.(model)
	events := []*palyrav1.ApprovalEvent{
		{Kind: "requested", Approval: &palyrav1.Approval{Id: "ap-1", State: "pending", CreatedUnixMs: t0.UnixMilli()}},
		{Kind: "decided", Approval: &palyrav1.Approval{Id: "ap-1", State: "approved"}},
	}
	i := 0
	for b.Loop() {
		srv.PushApproval(events[i%2])
		var msg tea.Msg
		for _, msg = range batchMsgs(cmd) {
			if _, ok := msg.(approvalMsg); ok {
				break
			}
		}
		next, cmd = m.Update(msg)
		m = next.(model)
		i++
	}
}

// batchMsgs runs the commands of a batch (the bell, the next read) and returns their
// messages; the read blocks until the next event.
func batchMsgs(cmd tea.Cmd) []tea.Msg {
	msg := cmd()
	batch, ok := msg.(tea.BatchMsg)
	if !ok {
		return []tea.Msg{msg}
	}
	var out []tea.Msg
	for _, c := range batch {
		if c != nil {
			out = append(out, c())
		}
	}
	return out
}
