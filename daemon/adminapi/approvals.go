package adminapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// defaultListLimit is how many records a list returns when the request sets no limit.
const defaultListLimit = 200

// watchBuffer is how far a watcher may fall behind before its stream is ended.
const watchBuffer = 256

// requestableSubjects are the subject types API clients may ask about; pairing and node
// capability approvals are the daemon's own.
var requestableSubjects = []string{approvals.External, approvals.ChannelMutation}

type approvalsServer struct {
	*API
	palyrav1.UnimplementedApprovalsServiceServer
}

func (s approvalsServer) ListApprovals(_ context.Context, req *palyrav1.ListApprovalsRequest) (*palyrav1.ListApprovalsReply, error) {
	all, err := s.cfg.Store.Approvals()
	if err != nil {
		return nil, statusOf(err)
	}
	limit := int(req.GetLimit())
	if limit == 0 {
		limit = defaultListLimit
	}
	reply := &palyrav1.ListApprovalsReply{}
	for _, a := range slices.Backward(all) {
		if len(reply.Approvals) == limit {
			break
		}
		if req.GetState() == "" || a.State == req.GetState() {
			reply.Approvals = append(reply.Approvals, approvalProto(a))
		}
	}
	return reply, nil
}

func (s approvalsServer) GetApproval(_ context.Context, req *palyrav1.GetApprovalRequest) (*palyrav1.Approval, error) {
	seq, err := store.ParseApprovalID(req.GetId())
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	a, err := s.cfg.Store.Approval(seq)
	if errors.Is(err, store.ErrNotFound) {
		return nil, status.Errorf(codes.NotFound, "no approval %s", req.GetId())
	}
	if err != nil {
		return nil, statusOf(err)
	}
	return approvalProto(a), nil
}

func (s approvalsServer) Decide(ctx context.Context, req *palyrav1.DecideRequest) (*palyrav1.Approval, error) {
	scope := req.GetScope()
	if scope == "" {
		scope = approvals.Once
	}
	a, err := s.cfg.Approvals.Decide(req.GetId(), req.GetApprove(), scope, time.Duration(req.GetGrantMs())*time.Millisecond,
		req.GetReason(), principalFrom(ctx).Name)
	switch {
	case errors.Is(err, store.ErrAlreadyDecided):
		return nil, status.Errorf(codes.FailedPrecondition, "%s was already %s", a.ID(), settledBy(a))
	case errors.Is(err, store.ErrApprovalExpired):
		return nil, status.Errorf(codes.FailedPrecondition, "%s timed out before the decision", a.ID())
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Errorf(codes.NotFound, "no approval %s", req.GetId())
	case err != nil:
		return nil, statusOf(err)
	}
	return approvalProto(a), nil
}

// settledBy says how a settled approval ended, for the operator who came second.
func settledBy(a store.Approval) string {
	switch a.State {
	case store.ApprovalTimedOut:
		return "timed out"
	case store.ApprovalApproved:
		return fmt.Sprintf("approved (%s) by %s", a.Decision.Scope, a.Decision.Decider)
	}
	return fmt.Sprintf("%s by %s: %s", a.State, a.Decision.Decider, a.Decision.Reason)
}

func (s approvalsServer) WatchApprovals(_ *palyrav1.WatchApprovalsRequest, stream palyrav1.ApprovalsService_WatchApprovalsServer) error {
	// Subscribe before reading, so nothing decided in between is missed; a client may see
	// an approval twice, and keeps the later.
	events, stop := s.cfg.Approvals.Watch(watchBuffer)
	defer stop()
	all, err := s.cfg.Store.Approvals()
	if err != nil {
		return statusOf(err)
	}
	for _, a := range all {
		if a.State != store.ApprovalPending {
			continue
		}
		if err := stream.Send(&palyrav1.ApprovalEvent{Kind: "pending", Approval: approvalProto(a)}); err != nil {
			return err
		}
	}
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return status.Error(codes.ResourceExhausted, "watcher fell behind; watch again")
			}
			if err := stream.Send(&palyrav1.ApprovalEvent{Kind: ev.Kind, Approval: approvalProto(ev.Approval)}); err != nil {
				return err
			}
		}
	}
}

func (s approvalsServer) RequestApproval(ctx context.Context, req *palyrav1.RequestApprovalRequest) (*palyrav1.Approval, error) {
	if !slices.Contains(requestableSubjects, req.GetSubjectType()) {
		return nil, status.Errorf(codes.InvalidArgument, "subject type %q: API clients may ask about %v", req.GetSubjectType(), requestableSubjects)
	}
	a, err := s.cfg.Approvals.Ask(approvals.Request{
		SubjectType: req.GetSubjectType(), SubjectID: req.GetSubjectId(), Risk: req.GetRisk(),
		Requester: principalFrom(ctx).Name, Summary: req.GetSummary(), Details: req.GetDetails(),
		TTL: time.Duration(req.GetTtlMs()) * time.Millisecond,
	})
	if err != nil {
		return nil, statusOf(err)
	}
	if a.State == store.ApprovalPending {
		if a, err = s.cfg.Approvals.Wait(ctx, a.ID()); err != nil {
			return nil, statusOf(err)
		}
	}
	return approvalProto(a), nil
}

func approvalProto(a store.Approval) *palyrav1.Approval {
	return &palyrav1.Approval{
		Id: a.ID(), SubjectType: a.SubjectType, SubjectId: a.SubjectID, Risk: a.Risk,
		Requester: a.Requester, Summary: a.Summary, Details: a.Details,
		CreatedUnixMs: unixMs(a.CreatedAt), ExpiresUnixMs: unixMs(a.ExpiresAt), State: a.State,
		Scope: a.Decision.Scope, GrantMs: a.Decision.Grant.Milliseconds(), Reason: a.Decision.Reason,
		Decider: a.Decision.Decider, DecidedUnixMs: unixMs(a.Decision.At),
	}
}
