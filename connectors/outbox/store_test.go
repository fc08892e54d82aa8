package outbox

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/internal/boltfile"
)

func openTest(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.PutInstance(context.Background(), Instance{ID: "echo:a", Kind: "echo", Enabled: true}, false); err != nil {
		t.Fatal(err)
	}
	return s, path
}

func env(id string) Envelope {
	return Envelope{Instance: "echo:a", ID: id, ConversationID: "c", Text: "hello " + id}
}

func TestEnqueueIsDurableAndDeduplicated(t *testing.T) {
	s, path := openTest(t)
	ctx := context.Background()
	got, err := s.Enqueue(ctx, []Envelope{env("1"), env("2"), env("1")})
	if err != nil {
		t.Fatal(err)
	}
	if got[0].Err != nil || got[1].Err != nil || got[0].Duplicate || !got[2].Duplicate || got[2].Seq != got[0].Seq {
		t.Fatalf("Enqueue = %+v; want two new and the repeat a duplicate of the first", got)
	}
	s.Close()
	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	pending, err := s.Pending()
	if err != nil || len(pending) != 2 || pending[0].Text != "" {
		t.Fatalf("Pending after reopening = %+v, %v", pending, err)
	}
	in, _ := s.GetInstance("echo:a")
	if in.Queued != 2 {
		t.Fatalf("Queued = %d, want 2", in.Queued)
	}

	if err := s.Settle(ctx, []Result{{Seq: got[0].Seq, Kind: ResultDelivered, NativeID: "n1"}}); err != nil {
		t.Fatal(err)
	}
	again, _ := s.Enqueue(ctx, []Envelope{env("1")})
	if !again[0].Duplicate || again[0].NativeID != "n1" {
		t.Fatalf("a delivered id queued again = %+v, want a duplicate naming n1", again[0])
	}
	in, _ = s.GetInstance("echo:a")
	if in.Queued != 1 || in.Counts.Delivered != 1 {
		t.Fatalf("instance after a delivery = %+v", in)
	}
}

func TestBadEnvelopesAreRefusedAlone(t *testing.T) {
	s, _ := openTest(t)
	big := env("big")
	big.Text = string(make([]byte, 10<<20))
	noConv := env("x")
	noConv.ConversationID = ""
	other := env("o")
	other.Instance = "echo:nobody"
	got, err := s.Enqueue(context.Background(), []Envelope{big, noConv, other, env("fine")})
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"the limit is 64 KiB", "conversation id", "not found", ""} {
		if want == "" {
			if got[i].Err != nil {
				t.Fatalf("the good envelope was refused: %v", got[i].Err)
			}
			continue
		}
		if got[i].Err == nil || !strings.Contains(got[i].Err.Error(), want) {
			t.Fatalf("envelope %d: err %v, want %q", i, got[i].Err, want)
		}
	}
}

func TestQueueIsBounded(t *testing.T) {
	s, _ := openTest(t)
	s.maxPending = 3
	var envs []Envelope
	for i := range 5 {
		envs = append(envs, env(fmt.Sprint(i)))
	}
	got, err := s.Enqueue(context.Background(), envs)
	if err != nil {
		t.Fatal(err)
	}
	if got[2].Err != nil || !errors.Is(got[3].Err, ErrQueueFull) || !errors.Is(got[4].Err, ErrQueueFull) {
		t.Fatalf("Enqueue past the bound = %+v", got)
	}
}

