package logview

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/tui/internal/cmdtest"
	"github.com/palyra/palyra/tui/internal/golden"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

var t0 = time.Date(2026, 11, 22, 14, 30, 0, 0, time.UTC)

// fakeSource hands out streams of prepared batches and records the queries.
type fakeSource struct {
	mu      sync.Mutex
	queries []api.LogQuery
	batches []api.LogBatch
	openErr error
}

func (f *fakeSource) Logs(_ context.Context, q api.LogQuery) (api.LogStream, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.queries = append(f.queries, q)
	if f.openErr != nil {
		return nil, f.openErr
	}
	return &fakeStream{batches: f.batches}, nil
}

func (f *fakeSource) Queries() []api.LogQuery {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]api.LogQuery(nil), f.queries...)
}

// fakeStream yields its batches, then io.EOF, as a server that shut down would.
type fakeStream struct{ batches []api.LogBatch }

func (s *fakeStream) Recv() (api.LogBatch, error) {
	if len(s.batches) == 0 {
		return api.LogBatch{}, io.EOF
	}
	b := s.batches[0]
	s.batches = s.batches[1:]
	return b, nil
}

var services = []string{"daemon", "browserd"}

var texts = []string{
	"admin gRPC listening on 127.0.0.1:7443",
	"node heartbeat from node-7 (rtt 2ms)",
	"connector echo delivered envelope 5f2c to channel #ops",
	"approval 1189 requested by cli: device pairing for laptop-3",
	"upstream timeout after 5s calling browserd session.create; will retry",
	"chromium started with pid 5121, devtools on 127.0.0.1:40111",
}

var levels = []string{"info", "debug", "info", "warn", "error", "info"}

// line builds the i-th line of a fixed, varied log.
func line(i int) logs.Line {
	l := logs.Line{
		Seq: uint64(i + 1), Time: t0.Add(time.Duration(i) * 137 * time.Millisecond),
		Service: services[i%len(services)], Stream: logs.Stdout,
		Level: levels[i%len(levels)], Text: fmt.Sprintf("%s [%d]", texts[i%len(texts)], i),
	}
	if i%17 == 0 {
		l.Stream, l.Level, l.Text = logs.Supervisor, "", fmt.Sprintf("started pid %d", 4000+i)
	}
	return l
}

// timeouts returns the sequence numbers of the lines in [from, from+n) that contain "timeout".
func timeouts(from, n int) []uint64 {
	var seqs []uint64
	for _, l := range lines(from, n) {
		if strings.Contains(l.Text, "timeout") {
			seqs = append(seqs, l.Seq)
		}
	}
	return seqs
}

func lines(from, n int) []logs.Line {
	out := make([]logs.Line, n)
	for i := range out {
		out[i] = line(from + i)
	}
	return out
}

func newTestModel(w, h int, src *fakeSource) (Model, *cmdtest.Immediate) {
	clock := &cmdtest.Immediate{At: t0}
	m := New(src, theme.New(true), keys.Default(), Options{
		Now: func() time.Time { return t0 }, Location: time.UTC, Tick: clock.Tick, SaveDir: "",
	})
	m.SetSize(w, h)
	m.SetServices([]supervisor.ServiceStatus{{Name: "daemon"}, {Name: "browserd", DroppedLines: 3}})
	return m, clock
}

// withLines returns a model whose stream delivered n lines.
func withLines(t *testing.T, w, h, n int) Model {
	t.Helper()
	m, _ := newTestModel(w, h, &fakeSource{})
	m.Start()
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(0, n), Dropped: 2}, stream: &fakeStream{}})
	return m
}

func press(m Model, keys ...string) (Model, tea.Cmd) {
	var cmd tea.Cmd
	for _, k := range keys {
		m, cmd = m.Update(cmdtest.Key(k))
	}
	return m, cmd
}

// typeText sends each rune of s as a key press.
func typeText(m Model, s string) Model {
	for _, r := range s {
		m, _ = m.Update(tea.KeyPressMsg{Code: r, Text: string(r)})
	}
	return m
}

var sizes = []struct{ w, h int }{{80, 24}, {120, 40}}

