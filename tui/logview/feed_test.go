package logview

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/palyra/palyra/supervisor/api"
)

// chanStream yields the batches sent on c and reports each Recv call on calls, so a test
// knows when the feed has read everything sent so far.
type chanStream struct {
	c     chan api.LogBatch
	end   error
	calls chan struct{}
}

func newChanStream() *chanStream {
	return &chanStream{c: make(chan api.LogBatch), calls: make(chan struct{}, 100)}
}

func (s *chanStream) Recv() (api.LogBatch, error) {
	s.calls <- struct{}{}
	b, ok := <-s.c
	if !ok {
		return api.LogBatch{}, s.end
	}
	return b, nil
}

// send hands the feed one batch and waits until it has asked for the next.
func (s *chanStream) send(t *testing.T, b api.LogBatch) {
	t.Helper()
	s.c <- b
	select {
	case <-s.calls:
	case <-time.After(10 * time.Second):
		t.Fatal("the feed did not read again")
	}
}

func startFeed(t *testing.T, keep int) (*feed, *chanStream) {
	t.Helper()
	s := newChanStream()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	f := newFeed(ctx, s, keep)
	<-s.calls // the first read is under way
	return f, s
}

func TestFeedCoalescesWhatArrivedBetweenReads(t *testing.T) {
	f, s := startFeed(t, 1000)
	s.send(t, api.LogBatch{Lines: lines(0, 3)})
	s.send(t, api.LogBatch{Lines: lines(3, 4), Dropped: 5})
	s.send(t, api.LogBatch{Dropped: 2})
	b, err := f.Recv()
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Lines) != 7 || b.Dropped != 7 {
		t.Fatalf("got %d lines and %d dropped, want 7 and 7", len(b.Lines), b.Dropped)
	}
	for i, l := range b.Lines {
		if l.Seq != line(i).Seq {
			t.Fatalf("line %d has seq %d, want %d", i, l.Seq, line(i).Seq)
		}
	}
	s.send(t, api.LogBatch{Lines: lines(7, 1)})
	if b, err = f.Recv(); err != nil || len(b.Lines) != 1 || b.Lines[0].Seq != line(7).Seq || b.Dropped != 0 {
		t.Fatalf("next = %d lines (%v), %d dropped, %v", len(b.Lines), b.Lines, b.Dropped, err)
	}
}

func TestFeedKeepsTheNewestLines(t *testing.T) {
	f, s := startFeed(t, 10)
	s.send(t, api.LogBatch{Lines: lines(0, 8)})
	s.send(t, api.LogBatch{Lines: lines(8, 8)})
	b, err := f.Recv()
	if err != nil || len(b.Lines) != 10 || b.Lines[0].Seq != line(6).Seq || b.Lines[9].Seq != line(15).Seq {
		t.Fatalf("got %d lines from seq %v, %v; want the 10 newest", len(b.Lines), b.Lines[0].Seq, err)
	}
}

func TestFeedEndsAfterTheLinesBeforeTheEnd(t *testing.T) {
	f, s := startFeed(t, 100)
	s.end = errors.New("stream broke")
	s.send(t, api.LogBatch{Lines: lines(0, 2)})
	close(s.c)
	// The end may or may not have been read yet; the lines come first either way.
	b, err := f.Recv()
	if err != nil || len(b.Lines) != 2 {
		t.Fatalf("got %d lines, %v; want 2 and no error", len(b.Lines), err)
	}
	if _, err := f.Recv(); err == nil || err.Error() != "stream broke" {
		t.Fatalf("end = %v, want the stream's error", err)
	}
	if _, err := f.Recv(); err == nil {
		t.Fatal("a Recv after the end returned no error")
	}
}

func TestFeedEndsWithTheStream(t *testing.T) {
	f, s := startFeed(t, 100)
	s.end = io.EOF
	close(s.c)
	if _, err := f.Recv(); err != io.EOF {
		t.Fatalf("err = %v, want EOF", err)
	}
}

func TestPace(t *testing.T) {
	p := pace{rate: 1000, burst: 500}
	at := time.Unix(100, 0)
	if d := p.wait(400, at); d != 0 {
		t.Fatalf("within the burst: wait %v", d)
	}
	if d := p.wait(300, at); d != 200*time.Millisecond {
		t.Fatalf("200 lines past the burst at 1000/s: wait %v, want 200ms", d)
	}
	// The reader waited; the next 100 lines are within the rate.
	at = at.Add(300 * time.Millisecond)
	if d := p.wait(100, at); d != 0 {
		t.Fatalf("after the wait: %v", d)
	}
	// A long quiet spell refills the burst, no more.
	at = at.Add(time.Hour)
	if d := p.wait(500, at); d != 0 {
		t.Fatalf("a full burst after a quiet hour: wait %v", d)
	}
	if d := p.wait(1, at); d != time.Millisecond {
		t.Fatalf("one line past it: wait %v, want 1ms", d)
	}
}
