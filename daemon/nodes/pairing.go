package nodes

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/base32"
	"errors"
	"fmt"
	"strings"
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

// Pairing limits.
const (
	// maxSessions bounds the pairing sessions open at once; each costs a redeemed code.
	maxSessions = 1024
	// maxLabel bounds a device's name, platform and node version, in characters.
	maxLabel = 64
	// defaultAwait and maxAwait bound AwaitPairing's wait.
	defaultAwait = time.Minute
	maxAwait     = 5 * time.Minute
)

// session is a pairing between BeginPairing and CompletePairing. It holds the code's secret,
// which the proof covers, and is never logged.
type session struct {
	id        string
	challenge []byte
	code      string
	method    string
	codeID    string
	peer      string
	expires   time.Time
}

// pendingPairing is a pairing request waiting for the operator; done is closed once it is
// settled, which wakes AwaitPairing.
type pendingPairing struct {
	rec  store.PairingRequest
	done chan struct{}
}

var errCodeRefused = status.Error(codes.PermissionDenied,
	"pairing code not accepted: it is wrong, expired or already used; ask the operator for a new one")

// beginPairing redeems code for a node at peer and opens a session.
func (r *Runtime) beginPairing(code, peer string) (*palyrav1.BeginPairingReply, error) {
	now := r.now()
	r.sessionsMu.Lock()
	for id, s := range r.sessions {
		if !now.Before(s.expires) {
			delete(r.sessions, id)
		}
	}
	full := len(r.sessions) >= maxSessions
	r.sessionsMu.Unlock()
	if full {
		return nil, status.Error(codes.ResourceExhausted, "too many pairings in progress; try again in a few minutes")
	}

	c, err := r.cfg.Pairing.Redeem(code, peer)
	switch {
	case errors.Is(err, pairing.ErrRateLimited):
		return nil, status.Error(codes.ResourceExhausted, err.Error())
	case errors.Is(err, pairing.ErrInvalidCode), errors.Is(err, store.ErrCodeExpired),
		errors.Is(err, store.ErrCodeUsed), errors.Is(err, store.ErrCodeBurned):
		r.log.Info("pairing code refused", "peer", peer, "reason", err)
		return nil, errCodeRefused
	case err != nil:
		r.log.Error("redeem pairing code", "peer", peer, "err", err)
		return nil, status.Error(codes.Internal, "could not check the pairing code; see palyrad's log")
	}

	s := &session{
		id: randomID("ps-", 26), challenge: make([]byte, 32), code: code, method: c.Method, codeID: c.ID,
		peer: peer, expires: now.Add(SessionLifetime),
	}
	rand.Read(s.challenge)
	r.sessionsMu.Lock()
	r.sessions[s.id] = s
	r.sessionsMu.Unlock()
	r.log.Info("pairing session opened", "session", s.id, "code", c.ID, "method", c.Method, "peer", peer)
	return &palyrav1.BeginPairingReply{
		SessionId: s.id, Challenge: s.challenge, CaCert: r.cfg.CA.CertDER(), ExpiresUnixMs: s.expires.UnixMilli(),
	}, nil
}

// takeSession removes session id and returns it if it is still live: a session is used once,
// whatever the outcome.
func (r *Runtime) takeSession(id string) *session {
	r.sessionsMu.Lock()
	defer r.sessionsMu.Unlock()
	s := r.sessions[id]
	delete(r.sessions, id)
	if s == nil || !r.now().Before(s.expires) {
		return nil
	}
	return s
}

