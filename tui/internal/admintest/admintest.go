// Package admintest serves palyrad's admin API from memory on a loopback port for TUI
// tests: real gRPC, bearer tokens checked, every request recorded, and watch streams the
// test feeds and ends.
package admintest

import (
	"context"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/palyra/palyra/internal/adminclient"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Tokens the server knows from the start.
const (
	AdminToken    = "pa_admin"    // every permission
	ReadOnlyToken = "pt_readonly" // observability.read only
)

// Server is the in-memory admin API.
type Server struct {
	Addr string

	mu        sync.Mutex
	tokens    map[string]*palyrav1.WhoAmIReply
	devices   []*palyrav1.Device
	details   map[string]*palyrav1.DeviceDetail
	approvals []*palyrav1.Approval
	requests  []proto.Message
	watches   map[string]int // watch calls started, by kind
	ends      []chan error   // one per live watch; a send ends it with that error

	mint      *palyrav1.MintCodeReply
	call      *palyrav1.CapabilityCall
	decideErr error

	invEvents chan *palyrav1.InventoryEvent
	apEvents  chan *palyrav1.ApprovalEvent
}

// Start serves on 127.0.0.1:0 until the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{
		tokens: map[string]*palyrav1.WhoAmIReply{
			AdminToken:    {Principal: "admin", Admin: true},
			ReadOnlyToken: {Principal: "grafana", Permissions: []string{"observability.read"}},
		},
		details:   map[string]*palyrav1.DeviceDetail{},
		watches:   map[string]int{},
		invEvents: make(chan *palyrav1.InventoryEvent, 16),
		apEvents:  make(chan *palyrav1.ApprovalEvent, 16),
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = lis.Addr().String()
	srv := grpc.NewServer(
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			if err := s.check(ctx, info.FullMethod); err != nil {
				return nil, err
			}
			s.record(req.(proto.Message))
			return next(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if err := s.check(ss.Context(), info.FullMethod); err != nil {
				return err
			}
			return next(srv, ss)
		}),
	)
	palyrav1.RegisterAccessServiceServer(srv, access{s: s})
	palyrav1.RegisterInventoryServiceServer(srv, inventory{s: s})
	palyrav1.RegisterPairingServiceServer(srv, pairing{s: s})
	palyrav1.RegisterNodesServiceServer(srv, nodes{s: s})
	palyrav1.RegisterApprovalsServiceServer(srv, approvals{s: s})
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return s
}

// Client dials the server with token, closed when the test ends.
func (s *Server) Client(t testing.TB, token string) *adminclient.Client {
	t.Helper()
	c, err := adminclient.Dial(s.Addr, token)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// SetDevices replaces the inventory; details come from GetDevice.
func (s *Server) SetDevices(devices []*palyrav1.Device, details ...*palyrav1.DeviceDetail) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.devices = devices
	for _, d := range details {
		s.details[d.GetDevice().GetId()] = d
	}
}

// SetApprovals replaces the approvals: the pending ones open every approvals watch and
// ListApprovals returns them all, newest first.
func (s *Server) SetApprovals(as ...*palyrav1.Approval) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.approvals = as
}

// SetMint sets what MintCode answers.
func (s *Server) SetMint(reply *palyrav1.MintCodeReply) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mint = reply
}

// SetCall sets what Invoke answers.
func (s *Server) SetCall(call *palyrav1.CapabilityCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.call = call
}

// SetDecideErr makes Decide fail with err (nil: succeed).
func (s *Server) SetDecideErr(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.decideErr = err
}

// PushInventory sends ev to the open inventory watch, or to the next one to open.
func (s *Server) PushInventory(ev *palyrav1.InventoryEvent) { s.invEvents <- ev }

// PushApproval sends ev to the open approvals watch, or to the next one to open.
func (s *Server) PushApproval(ev *palyrav1.ApprovalEvent) { s.apEvents <- ev }

