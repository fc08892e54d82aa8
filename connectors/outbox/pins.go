package outbox

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Pin is an external connector plugin the operator trusted: palyrad launches the
// executable at Path only while its SHA-256 is still SHA256.
type Pin struct {
	Kind     string    `json:"kind"`
	Path     string    `json:"path"`
	SHA256   string    `json:"sha256"` // hex
	PinnedAt time.Time `json:"pinned_at"`
	By       string    `json:"by"` // the actor who trusted it
}

// ErrTooManyPins refuses a pin past MaxPins.
var ErrTooManyPins = errors.New("too many trusted plugins")

// Bounds of a pin.
const (
	MaxPins    = 64
	maxPinPath = 4096
	maxPinBy   = 256
)

// PutPin trusts a plugin, replacing the pin of its kind if there is one.
func (s *Store) PutPin(ctx context.Context, p Pin) error {
	if p.Kind == "" || len(p.Kind) > 64 || p.Path == "" || len(p.Path) > maxPinPath || len(p.SHA256) != 64 || len(p.By) > maxPinBy {
		return fmt.Errorf("plugin pin %q: a field is empty or over its bound", p.Kind)
	}
	return s.write(ctx, func(t *txn) error {
		b := t.Bucket(bucketPins)
		if b.Get([]byte(p.Kind)) == nil && b.Stats().KeyN >= MaxPins {
			return refuse(fmt.Errorf("%w: at most %d; untrust one first", ErrTooManyPins, MaxPins))
		}
		if p.PinnedAt.IsZero() {
			p.PinnedAt = t.now
		}
		return putJSON(b, []byte(p.Kind), p)
	})
}

// RemovePin forgets the pin of kind; ErrNotFound if it has none.
func (s *Store) RemovePin(ctx context.Context, kind string) error {
	return s.write(ctx, func(t *txn) error {
		b := t.Bucket(bucketPins)
		if b.Get([]byte(kind)) == nil {
			return refuse(fmt.Errorf("plugin %s: %w", kind, ErrNotFound))
		}
		return b.Delete([]byte(kind))
	})
}

// Pins lists the trusted plugins, by kind.
func (s *Store) Pins() ([]Pin, error) { return readAll[Pin](s.db, bucketPins) }
