package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/connectors"
)

// Instance is one configured connector.
type Instance struct {
	ID        string            `json:"id"`
	Kind      string            `json:"kind"`
	Config    map[string]string `json:"config,omitempty"`
	Enabled   bool              `json:"enabled"`
	Paused    bool              `json:"paused"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	Queued    int               `json:"queued"` // envelopes in the outbox
	Dead      int               `json:"dead"`   // dead letters kept
	Inbox     int               `json:"inbox"`  // inbound messages waiting for an agent
	Counts    Counts            `json:"counts"`
	LastError string            `json:"last_error,omitempty"`
	ErrorAt   time.Time         `json:"error_at,omitzero"`
	InAt      time.Time         `json:"in_at,omitzero"`  // the last inbound message
	OutAt     time.Time         `json:"out_at,omitzero"` // the last delivery
}

// Counts are an instance's running totals.
type Counts struct {
	Delivered    uint64 `json:"delivered"`
	Retried      uint64 `json:"retried"`
	DeadLettered uint64 `json:"dead_lettered"`
	Inbound      uint64 `json:"inbound"`
	Duplicates   uint64 `json:"duplicates"` // inbound messages seen before
}

// Envelope is one queued outbound message.
type Envelope struct {
	Seq            uint64    `json:"seq"`
	Instance       string    `json:"instance"`
	ID             string    `json:"id"` // unique per instance: the idempotency key is instance:id
	ConversationID string    `json:"conversation"`
	ThreadID       string    `json:"thread,omitempty"`
	ReplyTo        string    `json:"reply_to,omitempty"`
	Text           string    `json:"text"`
	Attempts       int       `json:"attempts"`
	NextAt         time.Time `json:"next_at"`
	CreatedAt      time.Time `json:"created_at"`
	LastError      string    `json:"last_error,omitempty"`
}

// IdempotencyKey is the key providers dedupe the envelope's sends by.
func (e Envelope) IdempotencyKey() string { return e.Instance + ":" + e.ID }

// DeadLetter is an envelope that ran out of tries or failed for good.
type DeadLetter struct {
	Envelope
	Reason string    `json:"reason"`
	DeadAt time.Time `json:"dead_at"`
}

// Event is a line of an instance's event log.
type Event struct {
	Seq     uint64    `json:"seq"`
	At      time.Time `json:"at"`
	Kind    string    `json:"kind"` // "delivery.retry", "dead_letter", "queue.paused", …
	Level   string    `json:"level"`
	Message string    `json:"message"`
}

// InboxMessage is an inbound message kept until an agent takes it.
type InboxMessage struct {
	Seq      uint64             `json:"seq"`
	Instance string             `json:"instance"`
	Message  connectors.Inbound `json:"message"`
}

func checkEnvelope(e Envelope) error {
	switch {
	case e.ID == "" || len(e.ID) > connectors.MaxIDBytes:
		return fmt.Errorf("envelope id: want 1 to %d bytes, got %d", connectors.MaxIDBytes, len(e.ID))
	case e.ConversationID == "" || len(e.ConversationID) > connectors.MaxTargetBytes:
		return fmt.Errorf("conversation id: want 1 to %d bytes, got %d", connectors.MaxTargetBytes, len(e.ConversationID))
	case len(e.ThreadID) > connectors.MaxTargetBytes || len(e.ReplyTo) > connectors.MaxTargetBytes:
		return fmt.Errorf("thread or reply id over %d bytes", connectors.MaxTargetBytes)
	case e.Text == "":
		return errors.New("the message has no text")
	case len(e.Text) > connectors.MaxTextBytes:
		return fmt.Errorf("the message is %d bytes; the limit is %d KiB", len(e.Text), connectors.MaxTextBytes>>10)
	}
	return nil
}

// PutInstance adds an instance, or with replace set, replaces its settings (kind, config,
// enabled) keeping its counts and queue.
func (s *Store) PutInstance(ctx context.Context, in Instance, replace bool) error {
	return s.write(ctx, func(t *txn) error {
		old, err := t.instance(in.ID)
		switch {
		case err == nil && !replace:
			return refuse(fmt.Errorf("connector %s %w", in.ID, ErrExists))
		case err == nil:
			old.Kind, old.Config, old.Enabled, old.UpdatedAt = in.Kind, in.Config, in.Enabled, t.now
		case errors.Is(err, ErrNotFound):
			in.CreatedAt, in.UpdatedAt = t.now, t.now
			t.instances[in.ID] = &in
		default:
			return err
		}
		return nil
	})
}

// UpdateInstance changes an instance's record with f.
func (s *Store) UpdateInstance(ctx context.Context, id string, f func(*Instance)) (Instance, error) {
	var out Instance
	err := s.write(ctx, func(t *txn) error {
		in, err := t.instance(id)
		if err != nil {
			return refuse(err)
		}
		f(in)
		in.UpdatedAt = t.now
		out = *in
		return nil
	})
	return out, err
}

// RemoveInstance deletes an instance with its queue, inbox, dead letters and events.
func (s *Store) RemoveInstance(ctx context.Context, id string) error {
	return s.write(ctx, func(tx *txn) error {
		if _, err := tx.instance(id); err != nil {
			return refuse(err)
		}
		tx.instances[id] = nil
		var seqs [][]byte
		out := tx.Bucket(bucketOutbox)
		_ = out.ForEach(func(k, v []byte) error {
			var e Envelope
			if json.Unmarshal(v, &e) == nil && e.Instance == id {
				seqs = append(seqs, k)
			}
			return nil
		})
		for _, k := range seqs {
			if err := out.Delete(k); err != nil {
				return err
			}
		}
		for _, name := range [][]byte{bucketKeys, bucketDead, bucketInbound, bucketInbox, bucketEvents} {
			if _, err := trimOldest(tx.Bucket(name), id, 0); err != nil {
				return err
			}
		}
		return tx.Bucket(bucketInstances).Delete([]byte(id))
	})
}

// Instances lists every instance, by id.
func (s *Store) Instances() ([]Instance, error) { return readAll[Instance](s.db, bucketInstances) }

// GetInstance returns one instance.
func (s *Store) GetInstance(id string) (Instance, error) {
	var in Instance
	err := s.db.View(func(tx *bolt.Tx) error { return getJSON(tx.Bucket(bucketInstances), []byte(id), &in) })
	if err != nil {
		return Instance{}, fmt.Errorf("connector %s: %w", id, err)
	}
	return in, nil
}
