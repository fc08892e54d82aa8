package nodes

import (
	"context"
	"crypto/tls"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// paired starts a gateway with one node paired and connected.
func paired(t *testing.T, opts options) (*gateway, *node, *nodeSession) {
	t.Helper()
	g := startGateway(t, opts)
	n := newNode(t, "laptop")
	g.pair(g.client(nil), n)
	return g, n, connect(t, g.client(n.tlsCert()), n.deviceID)
}

func echo(id string) *palyrav1.InvokeRequest {
	return &palyrav1.InvokeRequest{DeviceId: id, Capability: "echo", Input: []byte(`{"n":1}`)}
}

func TestRevokeRefusesTheCertificateAndClosesTheSession(t *testing.T) {
	g, n, s := paired(t, options{})
	c := g.client(n.tlsCert())
	events, stop := g.rt.WatchInventory(64)
	defer stop()

	d, err := g.rt.Revoke(n.deviceID, "laptop stolen", "oncall")
	if err != nil || d.GetTrust() != TrustRevoked || d.GetRevokedReason() != "laptop stolen" || d.GetPresence() != PresenceOffline {
		t.Fatalf("revoke: %v %v", d, err)
	}
	wantCode(t, s.ended(t).Err(), codes.PermissionDenied, "device revoked")
	_, err = c.Renew(context.Background(), &palyrav1.RenewRequest{})
	wantCode(t, err, codes.PermissionDenied, "device revoked")
	_, err = tryConnect(c, n.deviceID)
	wantCode(t, err, codes.PermissionDenied, "device revoked")
	_, err = g.rt.Invoke(context.Background(), echo(n.deviceID), "oncall")
	if !errors.Is(err, ErrUnavailable) {
		t.Errorf("invoke on a revoked device: %v, want ErrUnavailable", err)
	}
	if got := g.auditKinds(n.deviceID); !slices.Contains(got, "device.revoked") {
		t.Errorf("audit %v, want device.revoked", got)
	}
	waitEvent(t, events, func(ev *palyrav1.InventoryEvent) bool {
		return ev.GetKind() == "changed" && len(ev.GetDevices()) == 1 && ev.GetDevices()[0].GetTrust() == TrustRevoked
	})
}

func TestRemoveRevokesAndHides(t *testing.T) {
	g, n, s := paired(t, options{})
	d, err := g.rt.Remove(n.deviceID, "oncall")
	if err != nil || d.GetTrust() != TrustRemoved {
		t.Fatalf("remove: %v %v", d, err)
	}
	wantCode(t, s.ended(t).Err(), codes.PermissionDenied, "device revoked")
	if got := g.auditKinds(n.deviceID); !slices.Equal(got[len(got)-2:], []string{"device.revoked", "device.removed"}) {
		t.Errorf("audit %v, want device.revoked then device.removed", got)
	}
	list, err := g.rt.ListDevices(&palyrav1.ListDevicesRequest{})
	if err != nil || list.GetTotal() != 0 || list.GetSummary().GetDevices() != 0 {
		t.Errorf("list after remove: %v %v", list, err)
	}
	list, _ = g.rt.ListDevices(&palyrav1.ListDevicesRequest{IncludeRemoved: true})
	if list.GetTotal() != 1 {
		t.Errorf("list with removed: %v", list)
	}
}

func TestUnpairRevokesTheCallingDevice(t *testing.T) {
	g, n, s := paired(t, options{})
	if _, err := g.client(n.tlsCert()).Unpair(context.Background(), &palyrav1.UnpairRequest{Reason: "reinstalling"}); err != nil {
		t.Fatal(err)
	}
	wantCode(t, s.ended(t).Err(), codes.PermissionDenied, "device revoked")
	d, _ := g.rt.GetDevice(n.deviceID)
	if d.GetDevice().GetTrust() != TrustRevoked || d.GetDevice().GetRevokedReason() != "unpaired by the node: reinstalling" {
		t.Errorf("device after unpair: %v", d.GetDevice())
	}
}

func TestHelloMustNameTheCertificatesDevice(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	a, b := newNode(t, "a"), newNode(t, "b")
	g.pair(c, a)
	g.pair(c, b)
	_, err := tryConnect(g.client(a.tlsCert()), b.deviceID)
	wantCode(t, err, codes.PermissionDenied, "belongs to device "+a.deviceID)
	if d, _ := g.rt.GetDevice(b.deviceID); d.GetDevice().GetPresence() != PresenceOffline {
		t.Errorf("device b %v, want offline", d.GetDevice())
	}
}

func TestCertificateBoundCallsNeedACertificate(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	_, err := c.Renew(context.Background(), &palyrav1.RenewRequest{})
	wantCode(t, err, codes.Unauthenticated, "client certificate")
	_, err = c.Unpair(context.Background(), &palyrav1.UnpairRequest{})
	wantCode(t, err, codes.Unauthenticated, "client certificate")
	_, err = tryConnect(c, "dev-anything")
	wantCode(t, err, codes.Unauthenticated, "client certificate")
}

func TestNodeDisconnectingMidCallFailsIt(t *testing.T) {
	g, n, s := paired(t, options{})
	answer := invokeAsync(g.rt, echo(n.deviceID))
	s.nextCall(t)
	s.cancel()
	got := <-answer
	if got.err != nil || got.call.GetState() != store.CallFailed || got.call.GetError() != "node disconnected" {
		t.Fatalf("invoke: %v %v", got.call, got.err)
	}
	_, err := g.rt.Invoke(context.Background(), echo(n.deviceID), "oncall")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "offline") {
		t.Errorf("invoke on an offline device: %v", err)
	}
}

