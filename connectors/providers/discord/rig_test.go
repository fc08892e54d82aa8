package discord_test

import (
	"context"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/providers/discord"
	"github.com/palyra/palyra/connectors/providers/discord/discordtest"
)

const instanceID = "discord:test"

// rig is a provider with one instance started against a fake Discord.
type rig struct {
	s       *discordtest.Server
	p       *discord.Provider
	channel string
	events  <-chan connectors.Event
}

func newRig(t *testing.T, opts discordtest.Options, config map[string]string) *rig {
	t.Helper()
	return newRigOn(t, discordtest.New(t, opts), config)
}

func newRigOn(t *testing.T, s *discordtest.Server, config map[string]string) *rig {
	t.Helper()
	p := discord.New(testOptions())
	t.Cleanup(func() { stopAll(p) })
	events, _ := p.Events(context.Background())
	r := &rig{s: s, p: p, channel: s.NewChannel(s.NewGuildID()), events: events}
	st, err := p.Start(ctxFor(t), connectors.Instance{ID: instanceID, Config: r.config(config), Credentials: map[string][]byte{"token": []byte(s.Token() + "\n")}})
	if err != nil || st.Readiness != connectors.Ready {
		t.Fatalf("Start = %+v, %v", st, err)
	}
	return r
}

func (r *rig) config(extra map[string]string) map[string]string {
	c := map[string]string{"token": "discord-bot", "api_url": r.s.APIURL(), "gateway_url": r.s.GatewayURL()}
	for k, v := range extra {
		c[k] = v
	}
	return c
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func (r *rig) send(t *testing.T, key, text string) connectors.Outcome {
	t.Helper()
	out, err := r.p.Send(ctxFor(t), connectors.Outgoing{InstanceID: instanceID, IdempotencyKey: instanceID + ":" + key, ConversationID: r.channel, Text: text, Attempt: 1})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return out
}

// next waits for the next event of a kind, skipping the others.
func (r *rig) next(t *testing.T, kind connectors.EventKind) connectors.Event {
	t.Helper()
	timeout := time.After(20 * time.Second)
	for {
		select {
		case e := <-r.events:
			if e.Kind == kind {
				return e
			}
		case <-timeout:
			t.Fatalf("no %s event in 20s", kind)
		}
	}
}

// waitFor polls cond until it holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 20s for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
