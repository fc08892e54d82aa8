package host

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"time"

	"github.com/palyra/palyra/node/capabilities"
	"github.com/palyra/palyra/node/identity"
)

// ErrCertExpired means the node was away longer than its certificate lived, so it cannot
// renew it: only pairing again helps.
var ErrCertExpired = errors.New("the node's certificate has expired")

// Backoff paces reconnection: the delay starts at Initial, doubles up to Max, and starts over
// once a session stayed up for HealthyAfter.
type Backoff struct {
	Initial, Max, HealthyAfter time.Duration
}

// DefaultBackoff is how a node reconnects unless told otherwise.
var DefaultBackoff = Backoff{Initial: 500 * time.Millisecond, Max: 30 * time.Second, HealthyAfter: time.Minute}

// DefaultMaxCalls bounds the calls a node runs at once.
const DefaultMaxCalls = 32

// renewRetry is how long a node waits after a failed renewal before it tries again.
const renewRetry = time.Minute

// RunConfig is what Run needs.
type RunConfig struct {
	Capabilities *capabilities.Set
	Logger       *slog.Logger
	// OnConnected is called each time the gateway welcomes the node.
	OnConnected func()
	Backoff     Backoff // zero: DefaultBackoff
	MaxCalls    int     // zero: DefaultMaxCalls
}

// runner keeps one node connected.
type runner struct {
	cfg       RunConfig
	dir       *identity.Dir
	id        *identity.Identity // replaced after a renewal, only by the session's renewal
	log       *slog.Logger
	slots     chan struct{} // one token per running call
	lastRenew time.Time
}

// Run keeps the node in dir connected to its gateway until ctx ends (then it returns nil),
// reconnecting after any failure. A refusal (revoked device) is final: Run returns an error
// wrapping ErrRefused. An expired certificate is ErrCertExpired.
func Run(ctx context.Context, dir *identity.Dir, cfg RunConfig) error {
	id, err := dir.Load()
	if err != nil {
		return err
	}
	if cfg.Backoff == (Backoff{}) {
		cfg.Backoff = DefaultBackoff
	}
	if cfg.MaxCalls <= 0 {
		cfg.MaxCalls = DefaultMaxCalls
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := &runner{cfg: cfg, dir: dir, id: id, log: log, slots: make(chan struct{}, cfg.MaxCalls)}
	return r.loop(ctx)
}

func (r *runner) loop(ctx context.Context) error {
	delay := r.cfg.Backoff.Initial
	for {
		if now := time.Now(); now.After(r.id.Cert.NotAfter) {
			return fmt.Errorf("%w (at %s), so it cannot be renewed; run `palyra-node unpair --local-only` and pair again",
				ErrCertExpired, r.id.Cert.NotAfter.Local().Format(time.RFC3339))
		}
		up, err := r.session(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.Is(err, ErrRefused):
			return fmt.Errorf("%w; it can connect again only after pairing again (`palyra-node unpair --local-only`, then `palyra-node pair` with a new code)", err)
		case errors.Is(err, errRenewed):
			delay = r.cfg.Backoff.Initial
			continue
		case up >= r.cfg.Backoff.HealthyAfter:
			delay = r.cfg.Backoff.Initial
		}
		wait := jitter(delay)
		r.log.Warn("not connected to the gateway; retrying", "gateway", r.id.Gateway, "err", err, "retry_in", wait.String())
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
		delay = min(2*delay, r.cfg.Backoff.Max)
	}
}

// jitter spreads reconnections of many nodes: a delay between d/2 and d.
func jitter(d time.Duration) time.Duration {
	if d <= 1 {
		return d
	}
	return d/2 + rand.N(d/2)
}

// renewAt is when a certificate is renewed: once less than a third of its lifetime is left.
func renewAt(cert *x509.Certificate) time.Time {
	lifetime := cert.NotAfter.Sub(cert.NotBefore)
	return cert.NotAfter.Add(-lifetime / 3)
}
