package adminapi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/daemon/channelgov"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// The channels API's bounds.
const (
	defaultChannelsPage = 50
	maxChannelsPage     = 200
	// watchCoalesce is the shortest gap between two lists a WatchConnectors stream sends.
	watchCoalesce = 250 * time.Millisecond
	// agentStallTimeout is how long the Conversations stream waits for an agent that does
	// not read before it ends the stream (its messages stay in the inbox).
	agentStallTimeout = 30 * time.Second
)

type channelsServer struct {
	*API
	palyrav1.UnimplementedChannelsServiceServer
}

func (s channelsServer) platform() (*platform.Platform, error) {
	if s.cfg.Platform == nil {
		return nil, status.Error(codes.Unavailable, "this palyrad runs no connectors")
	}
	return s.cfg.Platform, nil
}

func (s channelsServer) ListKinds(ctx context.Context, _ *palyrav1.ListKindsRequest) (*palyrav1.ListKindsReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	reply := &palyrav1.ListKindsReply{}
	for _, k := range p.Describe(ctx) {
		pk := &palyrav1.ConnectorKind{
			Kind: k.Kind, Version: k.Version, Availability: string(k.Availability), MaxTextRunes: int32(k.MaxTextRunes),
		}
		for _, c := range k.Capabilities {
			pk.Capabilities = append(pk.Capabilities, string(c))
		}
		for _, f := range k.Config {
			pk.Settings = append(pk.Settings, &palyrav1.ConnectorSetting{
				Name: f.Name, Label: f.Label, Help: f.Help, Type: string(f.Type), Required: f.Required, Default: f.Default,
			})
		}
		if k.Err != nil {
			pk.Error = k.Err.Error()
		}
		reply.Kinds = append(reply.Kinds, pk)
	}
	return reply, nil
}

func (s channelsServer) ListConnectors(context.Context, *palyrav1.ListConnectorsRequest) (*palyrav1.ListConnectorsReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	return s.list(p)
}

func (s channelsServer) list(p *platform.Platform) (*palyrav1.ListConnectorsReply, error) {
	views, err := p.List()
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ListConnectorsReply{AgentAttached: p.AgentAttached()}
	for _, v := range views {
		reply.Connectors = append(reply.Connectors, connectorProto(v))
	}
	return reply, nil
}

func (s channelsServer) GetConnector(_ context.Context, req *palyrav1.GetConnectorRequest) (*palyrav1.Connector, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	return viewReply(p.Get(req.GetId()))
}

func (s channelsServer) WatchConnectors(_ *palyrav1.WatchConnectorsRequest, stream palyrav1.ChannelsService_WatchConnectorsServer) error {
	p, err := s.platform()
	if err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		changed := p.Changed()
		reply, err := s.list(p)
		if err != nil {
			return err
		}
		if err := stream.Send(reply); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		}
		select { // one list per watchCoalesce at most, however busy the queues are
		case <-ctx.Done():
			return nil
		case <-time.After(watchCoalesce):
		}
	}
}

func (s channelsServer) AddConnector(ctx context.Context, req *palyrav1.AddConnectorRequest) (*palyrav1.Connector, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	v, err := p.Add(ctx, req.GetId(), req.GetConfig())
	if err == nil {
		s.audit("channels.add", principalFrom(ctx).Actor(), req.GetId(), "")
	}
	return viewReply(v, err)
}

func (s channelsServer) RemoveConnector(ctx context.Context, req *palyrav1.RemoveConnectorRequest) (*palyrav1.RemoveConnectorReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	if err := p.Remove(ctx, req.GetId()); err != nil {
		return nil, channelsStatus(err)
	}
	s.audit("channels.remove", principalFrom(ctx).Actor(), req.GetId(), "")
	return &palyrav1.RemoveConnectorReply{}, nil
}

