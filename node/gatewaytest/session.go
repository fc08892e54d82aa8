package gatewaytest

import (
	"crypto/x509"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Session is one welcomed Connect stream.
type Session struct {
	DeviceID string
	Hello    *palyrav1.NodeHello
	Cert     *x509.Certificate // the client certificate the node connected with

	// Heartbeats keeps the latest few heartbeats (older ones are dropped when nobody reads).
	Heartbeats chan *palyrav1.NodeHeartbeat
	Progress   chan *palyrav1.CallProgress
	Results    chan *palyrav1.CallResult
	// Done is closed when the stream has ended.
	Done chan struct{}

	calls chan *palyrav1.CapabilityInvocation
	endc  chan error
	once  sync.Once
}

// Invoke pushes a call to the node.
func (s *Session) Invoke(t testing.TB, call *palyrav1.CapabilityInvocation) {
	t.Helper()
	select {
	case s.calls <- call:
	case <-s.Done:
		t.Fatal("invoke on a session that ended")
	case <-time.After(Deadline):
		t.Fatal("invoke not taken")
	}
}

// Drop ends the stream as a failing gateway would, with UNAVAILABLE.
func (s *Session) Drop() { s.end(status.Error(codes.Unavailable, "gateway dropped the stream")) }

func (s *Session) end(err error) {
	s.once.Do(func() { s.endc <- err })
}

// Result waits for the next call result.
func (s *Session) Result(t testing.TB) *palyrav1.CallResult {
	t.Helper()
	select {
	case r := <-s.Results:
		return r
	case <-time.After(Deadline):
		t.Fatal("no call result")
		return nil
	}
}

// Connect welcomes a certified node and then relays calls down and messages up.
func (g *Gateway) Connect(stream palyrav1.NodeService_ConnectServer) error {
	cert, err := g.certified(stream.Context())
	if err != nil {
		return err
	}
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	hello := first.GetHello()
	if hello == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a hello")
	}
	if hello.GetDeviceId() != cert.Subject.CommonName {
		return status.Error(codes.PermissionDenied, "hello names another device than the certificate")
	}
	err = stream.Send(&palyrav1.GatewayMessage{Msg: &palyrav1.GatewayMessage_Welcome{Welcome: &palyrav1.GatewayWelcome{
		DeviceId: hello.GetDeviceId(), HeartbeatIntervalMs: g.opts.HeartbeatInterval.Milliseconds(),
		CertExpiresUnixMs: cert.NotAfter.UnixMilli(),
	}}})
	if err != nil {
		return err
	}
	s := &Session{
		DeviceID: hello.GetDeviceId(), Hello: hello, Cert: cert,
		Heartbeats: make(chan *palyrav1.NodeHeartbeat, 4), Progress: make(chan *palyrav1.CallProgress, 64),
		Results: make(chan *palyrav1.CallResult, 64), Done: make(chan struct{}),
		calls: make(chan *palyrav1.CapabilityInvocation), endc: make(chan error, 1),
	}
	g.mu.Lock()
	g.live[s.DeviceID] = s
	g.mu.Unlock()
	defer func() {
		g.mu.Lock()
		if g.live[s.DeviceID] == s {
			delete(g.live, s.DeviceID)
		}
		g.mu.Unlock()
		close(s.Done)
	}()
	g.Sessions <- s

	ctx := stream.Context()
	received := make(chan error, 1)
	go func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				received <- err
				return
			}
			switch {
			case m.GetHeartbeat() != nil:
				select {
				case s.Heartbeats <- m.GetHeartbeat():
				default:
				}
			case m.GetProgress() != nil:
				select {
				case s.Progress <- m.GetProgress():
				case <-ctx.Done():
					return
				}
			case m.GetResult() != nil:
				select {
				case s.Results <- m.GetResult():
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	for {
		select {
		case call := <-s.calls:
			if err := stream.Send(&palyrav1.GatewayMessage{Msg: &palyrav1.GatewayMessage_Call{Call: call}}); err != nil {
				return err
			}
		case err := <-s.endc:
			return err
		case <-received:
			return nil
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		}
	}
}
