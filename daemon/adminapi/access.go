package adminapi

import (
	"context"
	"errors"
	"strings"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

var now = time.Now

type accessServer struct {
	*API
	palyrav1.UnimplementedAccessServiceServer
}

func (s accessServer) WhoAmI(ctx context.Context, _ *palyrav1.WhoAmIRequest) (*palyrav1.WhoAmIReply, error) {
	p := principalFrom(ctx)
	reply := &palyrav1.WhoAmIReply{Principal: p.Name, Admin: p.Admin}
	for _, perm := range p.Permissions {
		reply.Permissions = append(reply.Permissions, string(perm))
	}
	return reply, nil
}

func (s accessServer) CreateToken(ctx context.Context, req *palyrav1.CreateTokenRequest) (*palyrav1.CreateTokenReply, error) {
	perms := make([]access.Permission, len(req.GetPermissions()))
	for i, p := range req.GetPermissions() {
		perms[i] = access.Permission(p)
	}
	secret, t, err := s.cfg.Access.Create(req.GetName(), perms)
	switch {
	case errors.Is(err, access.ErrInvalid):
		return nil, status.Error(codes.InvalidArgument, err.Error())
	case errors.Is(err, store.ErrNameTaken):
		return nil, status.Errorf(codes.AlreadyExists, "a valid token is named %q already: choose another name, or revoke that one first", req.GetName())
	case err != nil:
		return nil, statusOf(err)
	}
	s.audit("token.created", principalFrom(ctx).Actor(), access.TokenActor(t.Name, t.ID), strings.Join(t.Permissions, ","))
	return &palyrav1.CreateTokenReply{Token: tokenProto(t), Secret: secret}, nil
}

func (s accessServer) ListTokens(context.Context, *palyrav1.ListTokensRequest) (*palyrav1.ListTokensReply, error) {
	tokens, err := s.cfg.Access.List()
	if err != nil {
		return nil, statusOf(err)
	}
	reply := &palyrav1.ListTokensReply{}
	for _, t := range tokens {
		reply.Tokens = append(reply.Tokens, tokenProto(t))
	}
	return reply, nil
}

// RevokeToken revokes a token and ends the grants it was given: a later token of the same
// name starts with none.
func (s accessServer) RevokeToken(ctx context.Context, req *palyrav1.RevokeTokenRequest) (*palyrav1.RevokeTokenReply, error) {
	t, err := s.cfg.Access.Revoke(req.GetId())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, status.Error(codes.NotFound, err.Error())
	case err != nil:
		return nil, statusOf(err)
	}
	actor := access.TokenActor(t.Name, t.ID)
	s.cfg.Approvals.ForgetRequester(actor)
	s.audit("token.revoked", principalFrom(ctx).Actor(), actor, "")
	return &palyrav1.RevokeTokenReply{Token: tokenProto(t)}, nil
}

func tokenProto(t store.Token) *palyrav1.Token {
	return &palyrav1.Token{
		Id: t.ID, Name: t.Name, Permissions: t.Permissions,
		CreatedUnixMs: unixMs(t.CreatedAt), RevokedUnixMs: unixMs(t.RevokedAt),
	}
}

func unixMs(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}
