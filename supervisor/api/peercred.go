package api

import (
	"context"
	"fmt"
	"net"
	"os"
	"syscall"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// peerCreds reads the connecting process's uid from the unix socket (SO_PEERCRED). The socket
// file is 0600 already; this second check refuses a client of another uid even if the file's
// mode is loosened or the socket is reached another way.
type peerCreds struct{}

type peerInfo struct {
	credentials.CommonAuthInfo
	uid, pid int
}

func (peerInfo) AuthType() string { return "peercred" }

func (peerCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	uc, ok := conn.(*net.UnixConn)
	if !ok {
		return nil, nil, fmt.Errorf("supervisor API accepts unix socket connections only")
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, nil, err
	}
	var cred *syscall.Ucred
	var credErr error
	if err := raw.Control(func(fd uintptr) {
		cred, credErr = syscall.GetsockoptUcred(int(fd), syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	}); err != nil {
		return nil, nil, err
	}
	if credErr != nil {
		return nil, nil, fmt.Errorf("read peer credentials: %w", credErr)
	}
	return conn, peerInfo{
		CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity},
		uid:            int(cred.Uid),
		pid:            int(cred.Pid),
	}, nil
}

func (peerCreds) ClientHandshake(_ context.Context, _ string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return conn, peerInfo{CommonAuthInfo: credentials.CommonAuthInfo{SecurityLevel: credentials.NoSecurity}}, nil
}

func (peerCreds) Info() credentials.ProtocolInfo {
	return credentials.ProtocolInfo{SecurityProtocol: "peercred"}
}

func (c peerCreds) Clone() credentials.TransportCredentials { return c }

func (peerCreds) OverrideServerName(string) error { return nil }

// sameUID refuses callers whose uid differs from the server's.
func sameUID(ctx context.Context) error {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return status.Error(codes.PermissionDenied, "no peer credentials")
	}
	info, ok := p.AuthInfo.(peerInfo)
	if !ok {
		return status.Error(codes.PermissionDenied, "no peer credentials")
	}
	if info.uid != os.Getuid() {
		return status.Errorf(codes.PermissionDenied,
			"uid %d may not use this supervisor: it accepts only its owner, uid %d", info.uid, os.Getuid())
	}
	return nil
}
