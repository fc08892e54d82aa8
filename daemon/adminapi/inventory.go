package adminapi

import (
	"context"
	"fmt"
	"net/url"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/pairing"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// uriFingerprintLen is how much of the CA fingerprint a pairing URI carries: 128 bits, so
// the QR code stays small enough for an 80×24 terminal.
const uriFingerprintLen = 32

type inventoryServer struct {
	*API
	palyrav1.UnimplementedInventoryServiceServer
}

func (s inventoryServer) ListDevices(_ context.Context, req *palyrav1.ListDevicesRequest) (*palyrav1.ListDevicesReply, error) {
	reply, err := s.cfg.Nodes.ListDevices(req)
	return reply, statusOf(err)
}

func (s inventoryServer) GetDevice(_ context.Context, req *palyrav1.GetDeviceRequest) (*palyrav1.DeviceDetail, error) {
	d, err := s.cfg.Nodes.GetDevice(req.GetId())
	return d, statusOf(err)
}

func (s inventoryServer) WatchInventory(_ *palyrav1.WatchInventoryRequest, stream palyrav1.InventoryService_WatchInventoryServer) error {
	events, stop := s.cfg.Nodes.WatchInventory(watchBuffer)
	defer stop()
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return status.Error(codes.ResourceExhausted, "watcher fell behind; watch again")
			}
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

type pairingServer struct {
	*API
	palyrav1.UnimplementedPairingServiceServer
}

func (s pairingServer) MintCode(ctx context.Context, req *palyrav1.MintCodeRequest) (*palyrav1.MintCodeReply, error) {
	method := req.GetMethod()
	if method == "" {
		method = pairing.PIN
	}
	m, err := s.cfg.Pairing.Mint(method, time.Duration(req.GetTtlMs())*time.Millisecond)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	s.audit("pairing.code_minted", principalFrom(ctx).Actor(), m.ID, fmt.Sprintf("%s until %s", m.Method, m.ExpiresAt.UTC().Format(time.RFC3339)))
	uri := url.URL{Scheme: "palyra", Host: "pair", RawQuery: url.Values{
		"code": {m.Secret}, "addr": {s.cfg.NodeAddr}, "ca": {s.cfg.CAFingerprint[:uriFingerprintLen]},
	}.Encode()}
	return &palyrav1.MintCodeReply{
		CodeId: m.ID, Method: m.Method, Secret: m.Secret, ExpiresUnixMs: m.ExpiresAt.UnixMilli(),
		NodeAddr: s.cfg.NodeAddr, CaFingerprint: s.cfg.CAFingerprint, Uri: uri.String(),
	}, nil
}

func (s pairingServer) ListPairingRequests(_ context.Context, req *palyrav1.ListPairingRequestsRequest) (*palyrav1.ListPairingRequestsReply, error) {
	requests, err := s.cfg.Nodes.PairingRequests(req.GetState())
	if err != nil {
		return nil, statusOf(err)
	}
	return &palyrav1.ListPairingRequestsReply{Requests: requests}, nil
}

type nodesServer struct {
	*API
	palyrav1.UnimplementedNodesServiceServer
}

func (s nodesServer) Invoke(ctx context.Context, req *palyrav1.InvokeRequest) (*palyrav1.CapabilityCall, error) {
	call, err := s.cfg.Nodes.Invoke(ctx, req, principalFrom(ctx).Actor())
	return call, statusOf(err)
}

func (s nodesServer) SetCapabilityAvailability(ctx context.Context, req *palyrav1.SetCapabilityAvailabilityRequest) (*palyrav1.Device, error) {
	d, err := s.cfg.Nodes.SetCapabilityAvailability(req.GetDeviceId(), req.GetCapability(), req.GetAvailable(), principalFrom(ctx).Actor())
	return d, statusOf(err)
}

func (s nodesServer) Revoke(ctx context.Context, req *palyrav1.RevokeRequest) (*palyrav1.Device, error) {
	reason := req.GetReason()
	if reason == "" {
		reason = "revoked by operator"
	}
	d, err := s.cfg.Nodes.Revoke(req.GetDeviceId(), reason, principalFrom(ctx).Actor())
	return d, statusOf(err)
}

func (s nodesServer) Remove(ctx context.Context, req *palyrav1.RemoveRequest) (*palyrav1.Device, error) {
	d, err := s.cfg.Nodes.Remove(req.GetDeviceId(), principalFrom(ctx).Actor())
	return d, statusOf(err)
}