func TestView(t *testing.T) {
	long := logs.Line{
		Seq: 1000, Time: t0.Add(time.Minute), Service: "daemon", Level: "error",
		Text: "request failed: " + strings.Repeat("the upstream connector returned a transient error; ", 5) + "giving up",
	}
	cases := []struct {
		name  string
		setup func(m Model) Model
	}{
		{"follow", func(m Model) Model { return m }},
		{"paused", func(m Model) Model { m, _ = press(m, "pgup", "k"); return m }},
		{"filter", func(m Model) Model {
			m, _ = press(m, "/")
			m = typeText(m, "TIMEOUT")
			m, _ = press(m, "enter", "N", "N")
			return m
		}},
		{"filter_typing", func(m Model) Model { m, _ = press(m, "/"); return typeText(m, "time") }},
		{"wrap", func(m Model) Model {
			m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: []logs.Line{long}}, stream: &fakeStream{}})
			m, _ = press(m, "w")
			return m
		}},
		{"no_time_one_service", func(m Model) Model {
			m.ShowService("daemon")
			var daemon []logs.Line
			for _, l := range lines(0, 300) {
				if l.Service == "daemon" {
					daemon = append(daemon, l)
				}
			}
			m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: daemon}, stream: &fakeStream{}})
			m, _ = press(m, "t")
			return m
		}},
	}
	for _, c := range cases {
		for _, s := range sizes {
			t.Run(fmt.Sprintf("%s_%dx%d", c.name, s.w, s.h), func(t *testing.T) {
				m := c.setup(withLines(t, s.w, s.h, 300))
				golden.RequireView(t, m.View(), s.w, s.h)
			})
		}
	}
}

func TestEmptyViews(t *testing.T) {
	m, _ := newTestModel(80, 6, &fakeSource{})
	if v := m.View(); !strings.Contains(v, "no lines yet") {
		t.Fatalf("empty view = %q", v)
	}
	m, _ = press(m, "/")
	m = typeText(m, "zzz")
	m, _ = press(m, "enter")
	if v := m.View(); !strings.Contains(v, `no line matches "zzz"`) {
		t.Fatalf("filtered empty view = %q", v)
	}
}

func TestFollowAndPause(t *testing.T) {
	m := withLines(t, 80, 24, 300)
	if !m.Following() {
		t.Fatal("not following at start")
	}
	m, _ = press(m, "k")
	if m.Following() {
		t.Fatal("k did not pause")
	}
	top := m.topPos()
	if top != 300-m.rows()-1 {
		t.Fatalf("top after k = %d, want %d", top, 300-m.rows()-1)
	}
	// New lines do not move a paused view.
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(300, 50)}, stream: &fakeStream{}})
	if m.topPos() != top {
		t.Fatalf("paused view moved from %d to %d", top, m.topPos())
	}
	m, _ = press(m, "g")
	if m.topPos() != 0 {
		t.Fatalf("g: top = %d", m.topPos())
	}
	m, _ = press(m, "j", "j")
	if m.topPos() != 2 {
		t.Fatalf("j j: top = %d", m.topPos())
	}
	m, _ = press(m, "G")
	if !m.Following() {
		t.Fatal("G did not resume following")
	}
	m, _ = press(m, "k", "end")
	if !m.Following() {
		t.Fatal("end did not resume following")
	}
}

func TestRingDropsOldest(t *testing.T) {
	src := &fakeSource{}
	m := New(src, theme.New(true), keys.Default(), Options{MaxLines: 100, Location: time.UTC})
	m.SetSize(80, 10)
	m.Start()
	m, _ = press(m, "/")
	m = typeText(m, "timeout")
	m, _ = press(m, "enter")
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(0, 60)}, stream: &fakeStream{}})
	m, _ = press(m, "g") // pause at the oldest line, which is about to be dropped
	for from := 60; from < 1000; from += 60 {
		m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(from, 60)}, stream: &fakeStream{}})
	}
	if m.Len() != 100 {
		t.Fatalf("kept %d lines, want 100", m.Len())
	}
	if got := m.buf.at(m.buf.first).Seq; got != 1020-100+1 {
		t.Fatalf("oldest kept seq = %d, want %d", got, 1020-100+1)
	}
	// The matches are exactly the kept lines that match, oldest first.
	var want []uint64
	for abs := m.buf.first; abs < m.buf.end(); abs++ {
		if strings.Contains(m.buf.at(abs).Text, "timeout") {
			want = append(want, abs)
		}
	}
	if fmt.Sprint(m.matches) != fmt.Sprint(want) || len(want) == 0 {
		t.Fatalf("matches = %v, want %v", m.matches, want)
	}
	if m.Following() || m.topPos() != 0 {
		t.Fatalf("paused view: following %v, top %d; want paused at the oldest kept match", m.Following(), m.topPos())
	}
}

