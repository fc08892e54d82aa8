package nodes

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/redact"
	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Limits of a node session.
const (
	// helloTimeout is how long a node has to say hello after it connects.
	helloTimeout = 10 * time.Second
	// outQueue is how many messages may wait to be sent to one node.
	outQueue = 256
	// maxCapabilities and maxCapabilityName bound what a hello may advertise.
	maxCapabilities   = 256
	maxCapabilityName = 128
	// maxErrorText bounds a failed call's error as the node tells it.
	maxErrorText = 1000
)

var errDeviceRevoked = status.Error(codes.PermissionDenied, "device revoked")

// conn is one live Connect stream of a device.
type conn struct {
	dev      *device
	ident    identity
	out      chan *palyrav1.GatewayMessage
	attached atomic.Bool // said hello and became the device's session

	done    chan struct{}
	endOnce sync.Once
	endErr  error // why the stream ends; read after done is closed

	mu       sync.Mutex
	closed   bool
	inflight map[string]*call
}

func newConn(d *device, ident identity) *conn {
	return &conn{
		dev: d, ident: ident, out: make(chan *palyrav1.GatewayMessage, outQueue),
		done: make(chan struct{}), inflight: map[string]*call{},
	}
}

// end ends the stream with err (nil: cleanly); the first reason wins.
func (c *conn) end(err error) {
	c.endOnce.Do(func() {
		c.endErr = err
		close(c.done)
	})
}

// dispatch queues msg, the invocation of cl, to be sent.
func (c *conn) dispatch(cl *call, msg *palyrav1.GatewayMessage) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errors.New("node disconnected")
	}
	c.inflight[cl.rec.ID] = cl
	c.mu.Unlock()
	select {
	case c.out <- msg:
		return nil
	default:
		c.forget(cl.rec.ID)
		return fmt.Errorf("the node is not taking calls: %d are waiting to be sent", outQueue)
	}
}

func (c *conn) forget(callID string) {
	c.mu.Lock()
	delete(c.inflight, callID)
	c.mu.Unlock()
}

// close marks c closed and returns the calls still in flight on it.
func (c *conn) close() []*call {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.closed = true
	calls := make([]*call, 0, len(c.inflight))
	for _, cl := range c.inflight {
		calls = append(calls, cl)
	}
	c.inflight = nil
	return calls
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closed
}

// connect serves one Connect stream. Messages from the node are read and handled on a
// goroutine of their own; this one sends, watches for silence and ends the stream when the
// device is revoked, replaced or palyrad stops. Only this goroutine sends: gRPC allows one
// sender, and no send may race with the handler's return. A node that stops reading blocks
// a send, and then its stream ends only with its connection (keepalive); whatever it sends
// meanwhile is refused once it is revoked, and no call is made on a revoked device.
func (r *Runtime) connect(stream palyrav1.NodeService_ConnectServer, ident identity, stopping <-chan struct{}) error {
	r.mu.RLock()
	d := r.devices[ident.deviceID]
	r.mu.RUnlock()
	if d == nil {
		return errDeviceRevoked
	}
	c := newConn(d, ident)
	defer r.detach(c)
	// The receiver ends when the stream does, which returning from here brings about.
	go r.receive(c, stream)

	ctx := stream.Context()
	hello := time.NewTimer(helloTimeout)
	defer hello.Stop()
	silence := time.NewTicker(r.cfg.HeartbeatInterval)
	defer silence.Stop()
	for {
		select {
		case <-c.done:
			return c.endErr
		case <-ctx.Done():
			return status.FromContextError(ctx.Err()).Err()
		case <-stopping:
			return status.Error(codes.Unavailable, "palyrad is shutting down; connect again")
		case msg := <-c.out:
			// Both this and done may be ready when the device was just revoked, and select
			// picks at random: nothing goes down to a device that is no longer trusted.
			if err := r.mayStillSend(c); err != nil {
				return err
			}
			if err := stream.Send(msg); err != nil {
				return err
			}
		case <-hello.C:
			if !c.attached.Load() {
				return status.Errorf(codes.InvalidArgument, "no hello within %v of connecting", helloTimeout)
			}
		case <-silence.C:
			r.checkSilence(c)
		}
	}
}

