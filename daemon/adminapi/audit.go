package adminapi

import (
	"context"
	"encoding/hex"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

type auditServer struct {
	*API
	palyrav1.UnimplementedAuditServiceServer
}

func (s auditServer) ListAudit(_ context.Context, req *palyrav1.ListAuditRequest) (*palyrav1.ListAuditReply, error) {
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultListLimit
	}
	entries, err := s.cfg.Store.AuditTail(limit)
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.ListAuditReply{}
	for _, e := range entries {
		reply.Entries = append(reply.Entries, &palyrav1.AuditEntry{
			Seq: e.Seq, UnixMs: unixMs(e.At), Kind: e.Kind, Actor: e.Actor, Subject: e.Subject,
			Detail: e.Detail, Hash: hex.EncodeToString(e.Hash[:]),
		})
	}
	return reply, nil
}

func (s auditServer) VerifyAudit(context.Context, *palyrav1.VerifyAuditRequest) (*palyrav1.VerifyAuditReply, error) {
	checked, brk, err := s.cfg.Store.VerifyAudit()
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.VerifyAuditReply{Ok: brk == nil, Checked: uint64(checked)}
	if brk != nil {
		reply.BrokenSeq, reply.Problem = brk.Seq, brk.Reason
	}
	return reply, nil
}
