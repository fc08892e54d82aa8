// Package adminclient is how the TUI and the headless commands reach palyrad's admin API:
// one gRPC connection, plaintext to a loopback address or TLS pinned to the gateway CA, with
// the bearer token on every call.
package adminclient

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/palyra/palyra/internal/admintls"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/stack"
)

// AdminTokenFile is the admin token's file name in the state directory.
const AdminTokenFile = "admin.token"

// TokenEnv names the environment variable that carries a token directly.
const TokenEnv = "PALYRA_TOKEN"

// CAEnv names the environment variable that points at the gateway CA certificate to dial
// an admin API served with TLS, as --gateway-ca does.
const CAEnv = "PALYRA_GATEWAY_CA"

// maxTokenFile bounds what is read from a token file, which should hold one line.
const maxTokenFile = 4096

// Client holds one stub per admin service, all over one connection.
type Client struct {
	Access    palyrav1.AccessServiceClient
	Inventory palyrav1.InventoryServiceClient
	Pairing   palyrav1.PairingServiceClient
	Nodes     palyrav1.NodesServiceClient
	Approvals palyrav1.ApprovalsServiceClient
	Audit     palyrav1.AuditServiceClient
	Channels  palyrav1.ChannelsServiceClient
	Secrets   palyrav1.SecretsServiceClient

	conn *grpc.ClientConn
}

// DialOption changes how Dial connects.
type DialOption func(*dialOptions)

type dialOptions struct {
	caFile string
}

// WithGatewayCA dials with TLS, as palyrad serves its admin API off loopback, trusting only
// the gateway CA certificate in file (a copy of the gateway's <home>/pki/ca.crt). An empty
// file keeps plaintext.
func WithGatewayCA(file string) DialOption {
	return func(o *dialOptions) { o.caFile = file }
}

// Dial prepares a client for addr; it connects on the first call. Every call carries token,
// so without TLS only a loopback address is dialed: elsewhere the token would cross the
// network in the clear.
func Dial(addr, token string, opts ...DialOption) (*Client, error) {
	if token == "" {
		return nil, errors.New("no admin token")
	}
	var o dialOptions
	for _, opt := range opts {
		opt(&o)
	}
	creds := insecure.NewCredentials()
	switch {
	case o.caFile != "":
		cfg, err := admintls.LoadClientConfig(o.caFile)
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	case !admintls.LoopbackTarget(addr):
		return nil, fmt.Errorf("gateway %s is not on this machine: its admin API must be served with TLS there (palyrad --admin-tls), and dialed with the gateway's pki/ca.crt (--gateway-ca or %s), else the token would cross the network in the clear", addr, CAEnv)
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(creds),
		grpc.WithPerRPCCredentials(Bearer(token)))
	if err != nil {
		return nil, fmt.Errorf("gateway %s: %w", addr, err)
	}
	return &Client{
		Access:    palyrav1.NewAccessServiceClient(conn),
		Inventory: palyrav1.NewInventoryServiceClient(conn),
		Pairing:   palyrav1.NewPairingServiceClient(conn),
		Nodes:     palyrav1.NewNodesServiceClient(conn),
		Approvals: palyrav1.NewApprovalsServiceClient(conn),
		Audit:     palyrav1.NewAuditServiceClient(conn),
		Channels:  palyrav1.NewChannelsServiceClient(conn),
		Secrets:   palyrav1.NewSecretsServiceClient(conn),
		conn:      conn,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Bearer puts a token on every call of a connection. Dial sends it in the clear to a
// loopback address only.
type Bearer string

// GetRequestMetadata implements credentials.PerRPCCredentials.
func (b Bearer) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Bearer " + string(b)}, nil
}

// RequireTransportSecurity implements credentials.PerRPCCredentials.
func (Bearer) RequireTransportSecurity() bool { return false }

// LoadToken finds the token to use: $PALYRA_TOKEN, else tokenFile, else <home>/admin.token.
// A token file readable by group or others is refused, as the daemon refuses its own.
func LoadToken(home, tokenFile string) (string, error) {
	if t := strings.TrimSpace(os.Getenv(TokenEnv)); t != "" {
		return t, nil
	}
	path := tokenFile
	if path == "" {
		path = filepath.Join(home, AdminTokenFile)
	}
	return readTokenFile(path)
}

func readTokenFile(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("no token at %s: palyrad creates it on its first start; or pass --token-file or set %s", path, TokenEnv)
	}
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	defer f.Close()
	info, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("token: %w", err)
	}
	if info.Mode().Perm()&0o077 != 0 {
		return "", fmt.Errorf("token file %s is readable by others (mode %04o): chmod 600 %s", path, info.Mode().Perm(), path)
	}
	buf := make([]byte, maxTokenFile)
	n, _ := f.Read(buf)
	token := strings.TrimSpace(string(buf[:n]))
	if token == "" {
		return "", fmt.Errorf("token file %s is empty", path)
	}
	return token, nil
}

// ServicesOperate is the permission a scoped token needs before the UI and the headless
// commands start, stop or restart services for it.
const ServicesOperate = "services.operate"

// ScopedToken reports whether the token the clients would use is a scoped one: set through
// $PALYRA_TOKEN or tokenFile, and not <home>/admin.token's. Such a token's permissions are
// palyrad's to say, so a client asks before it acts for it. A token set but unusable (a
// missing file, one others can read) is the error.
func ScopedToken(home, tokenFile string) (bool, error) {
	if strings.TrimSpace(os.Getenv(TokenEnv)) == "" && tokenFile == "" {
		return false, nil
	}
	token, err := LoadToken(home, tokenFile)
	if err != nil {
		return false, err
	}
	admin, err := readTokenFile(filepath.Join(home, AdminTokenFile))
	return err != nil || subtle.ConstantTimeCompare([]byte(token), []byte(admin)) != 1, nil
}

// AdminAddr is the daemon's admin address from a supervisor snapshot, or "" while the daemon
// is not running.
func AdminAddr(snap supervisor.Snapshot) string {
	for _, s := range snap.Services {
		if s.Name == stack.Daemon && s.State == supervisor.StateRunning {
			return s.Addrs["admin"]
		}
	}
	return ""
}
