// Package gatewaytest is a small NodeService for testing palyra-node: a real TLS listener on
// 127.0.0.1 with a gateway CA made by daemon/pki, pairing codes, pairing requests the test
// decides, and Connect sessions the test drives (calls in, heartbeats and results out, drops
// and revocations). It checks what the real gateway checks: the pairing proof and, on every
// certified call, the client certificate and the device's trust.
package gatewaytest

import (
	"context"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/internal/pairproof"
	"github.com/palyra/palyra/node/identity"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Deadline bounds every wait of a test on the gateway, generous for a loaded 2-core machine.
const Deadline = 10 * time.Second

// Options change how the gateway behaves.
type Options struct {
	// HeartbeatInterval is told to nodes in the welcome; default 5 s.
	HeartbeatInterval time.Duration
	// SentCA replaces the CA certificate BeginPairing sends: an impostor's.
	SentCA []byte
}

// Gateway is a running fake node API.
type Gateway struct {
	palyrav1.UnimplementedNodeServiceServer

	Addr string
	CA   *pki.CA

	// Requests receives each pairing request when CompletePairing makes it.
	Requests chan *Request
	// Sessions receives each Connect session once its node is welcomed.
	Sessions chan *Session
	// Renewed receives the device ID of each renewal, Unpaired of each self-revocation.
	Renewed  chan string
	Unpaired chan string

	opts Options
	tls  *tls.Config

	mu        sync.Mutex
	codes     map[string]bool
	pairings  map[string]pairing // by session ID
	requests  map[string]*Request
	revoked   map[string]string // device ID → reason
	live      map[string]*Session
	next      int
	completes int
	stop      func()
}

type pairing struct {
	code      string
	challenge []byte
}

// Start serves a gateway until the test ends.
func Start(t testing.TB, opts Options) *Gateway {
	t.Helper()
	now := time.Now()
	ca, err := pki.LoadOrCreateCA(t.TempDir(), now)
	if err != nil {
		t.Fatal(err)
	}
	serverCert, err := ca.ServerCertificate([]string{"palyrad-node", "localhost", "127.0.0.1"}, now)
	if err != nil {
		t.Fatal(err)
	}
	if opts.HeartbeatInterval == 0 {
		opts.HeartbeatInterval = 5 * time.Second
	}
	g := &Gateway{
		Addr: "127.0.0.1:0", CA: ca, opts: opts,
		Requests: make(chan *Request, 16), Sessions: make(chan *Session, 16),
		Renewed: make(chan string, 16), Unpaired: make(chan string, 16),
		codes: make(map[string]bool), pairings: make(map[string]pairing), requests: make(map[string]*Request),
		revoked: make(map[string]string), live: make(map[string]*Session),
		tls: &tls.Config{
			Certificates: []tls.Certificate{serverCert},
			ClientAuth:   tls.VerifyClientCertIfGiven,
			ClientCAs:    ca.Pool(),
			MinVersion:   tls.VersionTLS13,
		},
	}
	g.Restart(t)
	t.Cleanup(g.Stop)
	return g
}

// Stop stops serving, cutting every stream off, as a gateway that dies.
func (g *Gateway) Stop() {
	g.mu.Lock()
	stop := g.stop
	g.stop = nil
	g.mu.Unlock()
	if stop != nil {
		stop()
	}
}

// Restart serves again on the same address, with the same CA and state, after Stop.
func (g *Gateway) Restart(t testing.TB) {
	t.Helper()
	lis, err := net.Listen("tcp", g.Addr)
	if err != nil {
		t.Fatal(err)
	}
	g.Addr = lis.Addr().String()
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(g.tls)))
	palyrav1.RegisterNodeServiceServer(srv, g)
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(lis)
	}()
	g.mu.Lock()
	g.stop = func() {
		srv.Stop()
		<-served
	}
	g.mu.Unlock()
}

// CAFingerprint is the full fingerprint of the gateway CA.
func (g *Gateway) CAFingerprint() string { return pki.Fingerprint(g.CA.CertDER()) }

