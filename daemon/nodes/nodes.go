// Package nodes is palyrad's node runtime: it pairs palyra-node hosts (a code, a proof of
// key possession, the operator's approval, then a client certificate from the gateway CA),
// keeps the inventory of paired devices with their trust and presence, holds each node's
// live session and pushes capability calls down it the moment they are made.
//
// Everything an operator can see survives a restart: devices, pairing requests and the
// record of capability calls live in daemon.db. Pairing sessions (five minutes long) and
// calls in flight do not: a call left unfinished by a previous run is marked failed, and a
// pairing decided while palyrad was down is finished by Run when it starts.
package nodes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"time"

	"github.com/palyra/palyra/daemon/approvals"
	"github.com/palyra/palyra/daemon/pairing"
	"github.com/palyra/palyra/daemon/pki"
	"github.com/palyra/palyra/daemon/store"
	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
)

// Trust states of a device.
const (
	TrustTrusted = "trusted"
	TrustRevoked = "revoked"
	TrustRemoved = "removed"
)

// Presence states of a device.
const (
	PresenceOnline   = "online"
	PresenceDegraded = "degraded" // online, a capability unavailable
	PresenceStale    = "stale"    // connected, silent for StaleAfter heartbeats
	PresenceOffline  = "offline"
)

// The errors the admin API maps to status codes (NotFound, InvalidArgument,
// FailedPrecondition).
var (
	ErrNotFound    = errors.New("not found")
	ErrInvalid     = errors.New("invalid")
	ErrUnavailable = errors.New("unavailable")
)

// Defaults and limits.
const (
	DefaultHeartbeatInterval = 5 * time.Second
	// StaleAfter heartbeat intervals of silence make a connected device stale.
	StaleAfter = 3
	// SessionLifetime is how long a node has from BeginPairing to CompletePairing.
	SessionLifetime = 5 * time.Minute
	// CallsKept is how many call records each device keeps.
	CallsKept = 1000
	// lastSeenEvery bounds how often a connected device's last-seen time is written.
	lastSeenEvery = time.Minute
	// prunePairingsAfter is how long settled pairing requests are kept.
	prunePairingsAfter = 30 * 24 * time.Hour
)

// Config is what a Runtime needs.
type Config struct {
	Store     *store.Store
	CA        *pki.CA
	Pairing   *pairing.Pairing
	Approvals *approvals.Engine
	Logger    *slog.Logger
	// HeartbeatInterval is told to nodes in GatewayWelcome; DefaultHeartbeatInterval when zero.
	HeartbeatInterval time.Duration
	// ApprovalTTL is how long a pairing request waits for the operator;
	// approvals.DefaultTTL when zero.
	ApprovalTTL time.Duration
}

// Runtime is the node runtime. Its inventory is in memory, loaded at New and written
// through to the store on every change.
type Runtime struct {
	cfg Config
	st  *store.Store
	log *slog.Logger
	now func() time.Time

	// writeMu serialises changes to devices and pairing requests: each is written to the
	// store first, then applied in memory, so no two writers interleave stale records.
	writeMu sync.Mutex

	mu       sync.RWMutex
	devices  map[string]*device
	byCert   map[string]*device         // by the fingerprint of a current or previous certificate
	pending  map[string]*pendingPairing // pending pairing requests by id
	watchers map[chan *palyrav1.InventoryEvent]struct{}

	sessionsMu sync.Mutex
	sessions   map[string]*session

	callsMu  sync.Mutex
	calls    map[string]*call // calls not yet over, by id
	finished finishedCalls    // recently finished calls, to tell a late result from a bogus one

	callLog *callLog
}