// completePairing checks the node's proof and puts its request to the operator.
func (r *Runtime) completePairing(req *palyrav1.CompletePairingRequest) (*palyrav1.PairingStatus, error) {
	s := r.takeSession(req.GetSessionId())
	if s == nil {
		return nil, status.Error(codes.PermissionDenied, "pairing session unknown or expired; pair again with a new code")
	}
	in := pairproof.Input{
		SessionID: s.id, Challenge: s.challenge, PublicKey: req.GetPublicKey(), Code: s.code,
		CACert: r.cfg.CA.CertDER(), Name: req.GetName(), Platform: req.GetPlatform(),
	}
	if _, err := pairproof.Verify(in, req.GetSignature()); err != nil {
		r.log.Warn("pairing proof refused", "session", s.id, "peer", s.peer, "err", err)
		return nil, status.Error(codes.PermissionDenied,
			"pairing proof does not verify: sign the transcript of this session, code and CA with the key you send")
	}

	now := r.now()
	keyFP := pairproof.KeyFingerprint(req.GetPublicKey())
	rec := store.PairingRequest{
		ID: randomID("pr-", 12), DeviceID: randomID("dev-", 12), Name: label(req.GetName()),
		Platform: label(req.GetPlatform()), NodeVersion: label(req.GetNodeVersion()), PublicKey: req.GetPublicKey(),
		KeyFingerprint: keyFP, Peer: s.peer, Method: s.method, CodeID: s.codeID, State: store.PairingPending,
		CreatedAt: now, ExpiresAt: now.Add(r.cfg.ApprovalTTL),
	}
	if rec.Name == "" {
		rec.Name = rec.DeviceID
	}
	p := &pendingPairing{rec: rec, done: make(chan struct{})}

	// Reserved in memory first, so two requests for one key cannot both pass the check.
	r.mu.Lock()
	if err := r.keyInUseLocked(keyFP); err != nil {
		r.mu.Unlock()
		return nil, err
	}
	note := r.formerOwnerLocked(keyFP)
	r.pending[rec.ID] = p
	r.mu.Unlock()

	if err := r.st.CreatePairingRequest(rec); err != nil {
		r.dropPending(rec.ID, false)
		r.log.Error("store pairing request", "request", rec.ID, "err", err)
		return nil, status.Error(codes.Internal, "could not store the pairing request; see palyrad's log")
	}
	a, err := r.cfg.Approvals.Ask(approvals.Request{
		SubjectType: approvals.DevicePairing, SubjectID: rec.ID, Risk: "high",
		Requester: "node " + rec.Name + " from " + rec.Peer,
		Summary:   fmt.Sprintf("Pair device %s (%s) from %s", rec.Name, rec.Platform, rec.Peer),
		Details:   pairingDetails(rec, note),
		TTL:       r.cfg.ApprovalTTL,
	})
	if err != nil {
		r.log.Error("ask to approve pairing", "request", rec.ID, "err", err)
		r.settle(rec.ID, store.PairingExpired, "the operator could not be asked: "+err.Error())
		return nil, status.Error(codes.Internal, "could not ask the operator; see palyrad's log")
	}
	r.mu.Lock()
	p.rec.ApprovalID = a.ID()
	r.publishLocked("changed", nil)
	r.mu.Unlock()
	// A failure here is repaired at the next start, which finds the approval by its subject.
	if err := r.st.SetPairingApproval(rec.ID, a.ID()); err != nil {
		r.log.Error("record pairing approval", "request", rec.ID, "approval", a.ID(), "err", err)
	}
	r.log.Info("pairing request put to the operator", "request", rec.ID, "device", rec.DeviceID,
		"approval", a.ID(), "key", keyFP, "peer", rec.Peer)
	if a.State != store.ApprovalPending {
		r.onApproval(a)
	}
	return &palyrav1.PairingStatus{
		RequestId: rec.ID, DeviceId: rec.DeviceID, State: store.PairingPending, ApprovalId: a.ID(),
	}, nil
}

// keyInUseLocked refuses a key that a trusted device holds or a pending request asks for.
func (r *Runtime) keyInUseLocked(keyFP string) error {
	for _, d := range r.devices {
		if d.rec.KeyFingerprint == keyFP && d.rec.Trust == TrustTrusted {
			return status.Errorf(codes.FailedPrecondition, "this key is already paired as %s; unpair that device first", d.id)
		}
	}
	for _, p := range r.pending {
		if p.rec.KeyFingerprint == keyFP {
			return status.Errorf(codes.FailedPrecondition, "a pairing request for this key is already pending (%s)", p.rec.ID)
		}
	}
	return nil
}

