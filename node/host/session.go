package host

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/palyra/palyra/internal/textsafe"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// errRenewed ends a session so the node reconnects with its new certificate.
var errRenewed = errors.New("certificate renewed")

// defaultHeartbeat applies when the gateway names no heartbeat interval.
const defaultHeartbeat = 5 * time.Second

// sender serializes sends on a stream, which allows one sender at a time.
type sender struct {
	mu     sync.Mutex
	stream palyrav1.NodeService_ConnectClient
}

func (s *sender) send(m *palyrav1.NodeMessage) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stream.Send(m)
}

// session runs one Connect session until it fails, the certificate is renewed or ctx ends.
// It returns how long the gateway had welcomed the node.
func (r *runner) session(ctx context.Context) (time.Duration, error) {
	conn, err := dial(r.id.Gateway, mutual(r.id))
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	client := palyrav1.NewNodeServiceClient(conn)

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stream, err := client.Connect(ctx)
	if err != nil {
		return 0, classify(err)
	}
	out := &sender{stream: stream}
	if err := out.send(hello(r.id.DeviceID, r.cfg.Capabilities.List())); err != nil {
		// A failed send says only that the stream ended; Recv has the reason.
		_, err = stream.Recv()
		return 0, classify(err)
	}
	first, err := stream.Recv()
	if err != nil {
		return 0, classify(err)
	}
	welcome := first.GetWelcome()
	if welcome == nil {
		return 0, errors.New("the gateway did not answer the hello with a welcome")
	}
	interval := time.Duration(welcome.GetHeartbeatIntervalMs()) * time.Millisecond
	if interval <= 0 {
		interval = defaultHeartbeat
	}
	interval = max(interval, 10*time.Millisecond)
	welcomed := time.Now()
	r.log.Info("connected to the gateway", "gateway", r.id.Gateway, "device_id", r.id.DeviceID,
		"heartbeat_interval", interval.String(), "cert_expires", r.id.Cert.NotAfter)
	if r.cfg.OnConnected != nil {
		r.cfg.OnConnected()
	}

	var wg sync.WaitGroup
	ended := make(chan error, 2)
	wg.Go(func() { heartbeat(ctx, out, interval) })
	wg.Go(func() { ended <- r.receive(ctx, stream, out, &wg) })
	wg.Go(func() { ended <- r.renewWhenDue(ctx, client) })
	err = <-ended
	cancel()
	wg.Wait()
	return time.Since(welcomed), classify(err)
}

// heartbeat sends a heartbeat every interval until ctx ends or the stream fails.
func heartbeat(ctx context.Context, out *sender, interval time.Duration) {
	ticker := time.NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-ticker.C:
			msg := &palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Heartbeat{Heartbeat: &palyrav1.NodeHeartbeat{UnixMs: now.UnixMilli()}}}
			if out.send(msg) != nil {
				return
			}
		}
	}
}

// receive starts a goroutine (in wg) for each call the gateway pushes, until the stream ends.
func (r *runner) receive(ctx context.Context, stream palyrav1.NodeService_ConnectClient, out *sender, wg *sync.WaitGroup) error {
	for {
		msg, err := stream.Recv()
		if err != nil {
			return err
		}
		call := msg.GetCall()
		if call == nil {
			continue
		}
		select {
		case r.slots <- struct{}{}:
			wg.Go(func() {
				defer func() { <-r.slots }()
				r.call(ctx, call, out)
			})
		default:
			r.log.Warn("call refused: node busy", "call_id", textsafe.Clean(call.GetCallId()), "capability", textsafe.Clean(call.GetCapability()))
			out.send(result(call.GetCallId(), false, nil, fmt.Sprintf("node busy: %d calls already running", cap(r.slots))))
		}
	}
}

// call runs one capability call and sends its result.
func (r *runner) call(ctx context.Context, call *palyrav1.CapabilityInvocation, out *sender) {
	if ms := call.GetDeadlineUnixMs(); ms > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithDeadline(ctx, time.UnixMilli(ms))
		defer cancel()
	}
	id := call.GetCallId()
	progress := func(state string) {
		out.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Progress{Progress: &palyrav1.CallProgress{CallId: id, State: state}}})
	}
	start := time.Now()
	res := r.cfg.Capabilities.Call(ctx, call.GetCapability(), call.GetInput(), int(call.GetMaxOutputBytes()), progress)
	if err := out.send(result(id, res.OK, res.Output, res.Error)); err != nil {
		r.log.Warn("call result not delivered: the session ended", "call_id", textsafe.Clean(id))
		return
	}
	r.log.Info("call answered", "call_id", textsafe.Clean(id), "capability", textsafe.Clean(call.GetCapability()),
		"ok", res.OK, "error", res.Error, "duration_ms", time.Since(start).Milliseconds())
}

func result(callID string, ok bool, output []byte, errText string) *palyrav1.NodeMessage {
	return &palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Result{Result: &palyrav1.CallResult{
		CallId: callID, Ok: ok, Output: output, Error: errText,
	}}}
}

// renewWhenDue renews the certificate once it is due and returns errRenewed, so the session
// ends and the node reconnects with the new one. A failed renewal is retried; a refusal ends
// the session. It returns nil when ctx ends.
func (r *runner) renewWhenDue(ctx context.Context, client palyrav1.NodeServiceClient) error {
	due := renewAt(r.id.Cert)
	if next := r.lastRenew.Add(renewRetry); due.Before(next) && !r.lastRenew.IsZero() {
		due = next // a gateway issuing certificates already due must not make us spin
	}
	for {
		timer := time.NewTimer(time.Until(due))
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case <-timer.C:
		}
		err := r.renew(ctx, client)
		if err == nil {
			return errRenewed
		}
		if err := classify(err); errors.Is(err, ErrRefused) {
			return err
		}
		if ctx.Err() != nil {
			return nil
		}
		r.log.Warn("certificate renewal failed; retrying", "err", err, "retry_in", renewRetry.String(), "cert_expires", r.id.Cert.NotAfter)
		due = time.Now().Add(renewRetry)
	}
}

// renew asks for a new certificate, checks it and saves it atomically.
func (r *runner) renew(ctx context.Context, client palyrav1.NodeServiceClient) error {
	r.lastRenew = time.Now()
	rctx, cancel := context.WithTimeout(ctx, rpcTimeout)
	defer cancel()
	reply, err := client.Renew(rctx, &palyrav1.RenewRequest{})
	if err != nil {
		return err
	}
	cert, err := checkIssued(reply.GetClientCert(), r.id.Key, r.id.CA)
	if err != nil {
		return err
	}
	renewed := *r.id
	renewed.Cert = cert
	renewed.CertExpires = cert.NotAfter
	if err := r.dir.SaveCertificate(cert.Raw, renewed.Meta); err != nil {
		return err
	}
	r.id = &renewed
	r.log.Info("certificate renewed", "cert_expires", cert.NotAfter)
	return nil
}
