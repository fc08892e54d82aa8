// Package plugin carries the connector contract over hashicorp/go-plugin: Serve runs a
// connectors.Provider as a plugin process, and the host's side of a started plugin is a
// *Client, itself a connectors.Provider. gRPC only, protocol version 1, AutoMTLS.
package plugin

import (
	"context"
	"math"

	goplugin "github.com/hashicorp/go-plugin"
	"google.golang.org/grpc"

	"github.com/palyra/palyra/connectors"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Handshake is what palyrad and a connector plugin must agree on before anything else. The
// cookie only keeps a plugin binary from being run by hand by mistake; it is no secret.
var Handshake = goplugin.HandshakeConfig{
	ProtocolVersion:  1,
	MagicCookieKey:   "PALYRA_CONNECTOR_PLUGIN",
	MagicCookieValue: "7c1f0e5a-connector",
}

// Name is the plugin's name in go-plugin's plugin set.
const Name = "connector"

// maxMessage bounds one gRPC message each way: the largest is a Send or an inbound
// message, 64 KiB of text, or a Read of up to 100 of them.
const maxMessage = 16 << 20

// Serve runs p as a connector plugin on this process's stdin/stdout handshake until the host
// goes away. Nothing else may write to stdout.
func Serve(p connectors.Provider) {
	goplugin.Serve(&goplugin.ServeConfig{
		HandshakeConfig: Handshake,
		Plugins:         goplugin.PluginSet{Name: &grpcPlugin{provider: p}},
		GRPCServer: func(opts []grpc.ServerOption) *grpc.Server {
			return grpc.NewServer(append(opts, grpc.MaxRecvMsgSize(maxMessage), grpc.MaxSendMsgSize(maxMessage))...)
		},
	})
}

// Plugins is the plugin set a host's go-plugin client is configured with.
func Plugins() goplugin.PluginSet {
	return goplugin.PluginSet{Name: &grpcPlugin{}}
}

// grpcPlugin is go-plugin's view of the contract: provider is set on the plugin's side.
type grpcPlugin struct {
	goplugin.NetRPCUnsupportedPlugin
	provider connectors.Provider
}

func (p *grpcPlugin) GRPCServer(_ *goplugin.GRPCBroker, s *grpc.Server) error {
	palyrav1.RegisterConnectorPluginServer(s, &server{p: p.provider})
	return nil
}

func (p *grpcPlugin) GRPCClient(ctx context.Context, _ *goplugin.GRPCBroker, conn *grpc.ClientConn) (any, error) {
	return &Client{rpc: palyrav1.NewConnectorPluginClient(conn), done: ctx.Done()}, nil
}

// DialOptions are the gRPC options a host dials its plugins with.
func DialOptions() []grpc.DialOption {
	return []grpc.DialOption{grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(math.MaxInt32))}
}
