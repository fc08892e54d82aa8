package adminapi

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/providers/echo"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/channelgov"
	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// withChannels gives the server a connector platform on a real connectors.db with Echo in
// process, and the governor that holds message changes back, as palyrad wires them.
func withChannels(t testing.TB) func(*fixture, *Config) { return withChannelsAndPlugins(t, "") }

// withChannelsAndPlugins is withChannels with external plugins looked for in pluginDir.
func withChannelsAndPlugins(t testing.TB, pluginDir string) func(*fixture, *Config) {
	return func(f *fixture, cfg *Config) {
		st, err := outbox.Open(filepath.Join(t.TempDir(), outbox.FileName))
		if err != nil {
			t.Fatal(err)
		}
		log := slog.New(slog.NewTextHandler(io.Discard, nil))
		p := platform.New(platform.Config{
			Store: st, Plugins: map[string]platform.Plugin{echo.Kind: platform.InProcess(echo.Kind, echo.New("test"))},
			PluginDir: pluginDir, Logger: log, BackoffBase: 10 * time.Millisecond,
		})
		gov := channelgov.New(f.approvals, p, log)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{}, 2)
		go func() { p.Run(ctx); done <- struct{}{} }()
		go func() { gov.Run(ctx); done <- struct{}{} }()
		t.Cleanup(func() { cancel(); <-done; <-done; st.Close() })
		cfg.Platform, cfg.Governor = p, gov
	}
}

// eventually polls cond until it holds or 10 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 10s for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func addEcho(t *testing.T, c *adminclient.Client, id string, config map[string]string) *palyrav1.Connector {
	t.Helper()
	conn, err := c.Channels.AddConnector(ctxT(t), &palyrav1.AddConnectorRequest{Id: id, Config: config})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func messages(t *testing.T, c *adminclient.Client, id, conversation string) []*palyrav1.ChannelMessageView {
	t.Helper()
	r, err := c.Channels.ReadMessages(ctxT(t), &palyrav1.ReadMessagesRequest{Id: id, ConversationId: conversation, Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return r.GetMessages()
}

func connector(t *testing.T, c *adminclient.Client, id string) *palyrav1.Connector {
	t.Helper()
	conn, err := c.Channels.GetConnector(ctxT(t), &palyrav1.GetConnectorRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	return conn
}

func TestChannelsPermissions(t *testing.T) {
	f := newServer(t, withChannels(t))
	admin := f.client(t, adminToken)
	addEcho(t, admin, "echo:lab", nil)
	reader := f.scoped(t, "grafana", access.ObservabilityRead)
	operator := f.scoped(t, "agent", access.ChannelsOperate)

	if r, err := reader.Channels.ListConnectors(ctxT(t), &palyrav1.ListConnectorsRequest{}); err != nil || len(r.GetConnectors()) != 1 {
		t.Fatalf("a reader's list: %v %v", r, err)
	}
	wantCode(t, errOf(reader.Channels.AddConnector(ctxT(t), &palyrav1.AddConnectorRequest{Id: "echo:x"})), codes.PermissionDenied, "a reader adding")
	wantCode(t, errOf(reader.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "hi"})),
		codes.PermissionDenied, "a reader sending")
	stream, err := reader.Channels.Conversations(ctxT(t))
	if err == nil {
		_, err = stream.Recv()
	}
	wantCode(t, err, codes.PermissionDenied, "a reader attaching as the agent")

	if _, err := operator.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "hi"}); err != nil {
		t.Fatalf("channels.operate sending: %v", err)
	}
	wantCode(t, errOf(newServer(t).client(t, adminToken).Channels.ListConnectors(ctxT(t), &palyrav1.ListConnectorsRequest{})),
		codes.Unavailable, "a palyrad without connectors")
}