func TestFilter(t *testing.T) {
	m := withLines(t, 80, 24, 300)
	m, _ = press(m, "/")
	if !m.CapturesInput() {
		t.Fatal("the filter input does not capture keys")
	}
	m = typeText(m, "TimeOut")
	m, _ = press(m, "enter")
	if m.CapturesInput() {
		t.Fatal("enter did not close the input")
	}
	if want := timeouts(0, 300); m.Matches() != len(want) {
		t.Fatalf("matches = %d, want %d", m.Matches(), len(want))
	}
	// New lines are matched as they come.
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(300, 12)}, stream: &fakeStream{}})
	all := timeouts(0, 312)
	if m.Matches() != len(all) {
		t.Fatalf("matches after append = %d, want %d", m.Matches(), len(all))
	}
	// N starts at the newest match on screen; n/N then walk the matches.
	m, _ = press(m, "N")
	if !m.hasCurrent || m.buf.at(m.current).Seq != all[len(all)-1] || m.Following() {
		t.Fatalf("N: current seq %d, following %v", m.buf.at(m.current).Seq, m.Following())
	}
	m, _ = press(m, "N", "N", "n")
	if got := m.buf.at(m.current).Seq; got != all[len(all)-2] {
		t.Fatalf("N N n: current seq %d, want %d", got, all[len(all)-2])
	}
	m, _ = press(m, "esc")
	if m.Matches() != 0 || m.filter != "" {
		t.Fatal("esc did not clear the filter")
	}
	_, cmd := press(m, "n")
	msgs := cmdtest.Run(t, cmd)
	if n, ok := msgs[0].(status.Msg); !ok || !strings.Contains(n.Text, "no filter") {
		t.Fatalf("n without a filter = %#v", msgs)
	}
}

func TestFilterCancel(t *testing.T) {
	m := withLines(t, 80, 24, 30)
	m, _ = press(m, "/")
	m = typeText(m, "timeout")
	m, _ = press(m, "esc")
	if m.CapturesInput() || m.filter != "" {
		t.Fatal("esc in the input did not clear the filter")
	}
}

func TestIndexFold(t *testing.T) {
	cases := []struct {
		s, needle string
		i, n      int
	}{
		{"Upstream TIMEOUT", "timeout", 9, 7},
		{"no match", "xyz", -1, 7},
		{"Grüße aus KÖLN", "köln", 12, 5},
		{"ÄÖÜ", "äöü", 0, 6},
		{"short", "longer than s", -1, 13},
		{"x", "", -1, 0},
	}
	for _, c := range cases {
		i, n := indexFold(c.s, c.needle)
		if i != c.i || (i >= 0 && n != c.n) {
			t.Errorf("indexFold(%q, %q) = %d, %d; want %d, %d", c.s, c.needle, i, n, c.i, c.n)
		}
	}
}

func TestCycleService(t *testing.T) {
	src := &fakeSource{}
	m, _ := newTestModel(80, 24, src)
	cmdtest.Run(t, m.Start())
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(0, 20)}, stream: &fakeStream{}})
	var want []string
	for _, next := range []string{"daemon", "browserd", ""} {
		var cmd tea.Cmd
		m, cmd = press(m, "v")
		if m.Service() != next {
			t.Fatalf("v: service = %q, want %q", m.Service(), next)
		}
		if m.Len() != 0 {
			t.Fatalf("switching kept %d old lines", m.Len())
		}
		cmdtest.Run(t, cmd)
		want = append(want, next)
	}
	qs := src.Queries()
	if len(qs) != 4 {
		t.Fatalf("queries = %d, want 4", len(qs))
	}
	for i, q := range qs[1:] {
		got := ""
		if len(q.Services) == 1 {
			got = q.Services[0]
		}
		if got != want[i] || q.Tail != tailLines || !q.Follow {
			t.Errorf("query %d = %+v, want service %q", i, q, want[i])
		}
	}
}

func TestStreamLifecycle(t *testing.T) {
	src := &fakeSource{batches: []api.LogBatch{{Lines: lines(0, 5)}, {Lines: lines(5, 5), Dropped: 4}}}
	m, clock := newTestModel(80, 24, src)
	msgs := cmdtest.Run(t, m.Start())
	for range 3 { // opened, two batches; then the stream ends
		var cmd tea.Cmd
		m, cmd = m.Update(msgs[0])
		msgs = cmdtest.Run(t, cmd)
	}
	if m.Len() != 10 || m.streamDropped != 4 {
		t.Fatalf("len %d dropped %d, want 10 and 4", m.Len(), m.streamDropped)
	}
	// The stream ended: the pane says so and retries after 1s, 2s, 4s, 5s, 5s.
	src.openErr = errors.New("connection refused")
	for range 4 {
		var cmd tea.Cmd
		m, cmd = m.Update(msgs[0])
		msgs = cmdtest.Run(t, cmd)
	}
	if !m.down || !strings.Contains(m.View(), "disconnected — retrying") {
		t.Fatalf("down = %v, view:\n%s", m.down, m.View())
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 5 * time.Second}
	if len(clock.Durations) < 2 || fmt.Sprint(clock.Durations[:2]) != fmt.Sprint(want[:2]) {
		t.Fatalf("retry delays = %v, want to start %v", clock.Durations, want)
	}
	// Back again: the repeated tail is not added twice.
	src.openErr = nil
	src.batches = []api.LogBatch{{Lines: lines(0, 12)}}
	for range 6 {
		var cmd tea.Cmd
		m, cmd = m.Update(msgs[0])
		if _, ok := msgs[0].(batchMsg); ok && !m.down {
			break
		}
		msgs = cmdtest.Run(t, cmd)
	}
	if m.down || m.Len() != 12 {
		t.Fatalf("after reconnect: down %v, len %d, want 12 lines", m.down, m.Len())
	}
	if m.retry != firstRetry {
		t.Fatalf("retry delay not reset: %v", m.retry)
	}
}

