package api

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor/logs"
)

// note writes the lines prefix 0 … prefix n-1 as supervisor notes about service.
func (r *rig) note(service, prefix string, n int) []string {
	var want []string
	for i := range n {
		text := fmt.Sprintf("%s %03d", prefix, i)
		r.store.Note(service, text)
		want = append(want, text)
	}
	return want
}

// lastLine returns the newest line stored about service.
func (r *rig) lastLine(t *testing.T, service string) logs.Line {
	t.Helper()
	tail, err := r.store.Tail([]string{service}, 1)
	if err != nil || len(tail) != 1 {
		t.Fatalf("no line about %s stored (%v)", service, err)
	}
	return tail[0]
}

func TestLogsTail(t *testing.T) {
	r := newRig(t)
	alpha := r.note("alpha", "alpha line", 10)
	beta := r.note("beta", "beta line", 10)

	tests := []struct {
		name string
		q    LogQuery
		want []string
	}{
		{"last lines of one service", LogQuery{Services: []string{"alpha"}, Tail: 4}, alpha[6:]},
		{"last lines of all services", LogQuery{Tail: 3}, beta[7:]},
		{"no tail sends nothing", LogQuery{Services: []string{"alpha"}}, nil},
		{"grep", LogQuery{Tail: 20, Grep: `line 00[13]$`}, []string{alpha[1], alpha[3], beta[1], beta[3]}},
		{"the last matching lines, not the matches among the last", LogQuery{Tail: 2, Grep: `alpha line 00[0-2]$`}, alpha[1:3]},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.client.Logs(testCtx(t), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(readAll(t, s)); !slices.Equal(got, tc.want) {
				t.Errorf("lines = %q, want %q", got, tc.want)
			}
		})
	}
}

// TestLogsTailReachesPastTheRing: a tail reaches into the files of an earlier supervisor, in order and without a line sent twice.
func TestLogsTailReachesPastTheRing(t *testing.T) {
	dir := t.TempDir()
	earlier, err := logs.Open(logs.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var old []string
	for i := range 2 * ringLines {
		old = append(old, fmt.Sprintf("old %03d", i))
		earlier.Note("alpha", old[i])
	}
	if err := earlier.Close(); err != nil {
		t.Fatal(err)
	}
	r := newRigIn(t, dir)
	recent := r.note("alpha", "recent", ringLines) // all the ring holds of alpha
	both := append(slices.Clone(old), recent...)

	for _, tc := range []struct {
		name string
		q    LogQuery
		want []string
	}{
		{"held in memory", LogQuery{Tail: ringLines, Grep: "^(old|recent) "}, recent},
		{"past memory", LogQuery{Tail: ringLines + 10, Grep: "^(old|recent) "}, both[len(both)-ringLines-10:]},
		{"all", LogQuery{Tail: -1, Grep: "^(old|recent) "}, both},
		{"more than stored", LogQuery{Tail: 100000, Grep: "^old "}, old},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.q.Services = []string{"alpha"}
			s, err := r.client.Logs(testCtx(t), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(readAll(t, s)); !slices.Equal(got, tc.want) {
				t.Errorf("got %d lines, want %d from %q to %q:\n%q", len(got), len(tc.want), tc.want[0], tc.want[len(tc.want)-1], got)
			}
		})
	}
	// Unfiltered, the earlier lines come first, the rig's own start among them, each once.
	s, err := r.client.Logs(testCtx(t), LogQuery{Services: []string{"alpha"}, Tail: -1})
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	var got []string
	for _, b := range readAll(t, s) {
		for _, l := range b.Lines {
			seqs, got = append(seqs, l.Seq), append(got, l.Text)
		}
	}
	if !strictlyIncreasing(seqs) || !slices.Equal(got[:len(old)], old) || !slices.Equal(got[len(got)-len(recent):], recent) {
		t.Errorf("all of alpha: %q", got)
	}
}