// controls are ControlConnector's actions.
var controls = map[string]func(*platform.Platform, context.Context, string) (platform.View, error){
	"enable": func(p *platform.Platform, ctx context.Context, id string) (platform.View, error) {
		return p.SetEnabled(ctx, id, true)
	},
	"disable": func(p *platform.Platform, ctx context.Context, id string) (platform.View, error) {
		return p.SetEnabled(ctx, id, false)
	},
	"pause": func(p *platform.Platform, ctx context.Context, id string) (platform.View, error) {
		return p.SetPaused(ctx, id, true)
	},
	"resume": func(p *platform.Platform, ctx context.Context, id string) (platform.View, error) {
		return p.SetPaused(ctx, id, false)
	},
	"drain":   (*platform.Platform).Drain,
	"restart": (*platform.Platform).Restart,
}

func (s channelsServer) ControlConnector(ctx context.Context, req *palyrav1.ControlConnectorRequest) (*palyrav1.Connector, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	do := controls[req.GetAction()]
	if do == nil {
		return nil, status.Errorf(codes.InvalidArgument, "action %q: want enable, disable, pause, resume, drain or restart", req.GetAction())
	}
	v, err := do(p, ctx, req.GetId())
	if err == nil {
		s.audit("channels."+req.GetAction(), principalFrom(ctx).Actor(), req.GetId(), "")
	}
	return viewReply(v, err)
}

func (s channelsServer) Send(ctx context.Context, req *palyrav1.ChannelSendRequest) (*palyrav1.ChannelSendReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	return send(ctx, p, req)
}

func send(ctx context.Context, p *platform.Platform, req *palyrav1.ChannelSendRequest) (*palyrav1.ChannelSendReply, error) {
	queued, err := p.Send(ctx, req.GetId(), platform.Outbound{
		EnvelopeID: req.GetEnvelopeId(), ConversationID: req.GetConversationId(), ThreadID: req.GetThreadId(),
		ReplyTo: req.GetReplyTo(), Text: req.GetText(),
	})
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ChannelSendReply{}
	for _, q := range queued {
		switch {
		case errors.Is(q.Err, outbox.ErrQueueFull):
			return nil, status.Error(codes.ResourceExhausted, q.Err.Error())
		case errors.Is(q.Err, outbox.ErrNotFound):
			return nil, status.Error(codes.NotFound, q.Err.Error())
		case q.Err != nil:
			return nil, status.Error(codes.InvalidArgument, q.Err.Error())
		}
		reply.Messages = append(reply.Messages, &palyrav1.QueuedMessage{EnvelopeId: q.ID, Seq: q.Seq, Duplicate: q.Duplicate})
	}
	return reply, nil
}

func (s channelsServer) Inject(ctx context.Context, req *palyrav1.InjectRequest) (*palyrav1.InjectReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	dup, err := p.Inject(ctx, req.GetId(), connectors.Inbound{
		EnvelopeID: req.GetEnvelopeId(), ConversationID: req.GetConversationId(), SenderID: req.GetSenderId(),
		SenderDisplay: req.GetSenderId(), Text: req.GetText(),
	})
	if err != nil {
		return nil, channelsStatus(err)
	}
	return &palyrav1.InjectReply{Duplicate: dup}, nil
}

func (s channelsServer) ListDeadLetters(_ context.Context, req *palyrav1.ListDeadLettersRequest) (*palyrav1.ListDeadLettersReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultChannelsPage, maxChannelsPage)
	if err != nil {
		return nil, err
	}
	dead, next, err := p.DeadLetters(req.GetId(), req.GetBefore(), size)
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ListDeadLettersReply{Next: next}
	for _, d := range dead {
		reply.DeadLetters = append(reply.DeadLetters, &palyrav1.DeadLetter{
			Seq: d.Seq, EnvelopeId: d.ID, ConversationId: d.ConversationID, Text: d.Text, Attempts: int32(d.Attempts),
			Reason: d.Reason, DeadUnixMs: unixMs(d.DeadAt), CreatedUnixMs: unixMs(d.CreatedAt),
		})
	}
	return reply, nil
}

