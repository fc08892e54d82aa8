// Package access decides who may call palyrad: the admin token, which may do everything, and
// scoped API tokens, each with a set of permissions. Only the SHA-256 of a secret is kept;
// the admin token is compared in constant time and a scoped one is found by its hash.
package access

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/palyra/palyra/daemon/store"
)

// Permission names one thing a token may do.
type Permission string

// The permissions a scoped token can carry.
const (
	ObservabilityRead Permission = "observability.read"
	ApprovalsDecide   Permission = "approvals.decide"
	TrustOperate      Permission = "trust.operate"
	ChannelsOperate   Permission = "channels.operate"
	ServicesOperate   Permission = "services.operate"
)

// Permissions lists every permission, for help texts and validation.
var Permissions = []Permission{ObservabilityRead, ApprovalsDecide, TrustOperate, ChannelsOperate, ServicesOperate}

// ErrUnauthenticated means the bearer token is missing, unknown or revoked. It never says
// which, so a caller learns nothing about the tokens that exist.
var ErrUnauthenticated = errors.New("unauthenticated: a valid bearer token is required")

// Principal is who a token speaks for.
type Principal struct {
	Name        string // "admin", or the scoped token's name
	TokenID     string // empty for the admin token
	Admin       bool
	Permissions []Permission
}

// Can reports whether p holds perm. The admin holds every permission.
func (p Principal) Can(perm Permission) bool {
	return p.Admin || slices.Contains(p.Permissions, perm)
}

// Tokens is the storage access needs: daemon/store satisfies it.
type Tokens interface {
	PutToken(store.Token) error
	TokenByHash([32]byte) (store.Token, error)
	Tokens() ([]store.Token, error)
	RevokeToken(id string, at time.Time) error
}

// Access authenticates bearer tokens and manages the scoped ones.
type Access struct {
	adminHash [32]byte
	tokens    Tokens
	now       func() time.Time
}

// New returns an Access for the admin token and the stored scoped tokens.
func New(adminToken string, tokens Tokens) *Access {
	return &Access{adminHash: sha256.Sum256([]byte(adminToken)), tokens: tokens, now: time.Now}
}

// Authenticate returns the principal a bearer token speaks for.
func (a *Access) Authenticate(bearer string) (Principal, error) {
	if bearer == "" {
		return Principal{}, ErrUnauthenticated
	}
	hash := sha256.Sum256([]byte(bearer))
	if subtle.ConstantTimeCompare(hash[:], a.adminHash[:]) == 1 {
		return Principal{Name: "admin", Admin: true, Permissions: slices.Clone(Permissions)}, nil
	}
	t, err := a.tokens.TokenByHash(hash)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return Principal{}, ErrUnauthenticated
	case err != nil:
		return Principal{}, fmt.Errorf("look up token: %w", err)
	case !t.RevokedAt.IsZero():
		return Principal{}, ErrUnauthenticated
	}
	p := Principal{Name: t.Name, TokenID: t.ID}
	for _, perm := range t.Permissions {
		p.Permissions = append(p.Permissions, Permission(perm))
	}
	return p, nil
}

// Create makes a scoped token and returns its secret, shown this once and never stored.
func (a *Access) Create(name string, perms []Permission) (secret string, t store.Token, err error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", store.Token{}, errors.New("a token needs a name")
	}
	if len(perms) == 0 {
		return "", store.Token{}, errors.New("a token needs at least one permission")
	}
	t = store.Token{Name: name, CreatedAt: a.now()}
	for _, p := range perms {
		if !slices.Contains(Permissions, p) {
			return "", store.Token{}, fmt.Errorf("unknown permission %q (known: %s)", p, joinPermissions(Permissions))
		}
		if !slices.Contains(t.Permissions, string(p)) {
			t.Permissions = append(t.Permissions, string(p))
		}
	}
	id := make([]byte, 6)
	key := make([]byte, 32)
	rand.Read(id)
	rand.Read(key)
	t.ID = hex.EncodeToString(id)
	// The id in the secret lets an operator tell tokens apart in a config file; the key
	// carries 256 bits of entropy.
	secret = "pt_" + t.ID + "_" + base64.RawURLEncoding.EncodeToString(key)
	t.Hash = sha256.Sum256([]byte(secret))
	if err := a.tokens.PutToken(t); err != nil {
		return "", store.Token{}, fmt.Errorf("store token: %w", err)
	}
	return secret, t, nil
}

// List returns every scoped token, revoked ones included, without secrets.
func (a *Access) List() ([]store.Token, error) { return a.tokens.Tokens() }

// Revoke makes the token with id unusable from now on.
func (a *Access) Revoke(id string) error {
	if err := a.tokens.RevokeToken(id, a.now()); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return fmt.Errorf("no token %q", id)
		}
		return err
	}
	return nil
}

func joinPermissions(perms []Permission) string {
	names := make([]string, len(perms))
	for i, p := range perms {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}
