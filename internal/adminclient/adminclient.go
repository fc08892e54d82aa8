// Package adminclient is how the TUI and the headless commands reach palyrad's admin API:
// one gRPC connection to the loopback admin address, with the bearer token on every call.
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
	"google.golang.org/grpc/credentials/insecure"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/stack"
)

// AdminTokenFile is the admin token's file name in the state directory.
const AdminTokenFile = "admin.token"

// TokenEnv names the environment variable that carries a token directly.
const TokenEnv = "PALYRA_TOKEN"

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

	conn *grpc.ClientConn
}

// Dial prepares a client for addr; it connects on the first call. Every call carries token.
func Dial(addr, token string) (*Client, error) {
	if token == "" {
		return nil, errors.New("no admin token")
	}
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
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
		conn:      conn,
	}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Bearer puts a token on every call of a connection. The admin API listens on loopback only,
// so it is sent without transport security.
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
// palyrad's to say, so a client asks before it acts for it.
func ScopedToken(home, tokenFile string) bool {
	if strings.TrimSpace(os.Getenv(TokenEnv)) == "" && tokenFile == "" {
		return false
	}
	token, err := LoadToken(home, tokenFile)
	if err != nil {
		return true // unusable as the admin token, whatever it is
	}
	admin, err := readTokenFile(filepath.Join(home, AdminTokenFile))
	return err != nil || subtle.ConstantTimeCompare([]byte(token), []byte(admin)) != 1
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
