package host

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/palyra/palyra/internal/buildinfo"
	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/gatewaytest"
	"github.com/palyra/palyra/node/identity"
	"github.com/palyra/palyra/node/mediation"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

var testBackoff = Backoff{Initial: 10 * time.Millisecond, Max: 50 * time.Millisecond, HealthyAfter: time.Minute}

// running is a node under Run in the background.
type running struct {
	done      chan error
	connected chan struct{}
}

func startRun(t *testing.T, ctx context.Context, dir *identity.Dir, m capabilities.Mediator, maxCalls int) *running {
	t.Helper()
	caps := capabilities.New(capabilities.Config{Mediator: m, Opener: []string{"true"}, ProcDir: "/proc", Started: time.Now(), Version: buildinfo.Version})
	r := &running{done: make(chan error, 1), connected: make(chan struct{}, 16)}
	go func() {
		r.done <- Run(ctx, dir, RunConfig{
			Capabilities: caps, Backoff: testBackoff, MaxCalls: maxCalls,
			OnConnected: func() { r.connected <- struct{}{} },
		})
	}()
	return r
}

func (r *running) wait(t *testing.T) error {
	t.Helper()
	select {
	case err := <-r.done:
		return err
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("Run did not return")
		return nil
	}
}

func nextSession(t *testing.T, gw *gatewaytest.Gateway) *gatewaytest.Session {
	t.Helper()
	select {
	case s := <-gw.Sessions:
		return s
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("the node did not connect")
		return nil
	}
}

func call(id, capability, input string, maxOutput uint32) *palyrav1.CapabilityInvocation {
	return &palyrav1.CapabilityInvocation{CallId: id, Capability: capability, Input: []byte(input), MaxOutputBytes: maxOutput,
		DeadlineUnixMs: time.Now().Add(gatewaytest.Deadline).UnixMilli()}
}

// stopped cancels a Run and checks it ended cleanly.
func stopped(t *testing.T, cancel context.CancelFunc, r *running) {
	t.Helper()
	cancel()
	if err := r.wait(t); err != nil {
		t.Fatalf("Run after cancel = %v, want nil", err)
	}
}

func TestRunSaysHelloHeartbeatsAndAnswersCalls(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{HeartbeatInterval: 20 * time.Millisecond})
	dir := newDir(t)
	id := gw.Enroll(t, dir, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, dir, mediation.Deny, 0)
	s := nextSession(t, gw)
	<-r.connected

	h := s.Hello
	if h.GetDeviceId() != id.DeviceID || h.GetPlatform() != Platform() || h.GetNodeVersion() != buildinfo.Version {
		t.Errorf("hello %v", h)
	}
	var names []string
	for _, c := range h.GetCapabilities() {
		names = append(names, c.GetName())
		if c.GetMediated() != (c.GetName() == capabilities.OpenURL) {
			t.Errorf("capability %s mediated=%v", c.GetName(), c.GetMediated())
		}
	}
	if strings.Join(names, ",") != "echo,system.health,system.info,desktop.open_url" {
		t.Errorf("capabilities %v", names)
	}
	for range 2 {
		select {
		case hb := <-s.Heartbeats:
			if hb.GetUnixMs() == 0 {
				t.Error("heartbeat without a time")
			}
		case <-time.After(gatewaytest.Deadline):
			t.Fatal("no heartbeat")
		}
	}

	tests := []struct {
		call          *palyrav1.CapabilityInvocation
		ok            bool
		output, error string
	}{
		{call("c1", "echo", `{"hello":"node"}`, 1024), true, `{"hello":"node"}`, ""},
		{call("c2", "no.such", `{}`, 1024), false, "", "unsupported capability"},
		{call("c3", "echo", `{"broken"`, 1024), false, "", "input is not valid JSON: unexpected end of JSON input"},
		{call("c4", "echo", `"`+strings.Repeat("x", 100)+`"`, 50), false, "", "output exceeds 50 bytes"},
		{call("c5", "desktop.open_url", `{"url":"https://example.com"}`, 1024), false, "", "denied on the node"},
	}
	for _, tt := range tests {
		s.Invoke(t, tt.call)
		res := s.Result(t)
		if res.GetCallId() != tt.call.GetCallId() || res.GetOk() != tt.ok || string(res.GetOutput()) != tt.output || res.GetError() != tt.error {
			t.Errorf("%s %s: result %v, want ok=%v output %q error %q", tt.call.CallId, tt.call.Capability, res, tt.ok, tt.output, tt.error)
		}
	}
	select {
	case p := <-s.Progress:
		if p.GetCallId() != "c5" || p.GetState() != capabilities.AwaitingMediation {
			t.Errorf("progress %v", p)
		}
	default:
		t.Error("the mediated call reported no progress before its result")
	}
	stopped(t, cancel, r)
}

// pipeTTY is a terminal made of a real pipe the test types into; the prompt goes nowhere.
type pipeTTY struct{ *os.File }