// Since reads the log files: it finds more lines than the ring holds, and only those at or
// after the time.
func TestLogsSince(t *testing.T) {
	r := newRig(t)
	r.note("alpha", "before", 2*ringLines)
	before := r.lastLine(t, "alpha").Time
	for !time.Now().After(before) { // so no "before" line shares the cut's nanosecond
	}
	after := r.note("alpha", "after", 1)
	cut := r.lastLine(t, "alpha").Time // exactly the first line to return
	after = append(after, r.note("alpha", "and after", 2*ringLines)...)

	for _, tc := range []struct {
		name string
		tail int
		want []string
	}{
		{"all", 0, after},
		{"all, explicitly", -1, after},
		{"the last ones", 5, after[len(after)-5:]},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.client.Logs(testCtx(t), LogQuery{Services: []string{"alpha"}, Since: cut, Tail: tc.tail})
			if err != nil {
				t.Fatal(err)
			}
			if got := texts(readAll(t, s)); !slices.Equal(got, tc.want) {
				t.Errorf("got %d lines, want %d from %q to %q:\n%q", len(got), len(tc.want), tc.want[0], tc.want[len(tc.want)-1], got)
			}
		})
	}
}

func TestLogsFollow(t *testing.T) {
	r := newRig(t)
	stored := r.note("alpha", "stored", 3)
	s, err := r.client.Logs(testCtx(t), LogQuery{Services: []string{"alpha"}, Tail: 2, Follow: true, Grep: "stored|new"})
	if err != nil {
		t.Fatal(err)
	}
	want := stored[1:]
	got := recvUntil(t, s, want[len(want)-1])
	if !slices.Equal(texts(got), want) {
		t.Fatalf("stored lines = %q, want %q", texts(got), want)
	}

	r.note("beta", "new, but another service's", 3)
	r.note("alpha", "filtered out", 3)
	want = r.note("alpha", "new", 5)
	got = recvUntil(t, s, want[len(want)-1])
	if !slices.Equal(texts(got), want) {
		t.Errorf("followed lines = %q, want %q", texts(got), want)
	}
}

// A line stored after the subscription began is both among the stored lines and in the
// subscription; the stream must carry it once.
func TestLogsFollowSendsTheOverlapOnce(t *testing.T) {
	r := newRig(t)
	_, socket, _ := serve(t, Config{Engine: r.sup, Logs: noteOnFollow{Store: r.store, service: "alpha", text: "overlap"}})
	srv := dial(t, socket)
	r.note("alpha", "old", 3)

	for _, tc := range []struct {
		name  string
		query func() LogQuery
	}{
		{"tail", func() LogQuery { return LogQuery{Tail: 3} }},
		{"since from disk", func() LogQuery { return LogQuery{Since: r.lastLine(t, "alpha").Time} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q := tc.query()
			q.Services, q.Follow = []string{"alpha"}, true
			s, err := srv.Logs(testCtx(t), q)
			if err != nil {
				t.Fatal(err)
			}
			got := recvUntil(t, s, "overlap")
			last := r.note("alpha", "later "+tc.name, 3)
			got = append(got, recvUntil(t, s, last[len(last)-1])...)

			var seen []uint64
			overlaps := 0
			for _, b := range got {
				for _, l := range b.Lines {
					seen = append(seen, l.Seq)
					if l.Text == "overlap" {
						overlaps++
					}
				}
			}
			if overlaps != 1 || !strictlyIncreasing(seen) {
				t.Errorf("overlap sent %d times, sequence numbers %v; want once, strictly increasing:\n%q", overlaps, seen, texts(got))
			}
		})
	}
}

// noteOnFollow is the real store with a line written right after a query starts following
// and before it reads the stored lines, the moment a line could be sent twice.
type noteOnFollow struct {
	*logs.Store
	service, text string
}

func (n noteOnFollow) Follow(services []string) *logs.Follower {
	f := n.Store.Follow(services)
	n.Store.Note(n.service, n.text)
	return f
}

// recvUntil reads batches until one holds a line with text last.
func recvUntil(t *testing.T, s LogStream, last string) []LogBatch {
	t.Helper()
	var got []LogBatch
	for {
		b, err := s.Recv()
		if err != nil {
			t.Fatalf("Recv before %q arrived: %v; got %q", last, err, texts(got))
		}
		got = append(got, b)
		if slices.ContainsFunc(b.Lines, func(l logs.Line) bool { return l.Text == last }) {
			return got
		}
	}
}

func strictlyIncreasing(seqs []uint64) bool {
	for i := 1; i < len(seqs); i++ {
		if seqs[i] <= seqs[i-1] {
			return false
		}
	}
	return true
}