func (s channelsServer) ReplayDeadLetter(ctx context.Context, req *palyrav1.DeadLetterRequest) (*palyrav1.Connector, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	if err := p.Replay(ctx, req.GetId(), req.GetSeq()); err != nil {
		return nil, channelsStatus(err)
	}
	s.audit("channels.replay", principalFrom(ctx).Actor(), req.GetId(), fmt.Sprintf("dead letter %d", req.GetSeq()))
	return viewReply(p.Get(req.GetId()))
}

func (s channelsServer) DiscardDeadLetter(ctx context.Context, req *palyrav1.DeadLetterRequest) (*palyrav1.Connector, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	if err := p.Discard(ctx, req.GetId(), req.GetSeq()); err != nil {
		return nil, channelsStatus(err)
	}
	s.audit("channels.discard", principalFrom(ctx).Actor(), req.GetId(), fmt.Sprintf("dead letter %d", req.GetSeq()))
	return viewReply(p.Get(req.GetId()))
}

func (s channelsServer) ListConnectorEvents(_ context.Context, req *palyrav1.ListConnectorEventsRequest) (*palyrav1.ListConnectorEventsReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultChannelsPage, maxChannelsPage)
	if err != nil {
		return nil, err
	}
	events, next, err := p.Events(req.GetId(), req.GetBefore(), size)
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ListConnectorEventsReply{Next: next}
	for _, e := range events {
		reply.Events = append(reply.Events, &palyrav1.ConnectorEventLine{Seq: e.Seq, UnixMs: unixMs(e.At), Kind: e.Kind, Level: e.Level, Message: e.Message})
	}
	return reply, nil
}

func (s channelsServer) ListInbox(_ context.Context, req *palyrav1.ListInboxRequest) (*palyrav1.ListInboxReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	size, err := pageSize(req.GetPageSize(), defaultChannelsPage, maxChannelsPage)
	if err != nil {
		return nil, err
	}
	held, next, err := p.Inbox(req.GetId(), req.GetBefore(), size)
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ListInboxReply{Next: next}
	for _, m := range held {
		reply.Messages = append(reply.Messages, inboundProto(m))
	}
	return reply, nil
}

func (s channelsServer) ReadMessages(ctx context.Context, req *palyrav1.ReadMessagesRequest) (*palyrav1.ReadMessagesReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	msgs, err := p.Read(ctx, req.GetId(), connectors.ReadRequest{
		ConversationID: req.GetConversationId(), MessageID: req.GetMessageId(), Before: req.GetBefore(), Limit: int(req.GetLimit()),
	})
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ReadMessagesReply{}
	for _, m := range msgs {
		reply.Messages = append(reply.Messages, &palyrav1.ChannelMessageView{
			Id: m.ID, ConversationId: m.ConversationID, SenderId: m.SenderID, SenderDisplay: m.SenderDisplay, Text: m.Text,
			CreatedUnixMs: unixMs(m.CreatedAt), EditedUnixMs: unixMs(m.EditedAt), ByConnector: m.ByConnector,
		})
	}
	return reply, nil
}

func (s channelsServer) Mutate(ctx context.Context, req *palyrav1.ChannelMutateRequest) (*palyrav1.ChannelMutateReply, error) {
	if s.cfg.Governor == nil {
		return nil, status.Error(codes.Unavailable, "this palyrad runs no connectors")
	}
	kind := connectors.MutationKind(req.GetKind())
	if kind != connectors.Edit && kind != connectors.Delete && kind != connectors.React {
		return nil, status.Errorf(codes.InvalidArgument, "kind %q: want edit, delete or react", req.GetKind())
	}
	m := connectors.Mutation{Kind: kind, ConversationID: req.GetConversationId(), MessageID: req.GetMessageId(), Text: req.GetText(), Emoji: req.GetEmoji()}
	if err := checkMutation(m); err != nil {
		return nil, err
	}
	actor := principalFrom(ctx).Actor()
	res, err := s.cfg.Governor.Mutate(ctx, req.GetId(), m, actor)
	var held *channelgov.HeldError
	switch {
	case errors.As(err, &held):
		s.audit("channels."+req.GetKind()+".held", actor, req.GetId(), held.ApprovalID)
		return &palyrav1.ChannelMutateReply{State: "held", ApprovalId: held.ApprovalID, Reason: held.Error()}, nil
	case err != nil:
		return nil, channelsStatus(err)
	case !res.Done:
		return &palyrav1.ChannelMutateReply{State: "refused", Reason: res.Reason}, nil
	}
	s.audit("channels."+req.GetKind(), actor, req.GetId(), req.GetConversationId()+"/"+req.GetMessageId())
	return &palyrav1.ChannelMutateReply{State: "done"}, nil
}

