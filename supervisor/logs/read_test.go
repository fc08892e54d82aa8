package logs

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// notes stores the notes prefix 00 … prefix n-1 about service and returns their texts.
func notes(s *Store, service, prefix string, n int) []string {
	var out []string
	for i := range n {
		text := fmt.Sprintf("%s %02d", prefix, i)
		s.Note(service, text)
		out = append(out, text)
	}
	return out
}

func increasing(lines []Line) bool {
	for i := 1; i < len(lines); i++ {
		if lines[i].Seq <= lines[i-1].Seq {
			return false
		}
	}
	return true
}

// TestReadLastReachesPastMemory: the newest lines come from memory while it holds them, and
// from the files, written by an earlier store too, when it does not.
func TestReadLastReachesPastMemory(t *testing.T) {
	dir := t.TempDir()
	s1 := openStore(t, Options{Dir: dir})
	old := notes(s1, "daemon", "old", 30)
	notes(s1, "browserd", "other", 5)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	s2 := openStore(t, Options{Dir: dir})
	mid := time.Now()
	recent := notes(s2, "daemon", "new", 15) // memory holds new 05 … new 14
	all := append(slices.Clone(old), recent...)

	tests := []struct {
		name string
		q    Query
		want []string
	}{
		{"held in memory", Query{Services: []string{"daemon"}, Last: 5}, recent[10:]},
		{"past memory", Query{Services: []string{"daemon"}, Last: 25}, all[len(all)-25:]},
		{"more than stored", Query{Services: []string{"daemon"}, Last: 1000}, all},
		{"all", Query{Services: []string{"daemon"}}, all},
		{"matching, past memory", Query{Services: []string{"daemon"}, Last: 3, Match: func(l Line) bool { return strings.HasPrefix(l.Text, "old") }}, old[27:]},
		{"every service", Query{Last: 17}, append([]string{"other 03", "other 04"}, recent...)},
		{"since a time", Query{Services: []string{"daemon"}, Since: mid, Last: 100}, recent},
		{"unknown service", Query{Services: []string{"nope"}, Last: 10}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(s2.Read, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(texts(got), tt.want) || !increasing(got) {
				t.Fatalf("got %d lines %q, want %d: %q", len(got), texts(got), len(tt.want), tt.want)
			}
		})
	}
	// The reader alone, without the store's memory, finds the same in the files.
	got, err := collect(NewReader(dir).Read, Query{Services: []string{"daemon"}, Last: 25})
	if err != nil || !slices.Equal(texts(got), all[len(all)-25:]) {
		t.Fatalf("reader: %q (%v), want %q", texts(got), err, all[len(all)-25:])
	}
}

// TestReadResynchronisesAfterATornRecord: a record cut short with the next glued to it, as
// a full disk left them before records were cut back, costs the torn one only.
func TestReadResynchronisesAfterATornRecord(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(0, 1763900000123456789)
	rec := func(seq uint64, text string) string {
		return string(appendRecord(nil, Line{Seq: seq, Time: at, Stream: Stdout, Text: text}))
	}
	torn := rec(2, "torn line 12345")[:40]
	content := rec(1, "first") + torn + rec(3, "after the torn one") + rec(4, "last")
	if err := os.WriteFile(filepath.Join(dir, "svc.log"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, q := range []Query{{}, {Last: 3}} {
		got, err := collect(NewReader(dir).Read, q)
		if want := []string{"first", "after the torn one", "last"}; err != nil || !slices.Equal(texts(got), want) {
			t.Fatalf("%+v: got %q (%v), want %q", q, texts(got), err, want)
		}
	}
}

// TestReaderBesideAWritingStore reads while a store writes and rotates the same files: every
// read is a run of consecutive lines, and the newest lines are always found.
func TestReaderBesideAWritingStore(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, FileMaxBytes: 300, FileKeep: 8})
	const n = 3000
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range n {
			s.Note("svc", fmt.Sprintf("line %04d", i))
			if i%20 == 0 {
				s.flush() // keeps the queue short, so no line is dropped
			}
		}
		s.flush()
	})
	r := NewReader(dir)
	// consecutive checks that lines are line k, k+1, … and returns the last k.
	consecutive := func(what string, lines []Line) int {
		t.Helper()
		var first int
		for i, l := range lines {
			var k int
			if _, err := fmt.Sscanf(l.Text, "line %d", &k); err != nil || (i > 0 && k != first+i) || (i > 0 && l.Seq != lines[i-1].Seq+1) {
				t.Fatalf("%s: line %d is %q (seq %d) after %q: not consecutive", what, i, l.Text, l.Seq, lines[max(i-1, 0)].Text)
			}
			if i == 0 {
				first = k
			}
		}
		return first + len(lines) - 1
	}
	reads := 0
	for running := true; running; reads++ {
		select {
		case <-done:
			running = false
		default:
		}
		all, err := collect(r.Read, Query{})
		if err != nil {
			t.Fatal(err)
		}
		consecutive("all", all)
		last, err := collect(r.Read, Query{Last: 10})
		if err != nil {
			t.Fatal(err)
		}
		newest := consecutive("last 10", last)
		if len(last) < min(10, len(all)) || len(all) > 0 && newest < consecutive("all", all) {
			t.Fatalf("last 10 = %q after all ended at %q", texts(last), all[len(all)-1].Text)
		}
	}
	wg.Wait()
	if d := s.Dropped("svc"); d != 0 {
		t.Fatalf("the store dropped %d lines", d)
	}
	last, err := collect(r.Read, Query{Last: 10})
	if err != nil || len(last) != 10 || consecutive("final", last) != n-1 {
		t.Fatalf("final last 10 = %q (%v), want up to line %04d", texts(last), err, n-1)
	}
	t.Logf("%d reads while writing", reads)
}
