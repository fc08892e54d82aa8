// Package logview is the Logs pane: the merged or per-service log stream with follow mode,
// a filter with highlighted matches, wrap, timestamps, and saving to a file.
package logview

import (
	"context"
	"log/slog"
	"sort"
	"time"

	"charm.land/bubbles/v2/key"
	"charm.land/bubbles/v2/textinput"
	tea "charm.land/bubbletea/v2"

	"github.com/palyra/palyra/internal/logtext"
	"github.com/palyra/palyra/internal/textsafe"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/logs"
	"github.com/palyra/palyra/tui/keys"
	"github.com/palyra/palyra/tui/status"
	"github.com/palyra/palyra/tui/theme"
)

// Source opens log streams. The supervisor client satisfies it.
type Source interface {
	Logs(ctx context.Context, q api.LogQuery) (api.LogStream, error)
}

// DefaultMaxLines is how many lines the pane keeps before dropping the oldest.
const DefaultMaxLines = 100_000

const (
	tailLines  = 2000 // stored lines asked for when a stream opens
	firstRetry = time.Second
	lastRetry  = 5 * time.Second
)

// Options are the pane's settings.
type Options struct {
	Now      func() time.Time                                     // the clock; time.Now when nil
	Location *time.Location                                       // for timestamps; time.Local when nil
	SaveDir  string                                               // where ctrl+s writes; the working directory when empty
	MaxLines int                                                  // DefaultMaxLines when 0
	Logger   *slog.Logger                                         // the TUI's own log; discarded when nil
	Tick     func(time.Duration, func(time.Time) tea.Msg) tea.Cmd // timers; tea.Tick when nil
}

type openedMsg struct {
	gen    int
	stream api.LogStream
	err    error
}

type batchMsg struct {
	gen    int
	stream api.LogStream // read again for the next batch
	batch  api.LogBatch
	err    error
}

type retryMsg struct{ gen int }

// Model is the Logs pane.
type Model struct {
	src    Source
	styles theme.Styles
	paints paints
	keys   keys.KeyMap
	opts   Options

	width, height int

	services []string          // from the snapshot, in its order, for cycling
	dropped  map[string]uint64 // per service, from the snapshot
	service  string            // the service shown; "" for all

	// The stream. gen tells the messages of the current stream from those of one replaced.
	gen           int
	cancel        context.CancelFunc
	down          bool
	retry         time.Duration
	streamDropped uint64
	unstored      uint64 // lines of the stream that never reached the log files
	behind        int64  // bytes the stream has yet to read from the files

	buf      ring
	svcWidth int

	showTime bool
	wrap     bool
	follow   bool
	top      uint64 // absolute number of the first visible line while paused

	filter     string
	matches    []uint64 // absolute numbers of the kept lines that match the filter, ascending
	current    uint64   // the match n/N moved to
	hasCurrent bool
	input      textinput.Model
}