func checkMutation(m connectors.Mutation) error {
	switch {
	case m.ConversationID == "" || len(m.ConversationID) > connectors.MaxTargetBytes:
		return status.Errorf(codes.InvalidArgument, "conversation id: want 1 to %d bytes", connectors.MaxTargetBytes)
	case m.MessageID == "" || len(m.MessageID) > connectors.MaxTargetBytes:
		return status.Errorf(codes.InvalidArgument, "message id: want 1 to %d bytes", connectors.MaxTargetBytes)
	case m.Kind == connectors.Edit && (strings.TrimSpace(m.Text) == "" || len(m.Text) > connectors.MaxTextBytes):
		return status.Errorf(codes.InvalidArgument, "an edit needs its new text, at most %d KiB", connectors.MaxTextBytes>>10)
	case m.Kind == connectors.React && (m.Emoji == "" || len(m.Emoji) > 64):
		return status.Error(codes.InvalidArgument, "a reaction needs an emoji of at most 64 bytes")
	}
	return nil
}

// Conversations serves the attached agent: a sender goroutine owns stream.Send, the
// receiver takes acknowledgements and replies, and the platform hands over inbound messages.
func (s channelsServer) Conversations(stream palyrav1.ChannelsService_ConversationsServer) error {
	p, err := s.platform()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(stream.Context())
	defer cancel(nil)
	out := make(chan *palyrav1.ConversationEvent, platform.AgentWindow)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case ev := <-out:
				if err := stream.Send(ev); err != nil {
					cancel(err)
					return
				}
			}
		}
	}()
	emit := func(ev *palyrav1.ConversationEvent) error {
		select {
		case out <- ev:
			return nil
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(agentStallTimeout):
			err := status.Errorf(codes.DeadlineExceeded, "the agent read nothing for %s; its messages wait in the inbox", agentStallTimeout)
			cancel(err)
			return err
		}
	}
	go func() {
		for {
			msg, err := stream.Recv()
			if err != nil {
				cancel(err)
				return
			}
			if err := s.agentMessage(ctx, p, msg, emit); err != nil {
				cancel(err)
				return
			}
		}
	}()
	err = p.Converse(ctx, func(m outbox.InboxMessage) error {
		return emit(&palyrav1.ConversationEvent{Kind: &palyrav1.ConversationEvent_Inbound{Inbound: inboundProto(m)}})
	})
	if errors.Is(err, platform.ErrAgentAttached) {
		return status.Error(codes.FailedPrecondition, "another agent is attached; one agent at a time")
	}
	if err != nil {
		return channelsStatus(err)
	}
	if cause := context.Cause(ctx); cause != nil && !errors.Is(cause, context.Canceled) && status.Code(cause) != codes.Canceled {
		if _, ok := status.FromError(cause); ok {
			return cause
		}
	}
	return nil
}

func (s channelsServer) agentMessage(ctx context.Context, p *platform.Platform, msg *palyrav1.AgentMessage, emit func(*palyrav1.ConversationEvent) error) error {
	switch k := msg.GetKind().(type) {
	case *palyrav1.AgentMessage_Ack:
		err := p.Ack(ctx, k.Ack.GetConnectorId(), k.Ack.GetSeq())
		if errors.Is(err, platform.ErrNotFound) {
			return emit(&palyrav1.ConversationEvent{Kind: &palyrav1.ConversationEvent_Refused{Refused: "ack: " + err.Error()}})
		}
		return err
	case *palyrav1.AgentMessage_Reply:
		reply, err := send(ctx, p, k.Reply)
		if err != nil {
			return emit(&palyrav1.ConversationEvent{Kind: &palyrav1.ConversationEvent_Refused{Refused: status.Convert(err).Message()}})
		}
		return emit(&palyrav1.ConversationEvent{Kind: &palyrav1.ConversationEvent_Sent{Sent: reply}})
	}
	return status.Error(codes.InvalidArgument, "an agent message is an ack or a reply")
}