// EndWatches ends every open watch as a restarting daemon would.
func (s *Server) EndWatches() {
	s.mu.Lock()
	ends := s.ends
	s.ends = nil
	s.mu.Unlock()
	for _, end := range ends {
		end <- status.Error(codes.Unavailable, "palyrad is shutting down")
	}
}

// Watches returns how many watches of kind ("inventory" or "approvals") have started.
func (s *Server) Watches(kind string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.watches[kind]
}

// Requests returns the recorded requests of unary calls, oldest first.
func (s *Server) Requests() []proto.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.requests)
}

func (s *Server) record(m proto.Message) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, who := m.(*palyrav1.WhoAmIRequest); !who {
		s.requests = append(s.requests, proto.Clone(m))
	}
}

// check authenticates a call and applies the permission palyrad requires for it.
func (s *Server) check(ctx context.Context, method string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	auth := md.Get("authorization")
	if len(auth) != 1 || !strings.HasPrefix(auth[0], "Bearer ") {
		return status.Error(codes.Unauthenticated, "no bearer token")
	}
	s.mu.Lock()
	who, ok := s.tokens[strings.TrimPrefix(auth[0], "Bearer ")]
	s.mu.Unlock()
	if !ok {
		return status.Error(codes.Unauthenticated, "unknown token")
	}
	need := "observability.read"
	switch {
	case strings.HasSuffix(method, "/WhoAmI"):
		return nil
	case strings.HasSuffix(method, "/Decide"):
		need = "approvals.decide"
	case strings.Contains(method, "NodesService"), strings.HasSuffix(method, "/MintCode"):
		need = "trust.operate"
	}
	if !who.GetAdmin() && !slices.Contains(who.GetPermissions(), need) {
		return status.Errorf(codes.PermissionDenied, "%s needs %s", method, need)
	}
	return nil
}

// watch registers a watch of kind and returns the channel that ends it.
func (s *Server) watch(kind string) chan error {
	end := make(chan error, 1)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.watches[kind]++
	s.ends = append(s.ends, end)
	return end
}

type access struct {
	s *Server
	palyrav1.UnimplementedAccessServiceServer
}

func (a access) WhoAmI(ctx context.Context, _ *palyrav1.WhoAmIRequest) (*palyrav1.WhoAmIReply, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	return a.s.tokens[strings.TrimPrefix(md.Get("authorization")[0], "Bearer ")], nil
}

type inventory struct {
	s *Server
	palyrav1.UnimplementedInventoryServiceServer
}

func (i inventory) GetDevice(_ context.Context, req *palyrav1.GetDeviceRequest) (*palyrav1.DeviceDetail, error) {
	i.s.mu.Lock()
	defer i.s.mu.Unlock()
	d, ok := i.s.details[req.GetId()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no device %s", req.GetId())
	}
	return d, nil
}

func (i inventory) WatchInventory(_ *palyrav1.WatchInventoryRequest, stream palyrav1.InventoryService_WatchInventoryServer) error {
	end := i.s.watch("inventory")
	i.s.mu.Lock()
	first := &palyrav1.InventoryEvent{Kind: "snapshot", Devices: i.s.devices, Summary: summary(i.s.devices)}
	i.s.mu.Unlock()
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case err := <-end:
			return err
		case ev := <-i.s.invEvents:
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}

func summary(devices []*palyrav1.Device) *palyrav1.InventorySummary {
	sum := &palyrav1.InventorySummary{Devices: uint32(len(devices))}
	for _, d := range devices {
		if d.GetTrust() == "trusted" {
			sum.Trusted++
		}
		switch d.GetPresence() {
		case "online":
			sum.Online++
		case "degraded":
			sum.Degraded++
		case "stale":
			sum.Stale++
		case "offline":
			sum.Offline++
		}
		if d.GetTrust() == "revoked" {
			sum.Revoked++
		}
	}
	return sum
}

type pairing struct {
	s *Server
	palyrav1.UnimplementedPairingServiceServer
}

