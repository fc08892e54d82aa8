package discord_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/providers/discord"
	"github.com/palyra/palyra/connectors/providers/discord/discordtest"
)

func TestStart(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	st, err := r.p.Status(ctxFor(t), instanceID)
	if err != nil || st.Readiness != connectors.Ready || st.Facts["bot_user_id"] != r.s.BotID() || st.Facts["bot_name"] != "palyra-test-bot" || st.Facts["gateway"] != "ready" {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	d, _ := r.p.Describe(ctxFor(t))
	if d.Kind != discord.Kind || d.MaxTextRunes != 2000 || !d.Can(connectors.CapInbound) || !d.Can(connectors.CapReact) || d.Availability != connectors.Supported {
		t.Fatalf("Describe = %+v", d)
	}
}

func TestStartWithoutInbound(t *testing.T) {
	r := newRig(t, discordtest.Options{}, map[string]string{"inbound": "false"})
	if st, _ := r.p.Status(ctxFor(t), instanceID); st.Facts["gateway"] != "off" || r.s.Sessions() != 0 {
		t.Fatalf("Status = %+v with %d sessions", st, r.s.Sessions())
	}
}

func TestStartRefusals(t *testing.T) {
	s := discordtest.New(t, discordtest.Options{})
	p := discord.New(testOptions())
	t.Cleanup(func() { stopAll(p) })
	config := map[string]string{"token": "discord-bot", "api_url": s.APIURL(), "gateway_url": s.GatewayURL()}
	for _, tc := range []struct {
		name   string
		config map[string]string
		token  string
		want   connectors.Readiness
		detail string
	}{
		{"no token", config, "", connectors.MissingCredential, "no bot token"},
		{"a token with spaces", config, "two words", connectors.MissingCredential, "does not hold a Discord bot token"},
		{"a wrong token", config, "not-the-token", connectors.AuthFailed, "401"},
		{"a bad setting", map[string]string{"token": "x", "channels": "general"}, s.Token(), connectors.Misconfigured, "channels"},
		{"not Discord", map[string]string{"token": "x", "api_url": s.APIURL() + "/nothing"}, s.Token(), connectors.Misconfigured, "404"},
	} {
		st, err := p.Start(ctxFor(t), connectors.Instance{ID: "discord:x", Config: tc.config, Credentials: map[string][]byte{"token": []byte(tc.token)}})
		if err != nil || st.Readiness != tc.want || !strings.Contains(st.Detail, tc.detail) {
			t.Errorf("%s: Start = %+v, %v; want %s mentioning %q", tc.name, st, err, tc.want, tc.detail)
		}
		if tc.token != "" && strings.Contains(st.Detail, tc.token) {
			t.Errorf("%s: the detail shows the token: %q", tc.name, st.Detail)
		}
	}
	// Discord out of reach is an error, which palyrad meets by trying again.
	closed := map[string]string{"token": "x", "api_url": "http://127.0.0.1:1/api/v10", "inbound": "false"}
	if st, err := p.Start(ctxFor(t), connectors.Instance{ID: "discord:x", Config: closed, Credentials: map[string][]byte{"token": []byte(s.Token())}}); err == nil || !strings.Contains(err.Error(), "cannot reach Discord") {
		t.Errorf("Start with Discord out of reach = %+v, %v; want an error", st, err)
	}
	if got := p.Instances(); len(got) != 0 {
		t.Fatalf("refused instances kept: %v", got)
	}
}

func TestSendOutcomes(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	out := r.send(t, "ok", "hello")
	msgs := r.s.Messages(r.channel)
	if out.Kind != connectors.Delivered || len(msgs) != 1 || out.NativeID != msgs[0].ID || msgs[0].Content != "hello" || len(msgs[0].Nonce) > 25 || msgs[0].Nonce == "" {
		t.Fatalf("Send = %+v; stored %+v", out, msgs)
	}
	for _, tc := range []struct {
		fault  discordtest.Fault
		kind   connectors.OutcomeKind
		class  connectors.RetryClass
		reason string
	}{
		{discordtest.RateLimit, connectors.Retry, connectors.RateLimited, "429"},
		{discordtest.ServerError, connectors.Retry, connectors.Transient, "500"},
		{discordtest.DropConnection, connectors.Retry, connectors.Transient, "cannot reach Discord"},
		{discordtest.Forbidden, connectors.Permanent, "", "Missing Permissions (code 50013)"},
	} {
		r.s.FailNextSends(tc.fault, 1)
		out := r.send(t, "fault", "fault")
		if out.Kind != tc.kind || out.Class != tc.class || !strings.Contains(out.Reason, tc.reason) || out.Readiness != "" {
			t.Errorf("fault %d: Send = %+v, want %s %s with %q", tc.fault, out, tc.kind, tc.class, tc.reason)
		}
		if tc.fault == discordtest.RateLimit && out.RetryAfter != 50*time.Millisecond {
			t.Errorf("a 429 with retry_after 0.05 asks to wait %s", out.RetryAfter)
		}
	}
	if st, _ := r.p.Status(ctxFor(t), instanceID); st.Readiness != connectors.Ready {
		t.Fatalf("after a 403 the instance is %+v; a channel's permissions say nothing of the token", st)
	}
	if out := r.send(t, "fault", "fault"); out.Kind != connectors.Delivered {
		t.Fatalf("after the faults: %+v", out)
	}
}

func TestSendRefusedByDiscord(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	for _, tc := range []struct {
		name   string
		m      connectors.Outgoing
		reason string
	}{
		{"unknown channel", connectors.Outgoing{ConversationID: "1234567890"}, "Unknown Channel (code 10003)"},
		{"reply to nothing", connectors.Outgoing{ConversationID: r.channel, ReplyTo: "1234567890"}, "Invalid Form Body (code 50035): message_reference: Unknown message"},
		{"not a channel", connectors.Outgoing{ConversationID: "general"}, "not a Discord channel id"},
		{"too long", connectors.Outgoing{ConversationID: r.channel, Text: strings.Repeat("é", 2001)}, "2001 characters"},
	} {
		tc.m.InstanceID, tc.m.IdempotencyKey = instanceID, instanceID+":"+tc.name
		if tc.m.Text == "" {
			tc.m.Text = "hello"
		}
		out, err := r.p.Send(ctxFor(t), tc.m)
		if err != nil || out.Kind != connectors.Permanent || !strings.Contains(out.Reason, tc.reason) {
			t.Errorf("%s: Send = %+v, %v; want permanent with %q", tc.name, out, err, tc.reason)
		}
	}
}

func TestSendAfterTheTokenIsRevoked(t *testing.T) {
	r := newRig(t, discordtest.Options{}, map[string]string{"inbound": "false"})
	r.s.RevokeToken()
	out := r.send(t, "m1", "hello")
	if out.Kind != connectors.Permanent || out.Readiness != connectors.AuthFailed || !strings.Contains(out.Reason, "401") {
		t.Fatalf("Send = %+v", out)
	}
	if st, _ := r.p.Status(ctxFor(t), instanceID); st.Readiness != connectors.AuthFailed || !strings.Contains(st.Detail, "Reset Token") && !strings.Contains(st.Detail, "reset it") {
		t.Fatalf("Status = %+v", st)
	}
	if e := r.next(t, connectors.EventStatus); e.Status.Readiness != connectors.AuthFailed {
		t.Fatalf("status event = %+v", e)
	}
	before := r.s.Counters().Requests
	if out := r.send(t, "m2", "hello"); out.Readiness != connectors.AuthFailed || r.s.Counters().Requests != before {
		t.Fatalf("a send after the refusal = %+v and reached Discord (%d → %d requests)", out, before, r.s.Counters().Requests)
	}
}

func TestSendIsIdempotentByNonce(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	first := r.send(t, "m1", "once only")
	// The outbox tries again (the first answer was lost, say): the nonce returns the same message.
	again := r.send(t, "m1", "once only")
	other := r.send(t, "m2", "once only")
	if first.NativeID != again.NativeID || other.NativeID == first.NativeID {
		t.Fatalf("ids %s %s %s: the same key must give the same message, another key another", first.NativeID, again.NativeID, other.NativeID)
	}
	if n := len(r.s.Messages(r.channel)); n != 2 || r.s.Counters().Created != 2 {
		t.Fatalf("%d messages stored, %d created; want 2", n, r.s.Counters().Created)
	}
}

func TestSendReplyAndThread(t *testing.T) {
	r := newRig(t, discordtest.Options{}, nil)
	first := r.send(t, "m1", "question")
	out, err := r.p.Send(ctxFor(t), connectors.Outgoing{InstanceID: instanceID, IdempotencyKey: "k2", ConversationID: r.channel, ReplyTo: first.NativeID, Text: "answer"})
	if err != nil || out.Kind != connectors.Delivered {
		t.Fatalf("reply = %+v, %v", out, err)
	}
	if msgs := r.s.Messages(r.channel); msgs[1].ReplyTo != first.NativeID {
		t.Fatalf("the reply refers to %q, want %s", msgs[1].ReplyTo, first.NativeID)
	}
	thread := r.s.NewChannel("1")
	out, err = r.p.Send(ctxFor(t), connectors.Outgoing{InstanceID: instanceID, IdempotencyKey: "k3", ConversationID: r.channel, ThreadID: thread, Text: "in the thread"})
	if err != nil || out.Kind != connectors.Delivered || len(r.s.Messages(thread)) != 1 {
		t.Fatalf("a send to a thread = %+v, %v; the thread has %d messages", out, err, len(r.s.Messages(thread)))
	}
}

func TestSendHonoursTheBucketHeaders(t *testing.T) {
	r := newRig(t, discordtest.Options{RouteLimit: 2, RouteWindow: time.Minute}, map[string]string{"inbound": "false"})
	for i := range 2 {
		if out := r.send(t, string(rune('a'+i)), "within the limit"); out.Kind != connectors.Delivered {
			t.Fatalf("send %d = %+v", i+1, out)
		}
	}
	before := r.s.Counters()
	out := r.send(t, "c", "over the limit")
	if out.Kind != connectors.Retry || out.Class != connectors.RateLimited || out.RetryAfter < 50*time.Second || out.RetryAfter > time.Minute {
		t.Fatalf("the third send = %+v; want a rate-limited retry after the bucket's reset", out)
	}
	if after := r.s.Counters(); after.Requests != before.Requests || after.Invalid != 0 {
		t.Fatalf("the limiter let a request through (%+v → %+v)", before, after)
	}
}

func TestTheTokenIsNeverLogged(t *testing.T) {
	var logs bytes.Buffer
	s := discordtest.New(t, discordtest.Options{HeartbeatInterval: 20 * time.Millisecond})
	opts := testOptions()
	opts.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	p := discord.New(opts)
	t.Cleanup(func() { stopAll(p) })
	config := map[string]string{"token": "discord-bot", "api_url": s.APIURL(), "gateway_url": s.GatewayURL()}
	if st, _ := p.Start(ctxFor(t), connectors.Instance{ID: instanceID, Config: config, Credentials: map[string][]byte{"token": []byte(s.Token())}}); st.Readiness != connectors.Ready {
		t.Fatalf("Start = %+v", st)
	}
	ch := s.NewChannel("")
	p.Send(ctxFor(t), connectors.Outgoing{InstanceID: instanceID, IdempotencyKey: "k", ConversationID: ch, Text: "hi"})
	s.DropGateway()
	waitFor(t, "a resume", func() bool { return s.Counters().Resumes == 1 && s.Sessions() == 1 })
	token := s.Token()
	s.RevokeToken()
	waitFor(t, "the refusal", func() bool {
		st, _ := p.Status(context.Background(), instanceID)
		return st.Readiness == connectors.AuthFailed
	})
	p.Stop(context.Background(), instanceID)
	if logs.Len() == 0 || strings.Contains(logs.String(), token) {
		t.Fatalf("logs (%d bytes) show the token, or nothing was logged:\n%s", logs.Len(), logs.String())
	}
}
