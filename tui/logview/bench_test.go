package logview

import (
	"runtime"
	"testing"

	"github.com/palyra/palyra/supervisor/api"
)

// full returns a pane of w×h holding 100,000 lines, optionally filtered.
func full(b *testing.B, w, h int, filter string) Model {
	b.Helper()
	m, _ := newTestModel(w, h, &fakeSource{})
	m.Start()
	for from := 0; from < DefaultMaxLines; from += 5000 {
		m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(from, 5000)}, stream: &fakeStream{}})
	}
	if filter != "" {
		m.setFilter(filter)
	}
	if m.Len() != DefaultMaxLines {
		b.Fatalf("len = %d", m.Len())
	}
	return m
}

func BenchmarkLogsView100k(b *testing.B) {
	cases := []struct {
		name, filter string
		wrap, paused bool
	}{
		{name: "filter_off"},
		{name: "filter_on", filter: "timeout"},
		{name: "filter_on_paused", filter: "timeout", paused: true},
		{name: "wrap", wrap: true},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			m := full(b, 200, 50, c.filter)
			m.wrap = c.wrap
			if c.paused {
				m.scrollTo(m.count() / 2)
			}
			b.ReportAllocs()
			for b.Loop() {
				_ = m.View()
			}
		})
	}
}

func BenchmarkLogsAppend(b *testing.B) {
	for _, c := range []struct{ name, filter string }{{"filter_off", ""}, {"filter_on", "timeout"}} {
		b.Run(c.name, func(b *testing.B) {
			m := full(b, 200, 50, c.filter)
			batch := api.LogBatch{Lines: lines(DefaultMaxLines, 500)}
			b.ReportAllocs()
			for b.Loop() {
				// Seq and time must grow, or the reconnect de-duplication skips the lines.
				for i := range batch.Lines {
					batch.Lines[i].Seq += 500
				}
				m.appendLines(batch.Lines)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/500, "ns/line")
		})
	}
}

func BenchmarkSetFilter100k(b *testing.B) {
	m := full(b, 200, 50, "")
	for b.Loop() {
		m.setFilter("timeout")
	}
}

// BenchmarkLogsMemory100k reports the heap a full pane holds: 100,000 lines of ~100 bytes,
// the most the pane keeps.
func BenchmarkLogsMemory100k(b *testing.B) {
	for b.Loop() {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		m := full(b, 200, 50, "")
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/(1<<20), "MiB-held")
		runtime.KeepAlive(m)
	}
}

// BenchmarkLogsGC100k is one garbage collection with a full pane live: the work a log flood
// makes the collector repeat many times a second.
func BenchmarkLogsGC100k(b *testing.B) {
	m := full(b, 200, 50, "")
	runtime.GC()
	for b.Loop() {
		runtime.GC()
	}
	runtime.KeepAlive(m)
}
