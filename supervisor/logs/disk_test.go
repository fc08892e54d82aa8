package logs

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/testfs"
)

// fill writes a file at path until the file system is full.
func fill(t *testing.T, path string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	block := bytes.Repeat([]byte{'b'}, 4096)
	for {
		if _, err := f.Write(block); err != nil {
			if !errors.Is(err, syscall.ENOSPC) {
				t.Fatal(err)
			}
			return
		}
	}
}

// TestFullDiskLosesNoLineUncounted fills the log directory's file system while a service
// keeps logging, then frees it. Every line must be in the file or counted as dropped, the
// file must hold whole records only, and writing must resume with a note saying so.
func TestFullDiskLosesNoLineUncounted(t *testing.T) {
	dir := testfs.Small(t, 256<<10)
	s := openStore(t, Options{Dir: dir})
	n := 0
	// write logs count lines in reads of ten, and waits until the writer is done with them.
	write := func(count int) {
		var chunks []string
		for range count / 10 {
			var b strings.Builder
			for range 10 {
				fmt.Fprintf(&b, "line %05d %s\n", n, strings.Repeat("x", 150))
				n++
			}
			chunks = append(chunks, b.String())
		}
		feed(s, "svc", chunks...)
		s.flush()
	}

	write(200)
	ballast := filepath.Join(dir, "ballast")
	fill(t, ballast)
	write(500)
	if s.Dropped("svc") == 0 {
		t.Fatal("no line dropped on a full disk")
	}
	if err := os.Remove(ballast); err != nil {
		t.Fatal(err)
	}
	write(200)
	if err := s.Close(); err != nil {
		t.Fatalf("close after the disk recovered: %v", err)
	}
	// Every line appended reached the writer: the queue never filled, as write waits for the
	// writer after each few lines.
	produced := int(s.services["svc"].appended)
	if produced < n+2 {
		t.Fatalf("%d lines appended; want the %d written and the two notes", produced, n)
	}

	file, err := os.ReadFile(s.FilePath("svc"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(file, []byte{'\n'}) {
		t.Fatalf("the file ends inside a record: %q", file[max(len(file)-80, 0):])
	}
	var stored []Line
	for i, rec := range bytes.Split(file[:len(file)-1], []byte{'\n'}) {
		l, ok := parseRecord(rec)
		if !ok || bytes.Count(rec, []byte{'\t'}) != 4 {
			t.Fatalf("record %d is torn or glued to another: %q", i, rec)
		}
		if len(stored) > 0 && l.Seq <= stored[len(stored)-1].Seq {
			t.Fatalf("record %d has seq %d after %d", i, l.Seq, stored[len(stored)-1].Seq)
		}
		stored = append(stored, l)
	}
	dropped := s.Dropped("svc")
	if uint64(len(stored))+dropped != uint64(produced) {
		t.Fatalf("%d lines in the file and %d dropped, but %d produced", len(stored), dropped, produced)
	}
	// Once there is space again, every line reaches the file.
	for i := n - 200; i < n; i++ {
		line := fmt.Sprintf("line %05d ", i)
		if !slices.ContainsFunc(stored, func(l Line) bool { return strings.HasPrefix(l.Text, line) }) {
			t.Fatalf("%q… was written after space returned, but is not in the file", line)
		}
	}
	note := fmt.Sprintf("log file writable again; %d lines could not be written to it", dropped)
	if !strings.Contains(string(file), "\t"+note+"\n") {
		t.Errorf("no note %q in the file", note)
	}
	t.Logf("%d lines produced, %d in the file, %d dropped", produced, len(stored), dropped)
}

// TestTornTailIsCutBeforeWriting: a file whose writer died mid-record is cut back to its
// last whole record before the next store appends, so the new record starts its own line.
func TestTornTailIsCutBeforeWriting(t *testing.T) {
	dir := t.TempDir()
	at := time.Unix(0, 1763900000123456789)
	whole := string(appendRecord(nil, Line{Seq: 1, Time: at, Stream: Stdout, Text: "whole"}))
	torn := string(appendRecord(nil, Line{Seq: 2, Time: at, Stream: Stdout, Text: "torn"}))[:25]
	path := filepath.Join(dir, "svc.log")
	if err := os.WriteFile(path, []byte(whole+torn), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{Dir: dir})
	s.Note("svc", "next")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[0]+"\n" != whole || !strings.HasSuffix(lines[1], "\tnext") || strings.Count(lines[1], "\t") != 4 {
		t.Fatalf("file holds %q, want the whole record, then the next", b)
	}
}
