// Package conformance is the suite every connector provider must pass: the outbox's
// scenarios (plain, rate-limited once, restarting once, permanent failure, duplicates,
// concurrent drains, pause against a forced drain, retries exhausted, inbound duplicates)
// run on a real platform and connectors.db against the provider under test. A provider's
// tests call Run with a Harness that knows how to make that provider fail.
package conformance

import (
	"context"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
)

// Fault is a way a send can fail.
type Fault int

const (
	RateLimitedOnce   Fault = iota + 1 // the first try is rate limited, the next succeeds
	RestartingOnce                     // the first try says the connector is restarting
	Refused                            // every try fails for good
	AlwaysRateLimited                  // every try is rate limited
)

// Harness is a provider under test.
type Harness struct {
	Kind         string
	Plugin       platform.Plugin
	Config       map[string]string // the instance's config
	Credentials  map[string][]byte
	Conversation string // where messages are sent
	// Fault returns the text to send so that the send fails as f says (a provider with
	// markers adds one; one with a fake server arms it and returns text unchanged).
	Fault func(f Fault, text string) string
	// Delivered counts the messages the provider's side has for an instance, by text.
	Delivered func(t *testing.T, instance string) map[string]int
	// Inbound makes the provider's side emit an inbound message with this envelope id
	// (nil: the provider has no inbound; those scenarios are skipped).
	Inbound func(t *testing.T, envelopeID, text string)
}

// ReadDelivered is a Delivered for a provider that can Read its conversation back.
func ReadDelivered(p connectors.Provider, conversation string) func(*testing.T, string) map[string]int {
	return func(t *testing.T, instance string) map[string]int {
		msgs, err := p.Read(context.Background(), connectors.ReadRequest{InstanceID: instance, ConversationID: conversation, Limit: connectors.MaxReadLimit})
		if err != nil {
			t.Fatal(err)
		}
		counts := map[string]int{}
		for _, m := range msgs {
			counts[m.Text]++
		}
		return counts
	}
}

// Run runs every scenario against h.
func Run(t *testing.T, h Harness) {
	t.Run("plain message is delivered once", func(t *testing.T) {
		r := setUp(t, h)
		r.send(t, "m1", "plain hello")
		r.waitDelivered(t, 1)
		r.expectAt(t, "plain hello", 1)
	})
	t.Run("rate limited once, then delivered", func(t *testing.T) {
		r := setUp(t, h)
		text := h.Fault(RateLimitedOnce, "limited hello")
		r.send(t, "m1", text)
		r.waitDelivered(t, 1)
		r.expectAt(t, text, 1)
		if in := r.instance(t); in.Counts.Retried != 1 {
			t.Fatalf("retried %d times, want 1", in.Counts.Retried)
		}
	})
	t.Run("restarting once, then delivered", func(t *testing.T) {
		r := setUp(t, h)
		text := h.Fault(RestartingOnce, "restart hello")
		r.send(t, "m1", text)
		r.waitDelivered(t, 1)
		r.expectAt(t, text, 1)
	})
	t.Run("refused for good goes to the dead letters at once", func(t *testing.T) {
		r := setUp(t, h)
		r.send(t, "m1", h.Fault(Refused, "refused hello"))
		in := r.waitFor(t, "a dead letter", func(in outbox.Instance) bool { return in.Dead == 1 })
		if in.Counts.Retried != 0 || in.Queued != 0 {
			t.Fatalf("after a refusal: %+v", in)
		}
	})
	t.Run("retries run out into a dead letter", func(t *testing.T) {
		r := setUp(t, h)
		r.send(t, "m1", h.Fault(AlwaysRateLimited, "never hello"))
		in := r.waitFor(t, "a dead letter", func(in outbox.Instance) bool { return in.Dead == 1 })
		if in.Counts.Retried != 4 {
			t.Fatalf("retried %d times before the dead letter, want 4 (5 tries)", in.Counts.Retried)
		}
		dead, _, err := r.p.DeadLetters(r.id, 0, 10)
		if err != nil || len(dead) != 1 || dead[0].Attempts != 5 {
			t.Fatalf("dead letters = %+v, %v", dead, err)
		}
	})
	t.Run("the same envelope twice is sent once", func(t *testing.T) {
		r := setUp(t, h)
		r.send(t, "m1", "dup hello")
		r.send(t, "m1", "dup hello")
		r.waitDelivered(t, 1)
		r.send(t, "m1", "dup hello")
		time.Sleep(50 * time.Millisecond)
		r.expectAt(t, "dup hello", 1)
	})
	t.Run("concurrent drains never send twice", func(t *testing.T) {
		r := setUp(t, h)
		const n = 50
		for i := range n {
			r.send(t, fmt.Sprintf("m%d", i), fmt.Sprintf("drain %d", i))
		}
		var wg sync.WaitGroup
		for range 8 {
			wg.Go(func() {
				for range 5 {
					r.p.Drain(context.Background(), r.id)
				}
			})
		}
		wg.Wait()
		r.waitDelivered(t, n)
		got := h.Delivered(t, r.id)
		for i := range n {
			if c := got[fmt.Sprintf("drain %d", i)]; c != 1 {
				t.Errorf("message %d reached the provider %d times (of %d texts)", i, c, len(got))
			}
		}
	})
	t.Run("a paused queue waits; a drain sends it anyway", func(t *testing.T) {
		r := setUp(t, h)
		if _, err := r.p.SetPaused(context.Background(), r.id, true); err != nil {
			t.Fatal(err)
		}
		r.send(t, "m1", "paused hello")
		time.Sleep(100 * time.Millisecond)
		if in := r.instance(t); in.Counts.Delivered != 0 || in.Queued != 1 {
			t.Fatalf("a paused queue sent: %+v", in)
		}
		if _, err := r.p.Drain(context.Background(), r.id); err != nil {
			t.Fatal(err)
		}
		r.waitDelivered(t, 1)
		if v, _ := r.p.Get(r.id); !v.Paused {
			t.Fatal("the drain resumed the queue")
		}
	})
	if h.Inbound != nil {
		t.Run("an inbound message seen twice is kept once", func(t *testing.T) {
			r := setUp(t, h)
			h.Inbound(t, "in-1", "inbound hello")
			h.Inbound(t, "in-1", "inbound hello")
			r.waitFor(t, "the duplicate to be counted", func(in outbox.Instance) bool { return in.Counts.Inbound == 1 && in.Counts.Duplicates == 1 })
			held, _, err := r.p.Inbox(r.id, 0, 10)
			if err != nil || len(held) != 1 || held[0].Message.Text != "inbound hello" {
				t.Fatalf("inbox = %+v, %v", held, err)
			}
		})
	}
}

