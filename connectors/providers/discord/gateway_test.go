package discord_test

import (
	"testing"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/providers/discord/discordtest"
)

func TestInboundMessage(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	user := r.s.NewGuildID()
	m := r.s.Inject(r.channel, user, "alice", "hello bot")
	e := r.next(t, connectors.EventInbound)
	in := e.Inbound
	if e.InstanceID != instanceID || in.SenderID != user || in.Text != "hello bot" || in.NativeID != m.ID || in.ConversationID != r.channel || in.Direct || in.SenderDisplay != "alice" {
		t.Fatalf("inbound = %+v", e)
	}
	r.s.Redispatch(r.channel, m.ID)
	again := r.next(t, connectors.EventInbound)
	if again.Inbound.EnvelopeID != in.EnvelopeID {
		t.Fatalf("a replay has envelope %q, the first %q", again.Inbound.EnvelopeID, in.EnvelopeID)
	}
}
