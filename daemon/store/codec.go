package store

// The codecs of daemon.db's records: each record type is a palyra.v1 protobuf message, and
// these are the only functions that translate between them and the store's Go types.

import (
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

func encodeToken(t Token) ([]byte, error) {
	rec := &palyrav1.TokenRecord{
		Id:            t.ID,
		Name:          t.Name,
		Permissions:   t.Permissions,
		CreatedUnixMs: t.CreatedAt.UnixMilli(),
		Hash:          t.Hash[:],
	}
	if !t.RevokedAt.IsZero() {
		rec.RevokedUnixMs = t.RevokedAt.UnixMilli()
	}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode token: %w", err)
	}
	return raw, nil
}

func decodeToken(raw []byte) (Token, error) {
	var rec palyrav1.TokenRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return Token{}, fmt.Errorf("decode token: %w", err)
	}
	if len(rec.GetHash()) != 32 {
		return Token{}, fmt.Errorf("decode token %q: hash is %d bytes, not 32", rec.GetId(), len(rec.GetHash()))
	}
	t := Token{
		ID:          rec.GetId(),
		Name:        rec.GetName(),
		Permissions: rec.GetPermissions(),
		CreatedAt:   time.UnixMilli(rec.GetCreatedUnixMs()),
	}
	copy(t.Hash[:], rec.GetHash())
	if ms := rec.GetRevokedUnixMs(); ms != 0 {
		t.RevokedAt = time.UnixMilli(ms)
	}
	return t, nil
}

func encodeAudit(e AuditEntry) ([]byte, error) {
	raw, err := proto.Marshal(&palyrav1.AuditRecord{
		Seq: e.Seq, UnixMs: e.At.UnixMilli(), Kind: e.Kind, Actor: e.Actor, Subject: e.Subject,
		Detail: e.Detail, PrevHash: e.PrevHash[:], Hash: e.Hash[:],
	})
	if err != nil {
		return nil, fmt.Errorf("encode audit entry: %w", err)
	}
	return raw, nil
}

func decodeAudit(raw []byte) (AuditEntry, error) {
	var rec palyrav1.AuditRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return AuditEntry{}, fmt.Errorf("decode audit entry: %w", err)
	}
	if len(rec.GetHash()) != 32 || len(rec.GetPrevHash()) != 32 {
		return AuditEntry{}, fmt.Errorf("decode audit entry %d: hashes are not 32 bytes", rec.GetSeq())
	}
	e := AuditEntry{
		Seq: rec.GetSeq(), At: time.UnixMilli(rec.GetUnixMs()), Kind: rec.GetKind(), Actor: rec.GetActor(),
		Subject: rec.GetSubject(), Detail: rec.GetDetail(),
	}
	copy(e.PrevHash[:], rec.GetPrevHash())
	copy(e.Hash[:], rec.GetHash())
	return e, nil
}

func encodeCode(c PairingCode) ([]byte, error) {
	rec := &palyrav1.PairingCodeRecord{
		Id: c.ID, Method: c.Method, CreatedUnixMs: c.CreatedAt.UnixMilli(), ExpiresUnixMs: c.ExpiresAt.UnixMilli(),
		FailedAttempts: uint32(c.FailedAttempts), Burned: c.Burned, Hash: c.Hash[:],
	}
	if !c.UsedAt.IsZero() {
		rec.UsedUnixMs = c.UsedAt.UnixMilli()
	}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode pairing code: %w", err)
	}
	return raw, nil
}

func decodeCode(raw []byte) (PairingCode, error) {
	var rec palyrav1.PairingCodeRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return PairingCode{}, fmt.Errorf("decode pairing code: %w", err)
	}
	if len(rec.GetHash()) != 32 {
		return PairingCode{}, fmt.Errorf("decode pairing code %q: hash is %d bytes, not 32", rec.GetId(), len(rec.GetHash()))
	}
	c := PairingCode{
		ID: rec.GetId(), Method: rec.GetMethod(), CreatedAt: time.UnixMilli(rec.GetCreatedUnixMs()),
		ExpiresAt: time.UnixMilli(rec.GetExpiresUnixMs()), FailedAttempts: int(rec.GetFailedAttempts()),
		Burned: rec.GetBurned(),
	}
	copy(c.Hash[:], rec.GetHash())
	if ms := rec.GetUsedUnixMs(); ms != 0 {
		c.UsedAt = time.UnixMilli(ms)
	}
	return c, nil
}

