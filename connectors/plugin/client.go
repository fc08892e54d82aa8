package plugin

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/connectors"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// ErrPluginGone is returned for a call made to, or cut off by, a plugin process that exited.
var ErrPluginGone = errors.New("connector plugin process is gone")

// Client is the host's side of one plugin process: a connectors.Provider whose calls go to
// the plugin. Once the process is gone every call fails with ErrPluginGone.
type Client struct {
	rpc  palyrav1.ConnectorPluginClient
	done <-chan struct{} // closed by go-plugin when the process exits
	// unbatched is set once the plugin answered SendBatch with Unimplemented; later batches
	// fail at once, without a call.
	unbatched atomic.Bool
}

var (
	_ connectors.Provider    = (*Client)(nil)
	_ connectors.BatchSender = (*Client)(nil)
)

func (c *Client) Describe(ctx context.Context) (connectors.Description, error) {
	w, err := c.rpc.Describe(ctx, &palyrav1.DescribeRequest{})
	if err != nil {
		return connectors.Description{}, c.fromStatus(ctx, err)
	}
	return descriptionFromWire(w), nil
}

func (c *Client) Validate(ctx context.Context, config map[string]string) error {
	reply, err := c.rpc.ValidateConfig(ctx, &palyrav1.ValidateConfigRequest{Config: config})
	if err != nil {
		return c.fromStatus(ctx, err)
	}
	if len(reply.GetErrors()) == 0 {
		return nil
	}
	ce := &connectors.ConfigError{}
	for _, f := range reply.GetErrors() {
		ce.Fields = append(ce.Fields, connectors.FieldError{Field: f.GetField(), Message: f.GetMessage()})
	}
	return ce
}

func (c *Client) Start(ctx context.Context, inst connectors.Instance) (connectors.Status, error) {
	w, err := c.rpc.StartInstance(ctx, &palyrav1.StartInstanceRequest{InstanceId: inst.ID, Config: inst.Config, Credentials: inst.Credentials})
	if err != nil {
		return connectors.Status{}, c.fromStatus(ctx, err)
	}
	return statusFromWire(w), nil
}

func (c *Client) Stop(ctx context.Context, id string) error {
	_, err := c.rpc.StopInstance(ctx, &palyrav1.StopInstanceRequest{InstanceId: id})
	return c.fromStatus(ctx, err)
}

// Events opens the plugin's event stream; the channel closes when the stream ends (ctx
// done, or the process gone).
func (c *Client) Events(ctx context.Context) (<-chan connectors.Event, error) {
	stream, err := c.rpc.Events(ctx, &palyrav1.EventsRequest{})
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	out := make(chan connectors.Event, 64)
	go func() {
		defer close(out)
		for {
			w, err := stream.Recv()
			if err != nil {
				return
			}
			e, ok := eventFromWire(w)
			if !ok {
				continue
			}
			select {
			case out <- e:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, nil
}

func (c *Client) Send(ctx context.Context, m connectors.Outgoing) (connectors.Outcome, error) {
	w, err := c.rpc.Send(ctx, outgoingToWire(m))
	if err != nil {
		return connectors.Outcome{}, c.fromStatus(ctx, err)
	}
	return outcomeFromWire(w), nil
}

// SendBatch sends msgs in one call. A plugin that does not implement it (it answers
// Unimplemented) is asked once: this and every later SendBatch fail with
// connectors.ErrUnsupported, and the caller sends each message with Send.
func (c *Client) SendBatch(ctx context.Context, msgs []connectors.Outgoing) ([]connectors.Outcome, error) {
	if c.unbatched.Load() {
		return nil, errUnbatched
	}
	req := &palyrav1.SendBatchRequest{Messages: make([]*palyrav1.SendRequest, len(msgs))}
	for i, m := range msgs {
		req.Messages[i] = outgoingToWire(m)
	}
	w, err := c.rpc.SendBatch(ctx, req)
	if err != nil {
		err = c.fromStatus(ctx, err)
		if errors.Is(err, connectors.ErrUnsupported) {
			c.unbatched.Store(true)
		}
		return nil, err
	}
	if len(w.GetOutcomes()) != len(msgs) {
		return nil, fmt.Errorf("the plugin answered %d outcomes for %d messages", len(w.GetOutcomes()), len(msgs))
	}
	outs := make([]connectors.Outcome, len(msgs))
	for i, o := range w.GetOutcomes() {
		outs[i] = outcomeFromWire(o)
	}
	return outs, nil
}

var errUnbatched = fmt.Errorf("%w: the plugin sends one message at a time", connectors.ErrUnsupported)

func (c *Client) Mutate(ctx context.Context, m connectors.Mutation) (connectors.MutationResult, error) {
	w, err := c.rpc.Mutate(ctx, mutationToWire(m))
	if err != nil {
		return connectors.MutationResult{}, c.fromStatus(ctx, err)
	}
	r := connectors.MutationResult{Done: w.GetDone(), Reason: w.GetReason()}
	if w.GetMessage() != nil {
		msg := messageFromWire(w.GetMessage())
		r.Message = &msg
	}
	return r, nil
}

func (c *Client) Read(ctx context.Context, r connectors.ReadRequest) ([]connectors.Message, error) {
	w, err := c.rpc.Read(ctx, readToWire(r))
	if err != nil {
		return nil, c.fromStatus(ctx, err)
	}
	msgs := make([]connectors.Message, 0, len(w.GetMessages()))
	for _, m := range w.GetMessages() {
		msgs = append(msgs, messageFromWire(m))
	}
	return msgs, nil
}

func (c *Client) Status(ctx context.Context, id string) (connectors.Status, error) {
	w, err := c.rpc.Status(ctx, &palyrav1.StatusRequest{InstanceId: id})
	if err != nil {
		return connectors.Status{}, c.fromStatus(ctx, err)
	}
	return statusFromWire(w), nil
}

// Done is closed when the plugin process has exited.
func (c *Client) Done() <-chan struct{} { return c.done }

// gone reports whether the plugin process has exited.
func (c *Client) gone() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// fromStatus maps a call's error back to the contract's errors.
// A call cut off because the process died fails with ErrPluginGone whatever code gRPC gave
// it (Canceled, Unavailable), unless the caller's own ctx ended first.
func (c *Client) fromStatus(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	st, _ := status.FromError(err)
	switch {
	case st.Code() == codes.Unimplemented:
		return wrap(connectors.ErrUnsupported, st.Message())
	case st.Code() == codes.NotFound:
		return wrap(connectors.ErrUnknownInstance, st.Message())
	case c.gone() || st.Code() == codes.Unavailable || st.Code() == codes.Canceled:
		return wrap(ErrPluginGone, st.Message())
	case st.Code() == codes.DeadlineExceeded:
		return context.DeadlineExceeded
	}
	return errors.New(st.Message())
}

// wrap makes msg recognisable as sentinel without saying the sentinel's words twice.
func wrap(sentinel error, msg string) error {
	rest, found := strings.CutPrefix(msg, sentinel.Error())
	if found {
		return fmt.Errorf("%w%s", sentinel, rest)
	}
	return fmt.Errorf("%w: %s", sentinel, msg)
}
