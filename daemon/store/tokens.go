package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound means no record has the key asked for.
var ErrNotFound = errors.New("not found")

// The ways a new token is refused.
var (
	ErrNameTaken = errors.New("a live token already has this name")
	ErrTooMany   = errors.New("too many live tokens")
)

// Token is a scoped API token without its secret: Hash is the secret's SHA-256.
type Token struct {
	ID          string
	Name        string
	Permissions []string
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
	Hash        [32]byte
}

// CreateToken stores the new token t under its hash, in one transaction with the checks that
// no live token has its name (ErrNameTaken) and that fewer than maxLive live ones exist
// (ErrTooMany).
func (s *Store) CreateToken(t Token, maxLive int) error {
	raw, err := encodeToken(t)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		live := 0
		err := b.ForEach(func(_, v []byte) error {
			other, err := decodeToken(v)
			switch {
			case err != nil:
				return err
			case !other.RevokedAt.IsZero():
				return nil
			case other.Name == t.Name:
				return fmt.Errorf("%q: %w", t.Name, ErrNameTaken)
			}
			live++
			return nil
		})
		if err != nil {
			return err
		}
		if live >= maxLive {
			return fmt.Errorf("%w: %d are valid; revoke one first", ErrTooMany, live)
		}
		return b.Put(t.Hash[:], raw)
	})
}

// TokenByHash returns the token whose secret hashes to hash, or ErrNotFound.
func (s *Store) TokenByHash(hash [32]byte) (Token, error) {
	var t Token
	err := s.db.View(func(tx *bolt.Tx) error {
		raw := tx.Bucket(bucketTokens).Get(hash[:])
		if raw == nil {
			return ErrNotFound
		}
		var err error
		t, err = decodeToken(raw) // decodes a copy: raw dies with the transaction
		return err
	})
	return t, err
}

// Tokens returns every token, revoked ones included, in hash order.
func (s *Store) Tokens() ([]Token, error) {
	var out []Token
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).ForEach(func(_, raw []byte) error {
			t, err := decodeToken(raw)
			if err != nil {
				return err
			}
			out = append(out, t)
			return nil
		})
	})
	return out, err
}

// RevokeToken marks the token with id revoked at at, in one transaction, and returns it;
// revoking a revoked token keeps its first time. It returns ErrNotFound for an unknown id.
func (s *Store) RevokeToken(id string, at time.Time) (Token, error) {
	var revoked Token
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketTokens)
		c := b.Cursor()
		for k, raw := c.First(); k != nil; k, raw = c.Next() {
			t, err := decodeToken(raw)
			if err != nil {
				return err
			}
			if t.ID != id {
				continue
			}
			revoked = t
			if !t.RevokedAt.IsZero() {
				return nil
			}
			t.RevokedAt = at
			revoked = t
			updated, err := encodeToken(t)
			if err != nil {
				return err
			}
			// Put outside the cursor's walk: the loop ends here.
			return b.Put(append([]byte(nil), k...), updated)
		}
		return ErrNotFound
	})
	return revoked, err
}
