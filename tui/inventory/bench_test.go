package inventory

import (
	"fmt"
	"testing"
	"time"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/tui/gateway"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/theme"
)

var presences = []string{"online", "online", "online", "degraded", "stale", "offline"}

// fleet returns n devices with varied names, platforms, presence and capabilities.
func fleet(n int) []*palyrav1.Device {
	out := make([]*palyrav1.Device, n)
	for i := range out {
		out[i] = &palyrav1.Device{
			Id: fmt.Sprintf("dev-%06x", i*7919), Name: fmt.Sprintf("node-%05d", (i*7919)%n), Platform: []string{"linux/amd64", "linux/arm64", "darwin/arm64"}[i%3],
			Trust: "trusted", Presence: presences[i%len(presences)],
			LastSeenUnixMs: ms(t0.Add(-time.Duration(i%600) * time.Second)), CertExpiresUnixMs: ms(t0.Add(time.Duration(i%24) * time.Hour)),
			Capabilities: []*palyrav1.Capability{{Name: "echo", Available: true}, {Name: "system.health", Available: i%5 != 0}},
		}
	}
	return out
}

func benchModel(b *testing.B, n, w, h int) Model {
	m := New(theme.New(true), keys.Default(), Options{Now: func() time.Time { return t0 }, Location: time.UTC})
	m.SetSize(w, h)
	m.SetGateway(gateway.Conn{Principal: "admin", Admin: true, Problem: "benchmark"})
	m.Apply(&palyrav1.InventoryEvent{Kind: "snapshot", Devices: fleet(n), Summary: &palyrav1.InventorySummary{Devices: uint32(n)}})
	if m.Len() != n {
		b.Fatalf("%d rows", m.Len())
	}
	return m
}

// BenchmarkInventoryView10k is one frame of the pane holding 10,000 devices (DESIGN §9:
// under 4 ms); only the rows in view are drawn.
func BenchmarkInventoryView10k(b *testing.B) {
	for _, c := range []struct {
		name   string
		w, h   int
		filter string
		middle bool
	}{
		{name: "80x24", w: 80, h: 22},
		{name: "200x50", w: 200, h: 48},
		{name: "200x50_scrolled", w: 200, h: 48, middle: true},
		{name: "200x50_filtered", w: 200, h: 48, filter: "arm64"},
	} {
		b.Run(c.name, func(b *testing.B) {
			m := benchModel(b, 10_000, c.w, c.h)
			m.table.setFilter(c.filter)
			if c.middle {
				m.table.move(m.Len() / 2)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

// BenchmarkInventoryChange10k applies one device's change to a table of 10,000, as a
// heartbeat or a presence change arrives.
func BenchmarkInventoryChange10k(b *testing.B) {
	for _, filter := range []string{"", "arm64"} {
		b.Run("filter="+filter, func(b *testing.B) {
			m := benchModel(b, 10_000, 200, 48)
			m.table.setFilter(filter)
			devs := fleet(10_000)
			i := 0
			b.ReportAllocs()
			for b.Loop() {
				d := devs[i%len(devs)]
				d.LastSeenUnixMs += 5000
				m.Apply(&palyrav1.InventoryEvent{Kind: "changed", Devices: []*palyrav1.Device{d}})
				i++
			}
		})
	}
}

// BenchmarkInventorySnapshot10k takes the first event of a watch: every device, sorted.
func BenchmarkInventorySnapshot10k(b *testing.B) {
	m := benchModel(b, 10, 200, 48)
	ev := &palyrav1.InventoryEvent{Kind: "snapshot", Devices: fleet(10_000)}
	b.ReportAllocs()
	for b.Loop() {
		m.Apply(ev)
	}
}

// BenchmarkInventorySort10k is one press of `s` on 10,000 devices.
func BenchmarkInventorySort10k(b *testing.B) {
	m := benchModel(b, 10_000, 200, 48)
	b.ReportAllocs()
	for b.Loop() {
		m.table.setSort((m.table.sortBy+1)%sortKey(len(sortNames)), false)
	}
}