func TestLogsBadRequests(t *testing.T) {
	r := newRig(t)
	for _, tc := range []struct {
		name  string
		q     LogQuery
		wants []string
	}{
		{"invalid grep", LogQuery{Tail: 1, Grep: "(unclosed"}, []string{"--grep", "missing closing )"}},
		{"unknown service", LogQuery{Tail: 1, Services: []string{"alpha", "nope"}}, []string{`no service "nope"`, "alpha", "beta"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, follow := range []bool{false, true} {
				tc.q.Follow = follow
				s, err := r.client.Logs(testCtx(t), tc.q)
				if err == nil {
					_, err = s.Recv()
				}
				if err == nil {
					t.Fatalf("follow %v: no error", follow)
				}
				for _, want := range tc.wants {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("follow %v: error %q does not contain %q", follow, err, want)
					}
				}
			}
		})
	}
}

// No batch exceeds the budget, even with lines at the length limit, stored or followed.
func TestLogsBatchBudget(t *testing.T) {
	r := newRig(t)
	long := strings.Repeat("long line ", (64<<10)/10+100) // cut to 64 KiB plus a marker
	writeLong := func(prefix string) string {
		var last string
		for i := range 40 {
			last = fmt.Sprintf("%s %02d %s", prefix, i, long)
			r.store.Note("alpha", last)
		}
		return r.lastLine(t, "alpha").Text
	}
	// checkBudget checks every batch and returns how many lines at the limit they hold.
	checkBudget := func(t *testing.T, batches []LogBatch) (longLines int) {
		t.Helper()
		for i, b := range batches {
			for _, l := range b.Lines {
				if len(l.Text) >= 64<<10 {
					longLines++
				}
			}
			if size := proto.Size(&palyrav1.LogBatch{Lines: linesToProto(b.Lines), Dropped: b.Dropped}); size > maxBatchBytes {
				t.Errorf("batch %d of %d lines is %d bytes, over the %d budget", i, len(b.Lines), size, maxBatchBytes)
			}
		}
		return longLines
	}

	r.note("alpha", "start", 1)
	since := r.lastLine(t, "alpha").Time
	if n := len(writeLong("stored")); n < 64<<10 {
		t.Fatalf("a long line holds %d bytes, want at least 64 KiB", n)
	}
	for _, tc := range []struct {
		name string
		q    LogQuery
	}{
		{"tail", LogQuery{Services: []string{"alpha"}, Tail: -1}},
		{"since", LogQuery{Services: []string{"alpha"}, Since: since}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := r.client.Logs(testCtx(t), tc.q)
			if err != nil {
				t.Fatal(err)
			}
			batches := readAll(t, s)
			if n := checkBudget(t, batches); n != 40 || len(batches) < 2 {
				t.Errorf("got %d long lines in %d batches, want 40 in several", n, len(batches))
			}
		})
	}

	t.Run("follow", func(t *testing.T) {
		s, err := r.client.Logs(testCtx(t), LogQuery{Services: []string{"alpha"}, Tail: 1, Follow: true})
		if err != nil {
			t.Fatal(err)
		}
		// The stored line arrives after the subscription is in place.
		recvUntil(t, s, r.lastLine(t, "alpha").Text)
		last := writeLong("followed")
		if n := checkBudget(t, recvUntil(t, s, last)); n != 40 {
			t.Errorf("got %d long lines, want 40", n)
		}
	})
}

// TestLogsGrepMatchesWhatIsShown: a structured line is matched as operators read it, the
// message first, not as raw JSON.
func TestLogsGrepMatchesWhatIsShown(t *testing.T) {
	r := newRig(t)
	r.store.Note("alpha", `{"time":"2026-11-23T10:00:00Z","level":"ERROR","msg":"palyrad failed","err":"disk full"}`)
	r.store.Note("alpha", `plain line mentioning time`)
	for _, tc := range []struct {
		grep string
		want int
	}{
		{`^palyrad failed err="disk full"$`, 1},
		{`time`, 1}, // the JSON line's time key is not what an operator sees
	} {
		s, err := r.client.Logs(testCtx(t), LogQuery{Services: []string{"alpha"}, Tail: -1, Grep: tc.grep})
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, s); len(got) != tc.want {
			t.Errorf("grep %q: %d lines %q, want %d", tc.grep, len(got), texts(got), tc.want)
		}
	}
}
