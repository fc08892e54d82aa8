package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/daemon/access"
)

// rule is who may call a method.
type rule struct {
	open       bool              // no token needed
	anyToken   bool              // any valid token
	adminOnly  bool              // the admin token only
	permission access.Permission // a token holding this permission
}

// rules names, for every method palyrad serves on the admin port, who may call it. A method
// missing here is refused: new methods are closed until someone decides.
var rules = map[string]rule{
	"/grpc.health.v1.Health/Check":                {open: true},
	"/grpc.health.v1.Health/Watch":                {open: true},
	"/grpc.health.v1.Health/List":                 {open: true},
	"/palyra.v1.VersionService/GetVersion":        {open: true},
	"/palyra.v1.AccessService/WhoAmI":             {anyToken: true},
	"/palyra.v1.AccessService/CreateToken":        {adminOnly: true},
	"/palyra.v1.AccessService/ListTokens":         {adminOnly: true},
	"/palyra.v1.AccessService/RevokeToken":        {adminOnly: true},
	"/palyra.v1.ApprovalsService/RequestApproval": {anyToken: true},
	"/palyra.v1.ApprovalsService/WaitApproval":    {anyToken: true}, // its own requests; others need observability.read

	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      {permission: access.ObservabilityRead},
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": {permission: access.ObservabilityRead},

	"/palyra.v1.InventoryService/ListDevices":    {permission: access.ObservabilityRead},
	"/palyra.v1.InventoryService/GetDevice":      {permission: access.ObservabilityRead},
	"/palyra.v1.InventoryService/WatchInventory": {permission: access.ObservabilityRead},

	"/palyra.v1.PairingService/MintCode":            {permission: access.TrustOperate},
	"/palyra.v1.PairingService/ListPairingRequests": {permission: access.ObservabilityRead},

	"/palyra.v1.NodesService/Invoke":                    {permission: access.TrustOperate},
	"/palyra.v1.NodesService/SetCapabilityAvailability": {permission: access.TrustOperate},
	"/palyra.v1.NodesService/Revoke":                    {permission: access.TrustOperate},
	"/palyra.v1.NodesService/Remove":                    {permission: access.TrustOperate},

	"/palyra.v1.ApprovalsService/ListApprovals":  {permission: access.ObservabilityRead},
	"/palyra.v1.ApprovalsService/GetApproval":    {permission: access.ObservabilityRead},
	"/palyra.v1.ApprovalsService/WatchApprovals": {permission: access.ObservabilityRead},
	"/palyra.v1.ApprovalsService/Decide":         {permission: access.ApprovalsDecide},

	"/palyra.v1.ChannelsService/ListKinds":           {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/ListConnectors":      {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/GetConnector":        {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/WatchConnectors":     {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/ListDeadLetters":     {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/ListConnectorEvents": {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/ListInbox":           {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/ReadMessages":        {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/AddConnector":        {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/RemoveConnector":     {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/ControlConnector":    {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/Send":                {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/Inject":              {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/ReplayDeadLetter":    {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/DiscardDeadLetter":   {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/Mutate":              {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/Conversations":       {permission: access.ChannelsOperate},
	"/palyra.v1.ChannelsService/ListPlugins":         {permission: access.ObservabilityRead},
	"/palyra.v1.ChannelsService/TrustPlugin":         {adminOnly: true},
	"/palyra.v1.ChannelsService/UntrustPlugin":       {adminOnly: true},

	"/palyra.v1.SecretsService/SetSecret":    {adminOnly: true},
	"/palyra.v1.SecretsService/ListSecrets":  {permission: access.ObservabilityRead},
	"/palyra.v1.SecretsService/RemoveSecret": {adminOnly: true},

	"/palyra.v1.AuditService/ListAudit":   {permission: access.ObservabilityRead},
	"/palyra.v1.AuditService/VerifyAudit": {permission: access.ObservabilityRead},
}

type principalKey struct{}

// principalFrom returns the caller an authenticated call runs for.
func principalFrom(ctx context.Context) access.Principal {
	p, _ := ctx.Value(principalKey{}).(access.Principal)
	return p
}

// guard authenticates calls and checks them against rules.
type guard struct {
	access *access.Access
	log    *slog.Logger
}

// ServerOptions are the interceptors that put every admin call through the guard.
func (g guard) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, next grpc.UnaryHandler) (any, error) {
			ctx, err := g.check(ctx, info.FullMethod)
			if err != nil {
				return nil, err
			}
			return next(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, next grpc.StreamHandler) error {
			if rules[info.FullMethod].open {
				return next(srv, ss)
			}
			ctx, err := g.check(ss.Context(), info.FullMethod)
			if err != nil {
				return err
			}
			return next(srv, authedStream{ServerStream: ss, ctx: ctx, guard: g})
		}),
	}
}

func (g guard) check(ctx context.Context, method string) (context.Context, error) {
	r, known := rules[method]
	if r.open {
		return ctx, nil
	}
	p, err := g.access.Authenticate(bearerToken(ctx))
	switch {
	case errors.Is(err, access.ErrUnauthenticated):
		g.refuse(ctx, method, "no valid token")
		return nil, status.Error(codes.Unauthenticated, err.Error())
	case err != nil:
		return nil, status.Error(codes.Internal, err.Error())
	case !known:
		g.refuse(ctx, method, "method not exposed")
		return nil, status.Errorf(codes.PermissionDenied, "%s is not open to API clients", method)
	case r.adminOnly && !p.Admin:
		g.refuse(ctx, method, "admin only")
		return nil, status.Errorf(codes.PermissionDenied, "%s needs the admin token", method)
	case r.permission != "" && !p.Can(r.permission):
		g.refuse(ctx, method, "missing "+string(r.permission))
		return nil, status.Errorf(codes.PermissionDenied, "token %q lacks the %s permission", p.Name, r.permission)
	}
	return context.WithValue(ctx, principalKey{}, p), nil
}

// refuse logs a refused call, never with the token.
func (g guard) refuse(ctx context.Context, method, why string) {
	from := ""
	if p, ok := peer.FromContext(ctx); ok {
		from = p.Addr.String()
	}
	g.log.Warn("admin call refused", "method", method, "reason", why, "peer", from)
}

// bearerToken is the token of the call's "authorization: Bearer TOKEN" header. The scheme is
// case-insensitive and followed by spaces or tabs (RFC 6750 §2.1, RFC 9110 §11.1).
func bearerToken(ctx context.Context) string {
	md, _ := metadata.FromIncomingContext(ctx)
	for _, v := range md.Get("authorization") {
		v = strings.TrimSpace(v)
		i := strings.IndexAny(v, " \t")
		if i > 0 && strings.EqualFold(v[:i], "Bearer") {
			return strings.TrimSpace(v[i:])
		}
	}
	return ""
}

// authedStream carries the principal into a streaming handler, and checks its token again
// before every message it sends: a token revoked while its watch is open is refused from the
// next event on.
type authedStream struct {
	grpc.ServerStream
	ctx   context.Context
	guard guard
}

func (s authedStream) Context() context.Context { return s.ctx }

func (s authedStream) SendMsg(m any) error {
	if _, err := s.guard.access.Authenticate(bearerToken(s.ctx)); err != nil {
		return status.Error(codes.Unauthenticated, "token revoked")
	}
	return s.ServerStream.SendMsg(m)
}
