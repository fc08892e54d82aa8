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

// AdminName is the admin token's principal name; no scoped token may take it.
const AdminName = "admin"

// MaxNameLen bounds a scoped token's name.
const MaxNameLen = 64

// MaxLiveTokens bounds how many scoped tokens may be valid at once.
const MaxLiveTokens = 256

// Principal is who a token speaks for.
type Principal struct {
	Name        string // "admin", or the scoped token's name
	TokenID     string // empty for the admin token
	Admin       bool
	Permissions []Permission
}

// Actor is the principal as audit entries, approvals and grants name it: "admin" for the
// admin token, "NAME#ID" for a scoped one. The id makes it unique: names may be reused once a
// token is revoked, and a grant or a journal entry must never pass to its successor.
func (p Principal) Actor() string {
	if p.Admin {
		return AdminName
	}
	return TokenActor(p.Name, p.TokenID)
}

// TokenActor is the Actor of the scoped token with name and id.
func TokenActor(name, id string) string { return name + "#" + id }

// Can reports whether p holds perm. The admin holds every permission.
func (p Principal) Can(perm Permission) bool {
	return p.Admin || slices.Contains(p.Permissions, perm)
}

// Tokens is the storage access needs: daemon/store satisfies it.
type Tokens interface {
	CreateToken(t store.Token, maxLive int) error
	TokenByHash([32]byte) (store.Token, error)
	Tokens() ([]store.Token, error)
	RevokeToken(id string, at time.Time) (store.Token, error)
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
		return Principal{Name: AdminName, Admin: true, Permissions: slices.Clone(Permissions)}, nil
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

// ErrInvalid marks a token request that is malformed.
var ErrInvalid = errors.New("invalid")

// Create makes a scoped token and returns its secret, shown this once and never stored. The
// name must be unique among live tokens (store.ErrNameTaken otherwise), and at most
// MaxLiveTokens may live at once (store.ErrTooMany).
func (a *Access) Create(name string, perms []Permission) (secret string, t store.Token, err error) {
	if err := checkName(name); err != nil {
		return "", store.Token{}, err
	}
	if len(perms) == 0 {
		return "", store.Token{}, fmt.Errorf("%w: a token needs at least one permission", ErrInvalid)
	}
	t = store.Token{Name: name, CreatedAt: a.now()}
	for _, p := range perms {
		if !slices.Contains(Permissions, p) {
			return "", store.Token{}, fmt.Errorf("%w: unknown permission %q (known: %s)", ErrInvalid, p, joinPermissions(Permissions))
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
	if err := a.tokens.CreateToken(t, MaxLiveTokens); err != nil {
		return "", store.Token{}, fmt.Errorf("store token: %w", err)
	}
	return secret, t, nil
}

// checkName accepts 1 to MaxNameLen letters, digits, '.', '_' and '-', but not the admin's
// name: a token's name shows in every list and journal entry, so it must read unambiguously.
func checkName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: a token needs a name", ErrInvalid)
	case len(name) > MaxNameLen:
		return fmt.Errorf("%w: a token name has at most %d characters", ErrInvalid, MaxNameLen)
	case strings.EqualFold(name, AdminName):
		return fmt.Errorf("%w: the name %q is reserved for the admin token", ErrInvalid, AdminName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("%w: token name %q: use letters, digits, '.', '_' and '-'", ErrInvalid, name)
		}
	}
	return nil
}

// List returns every scoped token, revoked ones included, without secrets.
func (a *Access) List() ([]store.Token, error) { return a.tokens.Tokens() }

// Revoke makes the token with id unusable from now on and returns it.
func (a *Access) Revoke(id string) (store.Token, error) {
	t, err := a.tokens.RevokeToken(id, a.now())
	if errors.Is(err, store.ErrNotFound) {
		return t, fmt.Errorf("no token %q: %w", id, err)
	}
	return t, err
}

func joinPermissions(perms []Permission) string {
	names := make([]string, len(perms))
	for i, p := range perms {
		names[i] = string(p)
	}
	return strings.Join(names, ", ")
}
