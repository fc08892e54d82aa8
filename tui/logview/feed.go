package logview

import (
	"context"
	"sync"
	"time"

	"github.com/palyra/palyra/supervisor/api"
	"github.com/palyra/palyra/supervisor/logs"
)

const (
	// frame is the shortest time between two batches the pane is handed: a flood then costs
	// the event loop one message per frame, not one per batch the supervisor sends.
	frame = time.Second / 30
	// maxLinesPerSecond is the most the pane reads from its stream. Decoding a line and
	// collecting its garbage is most of what a flood costs the UI, and nobody reads 100,000
	// lines a second on a screen; beyond it the supervisor skips lines for this stream, and
	// the pane counts them as dropped (every line is still on disk).
	maxLinesPerSecond = 100_000
	// burst is how many lines may arrive at once before the rate applies: a quiet service's
	// sudden stack trace, the stored tail when the stream opens.
	burst = 20_000
)

// feed reads a log stream on a goroutine of its own and hands out what arrived since the
// last call, coalesced into one batch and at most one batch per frame. It keeps at most keep
// pending lines, the newest: older ones would leave the pane at once anyway.
type feed struct {
	keep  int
	ready chan struct{} // holds a token while something is pending

	mu       sync.Mutex
	lines    []logs.Line
	dropped  uint64
	unstored uint64
	behind   int64 // how far the stream was behind the files when it last sent lines
	err      error // the stream's end, handed out after the lines before it

	handed time.Time // when Recv last returned
}

// newFeed starts reading s; the reading ends with the stream (ctx ending ends it).
func newFeed(ctx context.Context, s api.LogStream, keep int) *feed {
	f := &feed{keep: keep, ready: make(chan struct{}, 1)}
	go f.read(ctx, s)
	return f
}

func (f *feed) read(ctx context.Context, s api.LogStream) {
	p := pace{rate: maxLinesPerSecond, burst: burst}
	for {
		b, err := s.Recv()
		f.mu.Lock()
		f.lines = append(f.lines, b.Lines...)
		if over := len(f.lines) - f.keep; over > 0 {
			f.lines = append(f.lines[:0], f.lines[over:]...)
		}
		f.dropped += b.Dropped
		f.unstored += b.Unstored
		if len(b.Lines) > 0 || b.Behind > 0 {
			f.behind = b.Behind
		}
		f.err = err
		f.mu.Unlock()
		f.signal()
		if err != nil {
			return
		}
		if d := p.wait(len(b.Lines), time.Now()); d > 0 {
			t := time.NewTimer(d)
			select {
			case <-ctx.Done():
				t.Stop()
			case <-t.C:
			}
		}
	}
}

func (f *feed) signal() {
	select {
	case f.ready <- struct{}{}:
	default:
	}
}

// Recv returns the lines that arrived since the last call, or the stream's end once every
// line before it was handed out (and again on every later call). It waits for the next
// frame and for something to arrive.
func (f *feed) Recv() (api.LogBatch, error) {
	f.mu.Lock()
	next := f.handed.Add(frame)
	f.mu.Unlock()
	if wait := time.Until(next); wait > 0 {
		time.Sleep(wait)
	}
	<-f.ready
	f.mu.Lock()
	defer f.mu.Unlock()
	f.handed = time.Now()
	if f.err != nil {
		f.signal() // the end stays: every later call returns it too
	}
	if len(f.lines) == 0 && f.dropped == 0 && f.unstored == 0 {
		return api.LogBatch{}, f.err
	}
	b := api.LogBatch{Lines: f.lines, Dropped: f.dropped, Unstored: f.unstored, Behind: f.behind}
	f.lines, f.dropped, f.unstored = nil, 0, 0
	return b, nil
}

// pace is a token bucket over lines: rate a second, up to burst at once.
type pace struct {
	rate, burst float64
	allowance   float64
	at          time.Time
	started     bool
}

// wait takes n lines read at now and returns how long the reader is to pause before it
// reads again.
func (p *pace) wait(n int, now time.Time) time.Duration {
	if !p.started {
		p.allowance, p.at, p.started = p.burst, now, true
	}
	p.allowance = min(p.burst, p.allowance+now.Sub(p.at).Seconds()*p.rate) - float64(n)
	p.at = now
	if p.allowance >= 0 {
		return 0
	}
	return time.Duration(-p.allowance / p.rate * float64(time.Second))
}