func (pipeTTY) Write(p []byte) (int, error) { return len(p), nil }

func TestRunCallsRunConcurrentlyWithinTheLimit(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	gw.Enroll(t, dir, time.Now())
	keysR, keysW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer keysR.Close()
	defer keysW.Close()
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, dir, mediation.NewTerminal(pipeTTY{keysR}, time.Minute), 2)
	s := nextSession(t, gw)

	s.Invoke(t, call("slow", "desktop.open_url", `{"url":"https://example.com/"}`, 1024))
	select {
	case p := <-s.Progress:
		if p.GetCallId() != "slow" {
			t.Fatalf("progress %v", p)
		}
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("no progress for the mediated call")
	}
	// The mediated call waits on its operator; another call still gets through at once...
	s.Invoke(t, call("fast", "echo", `1`, 1024))
	if res := s.Result(t); res.GetCallId() != "fast" || !res.GetOk() {
		t.Fatalf("result %v, want the echo answered while the other call waits", res)
	}
	// ...but not beyond the limit of two running calls.
	s.Invoke(t, call("second-slow", "desktop.open_url", `{"url":"https://example.org/"}`, 1024))
	<-s.Progress
	s.Invoke(t, call("third", "echo", `1`, 1024))
	if res := s.Result(t); res.GetCallId() != "third" || res.GetOk() || res.GetError() != "node busy: 2 calls already running" {
		t.Fatalf("result %v, want the third call refused as busy", res)
	}
	keysW.WriteString("y\n")
	if res := s.Result(t); res.GetCallId() != "slow" || !res.GetOk() || string(res.GetOutput()) != `{"opened":"https://example.com/"}` {
		t.Fatalf("result %v, want the allowed URL opened", res)
	}
	keysW.WriteString("n\n")
	if res := s.Result(t); res.GetCallId() != "second-slow" || res.GetOk() || res.GetError() != "denied on the node" {
		t.Fatalf("result %v, want the second URL denied", res)
	}
	stopped(t, cancel, r)
}

func TestRunReconnectsAfterTheStreamDrops(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	id := gw.Enroll(t, dir, time.Now())
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, dir, mediation.Deny, 0)
	first := nextSession(t, gw)
	first.Drop()
	second := nextSession(t, gw)
	if second.DeviceID != id.DeviceID || second == first {
		t.Fatalf("second session %+v", second)
	}
	second.Invoke(t, call("after", "echo", `"again"`, 64))
	if res := second.Result(t); !res.GetOk() || string(res.GetOutput()) != `"again"` {
		t.Errorf("result after reconnecting %v", res)
	}
	stopped(t, cancel, r)
}

func TestRunWaitsForAGatewayThatIsDown(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	id := gw.Enroll(t, dir, time.Now())
	gw.Stop()
	retries := make(logLines, 16)
	caps := capabilities.New(capabilities.Config{Mediator: mediation.Deny})
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{done: make(chan error, 1)}
	go func() {
		r.done <- Run(ctx, dir, RunConfig{Capabilities: caps, Backoff: testBackoff,
			Logger: slog.New(slog.NewJSONHandler(retries, nil))})
	}()
	for range 2 {
		select {
		case line := <-retries:
			if !strings.Contains(line, "not connected to the gateway; retrying") || !strings.Contains(line, "unreachable") && !strings.Contains(line, "connection refused") {
				t.Errorf("log line %s", line)
			}
		case err := <-r.done:
			t.Fatalf("Run gave up on a gateway that is down: %v", err)
		case <-time.After(gatewaytest.Deadline):
			t.Fatal("no retry logged")
		}
	}
	gw.Restart(t)
	if s := nextSession(t, gw); s.DeviceID != id.DeviceID {
		t.Errorf("session for %s", s.DeviceID)
	}
	stopped(t, cancel, r)
}

// logLines passes each log line written to it on, dropping lines nobody waits for.
type logLines chan string

func (l logLines) Write(p []byte) (int, error) {
	select {
	case l <- string(p):
	default:
	}
	return len(p), nil
}

func TestRunStopsForGoodWhenRevoked(t *testing.T) {
	t.Run("while connected", func(t *testing.T) {
		gw := gatewaytest.Start(t, gatewaytest.Options{})
		dir := newDir(t)
		id := gw.Enroll(t, dir, time.Now())
		r := startRun(t, context.Background(), dir, mediation.Deny, 0)
		nextSession(t, gw)
		gw.Revoke(id.DeviceID, "lost laptop")
		err := r.wait(t)
		if !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "revoked: lost laptop") || !strings.Contains(err.Error(), "palyra-node pair") {
			t.Fatalf("Run = %v, want ErrRefused with the reason and what to do", err)
		}
		select {
		case <-gw.Sessions:
			t.Error("the node connected again after it was revoked")
		default:
		}
	})
	t.Run("before connecting", func(t *testing.T) {
		gw := gatewaytest.Start(t, gatewaytest.Options{})
		dir := newDir(t)
		id := gw.Enroll(t, dir, time.Now())
		gw.Revoke(id.DeviceID, "removed")
		if err := startRun(t, context.Background(), dir, mediation.Deny, 0).wait(t); !errors.Is(err, ErrRefused) {
			t.Fatalf("Run = %v, want ErrRefused", err)
		}
	})
}

