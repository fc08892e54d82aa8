package nodes

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/pairing"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/daemon/store"
	"github.com/palyra/palyra/internal/pairproof"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func TestPairConnectInvoke(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	n := newNode(t, "laptop")
	st, err := g.request(c, n, g.mint())
	if err != nil {
		t.Fatal(err)
	}
	if st.GetState() != store.PairingPending || !strings.HasPrefix(st.GetDeviceId(), "dev-") || len(st.GetDeviceId()) != 16 {
		t.Fatalf("status %v: want pending with a dev- id of 12 characters", st)
	}
	a, err := g.st.Approval(mustSeq(t, st.GetApprovalId()))
	if err != nil {
		t.Fatal(err)
	}
	keyFP := pairproof.KeyFingerprint(n.pub)
	if a.SubjectType != approvals.DevicePairing || a.SubjectID != st.GetRequestId() || a.Risk != "high" ||
		!strings.Contains(a.Details, keyFP) || !strings.Contains(a.Summary, "Pair device laptop (linux/amd64) from 127.0.0.1") {
		t.Fatalf("approval %+v does not describe the request", a)
	}
	if got := g.rt.Summary().GetPendingPairings(); got != 1 {
		t.Errorf("pending pairings %d, want 1", got)
	}

	g.decide(n, true)
	done := g.await(c, n)
	if done.GetState() != store.PairingApproved || done.GetCertExpiresUnixMs() == 0 {
		t.Fatalf("await: %v", done)
	}
	cert, err := x509.ParseCertificate(done.GetClientCert())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: g.ca.Pool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Fatalf("client certificate does not chain to the CA: %v", err)
	}
	if pairproof.KeyFingerprint(mustPKIX(t, cert)) != keyFP {
		t.Fatal("the certificate is for another key than the node's")
	}
	n.cert = done.GetClientCert()
	if got := g.auditKinds(n.deviceID); !slices.Contains(got, "device.paired") {
		t.Errorf("audit of %s: %v, want device.paired", n.deviceID, got)
	}

	s := connect(t, g.client(n.tlsCert()), n.deviceID)
	if s.welcome.GetDeviceId() != n.deviceID || s.welcome.GetHeartbeatIntervalMs() != DefaultHeartbeatInterval.Milliseconds() {
		t.Fatalf("welcome %v", s.welcome)
	}
	detail, err := g.rt.GetDevice(n.deviceID)
	if err != nil {
		t.Fatal(err)
	}
	d := detail.GetDevice()
	if d.GetTrust() != TrustTrusted || d.GetPresence() != PresenceOnline || d.GetKeyFingerprint() != keyFP ||
		d.GetCertFingerprint() != pki.Fingerprint(n.cert) || len(d.GetCapabilities()) != 2 || d.GetApprovalId() != n.approval {
		t.Fatalf("device %v", d)
	}

	answer := invokeAsync(g.rt, &palyrav1.InvokeRequest{DeviceId: n.deviceID, Capability: "echo", Input: []byte(`{"say":"hi"}`)})
	call := s.nextCall(t)
	if call.GetCapability() != "echo" || string(call.GetInput()) != `{"say":"hi"}` || call.GetMaxOutputBytes() != DefaultMaxOutput {
		t.Fatalf("invocation %v", call)
	}
	s.result(t, call.GetCallId(), true, call.GetInput(), "")
	got := <-answer
	if got.err != nil || got.call.GetState() != store.CallSucceeded || string(got.call.GetOutput()) != `{"say":"hi"}` {
		t.Fatalf("invoke: %v %v", got.call, got.err)
	}
	if got.call.GetInputSummary() != `{"say":"hi"}` || got.call.GetRequester() != "oncall" {
		t.Errorf("call record %v", got.call)
	}
	detail, err = g.rt.GetDevice(n.deviceID)
	if err != nil {
		t.Fatal(err)
	}
	if len(detail.GetRecentCalls()) != 1 || detail.GetRecentCalls()[0].GetState() != store.CallSucceeded ||
		len(detail.GetRecentCalls()[0].GetOutput()) != 0 {
		t.Errorf("recent calls %v, want the one succeeded, without output", detail.GetRecentCalls())
	}
	if len(detail.GetPairings()) != 1 || detail.GetPairings()[0].GetState() != store.PairingApproved {
		t.Errorf("pairings %v", detail.GetPairings())
	}
}

func mustSeq(t *testing.T, id string) uint64 {
	t.Helper()
	seq, err := store.ParseApprovalID(id)
	if err != nil {
		t.Fatal(err)
	}
	return seq
}