// receive reads the node's messages: a hello first, then heartbeats, progress and results.
func (r *Runtime) receive(c *conn, stream palyrav1.NodeService_ConnectServer) {
	for first := true; ; first = false {
		m, err := stream.Recv()
		switch {
		case errors.Is(err, io.EOF):
			c.end(nil)
			return
		case err != nil:
			c.end(err)
			return
		}
		if first {
			err = r.hello(c, m.GetHello())
		} else {
			err = r.handle(c, m)
		}
		if err != nil {
			c.end(err)
			return
		}
	}
}

// hello makes c the device's session, replacing any other, and queues the welcome.
func (r *Runtime) hello(c *conn, h *palyrav1.NodeHello) error {
	if h == nil {
		return status.Error(codes.InvalidArgument, "the first message must be a hello")
	}
	if h.GetDeviceId() != c.dev.id {
		r.log.Warn("hello for another device refused", "device", c.dev.id, "claimed", h.GetDeviceId(), "peer", c.ident.peer)
		return status.Errorf(codes.PermissionDenied, "this certificate belongs to device %s, not %q", c.dev.id, h.GetDeviceId())
	}
	caps, err := capabilities(h.GetCapabilities())
	if err != nil {
		return status.Error(codes.InvalidArgument, err.Error())
	}

	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	now := r.now()
	r.mu.RLock()
	err = r.acceptsLocked(c.ident.certFP, now)
	rec := c.dev.snapshot()
	r.mu.RUnlock()
	if err != nil {
		return err
	}
	if p := label(h.GetPlatform()); p != "" {
		rec.Platform = p
	}
	rec.NodeVersion, rec.Capabilities, rec.LastSeen, rec.Peer = label(h.GetNodeVersion()), caps, now, c.ident.peer
	if err := r.st.PutDevice(rec); err != nil {
		r.log.Error("store device on hello", "device", rec.ID, "err", err)
		return status.Error(codes.Internal, "could not record the node's hello; see palyrad's log")
	}

	r.mu.Lock()
	if c.isClosed() {
		r.mu.Unlock()
		return nil
	}
	// Queued before c is visible to Invoke, so it goes first.
	c.out <- &palyrav1.GatewayMessage{Msg: &palyrav1.GatewayMessage_Welcome{Welcome: &palyrav1.GatewayWelcome{
		DeviceId: rec.ID, HeartbeatIntervalMs: r.cfg.HeartbeatInterval.Milliseconds(),
		CertExpiresUnixMs: c.ident.certExpires.UnixMilli(),
	}}}
	old := c.dev.conn
	c.dev.set(rec)
	c.dev.conn, c.dev.stale = c, false
	c.dev.lastSeen.Store(now.UnixMilli())
	c.dev.savedSeen.Store(now.UnixMilli())
	c.attached.Store(true)
	r.publishLocked("changed", c.dev)
	r.mu.Unlock()
	if old != nil {
		old.end(status.Error(codes.Aborted, "replaced by a newer connection of this device"))
	}
	r.log.Info("node connected", "device", rec.ID, "peer", c.ident.peer, "capabilities", len(caps))
	return nil
}

// capabilities checks and copies what a hello advertises.
func capabilities(in []*palyrav1.NodeCapability) ([]store.Capability, error) {
	if len(in) > maxCapabilities {
		return nil, fmt.Errorf("a hello may advertise at most %d capabilities, not %d", maxCapabilities, len(in))
	}
	out := make([]store.Capability, 0, len(in))
	seen := map[string]bool{}
	for _, c := range in {
		name := c.GetName()
		switch {
		case name == "" || len(name) > maxCapabilityName || textsafe.Clean(name) != name:
			return nil, fmt.Errorf("capability name %q: want 1 to %d printable characters", name, maxCapabilityName)
		case seen[name]:
			return nil, fmt.Errorf("capability %q advertised twice", name)
		}
		seen[name] = true
		out = append(out, store.Capability{Name: name, Available: c.GetAvailable(), Mediated: c.GetMediated()})
	}
	return out, nil
}