// Mint returns a new single-use pairing code.
func (g *Gateway) Mint() string {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.next++
	code := fmt.Sprintf("pq_test%06d", g.next)
	g.codes[code] = true
	return code
}

// Completes is how many CompletePairing calls arrived.
func (g *Gateway) Completes() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.completes
}

// Enroll pairs the node in dir without the pairing protocol: a certificate issued at issued
// (so a test can make one that is due for renewal) and the identity saved as Pair would.
func (g *Gateway) Enroll(t testing.TB, dir *identity.Dir, issued time.Time) *identity.Identity {
	t.Helper()
	key, err := dir.LoadOrCreateKey()
	if err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.next++
	deviceID := fmt.Sprintf("dev%d", g.next)
	g.mu.Unlock()
	der, err := g.CA.IssueClient(&key.PublicKey, deviceID, issued)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	meta := identity.Meta{DeviceID: deviceID, Name: "test node", Gateway: g.Addr, PairedAt: issued, CertExpires: cert.NotAfter}
	if err := dir.SavePairing(g.CA.CertDER(), der, meta); err != nil {
		t.Fatal(err)
	}
	id, err := dir.Load()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// Revoke marks a device revoked and ends its live session with PERMISSION_DENIED.
func (g *Gateway) Revoke(deviceID, reason string) {
	g.mu.Lock()
	g.revoked[deviceID] = reason
	s := g.live[deviceID]
	g.mu.Unlock()
	if s != nil {
		s.end(status.Errorf(codes.PermissionDenied, "device %s revoked: %s", deviceID, reason))
	}
}

// BeginPairing redeems a code.
func (g *Gateway) BeginPairing(_ context.Context, req *palyrav1.BeginPairingRequest) (*palyrav1.BeginPairingReply, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if !g.codes[req.GetCode()] {
		return nil, status.Error(codes.InvalidArgument, "invalid pairing code")
	}
	delete(g.codes, req.GetCode())
	g.next++
	session := fmt.Sprintf("sess%d", g.next)
	challenge := make([]byte, 32)
	rand.Read(challenge)
	g.pairings[session] = pairing{code: req.GetCode(), challenge: challenge}
	ca := g.CA.CertDER()
	if g.opts.SentCA != nil {
		ca = g.opts.SentCA
	}
	return &palyrav1.BeginPairingReply{SessionId: session, Challenge: challenge, CaCert: ca,
		ExpiresUnixMs: time.Now().Add(5 * time.Minute).UnixMilli()}, nil
}

// CompletePairing checks the proof against the gateway's own CA and makes a request.
func (g *Gateway) CompletePairing(_ context.Context, req *palyrav1.CompletePairingRequest) (*palyrav1.PairingStatus, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.completes++
	p, ok := g.pairings[req.GetSessionId()]
	if !ok {
		return nil, status.Error(codes.FailedPrecondition, "no such pairing session")
	}
	delete(g.pairings, req.GetSessionId())
	pub, err := pairproof.Verify(pairproof.Input{
		SessionID: req.GetSessionId(), Challenge: p.challenge, PublicKey: req.GetPublicKey(), Code: p.code,
		CACert: g.CA.CertDER(), Name: req.GetName(), Platform: req.GetPlatform(),
	}, req.GetSignature())
	if err != nil {
		return nil, status.Error(codes.PermissionDenied, err.Error())
	}
	g.next++
	r := &Request{
		ID: fmt.Sprintf("req%d", g.next), DeviceID: fmt.Sprintf("dev%d", g.next),
		Name: req.GetName(), Platform: req.GetPlatform(), NodeVersion: req.GetNodeVersion(), PublicKey: pub,
		g: g, decided: make(chan struct{}), status: &palyrav1.PairingStatus{State: "pending"},
	}
	r.status.RequestId, r.status.DeviceId = r.ID, r.DeviceID
	g.requests[r.ID] = r
	g.Requests <- r
	return r.snapshot(), nil
}

// AwaitPairing waits for the decision, at most wait_ms.
func (g *Gateway) AwaitPairing(ctx context.Context, req *palyrav1.AwaitPairingRequest) (*palyrav1.PairingStatus, error) {
	g.mu.Lock()
	r, ok := g.requests[req.GetRequestId()]
	g.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.NotFound, "no such pairing request")
	}
	wait := time.Duration(req.GetWaitMs()) * time.Millisecond
	if wait <= 0 {
		wait = time.Minute
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-r.decided:
	case <-timer.C:
	case <-ctx.Done():
		return nil, status.FromContextError(ctx.Err()).Err()
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return r.snapshot(), nil
}

