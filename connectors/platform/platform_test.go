package platform_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
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

func runPlatform(t *testing.T) *platform.Platform {
	t.Helper()
	return runPlatformWith(t, 0)
}

// limited is Echo under another kind that takes at most maxRunes per message.
type limited struct {
	*echo.Provider
	maxRunes int
}

func (l limited) Describe(ctx context.Context) (connectors.Description, error) {
	d, err := l.Provider.Describe(ctx)
	d.Kind, d.MaxTextRunes = "limited", l.maxRunes
	return d, err
}

// runPlatformWith runs a platform with an instance echo:a and, when maxRunes > 0, an
// instance limited:a of a kind that takes at most maxRunes per message.
func runPlatformWith(t *testing.T, maxRunes int) *platform.Platform {
	t.Helper()
	store, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	plugins := map[string]platform.Plugin{echo.Kind: platform.InProcess(echo.Kind, echo.New("test"))}
	if maxRunes > 0 {
		plugins["limited"] = platform.InProcess("limited", limited{echo.New("test"), maxRunes})
	}
	p := platform.New(platform.Config{Store: store, Plugins: plugins})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; store.Close() })
	if _, err := p.Add(context.Background(), "echo:a", nil); err != nil {
		t.Fatal(err)
	}
	if maxRunes > 0 {
		if _, err := p.Add(context.Background(), "limited:a", nil); err != nil {
			t.Fatal(err)
		}
		waitView(t, p, "limited:a", "started", func(v platform.View) bool { return v.Readiness == connectors.Ready })
	}
	waitView(t, p, "echo:a", "started", func(v platform.View) bool { return v.Readiness == connectors.Ready })
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

// A message longer than the provider takes is queued as parts, each its own envelope, sent
// in order.
func TestLongTextIsSentInParts(t *testing.T) {
	p := runPlatformWith(t, 100)
	text := strings.Repeat("word ", 90)
	res, err := p.Send(context.Background(), "limited:a", platform.Outbound{EnvelopeID: "long", ConversationID: "c", Text: text})
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 5 || res[0].ID != "long.1" || res[4].ID != "long.5" {
		t.Fatalf("parts: %+v", res)
	}
	var got []connectors.Message
	for deadline := time.Now().Add(10 * time.Second); len(got) < 5; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 5 parts", len(got))
		}
		if got, err = p.Read(context.Background(), "limited:a", connectors.ReadRequest{ConversationID: "c", Limit: 10}); err != nil {
			t.Fatal(err)
		}
	}
	var joined []string
	for i := len(got) - 1; i >= 0; i-- { // Read is newest first
		if n := len([]rune(got[i].Text)); n > 100 {
			t.Fatalf("a part of %d runes", n)
		}
		joined = append(joined, got[i].Text)
	}
	if strings.Join(strings.Fields(strings.Join(joined, " ")), " ") != strings.TrimSpace(text) {
		t.Fatalf("the parts, in order, are not the message: %q", joined)
	}
	if _, err := p.Send(context.Background(), "limited:a", platform.Outbound{ConversationID: "c", Text: strings.Repeat("x", connectors.MaxTextBytes+1)}); !errors.Is(err, platform.ErrInvalid) {
		t.Fatalf("an oversized message: %v", err)
	}
}

