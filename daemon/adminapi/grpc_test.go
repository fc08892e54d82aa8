package adminapi

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	reflectionpb "google.golang.org/grpc/reflection/grpc_reflection_v1"
)

func insecureCreds() credentials.TransportCredentials { return insecure.NewCredentials() }

// reflectionErr lists services through reflection and returns what went wrong, if anything.
func reflectionErr(ctx context.Context, conn *grpc.ClientConn) error {
	stream, err := reflectionpb.NewServerReflectionClient(conn).ServerReflectionInfo(ctx)
	if err != nil {
		return err
	}
	defer stream.CloseSend()
	// A refused stream may end before the request is sent (Send then says io.EOF); Recv
	// returns the status either way.
	stream.Send(&reflectionpb.ServerReflectionRequest{
		MessageRequest: &reflectionpb.ServerReflectionRequest_ListServices{},
	})
	_, err = stream.Recv()
	return err
}