func TestBadOutputFailsTheCallNotTheSession(t *testing.T) {
	g, n, s := paired(t, options{})
	cases := []struct {
		name   string
		req    *palyrav1.InvokeRequest
		ok     bool
		output string
		errMsg string
		want   string
		error  string
	}{
		{"oversize", &palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "echo", MaxOutputBytes: 16}, true,
			`{"much":"more than sixteen bytes"}`, "", store.CallFailed, "output exceeds 16 bytes"},
		{"not JSON", echo(n.deviceID), true, "hello", "", store.CallFailed, "output is not valid JSON"},
		{"node error", echo(n.deviceID), false, "", "disk \x1b[31mfull", store.CallFailed, "disk full"},
		{"good", echo(n.deviceID), true, `[1,2]`, "", store.CallSucceeded, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			answer := invokeAsync(g.rt, tc.req)
			call := s.nextCall(t)
			s.result(t, call.GetCallId(), tc.ok, []byte(tc.output), tc.errMsg)
			got := <-answer
			if got.err != nil || got.call.GetState() != tc.want || got.call.GetError() != tc.error {
				t.Fatalf("invoke: %v %v, want %s %q", got.call, got.err, tc.want, tc.error)
			}
		})
	}
}

func TestResultForAnUnknownCallEndsTheSession(t *testing.T) {
	g, n, s := paired(t, options{})
	s.result(t, "call-never-made", true, []byte(`{}`), "")
	wantCode(t, s.ended(t).Err(), codes.InvalidArgument, `no call "call-never-made"`)
	if d, _ := g.rt.GetDevice(n.deviceID); d.GetDevice().GetPresence() != PresenceOffline {
		t.Errorf("device %v, want offline", d.GetDevice())
	}
}

func TestResultForAnotherDevicesCallEndsTheSession(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	a, b := newNode(t, "a"), newNode(t, "b")
	g.pair(c, a)
	g.pair(c, b)
	sa := connect(t, g.client(a.tlsCert()), a.deviceID)
	sb := connect(t, g.client(b.tlsCert()), b.deviceID)
	answer := invokeAsync(g.rt, echo(a.deviceID))
	call := sa.nextCall(t)
	sb.result(t, call.GetCallId(), true, []byte(`{"forged":true}`), "")
	wantCode(t, sb.ended(t).Err(), codes.InvalidArgument, "no call")
	sa.result(t, call.GetCallId(), true, []byte(`{"real":true}`), "")
	if got := <-answer; string(got.call.GetOutput()) != `{"real":true}` {
		t.Fatalf("a's call answered with %v %v", got.call, got.err)
	}
}

func TestLateResultIsIgnored(t *testing.T) {
	g, n, s := paired(t, options{})
	req := echo(n.deviceID)
	req.TimeoutMs = 1 // clamped to MinTimeout
	answer := invokeAsync(g.rt, req)
	call := s.nextCall(t)
	got := <-answer
	if got.call.GetState() != store.CallTimedOut || !strings.Contains(got.call.GetError(), "no result from the node within 1s") {
		t.Fatalf("invoke: %v %v", got.call, got.err)
	}
	s.result(t, call.GetCallId(), true, []byte(`{}`), "")

	answer = invokeAsync(g.rt, echo(n.deviceID))
	next := s.nextCall(t)
	s.result(t, next.GetCallId(), true, []byte(`{}`), "")
	if got := <-answer; got.call.GetState() != store.CallSucceeded {
		t.Fatalf("call after a late result: %v %v", got.call, got.err)
	}
}

