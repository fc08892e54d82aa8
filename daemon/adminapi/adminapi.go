// Package adminapi is palyrad's admin gRPC API: inventory, pairing, nodes, approvals, access
// tokens, the audit journal, channels and their secrets, each method behind the bearer-token
// guard of auth.go.
package adminapi

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/daemon/access"
	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/channelgov"
	"github.com/palyra/palyra/daemon/nodes"
	"github.com/palyra/palyra/daemon/pairing"
	"github.com/palyra/palyra/daemon/secrets"
	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Nodes is what the API needs of the node runtime: daemon/nodes satisfies it.
type Nodes interface {
	ListDevices(*palyrav1.ListDevicesRequest) (*palyrav1.ListDevicesReply, error)
	GetDevice(id string) (*palyrav1.DeviceDetail, error)
	WatchInventory(buffer int) (<-chan *palyrav1.InventoryEvent, func())
	PairingRequests(state string) ([]*palyrav1.PairingRequest, error)
	Invoke(ctx context.Context, req *palyrav1.InvokeRequest, requester string) (*palyrav1.CapabilityCall, error)
	SetCapabilityAvailability(deviceID, capability string, available bool, actor string) (*palyrav1.Device, error)
	Revoke(deviceID, reason, actor string) (*palyrav1.Device, error)
	Remove(deviceID, actor string) (*palyrav1.Device, error)
}

// Config is what the API serves from.
type Config struct {
	Access    *access.Access
	Approvals *approvals.Engine
	Pairing   *pairing.Pairing
	Nodes     Nodes
	Store     *store.Store
	// NodeAddr is the node API's address as nodes should dial it, and CAFingerprint the
	// SHA-256 of the gateway CA certificate: both go into every pairing code.
	NodeAddr      string
	CAFingerprint string
	// Platform hosts the channel connectors and Governor holds back the message changes
	// the operator must allow; without them the channels API says it runs none.
	Platform *platform.Platform
	Governor *channelgov.Governor
	// Secrets keeps the connectors' credentials; without it the secrets API says it keeps
	// none.
	Secrets *secrets.Store
	Logger  *slog.Logger
}

// API holds the services.
type API struct {
	cfg           Config
	guard         guard
	requests      *rateLimit // RequestApproval, per token
	dailyRequests *rateLimit
}

// New returns the API over cfg.
func New(cfg Config) *API {
	return &API{cfg: cfg, guard: guard{access: cfg.Access, log: cfg.Logger},
		requests:      newRateLimit(time.Minute/requestsPerMinute, requestBurst),
		dailyRequests: newRateLimit(24*time.Hour/requestsPerDay, requestsPerDay)}
}

// ServerOptions are the options the gRPC server must be built with: the token guard.
func (a *API) ServerOptions() []grpc.ServerOption { return a.guard.ServerOptions() }

// Register adds every admin service to srv.
func (a *API) Register(srv grpc.ServiceRegistrar) {
	palyrav1.RegisterAccessServiceServer(srv, accessServer{API: a})
	palyrav1.RegisterInventoryServiceServer(srv, inventoryServer{API: a})
	palyrav1.RegisterPairingServiceServer(srv, pairingServer{API: a})
	palyrav1.RegisterNodesServiceServer(srv, nodesServer{API: a})
	palyrav1.RegisterApprovalsServiceServer(srv, approvalsServer{API: a})
	palyrav1.RegisterAuditServiceServer(srv, auditServer{API: a})
	palyrav1.RegisterChannelsServiceServer(srv, channelsServer{API: a})
	palyrav1.RegisterSecretsServiceServer(srv, secretsServer{API: a})
}

// audit writes an operator action to the journal; a failure is logged, the action stands.
func (a *API) audit(kind, actor, subject, detail string) {
	_, err := a.cfg.Store.AppendAudit(store.AuditEntry{At: now(), Kind: kind, Actor: actor, Subject: subject, Detail: detail})
	if err != nil {
		a.cfg.Logger.Error("audit append failed", "kind", kind, "err", err)
	}
}

// statusOf turns an engine error into the gRPC status a client can act on.
func statusOf(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok {
		return err
	}
	code := codes.Internal
	switch {
	case errors.Is(err, store.ErrNotFound), errors.Is(err, nodes.ErrNotFound):
		code = codes.NotFound
	case errors.Is(err, approvals.ErrInvalid), errors.Is(err, nodes.ErrInvalid):
		code = codes.InvalidArgument
	case errors.Is(err, store.ErrAlreadyDecided), errors.Is(err, store.ErrApprovalExpired), errors.Is(err, nodes.ErrUnavailable):
		code = codes.FailedPrecondition
	case errors.Is(err, store.ErrTooManyPending), errors.Is(err, store.ErrTooMany):
		code = codes.ResourceExhausted
	case errors.Is(err, store.ErrDiskFull):
		// The write was refused whole; nothing is half-done, and the same call succeeds once
		// space is freed.
		return status.Error(codes.ResourceExhausted, "palyrad cannot save this: "+err.Error()+"; free space on that file system and try again")
	case errors.Is(err, context.Canceled):
		code = codes.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		code = codes.DeadlineExceeded
	}
	return status.Error(code, err.Error())
}