func mustPKIX(t *testing.T, cert *x509.Certificate) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(cert.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func TestBeginPairingRefusesBadCodes(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	ctx := context.Background()

	used := g.mint()
	if _, err := c.BeginPairing(ctx, &palyrav1.BeginPairingRequest{Code: used}); err != nil {
		t.Fatal(err)
	}
	expired := "pq_expired-code"
	if err := g.st.PutPairingCode(store.PairingCode{ID: "old", Method: pairing.QR, CreatedAt: time.Now().Add(-time.Hour),
		ExpiresAt: time.Now().Add(-time.Minute), Hash: sha256.Sum256([]byte(expired))}); err != nil {
		t.Fatal(err)
	}

	var messages []string
	for name, code := range map[string]string{"wrong": "pq_never-minted", "used": used, "expired": expired} {
		_, err := c.BeginPairing(ctx, &palyrav1.BeginPairingRequest{Code: code})
		if status.Code(err) != codes.PermissionDenied {
			t.Fatalf("%s code: %v, want PermissionDenied", name, err)
		}
		messages = append(messages, status.Convert(err).Message())
	}
	if messages[0] != messages[1] || messages[1] != messages[2] {
		t.Errorf("refusals differ, telling a guesser which: %q", messages)
	}

	// Three failures so far came from this peer; the limit is pairing.PeerFailures.
	var err error
	for range pairing.PeerFailures {
		_, err = c.BeginPairing(ctx, &palyrav1.BeginPairingRequest{Code: "pq_guess"})
	}
	wantCode(t, err, codes.ResourceExhausted, "too many")
}

func TestCompletePairingRefusesForgedProofs(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	ctx := context.Background()
	n, other := newNode(t, "laptop"), newNode(t, "thief")

	forgeries := map[string]func(in *pairproof.Input) ([]byte, []byte){
		"signed by another key": func(in *pairproof.Input) ([]byte, []byte) {
			sig, _ := pairproof.Sign(other.key, *in)
			return n.pub, sig
		},
		"over another code": func(in *pairproof.Input) ([]byte, []byte) {
			in.Code = "000000"
			sig, _ := pairproof.Sign(n.key, *in)
			return n.pub, sig
		},
		"over another CA": func(in *pairproof.Input) ([]byte, []byte) {
			in.CACert = []byte("impostor CA")
			sig, _ := pairproof.Sign(n.key, *in)
			return n.pub, sig
		},
	}
	for name, forge := range forgeries {
		t.Run(name, func(t *testing.T) {
			code := g.mint()
			begun, err := c.BeginPairing(ctx, &palyrav1.BeginPairingRequest{Code: code})
			if err != nil {
				t.Fatal(err)
			}
			in := pairproof.Input{SessionID: begun.GetSessionId(), Challenge: begun.GetChallenge(), PublicKey: n.pub,
				Code: code, CACert: begun.GetCaCert(), Name: n.name, Platform: "linux"}
			pub, sig := forge(&in)
			req := &palyrav1.CompletePairingRequest{SessionId: begun.GetSessionId(), Name: n.name, Platform: "linux",
				PublicKey: pub, Signature: sig}
			_, err = c.CompletePairing(ctx, req)
			wantCode(t, err, codes.PermissionDenied, "proof does not verify")

			// The session is spent: even an honest proof cannot use it now.
			in = pairproof.Input{SessionID: begun.GetSessionId(), Challenge: begun.GetChallenge(), PublicKey: n.pub,
				Code: code, CACert: begun.GetCaCert(), Name: n.name, Platform: "linux"}
			req.Signature, _ = pairproof.Sign(n.key, in)
			req.PublicKey = n.pub
			_, err = c.CompletePairing(ctx, req)
			wantCode(t, err, codes.PermissionDenied, "session unknown or expired")
		})
	}
	if reqs, _ := g.rt.PairingRequests(""); len(reqs) != 0 {
		t.Errorf("forged proofs made requests: %v", reqs)
	}
}

func TestPairingDeniedWithReason(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	n := newNode(t, "intruder")
	if _, err := g.request(c, n, g.mint()); err != nil {
		t.Fatal(err)
	}
	g.decide(n, false)
	st := g.await(c, n)
	if st.GetState() != store.PairingDenied || st.GetReason() != "not ours" || len(st.GetClientCert()) != 0 {
		t.Fatalf("await: %v", st)
	}
	denied, err := g.rt.PairingRequests(store.PairingDenied)
	if err != nil || len(denied) != 1 || denied[0].GetReason() != "not ours" {
		t.Fatalf("denied requests %v %v", denied, err)
	}
	if got := g.auditKinds(n.request); !slices.Contains(got, "device.pairing_denied") {
		t.Errorf("audit of %s: %v, want device.pairing_denied", n.request, got)
	}
	if g.rt.Summary().GetDevices() != 0 || g.rt.Summary().GetPendingPairings() != 0 {
		t.Errorf("summary %v, want nothing", g.rt.Summary())
	}
}

func TestPairingExpiresWhenTheOperatorDoesNotDecide(t *testing.T) {
	g := startGateway(t, options{approvalTTL: time.Millisecond})
	c := g.client(nil)
	n := newNode(t, "late")
	if _, err := g.request(c, n, g.mint()); err != nil {
		t.Fatal(err)
	}
	st := g.await(c, n)
	if st.GetState() != store.PairingExpired || !strings.Contains(st.GetReason(), "did not decide in time") {
		t.Fatalf("await: %v", st)
	}
}

func TestRepairingAPairedKeyIsRefused(t *testing.T) {
	g := startGateway(t, options{})
	c := g.client(nil)
	n := newNode(t, "laptop")
	g.pair(c, n)
	again := &node{name: "laptop", key: n.key, pub: n.pub}
	_, err := g.request(c, again, g.mint())
	wantCode(t, err, codes.FailedPrecondition, "already paired as "+n.deviceID)
}

func TestPairingSurvivesRestart(t *testing.T) {
	g := startGateway(t, options{noRun: true})
	c := g.client(nil)
	waiting, decided := newNode(t, "waiting"), newNode(t, "decided")
	for _, n := range []*node{waiting, decided} {
		if _, err := g.request(c, n, g.mint()); err != nil {
			t.Fatal(err)
		}
	}
	// Decided while the runtime was not following: as if palyrad was killed right after.
	g.decide(decided, true)
	// Stored, but palyrad stopped before asking the operator.
	orphan := store.PairingRequest{ID: "pr-orphan", DeviceID: "dev-orphan", State: store.PairingPending, CreatedAt: time.Now()}
	if err := g.st.CreatePairingRequest(orphan); err != nil {
		t.Fatal(err)
	}
	// Put to the operator, but palyrad stopped before the request recorded its approval.
	halfNode := newNode(t, "half")
	half := store.PairingRequest{ID: "pr-half", DeviceID: "dev-half", Name: "half", PublicKey: halfNode.pub,
		KeyFingerprint: pairproof.KeyFingerprint(halfNode.pub), State: store.PairingPending, CreatedAt: time.Now()}
	if err := g.st.CreatePairingRequest(half); err != nil {
		t.Fatal(err)
	}
	halfApproval, err := g.approvals.Ask(approvals.Request{SubjectType: approvals.DevicePairing, SubjectID: half.ID,
		Risk: "high", Requester: "node half", Summary: "Pair device half"})
	if err != nil {
		t.Fatal(err)
	}
	// A call in flight when palyrad died.
	if err := g.st.PutCalls([]store.CapabilityCall{{ID: "call-x", DeviceID: "dev-gone", State: store.CallDispatched,
		CreatedAt: time.Now()}}, CallsKept); err != nil {
		t.Fatal(err)
	}

	g.restart(options{})
	c = g.client(nil)
	st := g.await(c, decided)
	if st.GetState() != store.PairingApproved || len(st.GetClientCert()) == 0 {
		t.Fatalf("decided before the restart: %v", st)
	}
	decided.cert = st.GetClientCert()
	connect(t, g.client(decided.tlsCert()), decided.deviceID)

	pending, err := g.rt.PairingRequests(store.PairingPending)
	if err != nil || len(pending) != 2 {
		t.Fatalf("pending after restart: %v %v, want %s and %s", pending, err, waiting.request, half.ID)
	}
	for _, p := range pending {
		if p.GetId() == half.ID && p.GetApprovalId() != halfApproval.ID() {
			t.Errorf("%s names approval %q, want %s", half.ID, p.GetApprovalId(), halfApproval.ID())
		}
	}
	if got, err := g.st.PairingRequest("pr-orphan"); err != nil || got.State != store.PairingExpired {
		t.Errorf("orphan request %+v %v, want expired", got, err)
	}
	calls, err := g.st.RecentCalls("dev-gone", 1)
	if err != nil || len(calls) != 1 || calls[0].State != store.CallFailed || calls[0].Error != "palyrad restarted" {
		t.Errorf("call left in flight: %+v %v", calls, err)
	}

	g.decide(waiting, true)
	if st := g.await(c, waiting); st.GetState() != store.PairingApproved {
		t.Fatalf("decided after the restart: %v", st)
	}
	halfNode.request, halfNode.approval = half.ID, halfApproval.ID()
	g.decide(halfNode, true)
	if st := g.await(c, halfNode); st.GetState() != store.PairingApproved || st.GetDeviceId() != "dev-half" {
		t.Fatalf("half-recorded request after the restart: %v", st)
	}
}