func TestChannelsBadInput(t *testing.T) {
	f := newServer(t, withChannels(t))
	c := f.client(t, adminToken)
	addEcho(t, c, "echo:lab", nil)
	cases := []struct {
		name string
		err  error
		want codes.Code
	}{
		{"an id without a kind", errOf(c.Channels.AddConnector(ctxT(t), &palyrav1.AddConnectorRequest{Id: "lab"})), codes.InvalidArgument},
		{"an unknown kind", errOf(c.Channels.AddConnector(ctxT(t), &palyrav1.AddConnectorRequest{Id: "irc:x"})), codes.InvalidArgument},
		{"an unknown setting", errOf(c.Channels.AddConnector(ctxT(t), &palyrav1.AddConnectorRequest{Id: "echo:y", Config: map[string]string{"colour": "red"}})), codes.InvalidArgument},
		{"a second echo:lab", errOf(c.Channels.AddConnector(ctxT(t), &palyrav1.AddConnectorRequest{Id: "echo:lab"})), codes.AlreadyExists},
		{"an unknown connector", errOf(c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:nope", ConversationId: "general", Text: "hi"})), codes.NotFound},
		{"empty text", errOf(c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general"})), codes.InvalidArgument},
		{"oversized text", errOf(c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general",
			Text: strings.Repeat("x", connectors.MaxTextBytes+1)})), codes.InvalidArgument},
		{"no conversation", errOf(c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", Text: "hi"})), codes.InvalidArgument},
		{"a mutation kind", errOf(c.Channels.Mutate(ctxT(t), &palyrav1.ChannelMutateRequest{Id: "echo:lab", Kind: "pin", ConversationId: "general", MessageId: "m1"})), codes.InvalidArgument},
		{"an edit without text", errOf(c.Channels.Mutate(ctxT(t), &palyrav1.ChannelMutateRequest{Id: "echo:lab", Kind: "edit", ConversationId: "general", MessageId: "m1"})), codes.InvalidArgument},
		{"an unknown control", errOf(c.Channels.ControlConnector(ctxT(t), &palyrav1.ControlConnectorRequest{Id: "echo:lab", Action: "explode"})), codes.InvalidArgument},
		{"a dead letter that is not", errOf(c.Channels.ReplayDeadLetter(ctxT(t), &palyrav1.DeadLetterRequest{Id: "echo:lab", Seq: 99})), codes.NotFound},
	}
	for _, tc := range cases {
		wantCode(t, tc.err, tc.want, tc.name)
	}
	if got := connector(t, c, "echo:lab").GetQueued(); got != 0 {
		t.Fatalf("bad input queued %d messages", got)
	}
}

func TestSendIsDeliveredAndWatched(t *testing.T) {
	f := newServer(t, withChannels(t))
	c := f.client(t, adminToken)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	watch, err := c.Channels.WatchConnectors(ctx, &palyrav1.WatchConnectorsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if first, err := watch.Recv(); err != nil || len(first.GetConnectors()) != 0 {
		t.Fatalf("first list %v %v", first, err)
	}
	addEcho(t, c, "echo:lab", nil)
	sent, err := c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "hello", EnvelopeId: "e-1"})
	if err != nil || len(sent.GetMessages()) != 1 {
		t.Fatalf("send %v %v", sent, err)
	}
	again, err := c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "hello", EnvelopeId: "e-1"})
	if err != nil || !again.GetMessages()[0].GetDuplicate() {
		t.Fatalf("the same envelope again: %v %v", again, err)
	}
	for {
		l, err := watch.Recv()
		if err != nil {
			t.Fatal(err)
		}
		if cs := l.GetConnectors(); len(cs) == 1 && cs[0].GetDelivered() == 1 {
			if cs[0].GetReadiness() != "ready" || cs[0].GetPlugin().GetState() != "running" {
				t.Fatalf("delivered through a connector that is %s, plugin %s", cs[0].GetReadiness(), cs[0].GetPlugin().GetState())
			}
			break
		}
	}
	msgs := messages(t, c, "echo:lab", "general")
	if len(msgs) != 1 || msgs[0].GetText() != "hello" || !msgs[0].GetByConnector() {
		t.Fatalf("the conversation holds %v", msgs)
	}
}

func TestDeadLettersReplayAndDiscard(t *testing.T) {
	f := newServer(t, withChannels(t))
	c := f.client(t, adminToken)
	addEcho(t, c, "echo:lab", nil)
	if _, err := c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "refused [nack]"}); err != nil {
		t.Fatal(err)
	}
	dead := func() []*palyrav1.DeadLetter {
		r, err := c.Channels.ListDeadLetters(ctxT(t), &palyrav1.ListDeadLettersRequest{Id: "echo:lab"})
		if err != nil {
			t.Fatal(err)
		}
		return r.GetDeadLetters()
	}
	eventually(t, "the dead letter", func() bool { return len(dead()) == 1 })
	d := dead()[0]
	if d.GetText() != "refused [nack]" || d.GetReason() == "" {
		t.Fatalf("dead letter %v", d)
	}
	if _, err := c.Channels.ReplayDeadLetter(ctxT(t), &palyrav1.DeadLetterRequest{Id: "echo:lab", Seq: d.GetSeq()}); err != nil {
		t.Fatal(err)
	}
	// Echo refuses it again, so it comes back: tried, not lost.
	eventually(t, "the replayed message refused again", func() bool { return connector(t, c, "echo:lab").GetDeadLettered() == 2 })
	d = dead()[0]
	if _, err := c.Channels.DiscardDeadLetter(ctxT(t), &palyrav1.DeadLetterRequest{Id: "echo:lab", Seq: d.GetSeq()}); err != nil {
		t.Fatal(err)
	}
	if len(dead()) != 0 || connector(t, c, "echo:lab").GetDeadLetters() != 0 {
		t.Fatalf("after discard: %v", dead())
	}
	events, err := c.Channels.ListConnectorEvents(ctxT(t), &palyrav1.ListConnectorEventsRequest{Id: "echo:lab"})
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, e := range events.GetEvents() {
		kinds = append(kinds, e.GetKind())
	}
	if got := strings.Join(kinds, " "); !strings.Contains(got, "dead_letter") {
		t.Fatalf("events %s", got)
	}
}

