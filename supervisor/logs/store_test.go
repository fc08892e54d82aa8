package logs

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

const waitLimit = 10 * time.Second

func openStore(t testing.TB, opts Options) *Store {
	t.Helper()
	if opts.Dir == "" {
		opts.Dir = t.TempDir()
	}
	s, err := Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// receive reads f until it has n lines, the store closes or the wait ends.
func receive(t *testing.T, f *Follower, n int) []Line {
	t.Helper()
	var got []Line
	deadline := time.After(waitLimit)
	for len(got) < n {
		changed := f.Changed()
		ch, err := f.Read(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range ch.Blocks {
			got = AppendLines(got, b)
		}
		if len(ch.Blocks) > 0 {
			continue
		}
		if f.Done() {
			return got
		}
		select {
		case <-changed:
		case <-deadline:
			t.Fatalf("received %d lines, want %d", len(got), n)
		}
	}
	return got
}

// feed feeds text to the store as one stream of service and waits until it is stored.
func feed(s *Store, service string, chunks ...string) {
	r, w := io.Pipe()
	go func() {
		for _, c := range chunks {
			w.Write([]byte(c))
		}
		w.Close()
	}()
	s.Capture(service, Stdout, r, nil)
}

// collect returns the lines read yields for q.
func collect(read func(Query, func(Line) bool) error, q Query) ([]Line, error) {
	var out []Line
	err := read(q, func(l Line) bool {
		out = append(out, l)
		return true
	})
	return out, err
}

// onDisk returns the lines in s's files, once the writer has written out its queue.
func onDisk(s *Store) ([]Line, error) {
	s.flush()
	return collect(s.reader.Read, Query{})
}

// tail returns s.Tail(services, n), failing t on an error.
func tail(t *testing.T, s *Store, services []string, n int) []Line {
	t.Helper()
	lines, err := s.Tail(services, n)
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

func texts(lines []Line) []string {
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = l.Text
	}
	return out
}

func TestCaptureChildProcess(t *testing.T) {
	tests := []struct {
		name   string
		script string
		want   func(i int) string
		n      int
	}{
		{"seq", "seq 1 50000", func(i int) string { return strconv.Itoa(i + 1) }, 50000},
		{"yes through head", "yes 'level=info msg=\"hello world\"' | head -n 100000", func(int) string { return `level=info msg="hello world"` }, 100000},
		{"printf lines", `i=0; while [ $i -lt 300 ]; do printf 'line %d\n' $i; i=$((i+1)); done`, func(i int) string { return fmt.Sprintf("line %d", i) }, 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, Options{})
			sub := s.Follow([]string{"child"})
			cmd := exec.Command("sh", "-c", tt.script)
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			s.Capture("child", Stdout, out, nil)
			if err := cmd.Wait(); err != nil {
				t.Fatal(err)
			}

			got := receive(t, sub, tt.n)
			if s.Dropped("child") != 0 {
				t.Fatalf("dropped %d lines", s.Dropped("child"))
			}
			stored, err := onDisk(s)
			if err != nil {
				t.Fatal(err)
			}
			tail, err := s.Tail(nil, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			for name, lines := range map[string][]Line{"follower": got, "tail": tail, "disk": stored} {
				if len(lines) != tt.n {
					t.Fatalf("%s: %d lines, want %d", name, len(lines), tt.n)
				}
				for i, l := range lines {
					if l.Text != tt.want(i) || l.Service != "child" || l.Stream != Stdout || (i > 0 && l.Seq <= lines[i-1].Seq) {
						t.Fatalf("%s line %d = %+v, want text %q after seq %d", name, i, l, tt.want(i), lines[max(i-1, 0)].Seq)
					}
				}
			}
		})
	}
}

func TestCaptureBothStreamsOfChild(t *testing.T) {
	s := openStore(t, Options{})
	cmd := exec.Command("sh", "-c", `echo '{"level":"INFO","msg":"up"}'; echo 'level=error boom' >&2`)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Capture("daemon", Stdout, stdout, nil) })
	wg.Go(func() { s.Capture("daemon", Stderr, stderr, nil) })
	wg.Wait()
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	byStream := map[Stream]Line{}
	for _, l := range tail(t, s, []string{"daemon"}, -1) {
		byStream[l.Stream] = l
	}
	if l := byStream[Stdout]; l.Text != `{"level":"INFO","msg":"up"}` || l.Level != "info" {
		t.Errorf("stdout line %+v", l)
	}
	if l := byStream[Stderr]; l.Text != "level=error boom" || l.Level != "error" {
		t.Errorf("stderr line %+v", l)
	}
}