func TestRunRenewsACertificateNearExpiry(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	// Issued 20 h ago, a 24 h certificate has a sixth of its life left: due for renewal.
	old := gw.Enroll(t, dir, time.Now().Add(-20*time.Hour))
	ctx, cancel := context.WithCancel(context.Background())
	r := startRun(t, ctx, dir, mediation.Deny, 0)
	first := nextSession(t, gw)
	if !first.Cert.Equal(old.Cert) {
		t.Fatal("first session not on the enrolled certificate")
	}
	select {
	case dev := <-gw.Renewed:
		if dev != old.DeviceID {
			t.Fatalf("renewed %s", dev)
		}
	case <-time.After(gatewaytest.Deadline):
		t.Fatal("no renewal")
	}
	second := nextSession(t, gw)
	if second.Cert.Equal(old.Cert) || !second.Cert.NotAfter.After(old.Cert.NotAfter) {
		t.Fatalf("the node reconnected with certificate expiring %v, want a newer one than %v", second.Cert.NotAfter, old.Cert.NotAfter)
	}
	stopped(t, cancel, r)

	saved, err := dir.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !saved.Cert.Equal(second.Cert) || !saved.CertExpires.Equal(second.Cert.NotAfter) {
		t.Error("the renewed certificate was not saved")
	}
	select {
	case <-gw.Renewed:
		t.Error("a fresh certificate was renewed again")
	default:
	}
}

func TestRunRefusesAnExpiredCertificate(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	gw.Enroll(t, dir, time.Now().Add(-25*time.Hour))
	err := startRun(t, context.Background(), dir, mediation.Deny, 0).wait(t)
	if !errors.Is(err, ErrCertExpired) || !strings.Contains(err.Error(), "pair again") {
		t.Fatalf("Run = %v, want ErrCertExpired", err)
	}
}

func TestRunNotPaired(t *testing.T) {
	err := startRun(t, context.Background(), newDir(t), mediation.Deny, 0).wait(t)
	if !errors.Is(err, identity.ErrNotPaired) {
		t.Fatalf("Run = %v, want ErrNotPaired", err)
	}
}

func TestCheckAndUnpair(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	dir := newDir(t)
	id := gw.Enroll(t, dir, time.Now())
	caps := capabilities.New(capabilities.Config{Mediator: mediation.Deny}).List()
	ctx := context.Background()
	if err := Check(ctx, id, caps); err != nil {
		t.Fatalf("Check of a trusted node = %v", err)
	}
	if s := nextSession(t, gw); s.DeviceID != id.DeviceID || len(s.Hello.GetCapabilities()) != 4 {
		t.Errorf("status session %+v", s)
	}
	if err := Unpair(ctx, id); err != nil {
		t.Fatalf("Unpair = %v", err)
	}
	if dev := <-gw.Unpaired; dev != id.DeviceID {
		t.Errorf("unpaired %s", dev)
	}
	if err := Check(ctx, id, caps); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "revoked: unpaired on the node") {
		t.Errorf("Check after unpairing = %v, want ErrRefused", err)
	}
	if err := Unpair(ctx, id); !errors.Is(err, ErrRefused) {
		t.Errorf("second Unpair = %v, want ErrRefused", err)
	}

	unreachable := *id
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	unreachable.Gateway = lis.Addr().String()
	lis.Close()
	if err := Check(ctx, &unreachable, caps); err == nil || errors.Is(err, ErrRefused) {
		t.Errorf("Check of an unreachable gateway = %v, want a plain error", err)
	}
}

func TestRenewAtIsTwoThirdsIntoTheLifetime(t *testing.T) {
	gw := gatewaytest.Start(t, gatewaytest.Options{})
	id := gw.Enroll(t, newDir(t), time.Now())
	lifetime := id.Cert.NotAfter.Sub(id.Cert.NotBefore)
	if got := renewAt(id.Cert); !got.Equal(id.Cert.NotBefore.Add(lifetime * 2 / 3)) {
		t.Errorf("renewAt = %v for a certificate valid %v to %v", got, id.Cert.NotBefore, id.Cert.NotAfter)
	}
}

func TestJitterStaysWithinHalfToFull(t *testing.T) {
	for range 1000 {
		if j := jitter(time.Second); j < 500*time.Millisecond || j >= time.Second {
			t.Fatalf("jitter(1s) = %v", j)
		}
	}
	if jitter(0) != 0 {
		t.Error("jitter(0) != 0")
	}
}