func viewReply(v platform.View, err error) (*palyrav1.Connector, error) {
	if err != nil {
		return nil, channelsStatus(err)
	}
	return connectorProto(v), nil
}

func connectorProto(v platform.View) *palyrav1.Connector {
	c := &palyrav1.Connector{
		Id: v.ID, Kind: v.Kind, Config: v.Config, Enabled: v.Enabled, Paused: v.Paused,
		Readiness: string(v.Readiness), Detail: v.Detail, Facts: v.Facts,
		Queued: int64(v.Queued), InFlight: int64(v.InFlight), DeadLetters: int64(v.Dead),
		Delivered: v.Counts.Delivered, Retried: v.Counts.Retried, DeadLettered: v.Counts.DeadLettered,
		Inbound: v.Counts.Inbound, Duplicates: v.Counts.Duplicates, Inbox: uint64(max(v.Inbox, 0)),
		LastError: v.LastError, LastErrorUnixMs: unixMs(v.ErrorAt), LastInboundUnixMs: unixMs(v.InAt),
		LastDeliveryUnixMs: unixMs(v.OutAt), CreatedUnixMs: unixMs(v.CreatedAt),
		Plugin: &palyrav1.PluginProcess{
			Pid: int32(v.Plugin.PID), StartedUnixMs: unixMs(v.Plugin.StartedAt), Restarts: uint32(v.Plugin.Restarts),
			State: pluginState(v), LastError: pluginError(v),
		},
	}
	return c
}

func pluginState(v platform.View) string {
	switch {
	case v.Plugin.PID > 0:
		return "running"
	case v.Plugin.LastError != "":
		return "backoff"
	}
	return "starting"
}

// pluginError is the plugin's last error, with the first line of its crash when it had one.
func pluginError(v platform.View) string {
	if len(v.Plugin.Crash) > 0 {
		return v.Plugin.LastError + ": " + strings.Join(v.Plugin.Crash[:min(len(v.Plugin.Crash), 3)], " | ")
	}
	return v.Plugin.LastError
}

func inboundProto(m outbox.InboxMessage) *palyrav1.InboundChannelMessage {
	in := m.Message
	return &palyrav1.InboundChannelMessage{
		ConnectorId: m.Instance, Seq: m.Seq, EnvelopeId: in.EnvelopeID, ConversationId: in.ConversationID,
		ThreadId: in.ThreadID, SenderId: in.SenderID, SenderDisplay: in.SenderDisplay, Text: in.Text,
		NativeId: in.NativeID, ReceivedUnixMs: unixMs(in.ReceivedAt), Direct: in.Direct,
	}
}

// channelsStatus maps the platform's and the outbox's errors to gRPC codes.
func channelsStatus(err error) error {
	if _, ok := status.FromError(err); ok {
		return err
	}
	var cfgErr *connectors.ConfigError
	switch {
	case errors.Is(err, platform.ErrNotFound):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, platform.ErrInvalid), errors.Is(err, platform.ErrUnknownKind), errors.As(err, &cfgErr):
		return status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, outbox.ErrExists):
		return status.Error(codes.AlreadyExists, err.Error())
	case errors.Is(err, outbox.ErrQueueFull):
		return status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, platform.ErrDisabled), errors.Is(err, platform.ErrAgentAttached), errors.Is(err, connectors.ErrUnsupported),
		errors.Is(err, connectors.ErrUnknownInstance):
		return status.Error(codes.FailedPrecondition, err.Error())
	}
	return statusOf(err)
}