func encodeApproval(a Approval) ([]byte, error) {
	rec := &palyrav1.ApprovalRecord{
		Seq: a.Seq, SubjectType: a.SubjectType, SubjectId: a.SubjectID, Risk: a.Risk, Requester: a.Requester,
		Summary: a.Summary, Details: a.Details, CreatedUnixMs: a.CreatedAt.UnixMilli(), ExpiresUnixMs: a.ExpiresAt.UnixMilli(),
		State: a.State, Scope: a.Decision.Scope, GrantMs: a.Decision.Grant.Milliseconds(), Reason: a.Decision.Reason,
		Decider: a.Decision.Decider,
	}
	if !a.Decision.At.IsZero() {
		rec.DecidedUnixMs = a.Decision.At.UnixMilli()
	}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode approval: %w", err)
	}
	return raw, nil
}

func decodeApproval(raw []byte) (Approval, error) {
	var rec palyrav1.ApprovalRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return Approval{}, fmt.Errorf("decode approval: %w", err)
	}
	a := Approval{
		Seq: rec.GetSeq(), SubjectType: rec.GetSubjectType(), SubjectID: rec.GetSubjectId(), Risk: rec.GetRisk(),
		Requester: rec.GetRequester(), Summary: rec.GetSummary(), Details: rec.GetDetails(),
		CreatedAt: time.UnixMilli(rec.GetCreatedUnixMs()), ExpiresAt: time.UnixMilli(rec.GetExpiresUnixMs()),
		State: rec.GetState(),
		Decision: Decision{
			Scope: rec.GetScope(), Grant: time.Duration(rec.GetGrantMs()) * time.Millisecond,
			Reason: rec.GetReason(), Decider: rec.GetDecider(),
		},
	}
	if ms := rec.GetDecidedUnixMs(); ms != 0 {
		a.Decision.At = time.UnixMilli(ms)
	}
	return a, nil
}

func encodeDevice(d Device) ([]byte, error) {
	rec := &palyrav1.DeviceRecord{
		Id: d.ID, Name: d.Name, Platform: d.Platform, Trust: d.Trust, PublicKey: d.PublicKey,
		KeyFingerprint: d.KeyFingerprint, CertFingerprint: d.CertFingerprint, CertExpiresUnixMs: unixMs(d.CertExpiresAt),
		PrevCertFingerprint: d.PrevCertFingerprint, PrevCertExpiresUnixMs: unixMs(d.PrevCertExpiresAt),
		ApprovalId: d.ApprovalID, RequestId: d.RequestID, PairedUnixMs: unixMs(d.PairedAt), LastSeenUnixMs: unixMs(d.LastSeen),
		RevokedReason: d.RevokedReason, RevokedUnixMs: unixMs(d.RevokedAt), RemovedUnixMs: unixMs(d.RemovedAt),
		NodeVersion: d.NodeVersion, Peer: d.Peer, AvailabilityOverrides: d.Overrides,
	}
	for _, c := range d.Capabilities {
		rec.Capabilities = append(rec.Capabilities, &palyrav1.CapabilityRecord{Name: c.Name, Available: c.Available, Mediated: c.Mediated})
	}
	raw, err := proto.Marshal(rec)
	if err != nil {
		return nil, fmt.Errorf("encode device: %w", err)
	}
	return raw, nil
}

func decodeDevice(raw []byte) (Device, error) {
	var rec palyrav1.DeviceRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return Device{}, fmt.Errorf("decode device: %w", err)
	}
	if rec.GetId() == "" {
		return Device{}, fmt.Errorf("decode device: no id")
	}
	d := Device{
		ID: rec.GetId(), Name: rec.GetName(), Platform: rec.GetPlatform(), Trust: rec.GetTrust(), PublicKey: rec.GetPublicKey(),
		KeyFingerprint: rec.GetKeyFingerprint(), CertFingerprint: rec.GetCertFingerprint(), CertExpiresAt: fromUnixMs(rec.GetCertExpiresUnixMs()),
		PrevCertFingerprint: rec.GetPrevCertFingerprint(), PrevCertExpiresAt: fromUnixMs(rec.GetPrevCertExpiresUnixMs()),
		ApprovalID: rec.GetApprovalId(), RequestID: rec.GetRequestId(), PairedAt: fromUnixMs(rec.GetPairedUnixMs()),
		LastSeen: fromUnixMs(rec.GetLastSeenUnixMs()), RevokedReason: rec.GetRevokedReason(), RevokedAt: fromUnixMs(rec.GetRevokedUnixMs()),
		RemovedAt: fromUnixMs(rec.GetRemovedUnixMs()), NodeVersion: rec.GetNodeVersion(), Peer: rec.GetPeer(),
		Overrides: rec.GetAvailabilityOverrides(),
	}
	for _, c := range rec.GetCapabilities() {
		d.Capabilities = append(d.Capabilities, Capability{Name: c.GetName(), Available: c.GetAvailable(), Mediated: c.GetMediated()})
	}
	return d, nil
}

