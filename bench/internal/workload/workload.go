// Package workload holds what the benchmark child and the benchmark driver agree on: the
// shape of a flood line, the child's own timing report, and a counter that tells how many
// distinct flood lines a stream of bytes carried, whatever a supervisor wrapped them in.
package workload

import "bytes"

// Marker starts the text of every flood line.
const Marker = "flood-line "

// SeqDigits is the width of the zero-padded sequence number that follows Marker.
const SeqDigits = 9

// FloodStats is the flood child's report of its own writing, saved as JSON.
type FloodStats struct {
	Start     int64   `json:"start_unix_ns"` // when the first write began
	Lines     int     `json:"lines"`
	Bytes     int64   `json:"bytes"`
	Seconds   float64 `json:"seconds"`     // first write to last write returning
	MaxWriteS float64 `json:"max_write_s"` // longest single write(2): how long a full pipe held the child
	Writes    int     `json:"writes"`
}

// Counter counts flood lines in a byte stream fed in arbitrary chunks. It finds each Marker
// plus sequence number anywhere in the stream (a log file's JSON or a `logs -f` prefix around
// it does not matter) and remembers which sequence numbers it saw, so a duplicate is not
// mistaken for a missing line.
type Counter struct {
	Total  int // flood lines seen, duplicates included
	Unique int // distinct sequence numbers seen

	seen  []uint64 // bitmap of sequence numbers
	carry []byte   // end of the last chunk, which may hold the start of a split line
	buf   []byte   // carry joined with the next chunk
}

// NewCounter returns a counter for sequence numbers below lines.
func NewCounter(lines int) *Counter {
	return &Counter{seen: make([]uint64, lines/64+1)}
}

// Write feeds the next chunk of the stream. It never fails.
func (c *Counter) Write(p []byte) (int, error) {
	n := len(p)
	if len(c.carry) > 0 {
		c.buf = append(append(c.buf[:0], c.carry...), p...)
		p = c.buf
	}
	const whole = len(Marker) + SeqDigits
	var keep []byte
	for {
		i := bytes.Index(p, []byte(Marker))
		if i < 0 {
			keep = p[len(p)-min(len(p), whole-1):]
			break
		}
		if i+whole > len(p) {
			keep = p[i:]
			break
		}
		c.record(p[i+len(Marker) : i+whole])
		p = p[i+whole:]
	}
	c.carry = append(c.carry[:0], keep...)
	return n, nil
}

func (c *Counter) record(digits []byte) {
	seq := 0
	for _, d := range digits {
		if d < '0' || d > '9' {
			return
		}
		seq = seq*10 + int(d-'0')
	}
	c.Total++
	if seq/64 >= len(c.seen) {
		return
	}
	word, bit := seq/64, uint64(1)<<(seq%64)
	if c.seen[word]&bit == 0 {
		c.seen[word] |= bit
		c.Unique++
	}
}
