package discord_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/providers/discord/discordtest"
)

func TestInboundMessage(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	user := r.s.NewGuildID()
	r.send(t, "own", "the bot's own message is not inbound")
	m := r.s.Inject(r.channel, user, "alice", "\x1b[31mhello\x1b[0m bot\r\nsecond line\a")
	e := r.next(t, connectors.EventInbound)
	in := e.Inbound
	if e.InstanceID != instanceID || in.SenderID != user || in.Text != "hello bot\nsecond line" || in.NativeID != m.ID ||
		in.ConversationID != r.channel || in.Direct || in.SenderDisplay != "alice" || in.EnvelopeID == "" || in.ReceivedAt.IsZero() {
		t.Fatalf("inbound = %+v", e)
	}
	r.s.Redispatch(r.channel, m.ID)
	if again := r.next(t, connectors.EventInbound); again.Inbound.EnvelopeID != in.EnvelopeID {
		t.Fatalf("a replay has envelope %q, the first %q", again.Inbound.EnvelopeID, in.EnvelopeID)
	}
	dm := r.s.NewChannel("")
	r.s.Inject(dm, user, "alice", "psst")
	if e := r.next(t, connectors.EventInbound); !e.Inbound.Direct || e.Inbound.ConversationID != dm {
		t.Fatalf("a DM = %+v", e.Inbound)
	}
}

func TestInboundChannelsAllowed(t *testing.T) {
	s := discordtest.New(t, discordtest.Options{})
	allowed, other := s.NewChannel("1"), s.NewChannel("1")
	r := newRigOn(t, s, map[string]string{"channels": " " + allowed + ", 42"})
	user := s.NewGuildID()
	s.Inject(other, user, "bob", "not for the bot")
	s.Inject(allowed, user, "bob", "for the bot")
	if e := r.next(t, connectors.EventInbound); e.Inbound.Text != "for the bot" {
		t.Fatalf("took %+v from a channel not allowed", e.Inbound)
	}
}

// inbound takes the next n inbound texts.
func (r *rig) inbound(t *testing.T, n int) []string {
	t.Helper()
	var got []string
	for range n {
		got = append(got, r.next(t, connectors.EventInbound).Inbound.Text)
	}
	return got
}

// expectOnly checks that what arrives next is want: a message injected as a marker after
// the ones under test shows that nothing else (a duplicate) came in between.
func (r *rig) expectOnly(t *testing.T, want ...string) {
	t.Helper()
	r.s.Inject(r.channel, "1", "marker", "marker")
	got := r.inbound(t, len(want)+1)
	if strings.Join(got, "|") != strings.Join(append(want, "marker"), "|") {
		t.Fatalf("inbound %q, want %q then the marker", got, want)
	}
}

func TestGatewayResumesAfterADroppedConnection(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	user := r.s.NewGuildID()
	r.s.Inject(r.channel, user, "alice", "before")
	r.expectOnly(t, "before")
	r.s.DropGateway()
	// Sent while the bot is away, or just back: resume replays what it missed.
	r.s.Inject(r.channel, user, "alice", "during")
	waitFor(t, "a resume", func() bool { return r.s.Counters().Resumes == 1 && r.s.Sessions() == 1 })
	r.s.Inject(r.channel, user, "alice", "after")
	r.expectOnly(t, "during", "after")
	if c := r.s.Counters(); c.Identifies != 1 {
		t.Fatalf("identified %d times; a resume needs no new session", c.Identifies)
	}
}

func TestGatewayReconnectsWhenAsked(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	r.s.SendReconnect()
	waitFor(t, "a resume", func() bool { return r.s.Counters().Resumes == 1 && r.s.Sessions() == 1 })
	r.s.Inject(r.channel, "7", "carol", "after op 7")
	r.expectOnly(t, "after op 7")
	if st, _ := r.p.Status(ctxFor(t), instanceID); st.Readiness != connectors.Ready || st.Facts["gateway"] != "ready" {
		t.Fatalf("Status = %+v", st)
	}
}

func TestGatewayIdentifiesAgainAfterAnInvalidSession(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	r.s.InvalidateSessions(false)
	waitFor(t, "a new session", func() bool { return r.s.Counters().Identifies == 2 && r.s.Sessions() == 1 })
	r.s.Inject(r.channel, "7", "carol", "new session")
	r.expectOnly(t, "new session")
	r.s.InvalidateSessions(true)
	waitFor(t, "a resume", func() bool { return r.s.Counters().Resumes == 1 && r.s.Sessions() == 1 })
}

func TestGatewayClosesThatNeedTheOperator(t *testing.T) {
	for _, tc := range []struct {
		code   int
		want   connectors.Readiness
		detail string
	}{
		{4004, connectors.AuthFailed, "refused the bot token"},
		{4014, connectors.Misconfigured, "Message Content Intent"},
	} {
		t.Run(fmt.Sprint(tc.code), func(t *testing.T) {
			r := newRig(t, discordtest.Options{}, nil)
			r.s.CloseGateway(tc.code, "closed")
			e := r.next(t, connectors.EventStatus)
			for e.Status.Readiness == connectors.Ready { // reconnecting first, perhaps
				e = r.next(t, connectors.EventStatus)
			}
			if e.Status.Readiness != tc.want || !strings.Contains(e.Status.Detail, tc.detail) || e.Status.Facts["gateway"] != "failed" {
				t.Fatalf("status = %+v", e.Status)
			}
			before := r.s.Counters()
			r.p.Stop(ctxFor(t), instanceID)
			if after := r.s.Counters(); after.Identifies != before.Identifies || after.Resumes != before.Resumes {
				t.Fatalf("the Gateway kept trying after %d", tc.code)
			}
		})
	}
}

func TestGatewayHeartbeats(t *testing.T) {
	r := newRig(t, discordtest.Options{HeartbeatInterval: 20 * time.Millisecond}, nil)
	waitFor(t, "heartbeats", func() bool { return r.s.Counters().Heartbeats >= 5 })
	r.s.Inject(r.channel, "7", "carol", "still here")
	if got := r.inbound(t, 1); got[0] != "still here" {
		t.Fatalf("inbound %q", got)
	}
}
