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
