package plugin

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/connectors"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// server is the plugin's side: each RPC calls the provider.
type server struct {
	palyrav1.UnimplementedConnectorPluginServer
	p connectors.Provider
}

func (s *server) Describe(ctx context.Context, _ *palyrav1.DescribeRequest) (*palyrav1.ConnectorDescription, error) {
	d, err := s.p.Describe(ctx)
	if err != nil {
		return nil, toStatus(err)
	}
	return descriptionToWire(d), nil
}

func (s *server) ValidateConfig(ctx context.Context, req *palyrav1.ValidateConfigRequest) (*palyrav1.ValidateConfigReply, error) {
	err := s.p.Validate(ctx, req.GetConfig())
	var ce *connectors.ConfigError
	switch {
	case err == nil:
		return &palyrav1.ValidateConfigReply{}, nil
	case errors.As(err, &ce):
		reply := &palyrav1.ValidateConfigReply{}
		for _, f := range ce.Fields {
			reply.Errors = append(reply.Errors, &palyrav1.FieldError{Field: f.Field, Message: f.Message})
		}
		return reply, nil
	default:
		return nil, toStatus(err)
	}
}

func (s *server) StartInstance(ctx context.Context, req *palyrav1.StartInstanceRequest) (*palyrav1.InstanceStatus, error) {
	st, err := s.p.Start(ctx, connectors.Instance{ID: req.GetInstanceId(), Config: req.GetConfig(), Credentials: req.GetCredentials()})
	if err != nil {
		return nil, toStatus(err)
	}
	return statusToWire(st), nil
}

func (s *server) StopInstance(ctx context.Context, req *palyrav1.StopInstanceRequest) (*palyrav1.StopInstanceReply, error) {
	if err := s.p.Stop(ctx, req.GetInstanceId()); err != nil {
		return nil, toStatus(err)
	}
	return &palyrav1.StopInstanceReply{}, nil
}

func (s *server) Events(_ *palyrav1.EventsRequest, stream palyrav1.ConnectorPlugin_EventsServer) error {
	events, err := s.p.Events(stream.Context())
	if err != nil {
		return toStatus(err)
	}
	for e := range events {
		if err := stream.Send(eventToWire(e)); err != nil {
			return err
		}
	}
	return nil
}

func (s *server) Send(ctx context.Context, req *palyrav1.SendRequest) (*palyrav1.SendReply, error) {
	o, err := s.p.Send(ctx, outgoingFromWire(req))
	if err != nil {
		return nil, toStatus(err)
	}
	return outcomeToWire(o), nil
}

// SendBatch is the provider's SendBatch, or Unimplemented for a provider that sends one
// message at a time: the host then uses Send.
func (s *server) SendBatch(ctx context.Context, req *palyrav1.SendBatchRequest) (*palyrav1.SendBatchReply, error) {
	bs, ok := s.p.(connectors.BatchSender)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this connector sends one message at a time")
	}
	if len(req.GetMessages()) > connectors.MaxBatch {
		return nil, status.Errorf(codes.InvalidArgument, "%d messages in one batch; at most %d", len(req.GetMessages()), connectors.MaxBatch)
	}
	msgs := make([]connectors.Outgoing, len(req.GetMessages()))
	for i, m := range req.GetMessages() {
		msgs[i] = outgoingFromWire(m)
	}
	outs, err := bs.SendBatch(ctx, msgs)
	if err != nil {
		return nil, toStatus(err)
	}
	if len(outs) != len(msgs) {
		return nil, status.Errorf(codes.Internal, "the connector answered %d outcomes for %d messages", len(outs), len(msgs))
	}
	reply := &palyrav1.SendBatchReply{Outcomes: make([]*palyrav1.SendReply, len(outs))}
	for i, o := range outs {
		reply.Outcomes[i] = outcomeToWire(o)
	}
	return reply, nil
}

func (s *server) Mutate(ctx context.Context, req *palyrav1.MutateRequest) (*palyrav1.MutateReply, error) {
	r, err := s.p.Mutate(ctx, mutationFromWire(req))
	if err != nil {
		return nil, toStatus(err)
	}
	reply := &palyrav1.MutateReply{Done: r.Done, Reason: r.Reason}
	if r.Message != nil {
		reply.Message = messageToWire(*r.Message)
	}
	return reply, nil
}

func (s *server) Read(ctx context.Context, req *palyrav1.ReadRequest) (*palyrav1.ReadReply, error) {
	msgs, err := s.p.Read(ctx, readFromWire(req))
	if err != nil {
		return nil, toStatus(err)
	}
	reply := &palyrav1.ReadReply{}
	for _, m := range msgs {
		reply.Messages = append(reply.Messages, messageToWire(m))
	}
	return reply, nil
}

func (s *server) Status(ctx context.Context, req *palyrav1.StatusRequest) (*palyrav1.InstanceStatus, error) {
	st, err := s.p.Status(ctx, req.GetInstanceId())
	if err != nil {
		return nil, toStatus(err)
	}
	return statusToWire(st), nil
}

// toStatus keeps the contract's sentinel errors recognisable on the host's side.
func toStatus(err error) error {
	switch {
	case errors.Is(err, connectors.ErrUnsupported):
		return status.Error(codes.Unimplemented, err.Error())
	case errors.Is(err, connectors.ErrUnknownInstance):
		return status.Error(codes.NotFound, err.Error())
	case errors.Is(err, context.Canceled):
		return status.Error(codes.Canceled, err.Error())
	case errors.Is(err, context.DeadlineExceeded):
		return status.Error(codes.DeadlineExceeded, err.Error())
	}
	return status.Error(codes.Unknown, err.Error())
}