// New returns a Runtime over cfg.Store. It loads the devices and pending pairing requests,
// marks the calls a previous run left unfinished failed ("palyrad restarted"), and expires
// the pairing requests it stopped before putting to the operator.
func New(cfg Config) (*Runtime, error) {
	switch {
	case cfg.Store == nil, cfg.CA == nil, cfg.Pairing == nil, cfg.Approvals == nil:
		return nil, errors.New("nodes: a store, a CA, pairing and approvals are needed")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.ApprovalTTL <= 0 {
		cfg.ApprovalTTL = approvals.DefaultTTL
	}
	r := &Runtime{
		cfg: cfg, st: cfg.Store, log: cfg.Logger, now: time.Now,
		devices: map[string]*device{}, byCert: map[string]*device{}, pending: map[string]*pendingPairing{},
		watchers: map[chan *palyrav1.InventoryEvent]struct{}{}, sessions: map[string]*session{},
		calls: map[string]*call{}, finished: newFinishedCalls(4096),
		callLog: newCallLog(cfg.Store, cfg.Logger),
	}
	now := r.now()
	if n, err := r.st.FailUnfinishedCalls("palyrad restarted", now); err != nil {
		return nil, fmt.Errorf("nodes: fail calls left unfinished: %w", err)
	} else if n > 0 {
		r.log.Info("calls left unfinished by the previous run marked failed", "calls", n)
	}
	if _, err := r.st.PrunePairingRequests(now.Add(-prunePairingsAfter)); err != nil {
		return nil, fmt.Errorf("nodes: prune pairing requests: %w", err)
	}
	devices, err := r.st.Devices()
	if err != nil {
		return nil, fmt.Errorf("nodes: load devices: %w", err)
	}
	for _, rec := range devices {
		r.addDeviceLocked(newDevice(rec))
	}
	if err := r.loadPending(); err != nil {
		return nil, fmt.Errorf("nodes: load pairing requests: %w", err)
	}
	return r, nil
}

// loadPending loads the pending pairing requests. One without an approval was cut off
// between being stored and being put to the operator: the approval is found by its subject
// when it was made, and the request expired when it was not.
func (r *Runtime) loadPending() error {
	requests, err := r.st.PairingRequests()
	if err != nil {
		return err
	}
	var bySubject map[string]store.Approval
	for _, req := range requests {
		if req.State != store.PairingPending {
			continue
		}
		if req.ApprovalID == "" {
			if bySubject == nil {
				if bySubject, err = r.pairingApprovals(); err != nil {
					return err
				}
			}
			a, ok := bySubject[req.ID]
			if !ok {
				if _, err := r.st.SettlePairing(req.ID, store.PairingExpired,
					"palyrad stopped before the operator was asked; pair again", r.now()); err != nil {
					return err
				}
				continue
			}
			if err := r.st.SetPairingApproval(req.ID, a.ID()); err != nil {
				return err
			}
			req.ApprovalID = a.ID()
		}
		r.pending[req.ID] = &pendingPairing{rec: req, done: make(chan struct{})}
	}
	return nil
}

// pairingApprovals returns the device-pairing approvals by subject (the request id), reading
// the history a page at a time; it runs only at start, after a crash cut a pairing short.
func (r *Runtime) pairingApprovals() (map[string]store.Approval, error) {
	out := map[string]store.Approval{}
	for before := uint64(0); ; {
		page, err := r.st.Approvals("", before, 1000, math.MaxInt)
		if err != nil {
			return nil, err
		}
		for _, a := range page.Approvals {
			if a.SubjectType == approvals.DevicePairing {
				if _, newer := out[a.SubjectID]; !newer {
					out[a.SubjectID] = a
				}
			}
		}
		if before = page.Next; before == 0 {
			return out, nil
		}
	}
}

// Run follows the approvals to finish, deny or expire pairing requests, including those
// decided while palyrad was down, and writes the call records and last-seen times in the
// background. It returns nil when ctx ends, after a last write.
func (r *Runtime) Run(ctx context.Context) error {
	events, stop := r.cfg.Approvals.Watch(256)
	defer func() { stop() }()
	// Read after subscribing, so a decision in between is not missed.
	r.reconcile()

	var wg sync.WaitGroup
	wg.Go(func() { r.callLog.run(ctx) })
	defer wg.Wait()

	seen := time.NewTicker(lastSeenEvery)
	defer seen.Stop()
	for {
		select {
		case <-ctx.Done():
			r.saveLastSeen()
			return nil
		case ev, ok := <-events:
			if !ok {
				r.log.Warn("fell behind the approvals; reading them again")
				events, stop = r.cfg.Approvals.Watch(256)
				r.reconcile()
				continue
			}
			r.onApproval(*ev.Approval)
		case <-seen.C:
			r.saveLastSeen()
			// Retries a settlement whose write failed: its approval, already decided, sends
			// no second event.
			r.reconcile()
		}
	}
}

// reconcile applies the current state of every pending request's approval.
func (r *Runtime) reconcile() {
	r.mu.RLock()
	var ids []string
	for _, p := range r.pending {
		if p.rec.ApprovalID != "" {
			ids = append(ids, p.rec.ApprovalID)
		}
	}
	r.mu.RUnlock()
	for _, id := range ids {
		seq, err := store.ParseApprovalID(id)
		if err != nil {
			r.log.Error("pairing request names a malformed approval", "approval", id, "err", err)
			continue
		}
		a, err := r.st.Approval(seq)
		if err != nil {
			r.log.Error("read pairing approval", "approval", id, "err", err)
			continue
		}
		r.onApproval(a)
	}
}

// saveLastSeen writes the last-seen time of every device seen since it was last written.
func (r *Runtime) saveLastSeen() {
	seen := map[string]time.Time{}
	var touched []*device
	r.mu.RLock()
	for _, d := range r.devices {
		if ms := d.lastSeen.Load(); ms > d.savedSeen.Load() {
			seen[d.rec.ID] = time.UnixMilli(ms)
			touched = append(touched, d)
		}
	}
	r.mu.RUnlock()
	if len(seen) == 0 {
		return
	}
	if err := r.st.TouchDevices(seen); err != nil {
		r.log.Error("save last-seen times", "devices", len(seen), "err", err)
		return
	}
	for _, d := range touched {
		d.savedSeen.Store(seen[d.rec.ID].UnixMilli())
	}
}
