package host

import (
	"context"
	"errors"

	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/identity"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Check reports whether the gateway accepts id: nil when it welcomes a hello, an error
// wrapping ErrRefused when it refuses, another error when it cannot be reached.
func Check(ctx context.Context, id *identity.Identity, caps []capabilities.Capability) error {
	conn, err := dial(id.Gateway, mutual(id))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	stream, err := palyrav1.NewNodeServiceClient(conn).Connect(ctx)
	if err == nil {
		if err = stream.Send(hello(id.DeviceID, caps)); err != nil {
			_, err = stream.Recv() // a failed send says only that the stream ended
		}
	}
	var first *palyrav1.GatewayMessage
	if err == nil {
		first, err = stream.Recv()
	}
	if err != nil {
		if err := classify(err); errors.Is(err, ErrRefused) {
			return err
		}
		return rpcError("connect", id.Gateway, err)
	}
	if first.GetWelcome() == nil {
		return errors.New("the gateway did not answer the hello with a welcome")
	}
	return nil
}

// Unpair asks the gateway to revoke id itself. A gateway that already refuses the node gives
// an error wrapping ErrRefused.
func Unpair(ctx context.Context, id *identity.Identity) error {
	conn, err := dial(id.Gateway, mutual(id))
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	_, err = palyrav1.NewNodeServiceClient(conn).Unpair(ctx, &palyrav1.UnpairRequest{Reason: "unpaired on the node"})
	if err := classify(err); errors.Is(err, ErrRefused) {
		return err
	}
	if err != nil {
		return rpcError("unpair", id.Gateway, err)
	}
	return nil
}
