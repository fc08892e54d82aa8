package logview

import (
	"math"
	"time"
	"unsafe"

	"github.com/palyra/palyra/supervisor/logs"
)

// chunkSize is the size of one block of line text in the ring.
const chunkSize = 64 << 10

// ring keeps the newest lines up to a maximum, dropping the oldest. Lines are addressed by an
// absolute number that never changes while the line is kept, so the view and the filter can
// hold positions across drops.
//
// A full pane holds 100,000 lines. Kept as logs.Line values they are five pointers each,
// which the garbage collector scans on every cycle, and under a log flood cycles come many
// times a second. So the ring holds no pointers per line: an entry locates its strings in
// append-only chunks of text, which are let go in order as the oldest lines leave.
type ring struct {
	entries []entry // grows up to max, then is reused circularly
	max     int
	head    int    // index in entries of the oldest line
	first   uint64 // absolute number of the oldest line

	chunks     [][]byte // text; only the last one is appended to
	firstChunk uint32   // the number of chunks[0]
}

// entry is one line: its numbers, and where its service, stream, level and text lie, one
// after the other, in its chunk.
type entry struct {
	seq                          uint64
	nano                         int64 // unix ns; noTime for a line without a time
	chunk, off                   uint32
	service, stream, level, text uint32 // lengths
}

const noTime = math.MinInt64

func newRing(max int) ring { return ring{max: max} }

func (r *ring) len() int { return len(r.entries) }

// end is one past the absolute number of the newest line.
func (r *ring) end() uint64 { return r.first + uint64(len(r.entries)) }

// at returns the line with absolute number abs, which must be in [first, end).
func (r *ring) at(abs uint64) logs.Line {
	i := r.head + int(abs-r.first)
	if i >= len(r.entries) {
		i -= len(r.entries)
	}
	return r.line(&r.entries[i])
}

func (r *ring) line(e *entry) logs.Line {
	c := r.chunks[e.chunk-r.firstChunk]
	off := e.off
	next := func(n uint32) string {
		if n == 0 {
			return ""
		}
		// A chunk's bytes are never written again once a line is in them, so the string
		// may share them; it keeps its chunk alive after the ring has let go of it.
		s := unsafe.String(&c[off], int(n))
		off += n
		return s
	}
	l := logs.Line{Seq: e.seq, Service: next(e.service), Stream: logs.Stream(next(e.stream)), Level: next(e.level), Text: next(e.text)}
	if e.nano != noTime {
		l.Time = time.Unix(0, e.nano)
	}
	return l
}

// push adds l as the newest line and returns its absolute number.
func (r *ring) push(l logs.Line) uint64 {
	e := entry{seq: l.Seq, nano: noTime,
		service: uint32(len(l.Service)), stream: uint32(len(l.Stream)), level: uint32(len(l.Level)), text: uint32(len(l.Text))}
	if !l.Time.IsZero() {
		e.nano = l.Time.UnixNano()
	}
	e.chunk, e.off = r.reserve(int(e.service + e.stream + e.level + e.text))
	c := &r.chunks[e.chunk-r.firstChunk]
	*c = append(append(append(append(*c, l.Service...), l.Stream...), l.Level...), l.Text...)

	if len(r.entries) < r.max {
		r.entries = append(r.entries, e)
		return r.end() - 1
	}
	r.entries[r.head] = e
	r.head++
	if r.head == len(r.entries) {
		r.head = 0
	}
	r.first++
	// Let go of the chunks only dropped lines used.
	for oldest := r.entries[r.head].chunk; r.firstChunk < oldest; r.firstChunk++ {
		r.chunks[0] = nil
		r.chunks = r.chunks[1:]
	}
	return r.end() - 1
}

// reserve returns the chunk and offset where n more bytes go, starting a chunk if the last
// one lacks the room. A chunk never grows past its capacity, so it is never moved.
func (r *ring) reserve(n int) (chunk, off uint32) {
	if k := len(r.chunks); k > 0 {
		if c := r.chunks[k-1]; cap(c)-len(c) >= n {
			return r.firstChunk + uint32(k-1), uint32(len(c))
		}
	}
	r.chunks = append(r.chunks, make([]byte, 0, max(chunkSize, n)))
	return r.firstChunk + uint32(len(r.chunks)-1), 0
}

// last returns the newest line, if any.
func (r *ring) last() (logs.Line, bool) {
	if len(r.entries) == 0 {
		return logs.Line{}, false
	}
	return r.at(r.end() - 1), true
}