func TestCaptureSplitsLines(t *testing.T) {
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"one line", []string{"hello\n"}, []string{"hello"}},
		{"split across reads", []string{"hel", "lo\nwor", "ld\n"}, []string{"hello", "world"}},
		{"many per read", []string{"a\nb\nc\n"}, []string{"a", "b", "c"}},
		{"last line without newline", []string{"a\nb"}, []string{"a", "b"}},
		{"crlf", []string{"a\r\nb\r", "\n"}, []string{"a", "b"}},
		{"empty lines kept", []string{"\n\nx\n"}, []string{"", "", "x"}},
		{"nothing", nil, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, Options{})
			feed(s, "svc", tt.chunks...)
			if got := texts(tail(t, s, nil, -1)); !equal(got, tt.want) {
				t.Fatalf("lines %q, want %q", got, tt.want)
			}
		})
	}
}

func equal(a, b []string) bool {
	return strings.Join(a, "\x00") == strings.Join(b, "\x00") && len(a) == len(b)
}

func TestCaptureStoresOutsideTextSafely(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{"invalid UTF-8", "bad \xff\xfe bytes", "bad \uFFFD\uFFFD bytes"},
		{"colours", "\x1b[31mred\x1b[0m", "red"},
		{"title and clipboard", "\x1b]0;owned\x07\x1b]52;c;ZXZpbA==\x07ok", "ok"},
		{"tabs", "a\tb", "a b"},
		{"controls", "a\x00b\x08c\x7f", "abc"},
		{"carriage return in the middle", "10%\r20%", "10% 20%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, Options{})
			feed(s, "svc", tt.in+"\n")
			got := tail(t, s, nil, -1)
			if len(got) != 1 || got[0].Text != tt.want {
				t.Fatalf("stored %q, want [%q]", texts(got), tt.want)
			}
			stored, err := onDisk(s)
			if err != nil || len(stored) != 1 || stored[0].Text != tt.want {
				t.Fatalf("on disk %q (%v), want [%q]", texts(stored), err, tt.want)
			}
		})
	}
}

func TestCaptureCutsLongLines(t *testing.T) {
	const max = 1 << 10
	long := strings.Repeat("x", 1<<20)
	tests := []struct {
		name   string
		chunks []string
		want   []string
	}{
		{"1 MB line", []string{long + "\nnext\n"}, []string{long[:max] + " …[truncated 1047552 bytes]", "next"}},
		{"1 MB line in small reads", chunk(long+"\nnext\n", 3000), []string{long[:max] + " …[truncated 1047552 bytes]", "next"}},
		{"1 MB line at EOF", []string{"a\n" + long}, []string{"a", long[:max] + " …[truncated 1047552 bytes]"}},
		{"exactly the limit", []string{long[:max] + "\n"}, []string{long[:max]}},
		{"one byte over", []string{long[:max+1] + "\n"}, []string{long[:max] + " …[truncated 1 bytes]"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, Options{MaxLineBytes: max})
			feed(s, "svc", tt.chunks...)
			if got := texts(tail(t, s, nil, -1)); !equal(got, tt.want) {
				t.Fatalf("got %d lines starting %.40q, want %d", len(got), got, len(tt.want))
			}
		})
	}
}

func chunk(s string, size int) []string {
	var out []string
	for len(s) > size {
		out = append(out, s[:size])
		s = s[size:]
	}
	return append(out, s)
}

