// Package pairing mints the codes an operator gives a node to pair with the gateway (a
// 6-digit PIN to type, or a token to scan as a QR code) and redeems them: each code once,
// before it expires. Wrong guesses are limited per peer, and every wrong PIN counts against
// all live PINs, which are burned after a few, so a brute force ends long before it covers
// the million PINs.
package pairing

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"time"

	"github.com/palyra/palyra/daemon/store"
)

// Code lifetimes.
const (
	MinTTL     = 30 * time.Second
	MaxTTL     = 24 * time.Hour
	DefaultTTL = 10 * time.Minute
)

// Limits on wrong guesses.
const (
	// MaxAttempts wrong PINs, tried by anyone while a PIN code is live, burn it.
	MaxAttempts = 5
	// PeerFailures failures within PeerWindow make a peer wait until the window passes.
	PeerFailures = 5
	PeerWindow   = time.Minute
)

// The methods.
const (
	PIN = "pin"
	QR  = "qr"
)

// ErrInvalidCode means no such code; it never says more.
var ErrInvalidCode = errors.New("invalid pairing code")

// ErrRateLimited means the peer failed too often and must wait.
var ErrRateLimited = errors.New("too many failed pairing attempts from this address; wait a minute")

// Codes is the storage pairing needs: daemon/store satisfies it.
type Codes interface {
	PutPairingCode(store.PairingCode) error
	RedeemPairingCode(hash [32]byte, now time.Time) (store.PairingCode, error)
	CountFailedPIN(now time.Time, maxAttempts int) ([]store.PairingCode, error)
}

// Minted is a new code with its secret, shown to the operator once and never stored.
type Minted struct {
	store.PairingCode
	Secret string
}

// Pairing mints and redeems codes.
type Pairing struct {
	codes Codes
	log   *slog.Logger
	now   func() time.Time

	mu       sync.Mutex
	failures map[string][]time.Time // per peer, within PeerWindow
}

// New returns a Pairing over codes; log receives the warnings an operator must see.
func New(codes Codes, log *slog.Logger) *Pairing {
	return &Pairing{codes: codes, log: log, now: time.Now, failures: make(map[string][]time.Time)}
}

// Mint makes a code of method (PIN or QR) living ttl (DefaultTTL when zero).
func (p *Pairing) Mint(method string, ttl time.Duration) (Minted, error) {
	if ttl == 0 {
		ttl = DefaultTTL
	}
	if ttl < MinTTL || ttl > MaxTTL {
		return Minted{}, fmt.Errorf("pairing code lifetime %v is outside %v to %v", ttl, MinTTL, MaxTTL)
	}
	if method != PIN && method != QR {
		return Minted{}, fmt.Errorf("pairing method %q: want %q or %q", method, PIN, QR)
	}
	now := p.now()
	var err error
	// A new PIN may equal an old one; drawing again a few times settles it.
	for range 5 {
		m := Minted{Secret: secret(method)}
		m.ID = newID()
		m.Method = method
		m.CreatedAt = now
		m.ExpiresAt = now.Add(ttl)
		m.Hash = sha256.Sum256([]byte(m.Secret))
		if err = p.codes.PutPairingCode(m.PairingCode); err == nil {
			return m, nil
		}
	}
	return Minted{}, fmt.Errorf("store pairing code: %w", err)
}

// Redeem spends the code secret for a node connecting from peer (its address without the
// port). It returns the code, or ErrRateLimited, ErrInvalidCode, or the store's reasons a
// real code cannot pair (expired, used, burned).
func (p *Pairing) Redeem(secret, peer string) (store.PairingCode, error) {
	now := p.now()
	if p.limited(peer, now) {
		return store.PairingCode{}, ErrRateLimited
	}
	c, err := p.codes.RedeemPairingCode(sha256.Sum256([]byte(secret)), now)
	switch {
	case err == nil:
		return c, nil
	case errors.Is(err, store.ErrNotFound):
		p.fail(peer, now)
		if isPIN(secret) {
			burned, cerr := p.codes.CountFailedPIN(now, MaxAttempts)
			if cerr != nil {
				return store.PairingCode{}, cerr
			}
			for _, b := range burned {
				p.log.Warn("pairing code burned after wrong PINs; mint a new one", "code", b.ID, "attempts", b.FailedAttempts, "last_peer", peer)
			}
		}
		return store.PairingCode{}, ErrInvalidCode
	case errors.Is(err, store.ErrCodeExpired), errors.Is(err, store.ErrCodeUsed), errors.Is(err, store.ErrCodeBurned):
		p.fail(peer, now)
		return store.PairingCode{}, err
	}
	return store.PairingCode{}, fmt.Errorf("redeem pairing code: %w", err)
}

func (p *Pairing) limited(peer string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	recent := p.failures[peer][:0]
	for _, t := range p.failures[peer] {
		if now.Sub(t) < PeerWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) == 0 {
		delete(p.failures, peer)
		return false
	}
	p.failures[peer] = recent
	return len(recent) >= PeerFailures
}

func (p *Pairing) fail(peer string, now time.Time) {
	p.mu.Lock()
	p.failures[peer] = append(p.failures[peer], now)
	p.mu.Unlock()
}

func secret(method string) string {
	if method == PIN {
		n, _ := rand.Int(rand.Reader, big.NewInt(1_000_000))
		return fmt.Sprintf("%06d", n.Int64())
	}
	b := make([]byte, 32)
	rand.Read(b)
	return "pq_" + base64.RawURLEncoding.EncodeToString(b)
}

func isPIN(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func newID() string {
	b := make([]byte, 6)
	rand.Read(b)
	return hex.EncodeToString(b)
}
