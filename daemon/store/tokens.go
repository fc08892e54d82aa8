package store

import (
	"errors"
	"time"

	bolt "go.etcd.io/bbolt"
)

// ErrNotFound means no record has the key asked for.
var ErrNotFound = errors.New("not found")

// Token is a scoped API token without its secret: Hash is the secret's SHA-256.
type Token struct {
	ID          string
	Name        string
	Permissions []string
	CreatedAt   time.Time
	RevokedAt   time.Time // zero while valid
	Hash        [32]byte
}

// PutToken stores t under its hash, replacing a record with the same hash.
func (s *Store) PutToken(t Token) error {
	raw, err := encodeToken(t)
	if err != nil {
		return err
	}
	return s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTokens).Put(t.Hash[:], raw)
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

// RevokeToken marks the token with id revoked at at, in one transaction; revoking a revoked
// token keeps its first time. It returns ErrNotFound for an unknown id.
func (s *Store) RevokeToken(id string, at time.Time) error {
	return s.db.Update(func(tx *bolt.Tx) error {
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
			if !t.RevokedAt.IsZero() {
				return nil
			}
			t.RevokedAt = at
			updated, err := encodeToken(t)
			if err != nil {
				return err
			}
			// Put outside the cursor's walk: the loop ends here.
			return b.Put(append([]byte(nil), k...), updated)
		}
		return ErrNotFound
	})
}