func TestSecretsAreRedactedBeforeStorage(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir})
	sub := s.Follow(nil)
	secrets := []string{"hunter2", "abc.def.ghi", "s3cr3tv4lue", "pa55w0rd", "ghp_tokenvalue"}
	feed(s, "daemon",
		"login user=bob password=hunter2\n",
		"Authorization: Bearer abc.def.ghi\n",
		`{"level":"INFO","msg":"paired","token":"s3cr3tv4lue"}`+"\n",
		"fetch https://bob:pa55w0rd@example.com/x?access_token=ghp_tokenvalue\n")
	s.Note("daemon", "exec failed: password=hunter2")

	received := receive(t, sub, 5)
	stored, err := onDisk(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	file, err := os.ReadFile(filepath.Join(dir, "daemon.log"))
	if err != nil {
		t.Fatal(err)
	}
	places := map[string]string{
		"ring":       strings.Join(texts(tail(t, s, nil, -1)), "\n"),
		"subscriber": strings.Join(texts(received), "\n"),
		"since":      strings.Join(texts(stored), "\n"),
		"file":       string(file),
	}
	for place, text := range places {
		for _, secret := range secrets {
			if strings.Contains(text, secret) {
				t.Errorf("%s holds %q:\n%s", place, secret, text)
			}
		}
		if strings.Count(text, "<redacted>") < 5 {
			t.Errorf("%s: want at least 5 redactions:\n%s", place, text)
		}
	}
}

func TestLevelIsParsed(t *testing.T) {
	tests := []struct {
		text string
		want string
	}{
		{`{"time":"x","level":"INFO","msg":"m"}`, "info"},
		{`{"level": "WARN"}`, "warn"},
		{`{"level":"ERROR+2"}`, "error"},
		{`{"level":"DEBUG-4"}`, "debug"},
		{"time=x level=warn msg=m", "warn"},
		{"level=WARNING", "warn"},
		{`level="error" msg=x`, "error"},
		{"level=fatal", "error"},
		{"level=trace", "debug"},
		{"level=bogus", ""},
		{"loglevel=info", ""},
		{"no level here", ""},
		{`{"msg":"level","level":"info"}`, "info"},
		{"plain line", ""},
		{"", ""},
	}
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			if got := parseLevel(tt.text); got != tt.want {
				t.Fatalf("parseLevel(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestWatchSeesRawLinesUntilItIsDone(t *testing.T) {
	s := openStore(t, Options{})
	var seen []string
	r := strings.NewReader("booting\n{\"palyra_ready\":true,\"token_file\":\"x\"}\r\nafter\n")
	s.Capture("daemon", Stdout, r, func(text []byte) bool {
		seen = append(seen, string(text))
		return bytes.Contains(text, []byte("palyra_ready"))
	})
	want := []string{"booting", `{"palyra_ready":true,"token_file":"x"}`}
	if !equal(seen, want) {
		t.Fatalf("watch saw %q, want %q", seen, want)
	}
	if n := len(tail(t, s, nil, -1)); n != 3 {
		t.Fatalf("stored %d lines, want 3", n)
	}
}

func TestTailAcrossServices(t *testing.T) {
	s := openStore(t, Options{})
	for i := range 5 {
		s.Note("a", fmt.Sprintf("a%d", i))
		s.Note("b", fmt.Sprintf("b%d", i))
	}
	tests := []struct {
		name     string
		services []string
		n        int
		want     []string
	}{
		{"newest across all", nil, 4, []string{"a3", "b3", "a4", "b4"}},
		{"one service", []string{"b"}, 3, []string{"b2", "b3", "b4"}},
		{"more than stored", []string{"a"}, 100, []string{"a0", "a1", "a2", "a3", "a4"}},
		{"unknown service", []string{"zzz"}, 5, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := s.Tail(tt.services, tt.n)
			if err != nil || !equal(texts(got), tt.want) {
				t.Fatalf("Tail = %q (%v), want %q", texts(got), err, tt.want)
			}
			for _, l := range got {
				if l.Stream != Supervisor {
					t.Fatalf("stream %q, want supervisor", l.Stream)
				}
			}
		})
	}
}

func TestRotation(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, FileMaxBytes: 2048, FileKeep: 2})
	var in strings.Builder
	const n = 400
	for i := range n {
		fmt.Fprintf(&in, "line %03d %s\n", i, strings.Repeat("y", 40))
	}
	feed(s, "svc", in.String())
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for _, name := range []string{"svc.log", "svc.log.1", "svc.log.2"} {
		st, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() > 2048 || st.Size() == 0 {
			t.Errorf("%s has %d bytes, want 1..2048", name, st.Size())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "svc.log.3")); !os.IsNotExist(err) {
		t.Errorf("svc.log.3 exists (%v); want only 2 rotated files", err)
	}

	s2 := openStore(t, Options{Dir: dir, FileMaxBytes: 2048, FileKeep: 2})
	got, err := collect(s2.Read, Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) == 0 || len(got) >= n {
		t.Fatalf("Since found %d lines, want some but not all of %d", len(got), n)
	}
	first := n - len(got) // the oldest files were rotated away; the rest is a suffix
	for i, l := range got {
		if want := fmt.Sprintf("line %03d ", first+i); !strings.HasPrefix(l.Text, want) || l.Service != "svc" {
			t.Fatalf("line %d = %q (%s), want prefix %q", i, l.Text, l.Service, want)
		}
	}
}