func TestMediatedCallReportsProgress(t *testing.T) {
	g, n, s := paired(t, options{})
	answer := invokeAsync(g.rt, &palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "desktop.open_url",
		Input: []byte(`{"url":"https://example.com"}`)})
	call := s.nextCall(t)
	if err := s.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Progress{Progress: &palyrav1.CallProgress{
		CallId: call.GetCallId(), State: store.CallAwaitingMediation}}}); err != nil {
		t.Fatal(err)
	}
	waitState(t, g.rt, n.deviceID, call.GetCallId(), store.CallAwaitingMediation)
	s.result(t, call.GetCallId(), true, []byte(`{"opened":true}`), "")
	if got := <-answer; got.call.GetState() != store.CallSucceeded {
		t.Fatalf("invoke: %v %v", got.call, got.err)
	}
}

// waitState waits until GetDevice shows call in state; the node's messages are handled on
// their own goroutine, so the test watches for the effect.
func waitState(t *testing.T, rt *Runtime, deviceID, callID, state string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d, err := rt.GetDevice(deviceID)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range d.GetRecentCalls() {
			if c.GetId() == callID && c.GetState() == state {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("call %s never reached %s: %v", callID, state, d.GetRecentCalls())
		}
		time.Sleep(time.Millisecond)
	}
}

func TestSecondConnectReplacesTheFirst(t *testing.T) {
	g, n, first := paired(t, options{})
	second := connect(t, g.client(n.tlsCert()), n.deviceID)
	wantCode(t, first.ended(t).Err(), codes.Aborted, "replaced")
	answer := invokeAsync(g.rt, echo(n.deviceID))
	call := second.nextCall(t)
	second.result(t, call.GetCallId(), true, []byte(`{}`), "")
	if got := <-answer; got.call.GetState() != store.CallSucceeded {
		t.Fatalf("invoke on the second session: %v %v", got.call, got.err)
	}
	if d, _ := g.rt.GetDevice(n.deviceID); d.GetDevice().GetPresence() != PresenceOnline {
		t.Errorf("device %v, want online", d.GetDevice())
	}
}

func TestRenewKeepsThePreviousCertificateUntilRevoked(t *testing.T) {
	g, n, first := paired(t, options{})
	old := n.tlsCert()
	renewed, err := g.client(old).Renew(context.Background(), &palyrav1.RenewRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if string(renewed.GetClientCert()) == string(n.cert) {
		t.Fatal("renew returned the same certificate")
	}
	n.cert = renewed.GetClientCert()
	second := connect(t, g.client(n.tlsCert()), n.deviceID)
	wantCode(t, first.ended(t).Err(), codes.Aborted, "replaced")
	third := connect(t, g.client(old), n.deviceID) // the previous certificate still works
	wantCode(t, second.ended(t).Err(), codes.Aborted, "replaced")
	if got := g.auditKinds(n.deviceID); !slices.Contains(got, "device.cert_renewed") {
		t.Errorf("audit %v, want device.cert_renewed", got)
	}

	if _, err := g.rt.Revoke(n.deviceID, "", "oncall"); err != nil {
		t.Fatal(err)
	}
	wantCode(t, third.ended(t).Err(), codes.PermissionDenied, "device revoked")
	for name, cert := range map[string][]byte{"old": old.Certificate[0], "new": n.cert} {
		n.cert = cert
		if _, err := tryConnect(g.client(n.tlsCert()), n.deviceID); err == nil {
			t.Errorf("%s certificate accepted after revoke", name)
		}
	}
}

func TestNodeThatLostItsRenewalsKeepsWorking(t *testing.T) {
	g, n, _ := paired(t, options{})
	held := n.tlsCert()
	// Two renewals whose replies never reach the node: it still holds only its first
	// certificate.
	for range 2 {
		if _, err := g.client(held).Renew(context.Background(), &palyrav1.RenewRequest{}); err != nil {
			t.Fatal(err)
		}
	}
	renewed, err := g.client(held).Renew(context.Background(), &palyrav1.RenewRequest{})
	if err != nil {
		t.Fatalf("renewing with the certificate it holds: %v", err)
	}
	n.cert = renewed.GetClientCert()
	connect(t, g.client(n.tlsCert()), n.deviceID)
}

func TestOperatorAvailabilityBeatsTheNodes(t *testing.T) {
	g, n, _ := paired(t, options{})
	d, err := g.rt.SetCapabilityAvailability(n.deviceID, "echo", false, "oncall")
	if err != nil || d.GetPresence() != PresenceDegraded {
		t.Fatalf("set availability: %v %v", d, err)
	}
	_, err = g.rt.Invoke(context.Background(), echo(n.deviceID), "oncall")
	if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "unavailable") {
		t.Errorf("invoke an unavailable capability: %v", err)
	}
	if _, err := g.rt.SetCapabilityAvailability(n.deviceID, "teleport", true, "oncall"); !errors.Is(err, ErrInvalid) {
		t.Errorf("unknown capability: %v, want ErrInvalid", err)
	}
	if got := g.auditKinds(n.deviceID); !slices.Contains(got, "capability.availability") {
		t.Errorf("audit %v, want capability.availability", got)
	}
	if d, _ := g.rt.SetCapabilityAvailability(n.deviceID, "echo", true, "oncall"); d.GetPresence() != PresenceOnline {
		t.Errorf("after allowing again: %v", d)
	}
}