// Renew issues a fresh certificate for the caller's key.
func (g *Gateway) Renew(ctx context.Context, _ *palyrav1.RenewRequest) (*palyrav1.RenewReply, error) {
	cert, err := g.certified(ctx)
	if err != nil {
		return nil, err
	}
	der, err := g.CA.IssueClient(cert.PublicKey, cert.Subject.CommonName, time.Now())
	if err != nil {
		return nil, status.Error(codes.Internal, err.Error())
	}
	issued, _ := x509.ParseCertificate(der)
	g.Renewed <- cert.Subject.CommonName
	return &palyrav1.RenewReply{ClientCert: der, CertExpiresUnixMs: issued.NotAfter.UnixMilli()}, nil
}

// Unpair revokes the caller.
func (g *Gateway) Unpair(ctx context.Context, req *palyrav1.UnpairRequest) (*palyrav1.UnpairReply, error) {
	cert, err := g.certified(ctx)
	if err != nil {
		return nil, err
	}
	g.Revoke(cert.Subject.CommonName, req.GetReason())
	g.Unpaired <- cert.Subject.CommonName
	return &palyrav1.UnpairReply{}, nil
}

// certified returns the caller's verified certificate, refusing none or a revoked device's.
func (g *Gateway) certified(ctx context.Context) (*x509.Certificate, error) {
	p, _ := peer.FromContext(ctx)
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 {
		return nil, status.Error(codes.Unauthenticated, "client certificate required")
	}
	cert := info.State.VerifiedChains[0][0]
	g.mu.Lock()
	reason, revoked := g.revoked[cert.Subject.CommonName]
	g.mu.Unlock()
	if revoked {
		return nil, status.Errorf(codes.PermissionDenied, "device %s revoked: %s", cert.Subject.CommonName, reason)
	}
	return cert, nil
}

// Request is a pairing request waiting for the test's decision.
type Request struct {
	ID, DeviceID, Name, Platform, NodeVersion string
	PublicKey                                 *ecdsa.PublicKey

	g       *Gateway
	once    sync.Once
	decided chan struct{}
	status  *palyrav1.PairingStatus // guarded by g.mu
}

// snapshot copies the status; g.mu must be held.
func (r *Request) snapshot() *palyrav1.PairingStatus {
	return &palyrav1.PairingStatus{
		RequestId: r.status.RequestId, DeviceId: r.status.DeviceId, State: r.status.State,
		Reason: r.status.Reason, ClientCert: r.status.ClientCert, CertExpiresUnixMs: r.status.CertExpiresUnixMs,
	}
}

// Approve issues the node's certificate.
func (r *Request) Approve() {
	der, err := r.g.CA.IssueClient(r.PublicKey, r.DeviceID, time.Now())
	if err != nil {
		panic(err)
	}
	cert, _ := x509.ParseCertificate(der)
	r.decide("approved", "", der, cert.NotAfter)
}

// Deny refuses the request with reason.
func (r *Request) Deny(reason string) { r.decide("denied", reason, nil, time.Time{}) }

// Expire lets the request run out.
func (r *Request) Expire() { r.decide("expired", "pairing request expired", nil, time.Time{}) }

func (r *Request) decide(state, reason string, cert []byte, expires time.Time) {
	r.once.Do(func() {
		r.g.mu.Lock()
		r.status.State, r.status.Reason, r.status.ClientCert = state, reason, cert
		if !expires.IsZero() {
			r.status.CertExpiresUnixMs = expires.UnixMilli()
		}
		r.g.mu.Unlock()
		close(r.decided)
	})
}
