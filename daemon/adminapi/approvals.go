package adminapi

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// The pages of ListApprovals: their default and largest size, and the bytes of stored
// records after which a page ends, far below gRPC's 4 MiB message limit.
const (
	defaultApprovalsPage = 100
	maxApprovalsPage     = 500
	approvalsPageBytes   = 1 << 20
)

// The bounds RequestApproval puts on a client's request, beyond the engine's size bounds.
const (
	minRequestTTL = 30 * time.Second
	maxRequestTTL = 24 * time.Hour
	// requestsPerMinute is how many approvals one token may request a minute, in bursts of
	// up to requestBurst.
	requestsPerMinute = 60
	requestBurst      = 20
	// requestsPerDay bounds what one token can make palyrad keep: with the largest requests
	// about 40 MB a day (settled approvals stay, as history).
	requestsPerDay = 2000
)

// states are the approval states a list may ask for; "" is every state.
var states = []string{"", store.ApprovalPending, store.ApprovalApproved, store.ApprovalDenied, store.ApprovalTimedOut}

// WaitApproval's default and longest wait.
const (
	defaultWait = time.Minute
	maxWait     = 10 * time.Minute
)

// watchBuffer is how far a watcher may fall behind before its stream is ended.
const watchBuffer = 256

// requestableSubjects are the subject types API clients may ask about; pairing and node
// capability approvals, and channel mutations (which palyrad runs once allowed), are the
// daemon's own.
var requestableSubjects = []string{approvals.External}

type approvalsServer struct {
	*API
	palyrav1.UnimplementedApprovalsServiceServer
}

func (s approvalsServer) ListApprovals(_ context.Context, req *palyrav1.ListApprovalsRequest) (*palyrav1.ListApprovalsReply, error) {
	size, err := pageSize(req.GetPageSize(), defaultApprovalsPage, maxApprovalsPage)
	if err != nil {
		return nil, err
	}
	if !slices.Contains(states, req.GetState()) {
		return nil, status.Errorf(codes.InvalidArgument, "state %q: want one of pending, approved, denied, timed_out, or none for every state", req.GetState())
	}
	before, err := parsePageToken(req.GetPageToken())
	if err != nil {
		return nil, err
	}
	page, err := s.cfg.Store.Approvals(req.GetState(), before, size, approvalsPageBytes)
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.ListApprovalsReply{NextPageToken: pageToken(page.Next)}
	for _, a := range page.Approvals {
		reply.Approvals = append(reply.Approvals, approvalProto(a))
	}
	return reply, nil
}

func (s approvalsServer) GetApproval(_ context.Context, req *palyrav1.GetApprovalRequest) (*palyrav1.Approval, error) {
	a, err := s.approval(req.GetId())
	if err != nil {
		return nil, err
	}
	return approvalProto(a), nil
}

// approval reads approval id, with the status a client can act on when it cannot.
func (s approvalsServer) approval(id string) (store.Approval, error) {
	seq, err := store.ParseApprovalID(id)
	if err != nil {
		return store.Approval{}, status.Error(codes.InvalidArgument, err.Error())
	}
	a, err := s.cfg.Store.Approval(seq)
	if errors.Is(err, store.ErrNotFound) {
		return store.Approval{}, status.Errorf(codes.NotFound, "no approval %s", id)
	}
	if err != nil {
		return store.Approval{}, statusOf(err)
	}
	return a, nil
}

