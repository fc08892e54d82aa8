package tui

import (
	"log/slog"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

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
	keys := []tea.KeyPressMsg{keyPress("5"), keyPress("1")}
	i := 0
	for b.Loop() {
		next, _ := m.Update(keys[i%len(keys)])
		m = next.(model)
		_ = m.View()
		i++
	}
}