// formerOwnerLocked tells the operator when the key belonged to a device that was revoked.
func (r *Runtime) formerOwnerLocked(keyFP string) string {
	for _, d := range r.devices {
		if d.rec.KeyFingerprint == keyFP {
			return fmt.Sprintf("note: this key belonged to %s (%s), %s: %s", d.id, d.rec.Name, d.rec.Trust, d.rec.RevokedReason)
		}
	}
	return ""
}

func pairingDetails(rec store.PairingRequest, note string) string {
	lines := []string{
		"device: " + rec.DeviceID,
		"name: " + rec.Name,
		"platform: " + rec.Platform,
		"node version: " + rec.NodeVersion,
		"key fingerprint: " + rec.KeyFingerprint + " (compare with what palyra-node prints)",
		"pairing method: " + rec.Method + " (code " + rec.CodeID + ")",
		"peer: " + rec.Peer,
		"request: " + rec.ID,
	}
	if note != "" {
		lines = append(lines, note)
	}
	return strings.Join(lines, "\n")
}

// awaitPairing waits until request id is settled, wait passes, ctx ends or stop closes, and
// returns its status.
func (r *Runtime) awaitPairing(ctx context.Context, id string, wait time.Duration, stop <-chan struct{}) (*palyrav1.PairingStatus, error) {
	if wait <= 0 {
		wait = defaultAwait
	}
	wait = min(wait, maxAwait)
	r.mu.RLock()
	p := r.pending[id]
	r.mu.RUnlock()
	if p != nil {
		timer := time.NewTimer(wait)
		defer timer.Stop()
		select {
		case <-p.done:
		case <-timer.C:
		case <-stop:
		case <-ctx.Done():
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	rec, err := r.st.PairingRequest(id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no pairing request %q", id)
	case err != nil:
		r.log.Error("read pairing request", "request", id, "err", err)
		return nil, status.Error(codes.Internal, "could not read the pairing request; see palyrad's log")
	}
	st := &palyrav1.PairingStatus{
		RequestId: rec.ID, DeviceId: rec.DeviceID, State: rec.State, Reason: rec.Reason, ApprovalId: rec.ApprovalID,
	}
	if rec.State == store.PairingApproved {
		st.ClientCert, st.CertExpiresUnixMs = rec.ClientCert, unixMs(rec.CertExpiresAt)
	}
	return st, nil
}

// onApproval finishes, denies or expires the pairing request approval a decides.
func (r *Runtime) onApproval(a store.Approval) {
	if a.SubjectType != approvals.DevicePairing {
		return
	}
	switch a.State {
	case store.ApprovalApproved:
		r.approvePairing(a)
	case store.ApprovalDenied:
		reason := a.Decision.Reason
		if reason == "" {
			reason = "denied by the operator"
		}
		r.settle(a.SubjectID, store.PairingDenied, reason, store.AuditEntry{
			Kind: "device.pairing_denied", Actor: a.Decision.Decider, Subject: a.SubjectID, Detail: reason,
		})
	case store.ApprovalTimedOut:
		r.settle(a.SubjectID, store.PairingExpired, "the operator did not decide in time; pair again")
	}
}

// approvePairing issues the client certificate of request a.SubjectID and adds its device.
func (r *Runtime) approvePairing(a store.Approval) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.mu.RLock()
	p := r.pending[a.SubjectID]
	var req store.PairingRequest
	var clash error
	if p != nil {
		req = p.rec
		clash = r.keyTrustedLocked(req.KeyFingerprint)
	}
	r.mu.RUnlock()
	if p == nil {
		return // settled already, or not ours
	}
	if clash != nil {
		r.settleLocked(req.ID, store.PairingDenied, clash.Error())
		return
	}

	now := r.now()
	der, notAfter, err := r.issue(req.PublicKey, req.DeviceID, now)
	if err != nil {
		r.log.Error("issue client certificate", "request", req.ID, "device", req.DeviceID, "err", err)
		r.settleLocked(req.ID, store.PairingDenied, "the certificate could not be issued: "+err.Error())
		return
	}
	fp := pki.Fingerprint(der)
	dev := store.Device{
		ID: req.DeviceID, Name: req.Name, Platform: req.Platform, Trust: TrustTrusted, PublicKey: req.PublicKey,
		KeyFingerprint: req.KeyFingerprint, CertFingerprint: fp, CertExpiresAt: notAfter, ApprovalID: a.ID(),
		RequestID: req.ID, PairedAt: now, NodeVersion: req.NodeVersion, Peer: req.Peer,
	}
	_, err = r.st.ApprovePairing(req.ID, der, dev, now, store.AuditEntry{
		At: now, Kind: "device.paired", Actor: a.Decision.Decider, Subject: dev.ID,
		Detail: fmt.Sprintf("%s (%s) from %s, key %s, request %s, approval %s", dev.Name, dev.Platform, dev.Peer,
			dev.KeyFingerprint, req.ID, a.ID()),
	})
	switch {
	case errors.Is(err, store.ErrPairingSettled):
		r.dropPending(req.ID, true)
		return
	case err != nil:
		r.log.Error("store approved pairing", "request", req.ID, "err", err)
		return // stays pending; the next start reconciles it
	}
	d := newDevice(dev)
	r.mu.Lock()
	r.addDeviceLocked(d)
	r.closePendingLocked(req.ID)
	r.publishLocked("changed", d)
	r.mu.Unlock()
	r.log.Info("device paired", "device", dev.ID, "name", dev.Name, "approval", a.ID(), "cert", fp)
}

// keyTrustedLocked refuses a key a trusted device already holds.
func (r *Runtime) keyTrustedLocked(keyFP string) error {
	for _, d := range r.devices {
		if d.rec.KeyFingerprint == keyFP && d.rec.Trust == TrustTrusted {
			return fmt.Errorf("this key is already paired as %s", d.id)
		}
	}
	return nil
}

// issue certifies the node key pubDER for deviceID and returns the certificate and its expiry.
func (r *Runtime) issue(pubDER []byte, deviceID string, now time.Time) ([]byte, time.Time, error) {
	pub, err := pairproof.ParsePublicKey(pubDER)
	if err != nil {
		return nil, time.Time{}, err
	}
	der, err := r.cfg.CA.IssueClient(pub, deviceID, now)
	if err != nil {
		return nil, time.Time{}, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, time.Time{}, err
	}
	return der, cert.NotAfter, nil
}

// settle settles pending request id as denied or expired, with its audit entries.
func (r *Runtime) settle(id, state, reason string, audit ...store.AuditEntry) {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	r.settleLocked(id, state, reason, audit...)
}

// settleLocked is settle for a caller holding r.writeMu.
func (r *Runtime) settleLocked(id, state, reason string, audit ...store.AuditEntry) {
	now := r.now()
	for i := range audit {
		audit[i].At = now
	}
	_, err := r.st.SettlePairing(id, state, reason, now, audit...)
	switch {
	case errors.Is(err, store.ErrNotFound):
		r.dropPending(id, false)
		return
	case err != nil && !errors.Is(err, store.ErrPairingSettled):
		r.log.Error("settle pairing request", "request", id, "state", state, "err", err)
		return
	}
	r.dropPending(id, true)
	if err == nil {
		r.log.Info("pairing request settled", "request", id, "state", state, "reason", reason)
	}
}

// dropPending forgets pending request id and wakes its waiters; publish tells the watchers
// that the count of pending requests changed.
func (r *Runtime) dropPending(id string, publish bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closePendingLocked(id) && publish {
		r.publishLocked("changed", nil)
	}
}

func (r *Runtime) closePendingLocked(id string) bool {
	p := r.pending[id]
	if p == nil {
		return false
	}
	delete(r.pending, id)
	close(p.done)
	return true
}

// randomID is prefix and n random lower-case base32 characters (5 bits each).
func randomID(prefix string, n int) string {
	b := make([]byte, (n*5+7)/8)
	rand.Read(b)
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))[:n]
}
