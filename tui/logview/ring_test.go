package logview

import (
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/supervisor/logs"
)

func TestRingKeepsTheNewestLines(t *testing.T) {
	r := newRing(1000)
	at := time.Date(2026, 11, 23, 15, 3, 15, 123456789, time.UTC)
	for i := range 5000 {
		l := logs.Line{Seq: uint64(i), Time: at.Add(time.Duration(i)), Service: "daemon", Stream: logs.Stderr, Level: "info",
			Text: strings.Repeat("x", i%300)}
		if i%7 == 0 {
			l.Time, l.Level, l.Stream = time.Time{}, "", logs.Supervisor
		}
		if abs := r.push(l); abs != uint64(i) {
			t.Fatalf("push %d returned %d", i, abs)
		}
	}
	if r.len() != 1000 || r.first != 4000 || r.end() != 5000 {
		t.Fatalf("len %d first %d end %d, want 1000, 4000, 5000", r.len(), r.first, r.end())
	}
	for abs := r.first; abs < r.end(); abs++ {
		l := r.at(abs)
		i := int(abs)
		want := logs.Line{Seq: uint64(i), Time: at.Add(time.Duration(i)), Service: "daemon", Stream: logs.Stderr, Level: "info",
			Text: strings.Repeat("x", i%300)}
		if i%7 == 0 {
			want.Time, want.Level, want.Stream = time.Time{}, "", logs.Supervisor
		}
		if l.Seq != want.Seq || !l.Time.Equal(want.Time) || l.Time.IsZero() != want.Time.IsZero() ||
			l.Service != want.Service || l.Stream != want.Stream || l.Level != want.Level || l.Text != want.Text {
			t.Fatalf("line %d = %+v, want %+v", abs, l, want)
		}
	}
	if last, ok := r.last(); !ok || last.Seq != 4999 {
		t.Fatalf("last = %+v, %v", last, ok)
	}
	// 1000 lines of at most 330 bytes fit in a few chunks; the others were let go.
	if n := len(r.chunks); n > 7 {
		t.Fatalf("%d chunks kept for 1000 lines", n)
	}
}

func TestRingLineLongerThanAChunk(t *testing.T) {
	r := newRing(3)
	long := strings.Repeat("y", 3*chunkSize)
	for i, text := range []string{"a", long, "b", "c"} {
		r.push(logs.Line{Seq: uint64(i), Text: text})
	}
	if got := r.at(1).Text; got != long {
		t.Fatalf("the long line came back with %d bytes", len(got))
	}
	if got := r.at(3).Text; got != "c" {
		t.Fatalf("newest = %q", got)
	}
}

func TestRingLineOutlivesItsChunk(t *testing.T) {
	r := newRing(1)
	r.push(logs.Line{Text: "kept by the caller"})
	l := r.at(0)
	for i := range 2 * chunkSize / 16 {
		r.push(logs.Line{Seq: uint64(i + 1), Text: "0123456789abcdef"})
	}
	if l.Text != "kept by the caller" {
		t.Fatalf("a line taken from the ring changed to %q", l.Text)
	}
}