func TestInvokeChecksItsRequest(t *testing.T) {
	g, n, _ := paired(t, options{})
	cases := map[string]struct {
		req  *palyrav1.InvokeRequest
		want error
	}{
		"no device":         {&palyrav1.InvokeRequest{Capability: "echo"}, ErrInvalid},
		"unknown device":    {&palyrav1.InvokeRequest{DeviceId: "dev-nope", Capability: "echo"}, ErrNotFound},
		"input not JSON":    {&palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "echo", Input: []byte("{")}, ErrInvalid},
		"input too large":   {&palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "echo", Input: make([]byte, MaxInput+1)}, ErrInvalid},
		"not offered":       {&palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "teleport"}, ErrUnavailable},
		"capability absent": {&palyrav1.InvokeRequest{DeviceId: n.deviceID}, ErrInvalid},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := g.rt.Invoke(context.Background(), tc.req, "oncall"); !errors.Is(err, tc.want) {
				t.Errorf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSilentNodeTurnsStale(t *testing.T) {
	g := startGateway(t, options{heartbeat: 20 * time.Millisecond})
	n := newNode(t, "quiet")
	g.pair(g.client(nil), n)
	events, stop := g.rt.WatchInventory(64)
	defer stop()
	s := connect(t, g.client(n.tlsCert()), n.deviceID)
	waitEvent(t, events, func(ev *palyrav1.InventoryEvent) bool { return deviceIn(ev, n.deviceID, PresenceStale) })
	if err := s.send(&palyrav1.NodeMessage{Msg: &palyrav1.NodeMessage_Heartbeat{Heartbeat: &palyrav1.NodeHeartbeat{}}}); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, events, func(ev *palyrav1.InventoryEvent) bool { return deviceIn(ev, n.deviceID, PresenceOnline) })
	s.cancel()
	waitEvent(t, events, func(ev *palyrav1.InventoryEvent) bool { return deviceIn(ev, n.deviceID, PresenceOffline) })
}

func TestProtocolViolationsEndTheSession(t *testing.T) {
	g, n, _ := paired(t, options{})
	c := g.client(n.tlsCert())
	cases := map[string]*palyrav1.NodeMessage{
		"hello twice":   {Msg: &palyrav1.NodeMessage_Hello{Hello: &palyrav1.NodeHello{DeviceId: n.deviceID}}},
		"empty":         {},
		"unknown state": {Msg: &palyrav1.NodeMessage_Progress{Progress: &palyrav1.CallProgress{CallId: "x", State: "dancing"}}},
	}
	for name, m := range cases {
		t.Run(name, func(t *testing.T) {
			s := connect(t, c, n.deviceID)
			if err := s.send(m); err != nil {
				t.Fatal(err)
			}
			if got := s.ended(t); got.Code() != codes.InvalidArgument {
				t.Errorf("got %v, want InvalidArgument", got)
			}
		})
	}
}

func TestExpiredCertificateIsRefusedAtTheHandshake(t *testing.T) {
	g, n, _ := paired(t, options{})
	old, err := g.ca.IssueClient(&n.key.PublicKey, n.deviceID, time.Now().Add(-48*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired := &tls.Certificate{Certificate: [][]byte{old}, PrivateKey: n.key}
	if _, err := tryConnect(g.client(expired), n.deviceID); err == nil {
		t.Fatal("a node connected with a certificate that expired a day ago")
	}
	if _, err := g.client(expired).Renew(context.Background(), &palyrav1.RenewRequest{}); err == nil {
		t.Fatal("an expired certificate renewed itself")
	}
}