type rig struct {
	p  *platform.Platform
	id string
	h  Harness
}

func setUp(t *testing.T, h Harness) *rig {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	p := platform.New(platform.Config{
		Store: store, Plugins: map[string]platform.Plugin{h.Kind: h.Plugin},
		Credentials: func(outbox.Instance, connectors.Description) (map[string][]byte, error) { return h.Credentials, nil },
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	id := fmt.Sprintf("%s:t%d", h.Kind, time.Now().UnixNano())
	if _, err := p.Add(context.Background(), id, h.Config); err != nil {
		t.Fatal(err)
	}
	r := &rig{p: p, id: id, h: h}
	r.waitFor(t, "the instance to be ready", func(outbox.Instance) bool {
		v, _ := p.Get(id)
		return v.Readiness == connectors.Ready
	})
	return r
}

func (r *rig) send(t *testing.T, envelope, text string) {
	t.Helper()
	res, err := r.p.Send(context.Background(), r.id, platform.Outbound{EnvelopeID: envelope, ConversationID: r.h.Conversation, Text: text})
	if err != nil || res[0].Err != nil {
		t.Fatalf("Send: %v %+v", err, res)
	}
}

func (r *rig) instance(t *testing.T) outbox.Instance {
	t.Helper()
	v, err := r.p.Get(r.id)
	if err != nil {
		t.Fatal(err)
	}
	return v.Instance
}

func (r *rig) waitFor(t *testing.T, what string, ok func(outbox.Instance) bool) outbox.Instance {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		in := r.instance(t)
		if ok(in) {
			return in
		}
		if time.Now().After(deadline) {
			v, _ := r.p.Get(r.id)
			t.Fatalf("waited 20s for %s: %+v", what, v)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *rig) waitDelivered(t *testing.T, n uint64) {
	t.Helper()
	r.waitFor(t, fmt.Sprintf("%d deliveries", n), func(in outbox.Instance) bool { return in.Counts.Delivered >= n && in.Queued == 0 })
}

func (r *rig) expectAt(t *testing.T, text string, n int) {
	t.Helper()
	if got := r.h.Delivered(t, r.id)[text]; got != n {
		t.Fatalf("%q reached the provider %d times, want %d", text, got, n)
	}
}