func TestRotationKeepingNone(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, Options{Dir: dir, FileMaxBytes: 100, FileKeep: -1})
	feed(s, "svc", strings.Repeat("0123456789012345678901234567890123456789\n", 10))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	matches, _ := filepath.Glob(filepath.Join(dir, "svc.log*"))
	if len(matches) != 1 {
		t.Fatalf("files %v, want only svc.log", matches)
	}
}

func TestSinceAfterReopen(t *testing.T) {
	dir := t.TempDir()
	s1 := openStore(t, Options{Dir: dir})
	feed(s1, "daemon", "early 1\nearly 2\n")
	mid := time.Now()
	feed(s1, "daemon", "late 1\n")
	s1.Note("browserd", "started pid 42")
	old := tail(t, s1, nil, -1)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}

	s2 := openStore(t, Options{Dir: dir})
	tests := []struct {
		name     string
		services []string
		since    time.Time
		want     []string
	}{
		{"all", nil, time.Time{}, []string{"early 1", "early 2", "late 1", "started pid 42"}},
		{"one service", []string{"daemon"}, time.Time{}, []string{"early 1", "early 2", "late 1"}},
		{"since a time", nil, mid, []string{"late 1", "started pid 42"}},
		{"future", nil, time.Now().Add(time.Hour), nil},
		{"unknown service", []string{"nope"}, time.Time{}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := collect(s2.Read, Query{Services: tt.services, Since: tt.since})
			if err != nil {
				t.Fatal(err)
			}
			if !equal(texts(got), tt.want) {
				t.Fatalf("Since = %q, want %q", texts(got), tt.want)
			}
		})
	}
	all, err := collect(s2.Read, Query{})
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range all {
		if l.Seq != old[i].Seq || !l.Time.Equal(old[i].Time) || l.Stream != old[i].Stream || l.Service != old[i].Service {
			t.Fatalf("line %d from disk %+v, in memory it was %+v", i, l, old[i])
		}
	}
	s2.Note("daemon", "again")
	if got := tail(t, s2, nil, 1); got[0].Seq <= old[len(old)-1].Seq {
		t.Fatalf("seq after reopen %d, want above %d", got[0].Seq, old[len(old)-1].Seq)
	}
}

