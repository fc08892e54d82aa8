package platform_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/providers/echo"
)

// oneByOne is Echo without SendBatch: the platform sends it each message with Send.
type oneByOne struct{ connectors.Provider }

// flaky is Echo whose first SendBatch call fails as a whole.
type flaky struct {
	*echo.Provider
	calls atomic.Int64
}

func (f *flaky) SendBatch(ctx context.Context, msgs []connectors.Outgoing) ([]connectors.Outcome, error) {
	if f.calls.Add(1) == 1 {
		return nil, errors.New("the batch was cut off")
	}
	return f.Provider.SendBatch(ctx, msgs)
}

// echoOn runs a platform with the one instance echo:a of provider, retries 5 ms apart.
func echoOn(t *testing.T, provider connectors.Provider) *platform.Platform {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	p := platform.New(platform.Config{
		Store: store, Plugins: map[string]platform.Plugin{echo.Kind: platform.InProcess(echo.Kind, provider)},
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond, InFlight: 16,
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	if _, err := p.Add(context.Background(), "echo:a", nil); err != nil {
		t.Fatal(err)
	}
	return p
}

// A burst over many conversations, some of its messages rate limited once, reaches the
// provider with each message once and each conversation in the order it was queued, in
// batches and one by one alike.
func TestBurstKeepsEachConversationInOrder(t *testing.T) {
	for name, provider := range map[string]func() (connectors.Provider, *echo.Provider){
		"batches":    func() (connectors.Provider, *echo.Provider) { e := echo.New("test"); return e, e },
		"one by one": func() (connectors.Provider, *echo.Provider) { e := echo.New("test"); return oneByOne{e}, e },
	} {
		t.Run(name, func(t *testing.T) {
			prov, e := provider()
			p := echoOn(t, prov)
			const convs, each = 24, 20
			var wg sync.WaitGroup
			for c := range convs {
				wg.Go(func() {
					for i := range each {
						text := fmt.Sprintf("c%d m%02d", c, i)
						if (c+i)%7 == 0 {
							text += " [rate-limit-once]"
						}
						if _, err := p.Send(context.Background(), "echo:a", platform.Outbound{ConversationID: fmt.Sprint("c", c), Text: text}); err != nil {
							t.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			v := waitView(t, p, "echo:a", "the burst", func(v platform.View) bool { return v.Counts.Delivered == convs*each && v.Queued == 0 })
			limited := 0
			for c := range convs {
				for i := range each {
					if (c+i)%7 == 0 {
						limited++
					}
				}
			}
			if int(v.Counts.Retried) != limited {
				t.Fatalf("retried %d, want %d", v.Counts.Retried, limited)
			}
			for c := range convs {
				msgs, err := e.Read(context.Background(), connectors.ReadRequest{InstanceID: "echo:a", ConversationID: fmt.Sprint("c", c), Limit: connectors.MaxReadLimit})
				if err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, m := range slices.Backward(msgs) {
					got = append(got, strings.Fields(m.Text)[1])
				}
				var want []string
				for i := range each {
					want = append(want, fmt.Sprintf("m%02d", i))
				}
				if !slices.Equal(got, want) {
					t.Fatalf("conversation c%d reached the provider as %v", c, got)
				}
			}
			events, _, err := p.Events("echo:a", 0, 1000)
			if err != nil {
				t.Fatal(err)
			}
			retries := 0
			for _, ev := range events {
				if ev.Kind == "delivery.retry" {
					retries++
				}
			}
			if retries != limited {
				t.Fatalf("%d retries logged, want %d", retries, limited)
			}
		})
	}
}

// A batch whose call fails as a whole is tried again, every message of it, with its key:
// each is delivered once.
func TestFailedBatchIsTriedAgain(t *testing.T) {
	f := &flaky{Provider: echo.New("test")}
	p := echoOn(t, f)
	if _, err := p.SetPaused(context.Background(), "echo:a", true); err != nil {
		t.Fatal(err)
	}
	const n = 10
	for i := range n {
		if _, err := p.Send(context.Background(), "echo:a", platform.Outbound{ConversationID: fmt.Sprint("c", i), Text: fmt.Sprint("m", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := p.SetPaused(context.Background(), "echo:a", false); err != nil {
		t.Fatal(err)
	}
	v := waitView(t, p, "echo:a", "the messages", func(v platform.View) bool { return v.Counts.Delivered == n && v.Queued == 0 })
	if v.Counts.Retried != n {
		t.Fatalf("retried %d, want all %d of the failed batch", v.Counts.Retried, n)
	}
	for i := range n {
		msgs, _ := f.Read(context.Background(), connectors.ReadRequest{InstanceID: "echo:a", ConversationID: fmt.Sprint("c", i), Limit: 10})
		if len(msgs) != 1 {
			t.Fatalf("conversation c%d got %d messages", i, len(msgs))
		}
	}
}

// Retries run out into a dead letter, logged, whether the provider takes batches or not.
func TestDeadLetterIsLogged(t *testing.T) {
	for name, prov := range map[string]connectors.Provider{"batches": echo.New("test"), "one by one": oneByOne{echo.New("test")}} {
		t.Run(name, func(t *testing.T) {
			p := echoOn(t, prov)
			if _, err := p.Send(context.Background(), "echo:a", platform.Outbound{ConversationID: "c", Text: "no [rate-limit-always]"}); err != nil {
				t.Fatal(err)
			}
			v := waitView(t, p, "echo:a", "a dead letter", func(v platform.View) bool { return v.Dead == 1 })
			if v.Counts.Retried != 4 || v.Queued != 0 {
				t.Fatalf("after the dead letter: %+v", v.Instance)
			}
			events, _, _ := p.Events("echo:a", 0, 100)
			kinds := map[string]int{}
			for _, ev := range events {
				kinds[ev.Kind]++
			}
			if kinds["delivery.retry"] != 4 || kinds["delivery.dead_letter"] != 1 {
				t.Fatalf("logged %v", kinds)
			}
		})
	}
}
