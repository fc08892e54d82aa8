package outbox

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
)

// Results queued one after another reach the disk in that order, each done called once, and
// a delivery recorded from the result alone counts as one read back.
func TestSettleAsyncCommitsInOrder(t *testing.T) {
	for _, syncEach := range []bool{false, true} {
		t.Run(fmt.Sprintf("syncEach=%v", syncEach), func(t *testing.T) {
			s, err := OpenWith(filepath.Join(t.TempDir(), FileName), Options{SyncEach: syncEach})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			if err := s.PutInstance(ctx, Instance{ID: "echo:a", Kind: "echo", Enabled: true}, false); err != nil {
				t.Fatal(err)
			}
			const n = 200
			envs := make([]Envelope, n)
			for i := range envs {
				envs[i] = env(fmt.Sprint(i))
			}
			got, err := s.Enqueue(ctx, envs)
			if err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var order []int
			var wg sync.WaitGroup
			for i := 0; i < n; i += 4 {
				var rs []Result
				for j := i; j < i+4; j++ {
					rs = append(rs, Result{Seq: got[j].Seq, Instance: "echo:a", ID: envs[j].ID, Kind: ResultDelivered, NativeID: fmt.Sprint("n", j), Attempts: 1})
				}
				wg.Add(1)
				if err := s.SettleAsync(ctx, rs, func(err error) {
					defer wg.Done()
					if err != nil {
						t.Error(err)
					}
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
				}); err != nil {
					t.Fatal(err)
				}
			}
			wg.Wait()
			for k, i := range order {
				if i != 4*k {
					t.Fatalf("done called in order %v", order)
				}
			}
			in, _ := s.GetInstance("echo:a")
			if in.Queued != 0 || in.Counts.Delivered != n {
				t.Fatalf("after the settles: %+v", in)
			}
			again, _ := s.Enqueue(ctx, envs[:1])
			if !again[0].Duplicate || again[0].NativeID != "n0" {
				t.Fatalf("a delivered envelope queued again: %+v", again[0])
			}
			// A result for an envelope no longer queued is ignored.
			if err := s.Settle(ctx, []Result{{Seq: got[0].Seq, Instance: "echo:a", ID: envs[0].ID, Kind: ResultDelivered}}); err != nil {
				t.Fatal(err)
			}
			if in, _ := s.GetInstance("echo:a"); in.Counts.Delivered != n || in.Queued != 0 {
				t.Fatalf("a second result counted: %+v", in)
			}
		})
	}
}

// A result's log line is written with it, and not for an instance removed meanwhile.
func TestSettleWritesItsLogLine(t *testing.T) {
	s, _ := openTest(t)
	ctx := context.Background()
	got, err := s.Enqueue(ctx, []Envelope{env("1")})
	if err != nil {
		t.Fatal(err)
	}
	log := &Event{Kind: "delivery.dead_letter", Level: "error", Message: "message 1: refused"}
	if err := s.Settle(ctx, []Result{{Seq: got[0].Seq, Instance: "echo:a", ID: "1", Kind: ResultDead, Attempts: 1, Reason: "refused", Log: log}}); err != nil {
		t.Fatal(err)
	}
	events, _, err := s.Events("echo:a", 0, 10)
	if err != nil || len(events) != 1 || events[0].Kind != "delivery.dead_letter" {
		t.Fatalf("events = %+v, %v", events, err)
	}
	if err := s.RemoveInstance(ctx, "echo:a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Settle(ctx, []Result{{Seq: got[0].Seq, Instance: "echo:a", ID: "1", Kind: ResultDead, Log: log}}); err != nil {
		t.Fatal(err)
	}
	if events, _, _ := s.Events("echo:a", 0, 10); len(events) != 0 {
		t.Fatalf("a removed instance got a log line: %+v", events)
	}
}
