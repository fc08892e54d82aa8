package logview

import "github.com/palyra/palyra/supervisor/logs"

// ring keeps the newest lines up to a maximum, dropping the oldest. Lines are addressed by an
// absolute number that never changes while the line is kept, so the view and the filter can
// hold positions across drops.
type ring struct {
	lines []logs.Line // grows up to max, then is reused circularly
	max   int
	head  int    // index in lines of the oldest line
	first uint64 // absolute number of the oldest line
}

func newRing(max int) ring { return ring{max: max} }

func (r *ring) len() int { return len(r.lines) }

// end is one past the absolute number of the newest line.
func (r *ring) end() uint64 { return r.first + uint64(len(r.lines)) }

// at returns the line with absolute number abs, which must be in [first, end).
func (r *ring) at(abs uint64) *logs.Line {
	i := r.head + int(abs-r.first)
	if i >= len(r.lines) {
		i -= len(r.lines)
	}
	return &r.lines[i]
}

// push adds l as the newest line and returns its absolute number.
func (r *ring) push(l logs.Line) uint64 {
	if len(r.lines) < r.max {
		r.lines = append(r.lines, l)
		return r.end() - 1
	}
	r.lines[r.head] = l
	r.head++
	if r.head == len(r.lines) {
		r.head = 0
	}
	r.first++
	return r.end() - 1
}

// last returns the newest line, if any.
func (r *ring) last() (logs.Line, bool) {
	if len(r.lines) == 0 {
		return logs.Line{}, false
	}
	return *r.at(r.end() - 1), true
}