func TestSinceSkipsMalformedRecords(t *testing.T) {
	dir := t.TempDir()
	good := appendRecord(nil, Line{Seq: 7, Time: time.Unix(0, 1700000000000000000), Stream: Stderr, Level: "warn", Text: "ok"})
	content := "garbage\n" + "1\t2\tbogus\t\tx\n" + "\t\t\t\t\n" + strings.Repeat("z", 1<<20) + "\n" + string(good) + "1700000000000000001\t8\tstdout\t\tpartial"
	if err := os.WriteFile(filepath.Join(dir, "svc.log"), []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{Dir: dir, MaxLineBytes: 1024})
	got, err := onDisk(s)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got[0].Text != "ok" || got[0].Seq != 7 || got[0].Level != "warn" {
		t.Fatalf("Since = %+v, want the one good record", got)
	}
	s.Note("svc", "next")
	if seq := tail(t, s, nil, 1)[0].Seq; seq != 8 {
		t.Fatalf("next seq %d, want 8", seq)
	}
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestFollowers(t *testing.T) {
	s := openStore(t, Options{})
	s.Note("a", "before")
	all := s.Follow(nil)
	onlyB := s.Follow([]string{"b"})
	for i := range 5 {
		s.Note("a", fmt.Sprint("a", i))
	}
	s.Note("b", "b0")
	s.Note("c", "c0") // a service that appears later is followed by those following all

	if got := texts(receive(t, all, 7)); !equal(got, []string{"a0", "a1", "a2", "a3", "a4", "b0", "c0"}) {
		t.Errorf("follower of all got %q", got)
	}
	if got := texts(receive(t, onlyB, 1)); !equal(got, []string{"b0"}) {
		t.Errorf("follower of b got %q", got)
	}
	onlyB.Close()
	onlyB.Close()
	s.Note("b", "b1")
	if ch, err := onlyB.Read(1 << 20); err != nil || len(ch.Blocks) != 0 {
		t.Errorf("closed follower reads %v (%v)", ch.Blocks, err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if got := texts(receive(t, all, 100)); !equal(got, []string{"b1"}) || !all.Done() {
		t.Errorf("after close, the follower of all got %q (done %v); want the last line, then done", got, all.Done())
	}
	all.Close()
	if !s.Follow(nil).Done() {
		t.Error("a follower of a closed store is not done")
	}
}

// TestSlowFollowerReadsPastRotation: a follower that reads nothing while the files rotate
// many times over still gets every line, from the segments rotation deleted, and says how
// far behind it is; past the backlog it skips, and says how many lines.
func TestSlowFollowerReadsPastRotation(t *testing.T) {
	s := openStore(t, Options{MaxLineBytes: 1024, FileMaxBytes: 4096, FileKeep: 1, FollowBacklog: 256 << 10})
	slow := s.Follow([]string{"svc"})
	const n = 600 // about 16 files of 4 KiB, of which two are kept
	for i := range n {
		s.Note("svc", fmt.Sprintf("line %04d %s", i, strings.Repeat("x", 60)))
	}
	s.flush()
	ch, err := slow.Read(0)
	if err != nil || ch.Behind <= 0 || ch.Skipped != 0 {
		t.Fatalf("first read: behind %d, skipped %d (%v); want behind, nothing skipped", ch.Behind, ch.Skipped, err)
	}
	var got []Line
	for _, b := range ch.Blocks {
		got = AppendLines(got, b)
	}
	got = append(got, receive(t, slow, n-len(got))...)
	for i, l := range got {
		if want := fmt.Sprintf("line %04d ", i); !strings.HasPrefix(l.Text, want) {
			t.Fatalf("line %d = %q, want %q…", i, l.Text, want)
		}
	}
	if len(got) != n {
		t.Fatalf("got %d lines, want %d", len(got), n)
	}

	// Past the backlog, the oldest deleted segments are let go and counted.
	behind := s.Follow([]string{"svc"})
	for i := range 5 * n {
		s.Note("svc", fmt.Sprintf("more %04d %s", i, strings.Repeat("y", 60)))
	}
	s.flush()
	var lines []Line
	var skipped uint64
	for {
		ch, err := behind.Read(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		skipped += ch.Skipped
		if len(ch.Blocks) == 0 {
			break
		}
		for _, b := range ch.Blocks {
			lines = AppendLines(lines, b)
		}
	}
	if skipped == 0 || uint64(len(lines))+skipped != 5*n {
		t.Fatalf("read %d lines and skipped %d, want %d in all with some skipped", len(lines), skipped, 5*n)
	}
	if !strings.HasPrefix(lines[len(lines)-1].Text, fmt.Sprintf("more %04d", 5*n-1)) {
		t.Fatalf("last line %q", lines[len(lines)-1].Text)
	}
	slow.Close()
	behind.Close()
	svc := s.services["svc"]
	svc.mu.Lock()
	open := 0
	for seg := svc.oldest; seg != nil; seg = seg.next {
		open++
	}
	svc.mu.Unlock()
	if open != 1 {
		t.Errorf("%d segments open after the followers closed, want the current one", open)
	}
}

func TestFilesArePrivate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	s := openStore(t, Options{Dir: dir})
	s.Note("daemon", "hello")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]os.FileMode{dir: 0o700, s.FilePath("daemon"): 0o600} {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", path, st.Mode().Perm(), want)
		}
	}
}

func TestFilePathStaysInDir(t *testing.T) {
	s := openStore(t, Options{})
	for _, name := range []string{"../../etc/passwd", "/abs", "", ".hidden", "a/b"} {
		p := s.FilePath(name)
		if filepath.Dir(p) != s.opts.Dir || strings.HasPrefix(filepath.Base(p), ".") {
			t.Errorf("FilePath(%q) = %q, outside %s or hidden", name, p, s.opts.Dir)
		}
	}
}

func TestDiskFailureIsCounted(t *testing.T) {
	dir := t.TempDir()
	// A directory where the file should be makes every open fail.
	if err := os.Mkdir(filepath.Join(dir, "svc.log"), 0o700); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, Options{Dir: dir})
	f := s.Follow([]string{"svc"})
	feed(s, "svc", "a\nb\n")
	s.Note("svc", "c")
	// The store notes the failure once; that note cannot reach the file either.
	waitUntil(t, func() bool { return s.Dropped("svc") == 4 })
	ch, err := f.Read(1 << 20)
	if err != nil || ch.Unstored != 4 || len(ch.Blocks) != 0 {
		t.Fatalf("follower: %d unstored, %d blocks (%v); want 4 unstored, none to read", ch.Unstored, len(ch.Blocks), err)
	}
}