func TestRetryDeadLetterReplayDiscard(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	got, _ := s.Enqueue(ctx, []Envelope{env("1"), env("2")})
	next := time.Now().Add(time.Second)
	if err := s.Settle(ctx, []Result{{Seq: got[0].Seq, Kind: ResultRetry, Attempts: 1, NextAt: next, Reason: "rate limited"}}); err != nil {
		t.Fatal(err)
	}
	es, _ := s.Envelopes([]uint64{got[0].Seq})
	if len(es) != 1 || es[0].Attempts != 1 || es[0].NextAt.UnixMilli() != next.UnixMilli() || es[0].LastError != "rate limited" {
		t.Fatalf("after a retry: %+v", es)
	}
	if err := s.Settle(ctx, []Result{{Seq: got[0].Seq, Kind: ResultDead, Attempts: 5, Reason: "gave up\x1b[31m"}, {Seq: got[1].Seq, Kind: ResultDead, Attempts: 1, Reason: "refused"}}); err != nil {
		t.Fatal(err)
	}
	dead, more, err := s.DeadLetters("echo:a", 0, 1)
	if err != nil || len(dead) != 1 || dead[0].Seq != got[1].Seq || more == 0 {
		t.Fatalf("first page of dead letters = %+v, next %d, %v", dead, more, err)
	}
	dead, more, _ = s.DeadLetters("echo:a", more, 10)
	if len(dead) != 1 || dead[0].Seq != got[0].Seq || !strings.HasPrefix(dead[0].Reason, "gave up") || strings.Contains(dead[0].Reason, "\x1b") || more != 0 {
		t.Fatalf("second page = %+v, next %d", dead, more)
	}
	if _, err := s.Replay(ctx, "echo:a", got[0].Seq); err != nil {
		t.Fatal(err)
	}
	es, _ = s.Envelopes([]uint64{got[0].Seq})
	if len(es) != 1 || es[0].Attempts != 0 {
		t.Fatalf("replayed envelope = %+v", es)
	}
	if err := s.Discard(ctx, "echo:a", got[1].Seq); err != nil {
		t.Fatal(err)
	}
	if err := s.Discard(ctx, "echo:a", got[1].Seq); !errors.Is(err, ErrNotFound) {
		t.Fatalf("discarding twice = %v, want ErrNotFound", err)
	}
	in, _ := s.GetInstance("echo:a")
	if in.Queued != 1 || in.Dead != 0 || in.Counts.DeadLettered != 2 || in.Counts.Retried != 1 {
		t.Fatalf("instance = %+v", in)
	}
}

func TestInboundDedupeAndInbox(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	m := connectors.Inbound{EnvelopeID: "in-1", ConversationID: "c", SenderID: "u1", Text: "hi"}
	dup, seq, err := s.Inbound(ctx, "echo:a", m, true)
	if err != nil || dup || seq == 0 {
		t.Fatalf("first Inbound = %v %d %v", dup, seq, err)
	}
	if dup, _, _ := s.Inbound(ctx, "echo:a", m, true); !dup {
		t.Fatal("the same envelope again was not a duplicate")
	}
	held, _, _ := s.Inbox("echo:a", 0, 10)
	if len(held) != 1 || held[0].Message.Text != "hi" {
		t.Fatalf("inbox = %+v", held)
	}
	if err := s.TakeInbox(ctx, "echo:a", []uint64{held[0].Seq}); err != nil {
		t.Fatal(err)
	}
	if held, _, _ := s.Inbox("echo:a", 0, 10); len(held) != 0 {
		t.Fatalf("inbox after take = %+v", held)
	}
	if err := s.TakeInbox(ctx, "echo:a", []uint64{held[0].Seq}); err != nil {
		t.Fatal("taking a message twice:", err)
	}
	if in, _ := s.GetInstance("echo:a"); in.Inbox != 0 {
		t.Fatalf("inbox count after take = %d", in.Inbox)
	}
	// Past the window the id is new again.
	s.now = func() time.Time { return time.Now().Add(InboundDedupeTTL + time.Hour) }
	if dup, _, _ := s.Inbound(ctx, "echo:a", m, false); dup {
		t.Fatal("an envelope id past the dedupe window counted as a duplicate")
	}
}

func TestRemoveInstanceTakesItsRecords(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	s.Enqueue(ctx, []Envelope{env("1")})
	s.AppendEvent(ctx, "echo:a", Event{Kind: "test", Message: "x"})
	if err := s.RemoveInstance(ctx, "echo:a"); err != nil {
		t.Fatal(err)
	}
	if p, _ := s.Pending(); len(p) != 0 {
		t.Fatalf("pending after remove = %+v", p)
	}
	if _, err := s.GetInstance("echo:a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("GetInstance after remove = %v", err)
	}
}

func TestSecondOpenerIsToldWhoHoldsTheFile(t *testing.T) {
	_, path := openTest(t)
	_, err := Open(path)
	var locked *boltfile.LockedError
	if !errors.As(err, &locked) || locked.PID != os.Getpid() {
		t.Fatalf("second Open = %v, want a LockedError naming pid %d", err, os.Getpid())
	}
}

func TestInboxKeepsTheNewestWithinItsBound(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	for i := range MaxInbox + 5 {
		m := connectors.Inbound{EnvelopeID: fmt.Sprintf("in-%d", i), ConversationID: "c", SenderID: "u1", Text: fmt.Sprint(i)}
		if _, _, err := s.Inbound(ctx, "echo:a", m, true); err != nil {
			t.Fatal(err)
		}
	}
	in, _ := s.GetInstance("echo:a")
	held, _, _ := s.Inbox("echo:a", 0, 1)
	if in.Inbox != MaxInbox || held[0].Message.Text != fmt.Sprint(MaxInbox+4) {
		t.Fatalf("inbox count %d, newest %+v", in.Inbox, held)
	}
}
