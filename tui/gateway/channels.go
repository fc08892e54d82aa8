package gateway

import (
	"context"

	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// ChannelsOperate is the permission to change, send through and drain connectors.
const ChannelsOperate = "channels.operate"

// Channels is what the TUI asks of palyrad's channel connectors.
type Channels interface {
	// WatchConnectors streams the whole list, again whenever it changes, until ctx ends.
	WatchConnectors(ctx context.Context) (ConnectorWatch, error)
	Kinds(ctx context.Context) ([]*palyrav1.ConnectorKind, error)
	// Events and DeadLetters return a connector's newest n, newest first.
	Events(ctx context.Context, id string, n int) ([]*palyrav1.ConnectorEventLine, error)
	DeadLetters(ctx context.Context, id string, n int) ([]*palyrav1.DeadLetter, error)
	Add(ctx context.Context, id string, config map[string]string) (*palyrav1.Connector, error)
	Remove(ctx context.Context, id string) error
	// Control runs enable, disable, pause, resume, drain or restart.
	Control(ctx context.Context, id, action string) (*palyrav1.Connector, error)
	Send(ctx context.Context, id, conversation, text string) ([]*palyrav1.QueuedMessage, error)
	Replay(ctx context.Context, id string, seq uint64) (*palyrav1.Connector, error)
	Discard(ctx context.Context, id string, seq uint64) (*palyrav1.Connector, error)
	SetSecret(ctx context.Context, name string, value []byte) (*palyrav1.Secret, error)
	// Plugins lists the built-in kinds and the plugin executables palyrad found.
	Plugins(ctx context.Context) ([]*palyrav1.PluginFile, error)
}

// ConnectorWatch is an open WatchConnectors stream.
type ConnectorWatch interface {
	Recv() (*palyrav1.ListConnectorsReply, error)
}

// NewChannels is Channels over an admin client.
func NewChannels(c *adminclient.Client) Channels { return grpcChannels{c} }

type grpcChannels struct{ c *adminclient.Client }

func (g grpcChannels) WatchConnectors(ctx context.Context) (ConnectorWatch, error) {
	return g.c.Channels.WatchConnectors(ctx, &palyrav1.WatchConnectorsRequest{})
}

func (g grpcChannels) Kinds(ctx context.Context) ([]*palyrav1.ConnectorKind, error) {
	r, err := g.c.Channels.ListKinds(ctx, &palyrav1.ListKindsRequest{})
	return r.GetKinds(), err
}

func (g grpcChannels) Events(ctx context.Context, id string, n int) ([]*palyrav1.ConnectorEventLine, error) {
	r, err := g.c.Channels.ListConnectorEvents(ctx, &palyrav1.ListConnectorEventsRequest{Id: id, PageSize: uint32(n)})
	return r.GetEvents(), err
}

func (g grpcChannels) DeadLetters(ctx context.Context, id string, n int) ([]*palyrav1.DeadLetter, error) {
	r, err := g.c.Channels.ListDeadLetters(ctx, &palyrav1.ListDeadLettersRequest{Id: id, PageSize: uint32(n)})
	return r.GetDeadLetters(), err
}

func (g grpcChannels) Add(ctx context.Context, id string, config map[string]string) (*palyrav1.Connector, error) {
	return g.c.Channels.AddConnector(ctx, &palyrav1.AddConnectorRequest{Id: id, Config: config})
}

func (g grpcChannels) Remove(ctx context.Context, id string) error {
	_, err := g.c.Channels.RemoveConnector(ctx, &palyrav1.RemoveConnectorRequest{Id: id})
	return err
}

func (g grpcChannels) Control(ctx context.Context, id, action string) (*palyrav1.Connector, error) {
	return g.c.Channels.ControlConnector(ctx, &palyrav1.ControlConnectorRequest{Id: id, Action: action})
}

func (g grpcChannels) Send(ctx context.Context, id, conversation, text string) ([]*palyrav1.QueuedMessage, error) {
	r, err := g.c.Channels.Send(ctx, &palyrav1.ChannelSendRequest{Id: id, ConversationId: conversation, Text: text})
	return r.GetMessages(), err
}

func (g grpcChannels) Replay(ctx context.Context, id string, seq uint64) (*palyrav1.Connector, error) {
	return g.c.Channels.ReplayDeadLetter(ctx, &palyrav1.DeadLetterRequest{Id: id, Seq: seq})
}

func (g grpcChannels) Discard(ctx context.Context, id string, seq uint64) (*palyrav1.Connector, error) {
	return g.c.Channels.DiscardDeadLetter(ctx, &palyrav1.DeadLetterRequest{Id: id, Seq: seq})
}

func (g grpcChannels) SetSecret(ctx context.Context, name string, value []byte) (*palyrav1.Secret, error) {
	return g.c.Secrets.SetSecret(ctx, &palyrav1.SetSecretRequest{Name: name, Value: value})
}

func (g grpcChannels) Plugins(ctx context.Context) ([]*palyrav1.PluginFile, error) {
	r, err := g.c.Channels.ListPlugins(ctx, &palyrav1.ListPluginsRequest{})
	return r.GetPlugins(), err
}
