package adminapi

import (
	"context"
	"errors"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/connectors/outbox"
	"github.com/palyra/palyra/connectors/platform"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func (s channelsServer) ListPlugins(context.Context, *palyrav1.ListPluginsRequest) (*palyrav1.ListPluginsReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	files, err := p.Plugins()
	if err != nil {
		return nil, channelsStatus(err)
	}
	reply := &palyrav1.ListPluginsReply{Dir: p.PluginDir()}
	for _, f := range files {
		reply.Plugins = append(reply.Plugins, pluginProto(f))
	}
	return reply, nil
}

func (s channelsServer) TrustPlugin(ctx context.Context, req *palyrav1.TrustPluginRequest) (*palyrav1.PluginFile, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	actor := principalFrom(ctx).Actor()
	f, err := p.Trust(ctx, req.GetKind(), req.GetSha256(), actor)
	if err != nil {
		return nil, pluginStatus(err)
	}
	s.audit("channels.plugin.trust", actor, f.Kind, f.Path+" sha256:"+f.SHA256)
	return pluginProto(f), nil
}

func (s channelsServer) UntrustPlugin(ctx context.Context, req *palyrav1.UntrustPluginRequest) (*palyrav1.UntrustPluginReply, error) {
	p, err := s.platform()
	if err != nil {
		return nil, err
	}
	if err := p.Untrust(ctx, req.GetKind()); err != nil {
		return nil, pluginStatus(err)
	}
	s.audit("channels.plugin.untrust", principalFrom(ctx).Actor(), req.GetKind(), "")
	return &palyrav1.UntrustPluginReply{}, nil
}

func pluginStatus(err error) error {
	switch {
	case errors.Is(err, platform.ErrInUse):
		return status.Error(codes.FailedPrecondition, err.Error())
	case errors.Is(err, outbox.ErrTooManyPins):
		return status.Error(codes.ResourceExhausted, err.Error())
	}
	return channelsStatus(err)
}

func pluginProto(f platform.PluginFile) *palyrav1.PluginFile {
	pf := &palyrav1.PluginFile{
		Kind: f.Kind, State: string(f.State), Path: f.Path, Sha256: f.SHA256, Problem: f.Problem,
		PinnedSha256: f.Pin.SHA256, PinnedBy: f.Pin.By,
	}
	if !f.Pin.PinnedAt.IsZero() {
		pf.PinnedUnixMs = f.Pin.PinnedAt.UnixMilli()
	}
	return pf
}