func TestStaleStreamIgnored(t *testing.T) {
	m, _ := newTestModel(80, 24, &fakeSource{})
	m.Start()
	old := m.gen
	m.ShowService("daemon")
	m, cmd := m.Update(batchMsg{gen: old, batch: api.LogBatch{Lines: lines(0, 5)}, stream: &fakeStream{}})
	if m.Len() != 0 || cmd != nil {
		t.Fatal("a batch from a replaced stream was used")
	}
	m, cmd = m.Update(batchMsg{gen: old, err: io.EOF})
	if m.down || cmd != nil {
		t.Fatal("an error from a replaced stream was acted on")
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	m := withLines(t, 80, 24, 40)
	m.opts.SaveDir = dir
	m, _ = press(m, "/")
	m = typeText(m, "timeout")
	m, _ = press(m, "enter")
	_, cmd := press(m, "ctrl+s")
	msgs := cmdtest.Run(t, cmd)
	path := filepath.Join(dir, "palyra-logs-20261122-143000.log")
	want := timeouts(0, 40)
	n, ok := msgs[0].(status.Msg)
	if !ok || n.Kind != status.KindInfo || n.Text != fmt.Sprintf("saved %d lines to %s", len(want), path) {
		t.Fatalf("notice = %#v", msgs[0])
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("mode = %v, want 0600", st.Mode().Perm())
	}
	data, _ := os.ReadFile(path)
	got := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(got) != len(want) || !strings.HasPrefix(got[0], "2026-11-22T14:30:00.548Z daemon error upstream timeout after 5s") {
		t.Fatalf("saved:\n%s", data)
	}
	// A second save in the same second goes to a file of its own; the first is kept.
	msgs = cmdtest.Run(t, cmd)
	second := strings.TrimSuffix(path, ".log") + "-2.log"
	if n := msgs[0].(status.Msg); n.Kind != status.KindInfo || !strings.HasSuffix(n.Text, second) {
		t.Fatalf("second save = %#v, want it saved to %s", n, second)
	}
	if again, _ := os.ReadFile(path); string(again) != string(data) {
		t.Fatal("the second save changed the first file")
	}
}

func TestSanitizesLines(t *testing.T) {
	m := withLines(t, 80, 5, 0)
	evil := logs.Line{Seq: 1, Time: t0, Service: "dae\x1bmon", Text: "a\x1b]52;c;cGF3bmVk\x07b\x1b[2Jc"}
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: []logs.Line{evil}}, stream: &fakeStream{}})
	if v := m.View(); strings.Contains(v, "]52;") || strings.Contains(v, "[2J") {
		t.Fatalf("escape sequences reached the view: %q", v)
	}
}

func TestCountsAreWordedForOne(t *testing.T) {
	m := withLines(t, 80, 24, 1)
	if v := m.View(); !strings.Contains(v, "1 line ·") {
		t.Errorf("one line is not \"1 line\":\n%s", v)
	}
	m, _ = press(m, "/")
	m = typeText(m, "started")
	m, _ = press(m, "enter")
	if v := m.View(); !strings.Contains(v, "1 match") || strings.Contains(v, "1 matches") {
		t.Errorf("one match is not \"1 match\":\n%s", v)
	}
}

// TestHeaderSaysWhenCatchingUp: a stream far behind the files says so until it has caught
// up, and lines that never reached the files are counted.
func TestHeaderSaysWhenCatchingUp(t *testing.T) {
	m := withLines(t, 120, 10, 3)
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(3, 2), Behind: 40 << 20, Unstored: 7}, stream: &fakeStream{}})
	if h := m.header(); !strings.Contains(h, "catching up (40 MiB behind)") || !strings.Contains(h, "7 not stored") {
		t.Fatalf("header %q: want catching up and 7 not stored", h)
	}
	m, _ = m.Update(batchMsg{gen: m.gen, batch: api.LogBatch{Lines: lines(5, 1)}, stream: &fakeStream{}})
	if h := m.header(); strings.Contains(h, "catching up") || !strings.Contains(h, "7 not stored") {
		t.Fatalf("header %q after catching up: want no catching up, still 7 not stored", h)
	}
}
