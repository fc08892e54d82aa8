package logs

import (
	"bytes"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"
)

var benchLines = []struct{ name, line string }{
	{"short", "request 12345 done"},
	{"flood", "flood-line 000000042 " + strings.Repeat("x", 78)}, // the line of `just bench`'s flood
	{"logfmt", `time=2026-01-02T03:04:05.123Z level=INFO msg="request done" method=GET path=/v1/devices status=200 dur=1.2ms`},
	{"json", `{"time":"2026-01-02T03:04:05.123Z","level":"INFO","msg":"request done","method":"GET","path":"/v1/devices","status":200}`},
}

// linesReader yields n copies of line, a pipe buffer at a time, like a child flooding stdout.
type linesReader struct {
	chunk    []byte // whole lines
	perChunk int
	left     int
}

func newLinesReader(line string, n int) *linesReader {
	per := readSize / (len(line) + 1)
	return &linesReader{chunk: []byte(strings.Repeat(line+"\n", per)), perChunk: per, left: n}
}

func (r *linesReader) Read(p []byte) (int, error) {
	if r.left == 0 {
		return 0, io.EOF
	}
	k := min(r.left, r.perChunk, len(p)/(len(r.chunk)/r.perChunk))
	r.left -= k
	return copy(p, r.chunk[:k*len(r.chunk)/r.perChunk]), nil
}

// BenchmarkCapture measures lines per second from one stream through Capture into a
// following subscriber and onto disk (Close writes out the queue, inside the timing).
func BenchmarkCapture(b *testing.B) {
	for _, bl := range benchLines {
		b.Run(bl.name, func(b *testing.B) {
			runCaptureBench(b, func() io.Reader { return newLinesReader(bl.line, b.N) }, nil)
		})
	}
}

// BenchmarkCaptureChild is BenchmarkCapture with a real child writing into a real pipe.
func BenchmarkCaptureChild(b *testing.B) {
	for _, bl := range benchLines {
		b.Run(bl.name, func(b *testing.B) {
			var cmd *exec.Cmd
			runCaptureBench(b, func() io.Reader {
				cmd = exec.Command("sh", "-c", fmt.Sprintf("yes '%s' | head -n %d", bl.line, b.N))
				out, err := cmd.StdoutPipe()
				if err != nil {
					b.Fatal(err)
				}
				if err := cmd.Start(); err != nil {
					b.Fatal(err)
				}
				return out
			}, func() {
				if err := cmd.Wait(); err != nil {
					b.Fatal(err)
				}
			})
		})
	}
}

func runCaptureBench(b *testing.B, source func() io.Reader, after func()) {
	s, err := Open(Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	follower := s.Follow(nil)
	defer follower.Close()
	received := make(chan int)
	go func() { received <- followToEnd(b, follower) }()

	b.ResetTimer()
	start := time.Now()
	s.Capture("bench", Stdout, source(), nil)
	if after != nil {
		after()
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	b.StopTimer()

	n := <-received
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "lines/s")
	b.ReportMetric(float64(s.Dropped("bench")), "disk-dropped")
	if n+int(s.Dropped("bench")) != b.N {
		b.Fatalf("the follower read %d of %d lines, %d dropped", n, b.N, s.Dropped("bench"))
	}
}

// followToEnd counts the records f reads until the store closes.
func followToEnd(b *testing.B, f *Follower) int {
	n := 0
	for {
		changed := f.Changed()
		ch, err := f.Read(1 << 20)
		if err != nil {
			b.Error(err)
			return n
		}
		for _, blk := range ch.Blocks {
			n += bytes.Count(blk.Records, []byte{'\n'})
		}
		if len(ch.Blocks) > 0 {
			continue
		}
		if f.Done() {
			return n
		}
		<-changed
	}
}

// BenchmarkReadLast measures `logs -n N` served from the files: the newest N of 200k stored
// lines (two files), read back from the end by a Reader.
func BenchmarkReadLast(b *testing.B) {
	dir := b.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	const stored = 200000
	s.Capture("bench", Stdout, newLinesReader(benchLines[1].line, stored), nil)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	r := NewReader(dir)
	for _, n := range []int{100, 10000, stored} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			for b.Loop() {
				got := 0
				if err := r.Read(Query{Last: n}, func(Line) bool { got++; return true }); err != nil {
					b.Fatal(err)
				}
				if got != n {
					b.Fatalf("read %d lines, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "lines/s")
		})
	}
}
