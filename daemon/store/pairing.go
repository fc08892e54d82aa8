package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The ways a pairing code is refused.
var (
	ErrCodeExpired = errors.New("pairing code expired")
	ErrCodeUsed    = errors.New("pairing code already used")
	ErrCodeBurned  = errors.New("pairing code burned after too many wrong attempts")
)

// PairingCode is a minted code without its secret: Hash is the secret's SHA-256.
type PairingCode struct {
	ID             string
	Method         string // "pin" or "qr"
	CreatedAt      time.Time
	ExpiresAt      time.Time
	UsedAt         time.Time // zero until it pairs a node
	FailedAttempts int
	Burned         bool
	Hash           [32]byte
}

// PutPairingCode stores a newly minted code.
func (s *Store) PutPairingCode(c PairingCode) error {
	raw, err := encodeCode(c)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPairingCodes)
		if b.Get(c.Hash[:]) != nil {
			return fmt.Errorf("a pairing code with this secret exists")
		}
		return b.Put(c.Hash[:], raw)
	})
}

// RedeemPairingCode marks the code whose secret hashes to hash used at now, in one
// transaction, so of two nodes racing with one code exactly one wins. It returns
// ErrNotFound, ErrCodeExpired, ErrCodeUsed or ErrCodeBurned when the code cannot pair.
//
// A miss with chargePINs set was a wrong PIN: a guesser cannot tell which code it aims at,
// so every PIN code live at now is charged one attempt, and burned at maxAttempts, in the
// same transaction as the miss, so no number of guesses at once outruns the count. The
// codes it burned are returned with ErrNotFound.
func (s *Store) RedeemPairingCode(hash [32]byte, now time.Time, chargePINs bool, maxAttempts int) (c PairingCode, burned []PairingCode, err error) {
	missed := false
	err = s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPairingCodes)
		raw := b.Get(hash[:])
		if raw == nil {
			missed = true
			if !chargePINs {
				return nil
			}
			var err error
			burned, err = chargeLivePINsTx(b, now, maxAttempts)
			return err
		}
		var err error
		if c, err = decodeCode(raw); err != nil {
			return err
		}
		switch {
		case c.Burned:
			return ErrCodeBurned
		case !c.UsedAt.IsZero():
			return ErrCodeUsed
		case !now.Before(c.ExpiresAt):
			return ErrCodeExpired
		}
		c.UsedAt = now
		updated, err := encodeCode(c)
		if err != nil {
			return err
		}
		return b.Put(hash[:], updated)
	})
	if err == nil && missed {
		return PairingCode{}, burned, ErrNotFound
	}
	return c, nil, err
}

// chargeLivePINsTx adds a failed attempt to every PIN code live at now and burns those that
// reach maxAttempts, auditing each, and returns them.
func chargeLivePINsTx(b *bolt.Bucket, now time.Time, maxAttempts int) (burned []PairingCode, err error) {
	var updates []PairingCode
	err = b.ForEach(func(_, raw []byte) error {
		c, err := decodeCode(raw)
		if err != nil {
			return err
		}
		if c.Method == "pin" && !c.Burned && c.UsedAt.IsZero() && now.Before(c.ExpiresAt) {
			c.FailedAttempts++
			c.Burned = c.FailedAttempts >= maxAttempts
			updates = append(updates, c)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	// Written after the walk: bbolt forbids changing a bucket while ForEach runs over it.
	for _, c := range updates {
		raw, err := encodeCode(c)
		if err != nil {
			return nil, err
		}
		if err := b.Put(c.Hash[:], raw); err != nil {
			return nil, err
		}
		if c.Burned {
			burned = append(burned, c)
			_, err := appendAuditTx(b.Tx(), AuditEntry{At: now, Kind: "pairing.code_burned", Actor: "pairing", Subject: c.ID,
				Detail: fmt.Sprintf("burned after %d wrong PINs", c.FailedAttempts)})
			if err != nil {
				return nil, err
			}
		}
	}
	return burned, nil
}

// PairingCodes returns every stored code.
func (s *Store) PairingCodes() ([]PairingCode, error) {
	var out []PairingCode
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPairingCodes).ForEach(func(_, raw []byte) error {
			c, err := decodeCode(raw)
			if err == nil {
				out = append(out, c)
			}
			return err
		})
	})
	return out, err
}