func TestCaptureAfterCloseDrainsTheReader(t *testing.T) {
	s := openStore(t, Options{})
	s.Close()
	r := strings.NewReader(strings.Repeat("line\n", 100000))
	s.Capture("svc", Stdout, r, nil)
	if r.Len() != 0 {
		t.Fatalf("%d bytes left unread", r.Len())
	}
}

// TestFloodStaysBounded pushes a flood at a store whose disk is stuck (the log file is a
// FIFO nobody reads) and whose follower never reads. Capture must still read it all, and
// memory must stay within the queue's budget.
func TestFloodStaysBounded(t *testing.T) {
	total := 200 << 20
	if testing.Short() {
		total = 32 << 20
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "flood.log")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Skipf("mkfifo: %v", err)
	}
	s := openStore(t, Options{Dir: dir})
	f := s.Follow(nil)
	defer f.Close()

	line := []byte(`time=2026-01-02T03:04:05Z level=INFO msg="flood" n=12345 padding=` + strings.Repeat("p", 900) + "\n")
	chunk := bytes.Repeat(line, readSize/len(line))
	r, w := io.Pipe()
	go func() {
		for written := 0; written < total; written += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				break
			}
		}
		w.Close()
	}()
	s.Capture("flood", Stdout, r, nil)

	lines := uint64(total / len(chunk) * (readSize / len(line)))
	svc := s.services["flood"]
	svc.mu.Lock()
	queued := len(svc.pending)
	svc.mu.Unlock()
	if queued > s.opts.QueueBytes || queued == 0 {
		t.Errorf("%d bytes queued; budget %d", queued, s.opts.QueueBytes)
	}
	if d := s.Dropped("flood"); d == 0 || d >= lines {
		t.Errorf("disk dropped %d of %d lines; want some dropped, some queued", d, lines)
	}
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	if m.HeapAlloc > 64<<20 {
		t.Errorf("heap holds %d MiB after a %d MiB flood", m.HeapAlloc>>20, total>>20)
	}

	// Unstick the disk so Close can write out the queue.
	drained := make(chan error, 1)
	go func() {
		f, err := os.Open(fifo)
		if err == nil {
			_, err = io.Copy(io.Discard, f)
			f.Close()
		}
		drained <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-drained; err != nil {
		t.Fatal(err)
	}
}