func TestAHeldDeleteRunsOnceApproved(t *testing.T) {
	f := newServer(t, withChannels(t))
	c := f.client(t, adminToken)
	addEcho(t, c, "echo:lab", nil)
	if _, err := c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "to be deleted"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delivery", func() bool { return len(messages(t, c, "echo:lab", "general")) == 1 })
	target := messages(t, c, "echo:lab", "general")[0]

	agent := f.scoped(t, "agent", access.ChannelsOperate)
	r, err := agent.Channels.Mutate(ctxT(t), &palyrav1.ChannelMutateRequest{Id: "echo:lab", Kind: "delete", ConversationId: "general", MessageId: target.GetId()})
	if err != nil || r.GetState() != "held" || r.GetApprovalId() == "" {
		t.Fatalf("delete: %v %v", r, err)
	}
	if len(messages(t, c, "echo:lab", "general")) != 1 {
		t.Fatal("the delete ran before it was allowed")
	}
	a, err := c.Approvals.GetApproval(ctxT(t), &palyrav1.GetApprovalRequest{Id: r.GetApprovalId()})
	if err != nil {
		t.Fatal(err)
	}
	if a.GetSubjectType() != "channel_mutation" || a.GetRisk() != "high" || !strings.Contains(a.GetSummary(), "to be deleted") ||
		!strings.HasPrefix(a.GetRequester(), "agent#") || a.GetState() != "pending" {
		t.Fatalf("approval %v", a)
	}
	if _, err := c.Approvals.Decide(ctxT(t), &palyrav1.DecideRequest{Id: a.GetId(), Approve: true, Scope: "once"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the delete", func() bool { return len(messages(t, c, "echo:lab", "general")) == 0 })

	// An edit of its own fresh message needs no one.
	if _, err := c.Channels.Send(ctxT(t), &palyrav1.ChannelSendRequest{Id: "echo:lab", ConversationId: "general", Text: "typo"}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the second delivery", func() bool { return len(messages(t, c, "echo:lab", "general")) == 1 })
	msg := messages(t, c, "echo:lab", "general")[0]
	r, err = agent.Channels.Mutate(ctxT(t), &palyrav1.ChannelMutateRequest{Id: "echo:lab", Kind: "edit", ConversationId: "general", MessageId: msg.GetId(), Text: "fixed"})
	if err != nil || r.GetState() != "done" {
		t.Fatalf("edit: %v %v", r, err)
	}
	if got := messages(t, c, "echo:lab", "general")[0].GetText(); got != "fixed" {
		t.Fatalf("after the edit: %q", got)
	}
	// API clients cannot ask for a channel_mutation approval of their own.
	wantCode(t, errOf(c.Approvals.RequestApproval(ctxT(t), &palyrav1.RequestApprovalRequest{SubjectType: "channel_mutation", SubjectId: "x", Summary: "x"})),
		codes.InvalidArgument, "an API client asking for a channel_mutation approval")
}

func TestTheAgentReceivesInboundAndReplies(t *testing.T) {
	f := newServer(t, withChannels(t))
	c := f.client(t, adminToken)
	addEcho(t, c, "echo:lab", nil)
	// Before an agent attaches, inbound messages wait in the inbox.
	if _, err := c.Channels.Inject(ctxT(t), &palyrav1.InjectRequest{Id: "echo:lab", ConversationId: "general", SenderId: "u-1", Text: "early", EnvelopeId: "in-1"}); err != nil {
		t.Fatal(err)
	}
	if dup, err := c.Channels.Inject(ctxT(t), &palyrav1.InjectRequest{Id: "echo:lab", ConversationId: "general", SenderId: "u-1", Text: "early", EnvelopeId: "in-1"}); err != nil || !dup.GetDuplicate() {
		t.Fatalf("the same inbound twice: %v %v", dup, err)
	}
	eventually(t, "the inbox", func() bool { return connector(t, c, "echo:lab").GetInbox() == 1 })

	agent := f.scoped(t, "agent", access.ChannelsOperate)
	ctx, cancel := context.WithCancel(ctxT(t))
	defer cancel()
	stream, err := agent.Channels.Conversations(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := stream.Recv()
	if err != nil {
		t.Fatal(err)
	}
	in := ev.GetInbound()
	if in.GetText() != "early" || in.GetSenderId() != "u-1" || in.GetConnectorId() != "echo:lab" {
		t.Fatalf("first event %v", ev)
	}
	// A second agent is refused while one is attached.
	second, err := c.Channels.Conversations(ctxT(t))
	if err == nil {
		_, err = second.Recv()
	}
	wantCode(t, err, codes.FailedPrecondition, "a second agent")

	if err := stream.Send(&palyrav1.AgentMessage{Kind: &palyrav1.AgentMessage_Ack{Ack: &palyrav1.AgentAck{ConnectorId: "echo:lab", Seq: in.GetSeq()}}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&palyrav1.AgentMessage{Kind: &palyrav1.AgentMessage_Reply{Reply: &palyrav1.ChannelSendRequest{
		Id: "echo:lab", ConversationId: "general", Text: "answer", ReplyTo: in.GetNativeId()}}}); err != nil {
		t.Fatal(err)
	}
	ev, err = stream.Recv()
	if err != nil || len(ev.GetSent().GetMessages()) != 1 {
		t.Fatalf("the reply's receipt: %v %v", ev, err)
	}
	// A reply the platform refuses is said on the stream, which stays open.
	if err := stream.Send(&palyrav1.AgentMessage{Kind: &palyrav1.AgentMessage_Reply{Reply: &palyrav1.ChannelSendRequest{Id: "echo:nope", ConversationId: "general", Text: "x"}}}); err != nil {
		t.Fatal(err)
	}
	if ev, err = stream.Recv(); err != nil || ev.GetRefused() == "" {
		t.Fatalf("a refused reply: %v %v", ev, err)
	}
	// New inbound messages arrive pushed.
	if _, err := c.Channels.Inject(ctxT(t), &palyrav1.InjectRequest{Id: "echo:lab", ConversationId: "general", SenderId: "u-2", Text: "later", EnvelopeId: "in-2"}); err != nil {
		t.Fatal(err)
	}
	if ev, err = stream.Recv(); err != nil || ev.GetInbound().GetText() != "later" {
		t.Fatalf("a pushed inbound: %v %v", ev, err)
	}
	eventually(t, "the answer delivered", func() bool {
		for _, m := range messages(t, c, "echo:lab", "general") {
			if m.GetText() == "answer" {
				return true
			}
		}
		return false
	})
	eventually(t, "the acknowledged message out of the inbox", func() bool {
		r, err := c.Channels.ListInbox(ctxT(t), &palyrav1.ListInboxRequest{Id: "echo:lab"})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range r.GetMessages() {
			if m.GetEnvelopeId() == "in-1" {
				return false
			}
		}
		return true
	})
	cancel()
	// The message not acknowledged stays for the next agent (once the first is detached).
	var got *palyrav1.ConversationEvent
	eventually(t, "the next agent", func() bool {
		next, err := c.Channels.Conversations(ctxT(t))
		if err != nil {
			t.Fatal(err)
		}
		got, err = next.Recv()
		if status.Code(err) == codes.FailedPrecondition {
			return false
		}
		if err != nil {
			t.Fatal(err)
		}
		return true
	})
	if got.GetInbound().GetText() != "later" {
		t.Fatalf("the next agent got %v", got)
	}
}