// A connector's view carries its provider's facts as they are now, not as at its start.
func TestGetShowsTheProvidersCurrentFacts(t *testing.T) {
	p := runPlatform(t)
	for i := range 3 {
		if _, err := p.Send(context.Background(), "echo:a", platform.Outbound{ConversationID: "c", Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		v, err := p.Get("echo:a")
		if err != nil {
			t.Fatal(err)
		}
		if v.Counts.Delivered == 3 {
			if v.Facts["delivered"] != "3" {
				t.Fatalf("three delivered, the provider's facts say %v", v.Facts)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("delivered %d of 3", v.Counts.Delivered)
		}
	}
}

// unreachable is Echo whose Start fails until up is set, as a provider whose service is
// out of reach.
type unreachable struct {
	*echo.Provider
	up     atomic.Bool
	starts atomic.Int32
}

func (u *unreachable) Start(ctx context.Context, inst connectors.Instance) (connectors.Status, error) {
	u.starts.Add(1)
	if !u.up.Load() {
		return connectors.Status{}, errors.New("cannot reach the service")
	}
	return u.Provider.Start(ctx, inst)
}

// A start that fails is tried again with backoff until it works, and not once the
// connector is disabled.
func TestAFailedStartIsTriedAgain(t *testing.T) {
	st, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	prov := &unreachable{Provider: echo.New("test")}
	p := platform.New(platform.Config{Store: st, Plugins: map[string]platform.Plugin{echo.Kind: platform.InProcess(echo.Kind, prov)},
		BackoffBase: 5 * time.Millisecond, BackoffMax: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	if _, err := p.Add(context.Background(), "echo:a", nil); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, "echo:a", "a few tries", func(v platform.View) bool {
		return prov.starts.Load() >= 3 && v.Readiness == connectors.Starting && strings.Contains(v.Detail, "trying again in")
	})
	prov.up.Store(true)
	waitView(t, p, "echo:a", "ready once reachable", func(v platform.View) bool { return v.Readiness == connectors.Ready })
	if _, err := p.Send(context.Background(), "echo:a", platform.Outbound{ConversationID: "c", Text: "hi"}); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, "echo:a", "delivered", func(v platform.View) bool { return v.Counts.Delivered == 1 })

	prov.up.Store(false)
	if _, err := p.Restart(context.Background(), "echo:a"); err != nil {
		t.Fatal(err)
	}
	waitView(t, p, "echo:a", "failing again", func(v platform.View) bool { return strings.Contains(v.Detail, "trying again") })
	if _, err := p.SetEnabled(context.Background(), "echo:a", false); err != nil {
		t.Fatal(err)
	}
	// A retry that was already past its check may still run: wait for quiet first.
	before := prov.starts.Load()
	for deadline := time.Now().Add(10 * time.Second); ; before = prov.starts.Load() {
		time.Sleep(60 * time.Millisecond) // three of the longest backoffs
		if prov.starts.Load() == before {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("still starting 10 s after the connector was disabled")
		}
	}
	time.Sleep(200 * time.Millisecond) // ten more
	if after := prov.starts.Load(); after != before {
		t.Fatalf("%d starts after the connector was disabled", after-before)
	}
}

// liar is Echo whose plugin also sends events the test writes, as a plugin of another kind
// that speaks for connectors it does not run.
type liar struct {
	*echo.Provider
	events chan connectors.Event
}

func (l liar) Describe(ctx context.Context) (connectors.Description, error) {
	d, err := l.Provider.Describe(ctx)
	d.Kind = "liar"
	return d, err
}

func (l liar) Events(context.Context) (<-chan connectors.Event, error) { return l.events, nil }

// A plugin's events count only for the instances it runs.
func TestAPluginSpeaksOnlyForItsOwnInstances(t *testing.T) {
	st, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
	if err != nil {
		t.Fatal(err)
	}
	l := liar{echo.New("test"), make(chan connectors.Event, 4)}
	p := platform.New(platform.Config{Store: st, Plugins: map[string]platform.Plugin{
		echo.Kind: platform.InProcess(echo.Kind, echo.New("test")), "liar": platform.InProcess("liar", l),
	}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { p.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; st.Close() })
	for _, id := range []string{"echo:a", "liar:a"} {
		if _, err := p.Add(context.Background(), id, nil); err != nil {
			t.Fatal(err)
		}
		waitView(t, p, id, "ready", func(v platform.View) bool { return v.Readiness == connectors.Ready })
	}
	l.events <- connectors.Event{Kind: connectors.EventInbound, InstanceID: "echo:a", Inbound: connectors.Inbound{EnvelopeID: "forged", ConversationID: "c", SenderID: "u1", Text: "from discord, honest"}}
	l.events <- connectors.Event{Kind: connectors.EventStatus, InstanceID: "echo:a", Status: connectors.Status{Readiness: connectors.AuthFailed}}
	l.events <- connectors.Event{Kind: connectors.EventInbound, InstanceID: "liar:a", Inbound: connectors.Inbound{EnvelopeID: "own", ConversationID: "c", SenderID: "u1", Text: "mine"}}
	waitView(t, p, "liar:a", "its own message taken in", func(v platform.View) bool { return v.Inbox == 1 })
	if v, _ := p.Get("echo:a"); v.Inbox != 0 || v.Readiness != connectors.Ready {
		t.Fatalf("echo:a after events forged by another plugin: inbox %d, readiness %s", v.Inbox, v.Readiness)
	}
}