func (p pairing) MintCode(context.Context, *palyrav1.MintCodeRequest) (*palyrav1.MintCodeReply, error) {
	p.s.mu.Lock()
	defer p.s.mu.Unlock()
	return p.s.mint, nil
}

type nodes struct {
	s *Server
	palyrav1.UnimplementedNodesServiceServer
}

func (n nodes) Invoke(context.Context, *palyrav1.InvokeRequest) (*palyrav1.CapabilityCall, error) {
	n.s.mu.Lock()
	defer n.s.mu.Unlock()
	return n.s.call, nil
}

func (n nodes) device(id string) (*palyrav1.Device, error) {
	n.s.mu.Lock()
	defer n.s.mu.Unlock()
	for _, d := range n.s.devices {
		if d.GetId() == id {
			return proto.Clone(d).(*palyrav1.Device), nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "no device %s", id)
}

func (n nodes) SetCapabilityAvailability(_ context.Context, req *palyrav1.SetCapabilityAvailabilityRequest) (*palyrav1.Device, error) {
	d, err := n.device(req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	for _, c := range d.Capabilities {
		if c.Name == req.GetCapability() {
			c.Available = req.GetAvailable()
		}
	}
	return d, nil
}

func (n nodes) Revoke(_ context.Context, req *palyrav1.RevokeRequest) (*palyrav1.Device, error) {
	d, err := n.device(req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	d.Trust, d.Presence, d.RevokedReason = "revoked", "offline", req.GetReason()
	return d, nil
}

func (n nodes) Remove(_ context.Context, req *palyrav1.RemoveRequest) (*palyrav1.Device, error) {
	d, err := n.device(req.GetDeviceId())
	if err != nil {
		return nil, err
	}
	d.Trust = "removed"
	return d, nil
}

type approvals struct {
	s *Server
	palyrav1.UnimplementedApprovalsServiceServer
}

func (a approvals) ListApprovals(_ context.Context, req *palyrav1.ListApprovalsRequest) (*palyrav1.ListApprovalsReply, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	var match []*palyrav1.Approval
	for _, ap := range slices.Backward(a.s.approvals) {
		if req.GetState() == "" || ap.GetState() == req.GetState() {
			match = append(match, ap)
		}
	}
	// The token is the offset of the page's first approval, as opaque to clients as palyrad's.
	from, _ := strconv.Atoi(req.GetPageToken())
	to := len(match)
	if size := int(req.GetPageSize()); size > 0 && from+size < to {
		to = from + size
	}
	reply := &palyrav1.ListApprovalsReply{Approvals: match[min(from, len(match)):to]}
	if to < len(match) {
		reply.NextPageToken = strconv.Itoa(to)
	}
	return reply, nil
}

func (a approvals) Decide(_ context.Context, req *palyrav1.DecideRequest) (*palyrav1.Approval, error) {
	a.s.mu.Lock()
	defer a.s.mu.Unlock()
	if a.s.decideErr != nil {
		return nil, a.s.decideErr
	}
	state := "denied"
	if req.GetApprove() {
		state = "approved"
	}
	return &palyrav1.Approval{Id: req.GetId(), State: state, Scope: req.GetScope(), GrantMs: req.GetGrantMs(),
		Reason: req.GetReason(), Decider: "admin"}, nil
}

func (a approvals) WatchApprovals(_ *palyrav1.WatchApprovalsRequest, stream palyrav1.ApprovalsService_WatchApprovalsServer) error {
	end := a.s.watch("approvals")
	a.s.mu.Lock()
	var pending []*palyrav1.Approval
	for _, ap := range a.s.approvals {
		if ap.GetState() == "pending" {
			pending = append(pending, ap)
		}
	}
	a.s.mu.Unlock()
	for _, ap := range pending {
		if err := stream.Send(&palyrav1.ApprovalEvent{Kind: "pending", Approval: ap}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case err := <-end:
			return err
		case ev := <-a.s.apEvents:
			if err := stream.Send(ev); err != nil {
				return err
			}
		}
	}
}
