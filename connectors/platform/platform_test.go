package platform_test

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
	"github.com/palyra/palyra/connectors/providers/echo"
)

func runPlatform(t *testing.T) *platform.Platform {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	p := platform.New(platform.Config{Store: store, Plugins: map[string]platform.Plugin{echo.Kind: platform.InProcess(echo.Kind, echo.New("test"))}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	if _, err := p.Add(context.Background(), "echo:a", nil); err != nil {
		t.Fatal(err)
	}
	return p
}

func inject(t *testing.T, p *platform.Platform, n int) {
	t.Helper()
	for i := range n {
		if _, err := p.Inject(context.Background(), "echo:a", connectors.Inbound{EnvelopeID: fmt.Sprintf("in-%d", i), Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
}

// An agent gets at most AgentWindow messages it has not acknowledged; what it took without
// acknowledging goes to the next agent, and acknowledged ones never come again.
func TestAgentWindowAndRedelivery(t *testing.T) {
	p := runPlatform(t)
	inject(t, p, platform.AgentWindow+10)

	got := make(chan outbox.InboxMessage, 1000)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Converse(ctx, func(m outbox.InboxMessage) error { got <- m; return nil })
	}()
	var first []outbox.InboxMessage
	for range platform.AgentWindow {
		first = append(first, <-got)
	}
	select {
	case m := <-got:
		t.Fatalf("message %s went past the window", m.Message.Text)
	case <-time.After(100 * time.Millisecond):
	}
	if first[0].Message.Text != "0" {
		t.Fatalf("oldest first: got %q", first[0].Message.Text)
	}
	if err := p.Converse(context.Background(), nil); err != platform.ErrAgentAttached {
		t.Fatalf("a second agent: %v", err)
	}
	for _, m := range first[:10] {
		if err := p.Ack(context.Background(), m.Instance, m.Seq); err != nil {
			t.Fatal(err)
		}
	}
	for range 10 { // the window moved by ten
		<-got
	}
	cancel()
	<-done

	var mu sync.Mutex
	seen := map[string]int{}
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	go p.Converse(ctx, func(m outbox.InboxMessage) error {
		mu.Lock()
		seen[m.Message.Text]++
		mu.Unlock()
		return p.Ack(context.Background(), m.Instance, m.Seq)
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		v, _ := p.Get("echo:a")
		if v.Inbox == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("inbox still holds %d", v.Inbox)
		}
		time.Sleep(5 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != platform.AgentWindow {
		t.Fatalf("the second agent got %d messages, want the %d not acknowledged", len(seen), platform.AgentWindow)
	}
	for i := range 10 {
		if seen[fmt.Sprint(i)] != 0 {
			t.Fatalf("acknowledged message %d came again", i)
		}
	}
}

func TestChangedFiresOnInbound(t *testing.T) {
	p := runPlatform(t)
	changed := p.Changed()
	inject(t, p, 1)
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Fatal("no change after an inbound message")
	}
}