// handle handles one message after the hello, checking the device's trust first. An error
// ends the stream.
func (r *Runtime) handle(c *conn, m *palyrav1.NodeMessage) error {
	now := r.now()
	r.mu.RLock()
	err := r.acceptsLocked(c.ident.certFP, now)
	stale := c.dev.stale && c.dev.conn == c
	r.mu.RUnlock()
	if err != nil {
		return err
	}
	c.dev.lastSeen.Store(now.UnixMilli())
	if stale {
		r.mu.Lock()
		if c.dev.stale && c.dev.conn == c {
			c.dev.stale = false
			r.publishLocked("changed", c.dev)
		}
		r.mu.Unlock()
	}

	switch msg := m.GetMsg().(type) {
	case *palyrav1.NodeMessage_Heartbeat:
		return nil
	case *palyrav1.NodeMessage_Progress:
		if msg.Progress.GetState() != store.CallAwaitingMediation {
			return status.Errorf(codes.InvalidArgument, "call progress state %q: want %q", msg.Progress.GetState(), store.CallAwaitingMediation)
		}
		cl, err := r.callOf(c, msg.Progress.GetCallId())
		if cl != nil {
			r.advanceCall(cl, store.CallAwaitingMediation)
		}
		return err
	case *palyrav1.NodeMessage_Result:
		cl, err := r.callOf(c, msg.Result.GetCallId())
		if cl != nil {
			r.complete(cl, msg.Result)
		}
		return err
	case *palyrav1.NodeMessage_Hello:
		return status.Error(codes.InvalidArgument, "hello sent twice")
	}
	return status.Error(codes.InvalidArgument, "empty message: want a heartbeat, progress or a result")
}

// callOf returns the call id of c's device that is not over. A call that finished lately
// (a result after its timeout) gives neither call nor error; a call the device was never
// given is a protocol violation.
func (r *Runtime) callOf(c *conn, id string) (*call, error) {
	r.callsMu.Lock()
	defer r.callsMu.Unlock()
	if cl := r.calls[id]; cl != nil && cl.rec.DeviceID == c.dev.id {
		return cl, nil
	}
	if r.finished.device[id] == c.dev.id {
		return nil, nil
	}
	r.log.Warn("node answered a call it was not given", "device", c.dev.id, "call", id)
	return nil, status.Errorf(codes.InvalidArgument, "no call %q is waiting for this device", id)
}

// complete ends cl with res, checking what the node sent.
func (r *Runtime) complete(cl *call, res *palyrav1.CallResult) {
	out := res.GetOutput()
	switch {
	case !res.GetOk():
		// Redacted: a node may quote the input, and the reason is kept with the call.
		reason := cut(redact.Line(textsafe.Clean(res.GetError())), maxErrorText)
		if reason == "" {
			reason = "the node reported a failure without a reason"
		}
		r.finishCall(cl, store.CallFailed, reason, nil)
	case len(out) > int(cl.maxOutput):
		r.finishCall(cl, store.CallFailed, fmt.Sprintf("output exceeds %d bytes", cl.maxOutput), nil)
	case !json.Valid(out):
		r.finishCall(cl, store.CallFailed, "output is not valid JSON", nil)
	default:
		r.finishCall(cl, store.CallSucceeded, "", out)
	}
}

// mayStillSend says whether c may still be sent to: its stream has not been ended and its
// certificate is still accepted.
func (r *Runtime) mayStillSend(c *conn) error {
	select {
	case <-c.done:
		return c.endErr
	default:
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.acceptsLocked(c.ident.certFP, r.now())
}

// checkSilence marks c's device stale once it has been silent for StaleAfter heartbeats.
func (r *Runtime) checkSilence(c *conn) {
	if !c.attached.Load() {
		return
	}
	silent := r.now().Sub(time.UnixMilli(c.dev.lastSeen.Load()))
	if silent < StaleAfter*r.cfg.HeartbeatInterval {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if c.dev.conn == c && !c.dev.stale {
		c.dev.stale = true
		r.publishLocked("changed", c.dev)
	}
}

// detach ends c's part in the runtime: its calls fail, and its device goes offline unless
// a newer session replaced it.
func (r *Runtime) detach(c *conn) {
	now := r.now()
	r.mu.Lock()
	// Closed under r.mu, as hello attaches under it: a hello racing the disconnect either
	// sees c closed or has attached it, and then c is detached here.
	calls := c.close()
	current := c.attached.Load() && c.dev.conn == c
	if current {
		c.dev.conn, c.dev.stale = nil, false
		c.dev.lastSeen.Store(now.UnixMilli())
		r.publishLocked("changed", c.dev)
	}
	r.mu.Unlock()
	if current {
		if err := r.st.TouchDevices(map[string]time.Time{c.dev.id: now}); err != nil {
			r.log.Error("save last-seen time", "device", c.dev.id, "err", err)
		} else {
			c.dev.savedSeen.Store(now.UnixMilli())
		}
		r.log.Info("node disconnected", "device", c.dev.id, "calls_failed", len(calls))
	}
	for _, cl := range calls {
		r.finishCall(cl, store.CallFailed, "node disconnected", nil)
	}
}
