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
	"slices"
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
	RedeemPairingCode(hash [32]byte, now time.Time, chargePINs bool, maxAttempts int) (store.PairingCode, []store.PairingCode, error)
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
	// The attempt is counted before it is made, so many at once from one peer cannot all
	// slip under the limit; a success gives it back.
	if !p.admit(peer, now) {
		return store.PairingCode{}, ErrRateLimited
	}
	c, burned, err := p.codes.RedeemPairingCode(sha256.Sum256([]byte(secret)), now, isPIN(secret), MaxAttempts)
	for _, b := range burned {
		p.log.Warn("pairing code burned after wrong PINs; mint a new one", "code", b.ID, "attempts", b.FailedAttempts, "last_peer", peer)
	}
	switch {
	case err == nil:
		p.forgive(peer, now)
		return c, nil
	case errors.Is(err, store.ErrNotFound):
		return store.PairingCode{}, ErrInvalidCode
	case errors.Is(err, store.ErrCodeExpired), errors.Is(err, store.ErrCodeUsed), errors.Is(err, store.ErrCodeBurned):
		return store.PairingCode{}, err
	}
	return store.PairingCode{}, fmt.Errorf("redeem pairing code: %w", err)
}

// admit counts an attempt of peer at now unless it already has PeerFailures within
// PeerWindow. Peers whose attempts have all aged out are forgotten, so the map stays small.
func (p *Pairing) admit(peer string, now time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, times := range p.failures {
		if len(times) > 0 && now.Sub(times[len(times)-1]) >= PeerWindow {
			delete(p.failures, k)
		}
	}
	recent := p.failures[peer][:0]
	for _, t := range p.failures[peer] {
		if now.Sub(t) < PeerWindow {
			recent = append(recent, t)
		}
	}
	if len(recent) >= PeerFailures {
		p.failures[peer] = recent
		return false
	}
	p.failures[peer] = append(recent, now)
	return true
}

// forgive takes back the attempt admit counted at now, which succeeded.
func (p *Pairing) forgive(peer string, now time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	times := p.failures[peer]
	if i := slices.Index(times, now); i >= 0 {
		p.failures[peer] = slices.Delete(times, i, i+1)
	}
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
