package nodes

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/pairing"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/pairproof"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// options change how a gateway starts.
type options struct {
	noRun       bool // leave Runtime.Run off, as if palyrad died before it saw a decision
	heartbeat   time.Duration
	approvalTTL time.Duration
	seed        []store.Device // stored before the runtime starts
}

// gateway is a palyrad cut down to the node runtime: a real store, CA, pairing, approvals
// and the node API on a loopback TLS listener.
type gateway struct {
	t         testing.TB
	dir       string
	opts      options
	st        *store.Store
	ca        *pki.CA
	pairing   *pairing.Pairing
	approvals *approvals.Engine
	rt        *Runtime
	addr      string
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

func startGateway(t testing.TB, opts options) *gateway {
	t.Helper()
	g := &gateway{t: t, dir: t.TempDir(), opts: opts}
	g.start()
	t.Cleanup(g.stop)
	return g
}

func (g *gateway) start() {
	t := g.t
	t.Helper()
	st, err := store.Open(filepath.Join(g.dir, store.FileName))
	if err != nil {
		t.Fatal(err)
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(g.dir, "pki"), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range g.opts.seed {
		if err := st.PutDevice(d); err != nil {
			t.Fatal(err)
		}
	}
	log := slog.New(slog.DiscardHandler)
	g.st, g.ca = st, ca
	g.pairing = pairing.New(st, log)
	g.approvals = approvals.New(st, log)
	g.rt, err = New(Config{Store: st, CA: ca, Pairing: g.pairing, Approvals: g.approvals, Logger: log,
		HeartbeatInterval: g.opts.heartbeat, ApprovalTTL: g.opts.approvalTTL})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr = lis.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	g.cancel = cancel
	g.wg.Go(func() { g.approvals.Run(ctx) })
	g.wg.Go(func() {
		if err := g.rt.Serve(ctx, lis); err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	if !g.opts.noRun {
		g.wg.Go(func() {
			if err := g.rt.Run(ctx); err != nil {
				t.Errorf("run: %v", err)
			}
		})
	}
}

// stop stops everything and closes the store; calling it twice is harmless.
func (g *gateway) stop() {
	if g.st == nil {
		return
	}
	g.cancel()
	g.wg.Wait()
	if err := g.st.Close(); err != nil {
		g.t.Errorf("close store: %v", err)
	}
	g.st = nil
}

// restart stops the gateway and starts it again on the same state directory.
func (g *gateway) restart(opts options) {
	g.t.Helper()
	g.stop()
	g.opts = opts
	g.start()
}

// client dials the node API as a node does, with cert if given.
func (g *gateway) client(cert *tls.Certificate) palyrav1.NodeServiceClient {
	g.t.Helper()
	cfg := &tls.Config{RootCAs: g.ca.Pool(), ServerName: ServerName, MinVersion: tls.VersionTLS13}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	cc, err := grpc.NewClient(g.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		g.t.Fatal(err)
	}
	g.t.Cleanup(func() { cc.Close() })
	return palyrav1.NewNodeServiceClient(cc)
}

// mint makes a pairing code as the operator would.
func (g *gateway) mint() string {
	g.t.Helper()
	m, err := g.pairing.Mint(pairing.PIN, 0)
	if err != nil {
		g.t.Fatal(err)
	}
	return m.Secret
}

// node is the node side of the tests: its own key, and its certificate once paired.
type node struct {
	name     string
	key      *ecdsa.PrivateKey
	pub      []byte
	deviceID string
	request  string
	approval string
	cert     []byte
}

func newNode(t testing.TB, name string) *node {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &node{name: name, key: key, pub: pub}
}

func (n *node) tlsCert() *tls.Certificate {
	return &tls.Certificate{Certificate: [][]byte{n.cert}, PrivateKey: n.key}
}

// request asks to pair n with code, signing the proof as palyra-node does, and returns the
// pending status.
func (g *gateway) request(c palyrav1.NodeServiceClient, n *node, code string) (*palyrav1.PairingStatus, error) {
	ctx := context.Background()
	begun, err := c.BeginPairing(ctx, &palyrav1.BeginPairingRequest{Code: code})
	if err != nil {
		return nil, err
	}
	if string(begun.GetCaCert()) != string(g.ca.CertDER()) {
		g.t.Fatalf("BeginPairing sent another CA certificate")
	}
	in := pairproof.Input{SessionID: begun.GetSessionId(), Challenge: begun.GetChallenge(), PublicKey: n.pub,
		Code: code, CACert: begun.GetCaCert(), Name: n.name, Platform: "linux/amd64"}
	sig, err := pairproof.Sign(n.key, in)
	if err != nil {
		g.t.Fatal(err)
	}
	st, err := c.CompletePairing(ctx, &palyrav1.CompletePairingRequest{SessionId: begun.GetSessionId(), Name: n.name,
		Platform: "linux/amd64", PublicKey: n.pub, Signature: sig, NodeVersion: "test"})
	if err != nil {
		return nil, err
	}
	n.deviceID, n.request, n.approval = st.GetDeviceId(), st.GetRequestId(), st.GetApprovalId()
	return st, nil
}

// pair pairs n all the way: code, request, the operator's approval, the certificate.
func (g *gateway) pair(c palyrav1.NodeServiceClient, n *node) {
	g.t.Helper()
	if _, err := g.request(c, n, g.mint()); err != nil {
		g.t.Fatalf("request pairing: %v", err)
	}
	g.decide(n, true)
	st := g.await(c, n)
	if st.GetState() != store.PairingApproved || len(st.GetClientCert()) == 0 {
		g.t.Fatalf("pairing %s: state %q reason %q, no certificate", n.request, st.GetState(), st.GetReason())
	}
	n.cert = st.GetClientCert()
}

func (g *gateway) decide(n *node, approve bool) {
	g.t.Helper()
	reason := ""
	if !approve {
		reason = "not ours"
	}
	if _, err := g.approvals.Decide(n.approval, approve, approvals.Once, 0, reason, "oncall"); err != nil {
		g.t.Fatalf("decide %s: %v", n.approval, err)
	}
}

func (g *gateway) await(c palyrav1.NodeServiceClient, n *node) *palyrav1.PairingStatus {
	g.t.Helper()
	st, err := c.AwaitPairing(context.Background(), &palyrav1.AwaitPairingRequest{RequestId: n.request, WaitMs: 10_000})
	if err != nil {
		g.t.Fatalf("await pairing: %v", err)
	}
	return st
}

// nodeSession is a node's Connect stream as the test drives it.
type nodeSession struct {
	stream  palyrav1.NodeService_ConnectClient
	cancel  context.CancelFunc
	welcome *palyrav1.GatewayWelcome
}

var echoCaps = []*palyrav1.NodeCapability{{Name: "echo", Available: true}, {Name: "desktop.open_url", Available: true, Mediated: true}}

// connect opens a session for deviceID and says hello; it fails the test unless welcomed.
func connect(t testing.TB, c palyrav1.NodeServiceClient, deviceID string) *nodeSession {
	t.Helper()
	s, err := tryConnect(c, deviceID)
	if err != nil {
		t.Fatalf("connect %s: %v", deviceID, err)
	}
	t.Cleanup(s.cancel)
	return s
}

func tryConnect(c palyrav1.NodeServiceClient, deviceID string) (*nodeSession, error) {
	ctx, cancel := context.WithCancel(context.Background())
	stream, err := c.Connect(ctx)
	if err != nil {
		cancel()
		return nil, err
	}
	s := &nodeSession{stream: stream, cancel: cancel}
	if err := s.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Hello{Hello: &palyrav1.NodeHello{
		DeviceId: deviceID, Platform: "linux/amd64", NodeVersion: "test", Capabilities: echoCaps}}}); err != nil {
		cancel()
		return nil, err
	}
	first, err := stream.Recv()
	if err != nil {
		cancel()
		return nil, err
	}
	if s.welcome = first.GetWelcome(); s.welcome == nil {
		cancel()
		return nil, errors.New("first message is not a welcome")
	}
	return s, nil
}

// send sends m. A failed Send says only that the stream ended (io.EOF); the status the
// gateway ended it with comes from Recv, as palyra-node reads it.
func (s *nodeSession) send(m *palyrav1.NodeMessage) error {
	if s.stream.Send(m) == nil {
		return nil
	}
	for {
		if _, err := s.stream.Recv(); err != nil {
			return err
		}
	}
}

func (s *nodeSession) nextCall(t testing.TB) *palyrav1.CapabilityInvocation {
	t.Helper()
	m, err := s.stream.Recv()
	if err != nil {
		t.Fatalf("receive call: %v", err)
	}
	if m.GetCall() == nil {
		t.Fatalf("got %v, want a call", m)
	}
	return m.GetCall()
}

func (s *nodeSession) result(t testing.TB, callID string, ok bool, output []byte, errText string) {
	t.Helper()
	if err := s.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Result{Result: &palyrav1.CallResult{
		CallId: callID, Ok: ok, Output: output, Error: errText}}}); err != nil {
		t.Fatalf("send result: %v", err)
	}
}