func (s approvalsServer) Decide(ctx context.Context, req *palyrav1.DecideRequest) (*palyrav1.Approval, error) {
	p := principalFrom(ctx)
	a, err := s.approval(req.GetId())
	if err != nil {
		return nil, err
	}
	// Allowing a pairing admits a device: the decider must be trusted with devices too.
	if a.SubjectType == approvals.DevicePairing && !p.Can(access.TrustOperate) {
		s.guard.refuse(ctx, "Decide "+a.ID(), "missing "+string(access.TrustOperate))
		return nil, status.Errorf(codes.PermissionDenied, "deciding a device pairing admits a device: token %q lacks the %s permission",
			p.Name, access.TrustOperate)
	}
	scope := req.GetScope()
	if scope == "" {
		scope = approvals.Once
	}
	a, err = s.cfg.Approvals.Decide(req.GetId(), req.GetApprove(), scope, time.Duration(req.GetGrantMs())*time.Millisecond,
		req.GetReason(), p.Actor())
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

// WatchApprovals sends what is pending, then every change. Its cost is what is pending (at
// most MaxPendingPerRequester per requester), never the settled history.
func (s approvalsServer) WatchApprovals(_ *palyrav1.WatchApprovalsRequest, stream palyrav1.ApprovalsService_WatchApprovalsServer) error {
	// Subscribe before reading, so nothing decided in between is missed. A request stored
	// in between is both in the list and in the events; it is sent once, as listed.
	events, stop := s.cfg.Approvals.Watch(watchBuffer)
	defer stop()
	pending, err := s.cfg.Store.PendingApprovals()
	if err != nil {
		return statusOf(err)
	}
	listed := make(map[string]bool, len(pending))
	for _, a := range pending {
		listed[a.ID()] = true
		if err := stream.Send(&palyrav1.ApprovalEvent{Kind: "pending", Approval: approvalProto(a)}); err != nil {
			return err
		}
	}
	pending = nil // a watch may live for days; what it sent first need not
	for {
		select {
		case <-stream.Context().Done():
			return nil
		case ev, ok := <-events:
			if !ok {
				return status.Error(codes.ResourceExhausted, "watcher fell behind; watch again")
			}
			if listed[ev.Approval.ID()] {
				delete(listed, ev.Approval.ID())
				if ev.Kind == "requested" {
					continue
				}
			}
			if err := stream.Send(&palyrav1.ApprovalEvent{Kind: ev.Kind, Approval: approvalProto(*ev.Approval)}); err != nil {
				return err
			}
		}
	}
}

// RequestApproval stores a client's request and answers at once; WaitApproval waits.
func (s approvalsServer) RequestApproval(ctx context.Context, req *palyrav1.RequestApprovalRequest) (*palyrav1.Approval, error) {
	if !slices.Contains(requestableSubjects, req.GetSubjectType()) {
		return nil, status.Errorf(codes.InvalidArgument, "subject type %q: API clients may ask about %v", req.GetSubjectType(), requestableSubjects)
	}
	ttl := time.Duration(req.GetTtlMs()) * time.Millisecond
	if ttl != 0 && (ttl < minRequestTTL || ttl > maxRequestTTL) {
		return nil, status.Errorf(codes.InvalidArgument, "ttl %s: want %s to %s (0 for the default %s)",
			ttl, minRequestTTL, maxRequestTTL, approvals.DefaultTTL)
	}
	p := principalFrom(ctx)
	if wait, ok := s.requests.allow(p.Actor(), now()); !ok {
		return nil, status.Errorf(codes.ResourceExhausted, "token %q asked too often: at most %d approvals a minute; try again in %s",
			p.Name, requestsPerMinute, roundUp(wait))
	}
	if wait, ok := s.dailyRequests.allow(p.Actor(), now()); !ok {
		return nil, status.Errorf(codes.ResourceExhausted, "token %q asked too often: at most %d approvals a day; try again in %s",
			p.Name, requestsPerDay, roundUp(wait))
	}
	a, err := s.cfg.Approvals.Ask(approvals.Request{
		SubjectType: req.GetSubjectType(), SubjectID: req.GetSubjectId(), Risk: req.GetRisk(),
		Requester: p.Actor(), Summary: req.GetSummary(), Details: req.GetDetails(), TTL: ttl,
	})
	if err != nil {
		return nil, statusOf(err)
	}
	return approvalProto(a), nil
}

// WaitApproval waits until approval id is settled or the wait is over, and returns it as it
// then stands.
func (s approvalsServer) WaitApproval(ctx context.Context, req *palyrav1.WaitApprovalRequest) (*palyrav1.Approval, error) {
	wait := time.Duration(req.GetWaitMs()) * time.Millisecond
	switch {
	case wait == 0:
		wait = defaultWait
	case wait < 0 || wait > maxWait:
		return nil, status.Errorf(codes.InvalidArgument, "wait_ms %d: want 1 to %d", req.GetWaitMs(), maxWait.Milliseconds())
	}
	a, err := s.approval(req.GetId())
	if err != nil {
		return nil, err
	}
	if p := principalFrom(ctx); a.Requester != p.Actor() && !p.Can(access.ObservabilityRead) {
		// Said as if it did not exist: a token learns nothing of others' approvals.
		return nil, status.Errorf(codes.NotFound, "no approval %s among this token's requests", req.GetId())
	}
	waitCtx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	settled, err := s.cfg.Approvals.Wait(waitCtx, a.ID())
	switch {
	case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
		return approvalProto(settled), nil // still pending: the client waits again
	case err != nil:
		return nil, statusOf(err)
	}
	return approvalProto(settled), nil
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

// pageSize is a request's page size: def for 0, refused above most.
func pageSize(asked uint32, def, most int) (int, error) {
	switch size := int(asked); {
	case size == 0:
		return def, nil
	case size > most:
		return 0, status.Errorf(codes.InvalidArgument, "page_size %d: at most %d", size, most)
	default:
		return size, nil
	}
}

// pageToken is the token of a page that starts before seq; "" for none.
func pageToken(before uint64) string {
	if before == 0 {
		return ""
	}
	return strconv.FormatUint(before, 10)
}

// parsePageToken reads a page token; "" is the first page (0).
func parsePageToken(token string) (uint64, error) {
	if token == "" {
		return 0, nil
	}
	before, err := strconv.ParseUint(token, 10, 64)
	if err != nil || before == 0 {
		return 0, status.Errorf(codes.InvalidArgument, "page_token %q is not one this API gave", token)
	}
	return before, nil
}

// roundUp is a wait in whole seconds, never "0s".
func roundUp(d time.Duration) time.Duration {
	return max(time.Second, (d + time.Second - 1).Truncate(time.Second))
}