func encodePairingRequest(r PairingRequest) ([]byte, error) {
	raw, err := proto.Marshal(&palyrav1.PairingRequestRecord{
		Id: r.ID, DeviceId: r.DeviceID, Name: r.Name, Platform: r.Platform, NodeVersion: r.NodeVersion,
		PublicKey: r.PublicKey, KeyFingerprint: r.KeyFingerprint, Peer: r.Peer, Method: r.Method, CodeId: r.CodeID,
		State: r.State, ApprovalId: r.ApprovalID, Reason: r.Reason, CreatedUnixMs: unixMs(r.CreatedAt),
		ExpiresUnixMs: unixMs(r.ExpiresAt), DecidedUnixMs: unixMs(r.DecidedAt), ClientCert: r.ClientCert,
		CertExpiresUnixMs: unixMs(r.CertExpiresAt),
	})
	if err != nil {
		return nil, fmt.Errorf("encode pairing request: %w", err)
	}
	return raw, nil
}

func decodePairingRequest(raw []byte) (PairingRequest, error) {
	var rec palyrav1.PairingRequestRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return PairingRequest{}, fmt.Errorf("decode pairing request: %w", err)
	}
	if rec.GetId() == "" || rec.GetDeviceId() == "" {
		return PairingRequest{}, fmt.Errorf("decode pairing request %q: no id or no device id", rec.GetId())
	}
	return PairingRequest{
		ID: rec.GetId(), DeviceID: rec.GetDeviceId(), Name: rec.GetName(), Platform: rec.GetPlatform(),
		NodeVersion: rec.GetNodeVersion(), PublicKey: rec.GetPublicKey(), KeyFingerprint: rec.GetKeyFingerprint(),
		Peer: rec.GetPeer(), Method: rec.GetMethod(), CodeID: rec.GetCodeId(), State: rec.GetState(),
		ApprovalID: rec.GetApprovalId(), Reason: rec.GetReason(), CreatedAt: fromUnixMs(rec.GetCreatedUnixMs()),
		ExpiresAt: fromUnixMs(rec.GetExpiresUnixMs()), DecidedAt: fromUnixMs(rec.GetDecidedUnixMs()),
		ClientCert: rec.GetClientCert(), CertExpiresAt: fromUnixMs(rec.GetCertExpiresUnixMs()),
	}, nil
}

func encodeCall(c CapabilityCall) ([]byte, error) {
	raw, err := proto.Marshal(&palyrav1.CapabilityCallRecord{
		Id: c.ID, DeviceId: c.DeviceID, Capability: c.Capability, State: c.State, Requester: c.Requester,
		CreatedUnixMs: unixMs(c.CreatedAt), UpdatedUnixMs: unixMs(c.UpdatedAt), Error: c.Error, InputSummary: c.InputSummary,
	})
	if err != nil {
		return nil, fmt.Errorf("encode capability call: %w", err)
	}
	return raw, nil
}

func decodeCall(raw []byte) (CapabilityCall, error) {
	var rec palyrav1.CapabilityCallRecord
	if err := proto.Unmarshal(raw, &rec); err != nil {
		return CapabilityCall{}, fmt.Errorf("decode capability call: %w", err)
	}
	if rec.GetId() == "" || rec.GetDeviceId() == "" {
		return CapabilityCall{}, fmt.Errorf("decode capability call %q: no id or no device id", rec.GetId())
	}
	return CapabilityCall{
		ID: rec.GetId(), DeviceID: rec.GetDeviceId(), Capability: rec.GetCapability(), State: rec.GetState(),
		Requester: rec.GetRequester(), CreatedAt: fromUnixMs(rec.GetCreatedUnixMs()), UpdatedAt: fromUnixMs(rec.GetUpdatedUnixMs()),
		Error: rec.GetError(), InputSummary: rec.GetInputSummary(),
	}, nil
}

// unixMs is t in unix milliseconds, 0 for the zero time.
func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

// fromUnixMs is the inverse of unixMs.
func fromUnixMs(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms)
}