// New returns a Logs pane reading from src. Call Start to open the stream.
func New(src Source, st theme.Styles, km keys.KeyMap, opts Options) Model {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Location == nil {
		opts.Location = time.Local
	}
	if opts.MaxLines <= 0 {
		opts.MaxLines = DefaultMaxLines
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Tick == nil {
		opts.Tick = tea.Tick
	}
	in := textinput.New()
	in.Prompt = "/"
	in.Placeholder = "filter (case-insensitive)"
	in.SetStyles(st.Input)
	return Model{
		src: src, styles: st, paints: newPaints(st), keys: km, opts: opts,
		dropped: map[string]uint64{}, retry: firstRetry,
		buf: newRing(opts.MaxLines), svcWidth: minServiceWidth,
		showTime: true, follow: true, input: in,
	}
}

// Init starts nothing; the root calls Start once the program runs.
func (m Model) Init() tea.Cmd { return nil }

// Start opens the log stream of every service.
func (m *Model) Start() tea.Cmd { return m.open() }

// Close ends the stream.
func (m *Model) Close() {
	if m.cancel != nil {
		m.cancel()
	}
}

// SetSize sets the pane's size in cells.
func (m *Model) SetSize(w, h int) {
	m.width, m.height = w, h
	m.input.SetWidth(max(w-2, 1))
}

// SetStyles replaces the styles, e.g. after the terminal reported its background.
func (m *Model) SetStyles(st theme.Styles) {
	m.styles, m.paints = st, newPaints(st)
	m.input.SetStyles(st.Input)
}

// SetServices takes the service list and dropped-line counts from a snapshot.
func (m *Model) SetServices(services []supervisor.ServiceStatus) {
	m.services = m.services[:0]
	clear(m.dropped)
	for _, s := range services {
		name := textsafe.Clean(s.Name)
		m.services = append(m.services, name)
		m.dropped[name] = s.DroppedLines
		m.svcWidth = max(m.svcWidth, min(len(name), maxServiceWidth))
	}
}

// ShowService switches to one service's lines ("" for all) and reopens the stream.
func (m *Model) ShowService(name string) tea.Cmd {
	if name == m.service && m.cancel != nil {
		return nil
	}
	m.service = name
	m.reset()
	return m.open()
}

// Service returns the service shown, "" for all.
func (m Model) Service() string { return m.service }

// CapturesInput reports whether the filter input has focus, so global keys must not fire.
func (m Model) CapturesInput() bool { return m.input.Focused() }

// Following reports whether the view sticks to the newest line.
func (m Model) Following() bool { return m.follow }

// Len returns how many lines the pane keeps.
func (m Model) Len() int { return m.buf.len() }

// Matches returns how many kept lines match the filter.
func (m Model) Matches() int { return len(m.matches) }

// Update handles keys and stream messages.
func (m Model) Update(msg tea.Msg) (Model, tea.Cmd) {
	switch msg := msg.(type) {
	case openedMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		if msg.err != nil {
			return m, m.disconnected(msg.err)
		}
		// Connected, though a quiet service may send nothing for a while.
		m.down = false
		return m, wait(msg.gen, msg.stream)
	case batchMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		if msg.err != nil {
			return m, m.disconnected(msg.err)
		}
		m.down, m.retry = false, firstRetry
		m.streamDropped += msg.batch.Dropped
		m.unstored += msg.batch.Unstored
		m.behind = msg.batch.Behind
		m.appendLines(msg.batch.Lines)
		return m, wait(msg.gen, msg.stream)
	case retryMsg:
		if msg.gen != m.gen {
			return m, nil
		}
		return m, m.open()
	case tea.KeyPressMsg:
		if m.input.Focused() {
			return m.updateInput(msg)
		}
		return m.updateKeys(msg)
	}
	if m.input.Focused() {
		var cmd tea.Cmd
		m.input, cmd = m.input.Update(msg)
		return m, cmd
	}
	return m, nil
}

func (m Model) updateKeys(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	rows := m.rows()
	switch {
	case key.Matches(msg, m.keys.Up):
		m.scrollTo(m.topPos() - 1)
	case key.Matches(msg, m.keys.Down):
		if !m.follow {
			m.scrollTo(m.topPos() + 1)
		}
	case key.Matches(msg, m.keys.PageUp):
		m.scrollTo(m.topPos() - rows)
	case key.Matches(msg, m.keys.PageDown):
		if !m.follow {
			m.scrollTo(m.topPos() + rows)
		}
	case key.Matches(msg, m.keys.Top):
		m.scrollTo(0)
	case key.Matches(msg, m.keys.Follow):
		m.follow, m.hasCurrent = true, false
	case key.Matches(msg, m.keys.CycleService):
		return m, m.ShowService(m.nextService())
	case key.Matches(msg, m.keys.ToggleTime):
		m.showTime = !m.showTime
	case key.Matches(msg, m.keys.Wrap):
		m.wrap = !m.wrap
	case key.Matches(msg, m.keys.Filter):
		m.input.SetValue(m.filter)
		m.input.CursorEnd()
		return m, m.input.Focus()
	case key.Matches(msg, m.keys.NextMatch):
		return m, m.jump(+1)
	case key.Matches(msg, m.keys.PrevMatch):
		return m, m.jump(-1)
	case key.Matches(msg, m.keys.Save):
		return m, save(m.opts.SaveDir, m.opts.Now, m.opts.Location, m.visibleLines())
	case key.Matches(msg, m.keys.Back):
		m.setFilter("")
	}
	return m, nil
}

func (m Model) updateInput(msg tea.KeyPressMsg) (Model, tea.Cmd) {
	switch {
	case key.Matches(msg, m.keys.Submit):
		m.input.Blur()
		m.setFilter(m.input.Value())
		return m, nil
	case key.Matches(msg, m.keys.Cancel):
		m.input.Blur()
		m.setFilter("")
		return m, nil
	}
	var cmd tea.Cmd
	m.input, cmd = m.input.Update(msg)
	return m, cmd
}

// open replaces the stream with one for the current selection.
func (m *Model) open() tea.Cmd {
	if m.cancel != nil {
		m.cancel()
	}
	m.gen++
	// The stream lives until the selection changes, the pane closes or the program ends,
	// so it has no deadline; cancel ends it.
	ctx, cancel := context.WithCancel(context.Background())
	m.cancel = cancel
	src, gen, keep := m.src, m.gen, m.opts.MaxLines
	q := api.LogQuery{Tail: tailLines, Follow: true}
	if m.service != "" {
		q.Services = []string{m.service}
	}
	return func() tea.Msg {
		s, err := src.Logs(ctx, q)
		if err != nil {
			return openedMsg{gen: gen, err: err}
		}
		return openedMsg{gen: gen, stream: newFeed(ctx, s, keep)}
	}
}

func wait(gen int, s api.LogStream) tea.Cmd {
	return func() tea.Msg {
		b, err := s.Recv()
		return batchMsg{gen: gen, stream: s, batch: b, err: err}
	}
}

// disconnected drops the broken stream and schedules a reopen, 1 s doubling up to 5 s.
func (m *Model) disconnected(err error) tea.Cmd {
	if m.cancel != nil {
		m.cancel()
	}
	if !m.down {
		m.opts.Logger.Warn("log stream lost", "err", err)
	}
	m.down = true
	delay, gen := m.retry, m.gen
	m.retry = min(m.retry*2, lastRetry)
	return m.opts.Tick(delay, func(time.Time) tea.Msg { return retryMsg{gen: gen} })
}

func (m *Model) reset() {
	m.buf = newRing(m.opts.MaxLines)
	m.matches = nil
	m.hasCurrent = false
	m.follow = true
	m.streamDropped, m.unstored, m.behind = 0, 0, 0
}

// appendLines adds a batch: O(len(lines)), matching only the new lines against the filter.
// After a reconnect the stream repeats its tail; lines not newer than the last kept one are
// skipped.
func (m *Model) appendLines(lines []logs.Line) {
	last, haveLast := m.buf.last()
	for _, l := range lines {
		if haveLast && l.Seq <= last.Seq && !l.Time.After(last.Time) {
			continue
		}
		// Filters match what is shown, so structured lines are compacted as they arrive.
		l.Text = logtext.Compact(textsafe.Clean(l.Text))
		l.Service = textsafe.Clean(l.Service)
		l.Level = textsafe.Clean(l.Level)
		abs := m.buf.push(l)
		if m.filter != "" {
			if i, _ := indexFold(l.Text, m.filter); i >= 0 {
				m.matches = append(m.matches, abs)
			}
		}
		m.svcWidth = max(m.svcWidth, min(len(l.Service), maxServiceWidth))
	}
	first := m.buf.first
	n := sort.Search(len(m.matches), func(i int) bool { return m.matches[i] >= first })
	m.matches = m.matches[n:]
	if m.hasCurrent && m.current < first {
		m.hasCurrent = false
	}
}

// setFilter applies a new filter, scanning every kept line once.
func (m *Model) setFilter(f string) {
	m.filter = f
	m.matches = m.matches[:0]
	m.hasCurrent = false
	if f == "" {
		return
	}
	for abs := m.buf.first; abs < m.buf.end(); abs++ {
		if i, _ := indexFold(m.buf.at(abs).Text, f); i >= 0 {
			m.matches = append(m.matches, abs)
		}
	}
}

func (m Model) nextService() string {
	if m.service == "" {
		if len(m.services) == 0 {
			return ""
		}
		return m.services[0]
	}
	for i, s := range m.services {
		if s == m.service && i+1 < len(m.services) {
			return m.services[i+1]
		}
	}
	return ""
}

// count is the number of lines in view: all kept lines, or the matches while filtering.
func (m *Model) count() int {
	if m.filter != "" {
		return len(m.matches)
	}
	return m.buf.len()
}

// absAt maps a position in view to a line's absolute number.
func (m *Model) absAt(pos int) uint64 {
	if m.filter != "" {
		return m.matches[pos]
	}
	return m.buf.first + uint64(pos)
}

// posOf maps an absolute number to the position of the first line in view at or after it.
func (m *Model) posOf(abs uint64) int {
	if m.filter != "" {
		return sort.Search(len(m.matches), func(i int) bool { return m.matches[i] >= abs })
	}
	if abs < m.buf.first {
		return 0
	}
	return int(abs - m.buf.first)
}

// topPos is the position of the first visible line.
func (m *Model) topPos() int {
	if m.follow {
		return m.bottomTop()
	}
	return min(m.posOf(m.top), m.bottomTop())
}

// scrollTo pauses following and shows position pos at the top.
func (m *Model) scrollTo(pos int) {
	if m.count() == 0 {
		return
	}
	pos = min(max(pos, 0), m.bottomTop())
	m.follow = false
	m.top = m.absAt(pos)
}

// jump moves to the next (+1) or previous (-1) match and makes it visible.
func (m *Model) jump(dir int) tea.Cmd {
	if m.filter == "" {
		return status.Info("no filter: press / to set one")
	}
	if len(m.matches) == 0 {
		return status.Info("no line matches the filter")
	}
	top, rows := m.topPos(), m.rows()
	var pos int
	switch {
	case m.hasCurrent:
		pos = m.posOf(m.current) + dir
	case dir > 0:
		pos = top
	default:
		pos = min(top+rows, m.count()) - 1
	}
	pos = min(max(pos, 0), m.count()-1)
	m.current, m.hasCurrent = m.absAt(pos), true
	switch {
	case pos < top:
		m.scrollTo(pos)
	case pos >= top+rows:
		m.scrollTo(pos - rows + 1)
	default:
		m.scrollTo(top)
	}
	return nil
}

// visibleLines copies the lines in view, for saving on another goroutine.
func (m Model) visibleLines() []logs.Line {
	out := make([]logs.Line, m.count())
	for pos := range out {
		out[pos] = m.buf.at(m.absAt(pos))
	}
	return out
}

// ShortHelp lists the bindings for the status line.
func (m Model) ShortHelp() []key.Binding {
	if m.input.Focused() {
		return []key.Binding{m.keys.Submit, m.keys.Cancel}
	}
	return []key.Binding{m.keys.Filter, m.keys.Follow, m.keys.CycleService, m.keys.Wrap, m.keys.ToggleTime, m.keys.Save, m.keys.NextMatch}
}

// FullHelp lists the bindings for the help overlay, in columns.
func (m Model) FullHelp() [][]key.Binding {
	back := m.keys.Back
	back.SetHelp(back.Help().Key, "clear filter")
	return [][]key.Binding{
		{m.keys.Up, m.keys.Down, m.keys.PageUp, m.keys.PageDown, m.keys.Top, m.keys.Follow},
		{m.keys.Filter, m.keys.NextMatch, m.keys.PrevMatch, back},
		{m.keys.CycleService, m.keys.ToggleTime, m.keys.Wrap, m.keys.Save},
	}
}
