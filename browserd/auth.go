package browserd

import (
	"context"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// openMethods need no token: health, version, the API's schema and the browser's Health.
// Every other method, BrowserService's included, needs the bearer token.
var openMethods = map[string]bool{
	"/grpc.health.v1.Health/Check":                                   true,
	"/grpc.health.v1.Health/Watch":                                   true,
	"/grpc.health.v1.Health/List":                                    true,
	"/palyra.v1.VersionService/GetVersion":                           true,
	"/palyra.v1.BrowserService/Health":                               true,
	"/grpc.reflection.v1.ServerReflection/ServerReflectionInfo":      true,
	"/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo": true,
}

var errUnauthenticated = status.Error(codes.Unauthenticated, "missing or invalid browser service token (authorization: Bearer <the token in browserd.token>)")

// authorize checks the call's `authorization: Bearer <token>` unless its method is open.
func authorize(ctx context.Context, method, token string) error {
	if openMethods[method] {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	vals := md.Get("authorization")
	if len(vals) != 1 {
		return errUnauthenticated
	}
	got, ok := strings.CutPrefix(vals[0], "Bearer ")
	if !ok || !tokenMatches(strings.TrimSpace(got), token) {
		return errUnauthenticated
	}
	return nil
}

func unaryAuth(token string) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if err := authorize(ctx, info.FullMethod, token); err != nil {
			return nil, err
		}
		return handler(ctx, req)
	}
}

func streamAuth(token string) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if err := authorize(ss.Context(), info.FullMethod, token); err != nil {
			return err
		}
		return handler(srv, ss)
	}
}
