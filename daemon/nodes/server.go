package nodes

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// ServerName is the name in the node API's certificate that nodes check, whatever address
// they dial.
const ServerName = "palyrad-node"

// Node API limits.
const (
	maxRecvMsg = 2 << 20
	// A silent connection is pinged after keepaliveTime and dropped keepaliveTimeout later,
	// so a dead peer is noticed within about 35 s.
	keepaliveTime    = 20 * time.Second
	keepaliveTimeout = 15 * time.Second
	stopTimeout      = 5 * time.Second
)

// identity is the device a verified client certificate belongs to.
type identity struct {
	deviceID    string
	certFP      string
	certExpires time.Time
	peer        string
}

type identityKey struct{}

// Serve serves the node API on lis over TLS until ctx ends, then stops gracefully (ending
// every node session) and returns nil.
func (r *Runtime) Serve(ctx context.Context, lis net.Listener) error {
	cert, err := r.cfg.CA.ServerCertificate([]string{ServerName, "localhost", "127.0.0.1"}, r.now())
	if err != nil {
		return fmt.Errorf("node API certificate: %w", err)
	}
	creds := credentials.NewTLS(&tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{cert},
		// Pairing needs no certificate; every other RPC checks it in the interceptors.
		ClientAuth: tls.VerifyClientCertIfGiven,
		ClientCAs:  r.cfg.CA.Pool(),
	})
	stopping := make(chan struct{})
	srv := grpc.NewServer(
		grpc.Creds(creds),
		grpc.MaxRecvMsgSize(maxRecvMsg),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.UnaryInterceptor(r.unaryAuth),
		grpc.StreamInterceptor(r.streamAuth),
	)
	palyrav1.RegisterNodeServiceServer(srv, &nodeServer{r: r, stopping: stopping})

	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	r.log.Info("serving the node API", "addr", lis.Addr().String())
	select {
	case err := <-served:
		srv.Stop()
		return fmt.Errorf("serve node API on %s: %w", lis.Addr(), err)
	case <-ctx.Done():
	}

	close(stopping) // ends the node sessions and pairing waits, which would hold GracefulStop
	stopped := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(stopped)
	}()
	timer := time.NewTimer(stopTimeout)
	defer timer.Stop()
	select {
	case <-stopped:
	case <-timer.C:
		r.log.Warn("node API graceful stop timed out; cutting the remaining RPCs")
		srv.Stop()
		<-stopped
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return fmt.Errorf("serve node API on %s: %w", lis.Addr(), err)
	}
	r.log.Info("node API stopped")
	return nil
}

// certBound says which RPCs need a client certificate: all but pairing.
var certBound = map[string]bool{
	palyrav1.NodeService_Renew_FullMethodName:   true,
	palyrav1.NodeService_Unpair_FullMethodName:  true,
	palyrav1.NodeService_Connect_FullMethodName: true,
}

func (r *Runtime) unaryAuth(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	if !certBound[info.FullMethod] {
		return handler(ctx, req)
	}
	id, err := r.identify(ctx)
	if err != nil {
		return nil, err
	}
	return handler(context.WithValue(ctx, identityKey{}, id), req)
}

func (r *Runtime) streamAuth(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	if !certBound[info.FullMethod] {
		return handler(srv, ss)
	}
	id, err := r.identify(ss.Context())
	if err != nil {
		return err
	}
	return handler(srv, identifiedStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), identityKey{}, id)})
}

type identifiedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s identifiedStream) Context() context.Context { return s.ctx }

// identify maps the caller's verified certificate to a trusted device.
func (r *Runtime) identify(ctx context.Context) (identity, error) {
	p, _ := peer.FromContext(ctx)
	var info credentials.TLSInfo
	if p != nil {
		info, _ = p.AuthInfo.(credentials.TLSInfo)
	}
	if len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return identity{}, status.Error(codes.Unauthenticated, "a client certificate is needed: pair this node first")
	}
	leaf := info.State.VerifiedChains[0][0]
	fp := pki.Fingerprint(leaf.Raw)
	r.mu.RLock()
	d := r.byCert[fp]
	err := r.acceptsLocked(fp, r.now())
	r.mu.RUnlock()
	if err != nil {
		return identity{}, err
	}
	return identity{deviceID: d.id, certFP: fp, certExpires: leaf.NotAfter, peer: peerHost(ctx)}, nil
}

// acceptsLocked checks that certificate fp belongs to a trusted device and is its current
// certificate, or the previous one, before its expiry. The caller holds r.mu.
func (r *Runtime) acceptsLocked(fp string, now time.Time) error {
	d := r.byCert[fp]
	switch {
	case d == nil:
		return status.Error(codes.PermissionDenied, "certificate not recognised; pair this node again")
	case d.rec.Trust != TrustTrusted:
		return errDeviceRevoked
	case fp == d.rec.CertFingerprint && now.Before(d.rec.CertExpiresAt),
		fp == d.rec.PrevCertFingerprint && now.Before(d.rec.PrevCertExpiresAt):
		return nil
	}
	return status.Error(codes.PermissionDenied, "certificate superseded or expired; renew before expiry, or pair again")
}

func identityFrom(ctx context.Context) identity {
	id, _ := ctx.Value(identityKey{}).(identity)
	return id
}

// peerHost is the caller's address without the port.
func peerHost(ctx context.Context) string {
	p, ok := peer.FromContext(ctx)
	if !ok || p.Addr == nil {
		return "unknown"
	}
	host, _, err := net.SplitHostPort(p.Addr.String())
	if err != nil {
		return p.Addr.String()
	}
	return host
}

// nodeServer is the node API. stopping closes when Serve stops.
type nodeServer struct {
	palyrav1.UnimplementedNodeServiceServer
	r        *Runtime
	stopping <-chan struct{}
}

func (s *nodeServer) BeginPairing(ctx context.Context, req *palyrav1.BeginPairingRequest) (*palyrav1.BeginPairingReply, error) {
	return s.r.beginPairing(req.GetCode(), peerHost(ctx))
}

func (s *nodeServer) CompletePairing(_ context.Context, req *palyrav1.CompletePairingRequest) (*palyrav1.PairingStatus, error) {
	return s.r.completePairing(req)
}

func (s *nodeServer) AwaitPairing(ctx context.Context, req *palyrav1.AwaitPairingRequest) (*palyrav1.PairingStatus, error) {
	return s.r.awaitPairing(ctx, req.GetRequestId(), time.Duration(req.GetWaitMs())*time.Millisecond, s.stopping)
}

func (s *nodeServer) Renew(ctx context.Context, _ *palyrav1.RenewRequest) (*palyrav1.RenewReply, error) {
	return s.r.renew(identityFrom(ctx))
}

func (s *nodeServer) Unpair(ctx context.Context, req *palyrav1.UnpairRequest) (*palyrav1.UnpairReply, error) {
	id := identityFrom(ctx)
	reason := "unpaired by the node"
	if why := cut(textsafe.Clean(req.GetReason()), maxReason); why != "" {
		reason += ": " + why
	}
	if _, err := s.r.revoke(id.deviceID, reason, id.deviceID); err != nil {
		s.r.log.Error("unpair", "device", id.deviceID, "err", err)
		return nil, status.Error(codes.Internal, "could not unpair; see palyrad's log")
	}
	return &palyrav1.UnpairReply{}, nil
}

func (s *nodeServer) Connect(stream palyrav1.NodeService_ConnectServer) error {
	return s.r.connect(stream, identityFrom(stream.Context()), s.stopping)
}
