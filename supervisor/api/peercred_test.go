package api

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

func TestSameUID(t *testing.T) {
	withPeer := func(auth credentials.AuthInfo) context.Context {
		return peer.NewContext(t.Context(), &peer.Peer{AuthInfo: auth})
	}
	for _, tc := range []struct {
		name string
		ctx  context.Context
		want codes.Code
	}{
		{"same uid", withPeer(peerInfo{uid: os.Getuid()}), codes.OK},
		{"another uid", withPeer(peerInfo{uid: os.Getuid() + 1}), codes.PermissionDenied},
		{"other credentials", withPeer(credentials.TLSInfo{}), codes.PermissionDenied},
		{"no peer", t.Context(), codes.PermissionDenied},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := status.Code(sameUID(tc.ctx)); got != tc.want {
				t.Errorf("sameUID = %v (%v), want %v", got, sameUID(tc.ctx), tc.want)
			}
		})
	}
}

// The server handshake reads the uid and pid of the process at the other end of the socket.
func TestServerHandshakeReadsPeer(t *testing.T) {
	dir, err := os.MkdirTemp("", "api-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l, err := Listen(filepath.Join(dir, "s.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	client, err := net.Dial("unix", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	conn, err := l.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	_, auth, err := peerCreds{}.ServerHandshake(conn)
	if err != nil {
		t.Fatal(err)
	}
	info := auth.(peerInfo)
	if info.uid != os.Getuid() || info.pid != os.Getpid() {
		t.Errorf("peer uid %d pid %d, want %d %d", info.uid, info.pid, os.Getuid(), os.Getpid())
	}

	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, _, err := (peerCreds{}).ServerHandshake(a); err == nil {
		t.Error("the handshake accepted a connection that is not a unix socket")
	}
}