// ended waits for the stream to end and returns its status.
func (s *nodeSession) ended(t testing.TB) *status.Status {
	t.Helper()
	for {
		_, err := s.stream.Recv()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return status.New(codes.OK, "")
			}
			return status.Convert(err)
		}
	}
}

// invokeAsync runs Invoke in the background and returns where its answer arrives.
func invokeAsync(rt *Runtime, req *palyrav1.InvokeRequest) <-chan invoked {
	out := make(chan invoked, 1)
	go func() {
		call, err := rt.Invoke(context.Background(), req, "oncall")
		out <- invoked{call, err}
	}()
	return out
}

type invoked struct {
	call *palyrav1.CapabilityCall
	err  error
}

func wantCode(t testing.TB, err error, code codes.Code, contains string) {
	t.Helper()
	st := status.Convert(err)
	if st.Code() != code || !strings.Contains(st.Message(), contains) {
		t.Fatalf("got %v, want %v containing %q", err, code, contains)
	}
}

// auditKinds returns the kinds of the audit entries about subject, oldest first.
func (g *gateway) auditKinds(subject string) []string {
	g.t.Helper()
	page, err := g.st.Audit(0, 1000, 1<<20)
	if err != nil {
		g.t.Fatal(err)
	}
	entries := slices.Backward(page.Entries)
	var kinds []string
	for _, e := range entries {
		if e.Subject == subject {
			kinds = append(kinds, e.Kind)
		}
	}
	return kinds
}

// waitEvent reads events until one matches, failing after a generous deadline.
func waitEvent(t testing.TB, events <-chan *palyrav1.InventoryEvent, match func(*palyrav1.InventoryEvent) bool) *palyrav1.InventoryEvent {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatal("watch closed")
			}
			if match(ev) {
				return ev
			}
		case <-deadline:
			t.Fatal("no matching inventory event")
		}
	}
}

func deviceIn(ev *palyrav1.InventoryEvent, id, presence string) bool {
	for _, d := range ev.GetDevices() {
		if d.GetId() == id && (presence == "" || d.GetPresence() == presence) {
			return true
		}
	}
	return false
}
