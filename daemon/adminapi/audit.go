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

// The pages of ListAudit. Entries are bounded (daemon/store cuts their text), but a journal
// written before that may hold large ones, so a page also ends at auditPageBytes.
const (
	defaultAuditPage = 200
	maxAuditPage     = 1000
	auditPageBytes   = 1 << 20
)

func (s auditServer) ListAudit(_ context.Context, req *palyrav1.ListAuditRequest) (*palyrav1.ListAuditReply, error) {
	size, err := pageSize(req.GetPageSize(), defaultAuditPage, maxAuditPage)
	if err != nil {
		return nil, err
	}
	before, err := parsePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	page, err := s.cfg.Store.Audit(before, size, auditPageBytes)
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.ListAuditReply{NextPageToken: pageToken(page.Next)}
	for _, e := range page.Entries {
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
