package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/connectors"
	"github.com/palyra/palyra/internal/textsafe"
)

// DeadLetters returns up to limit of instance's dead letters, newest first, starting below
// seq before (0: the newest), and the seq to pass for the next page (0: no more).
func (s *Store) DeadLetters(instance string, before uint64, limit int) ([]DeadLetter, uint64, error) {
	var out []DeadLetter
	var next uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		return pageBack(tx.Bucket(bucketDead), instance, before, limit, func(seq uint64, v []byte) error {
			var d DeadLetter
			if err := json.Unmarshal(v, &d); err != nil {
				return err
			}
			out = append(out, d)
			return nil
		}, &next)
	})
	return out, next, err
}

// pageBack calls f for instance's records in b below seq before (0: from the newest)
// backwards, at most limit of them, and sets next to pass as before for the next page (0: no
// more).
func pageBack(b *bolt.Bucket, instance string, before uint64, limit int, f func(seq uint64, v []byte) error, next *uint64) error {
	if before == 0 {
		before = ^uint64(0)
	}
	p := prefix(instance)
	c := b.Cursor()
	k, v := c.Seek(seqKey(instance, before))
	if k == nil {
		k, v = c.Last()
	} else {
		k, v = c.Prev()
	}
	for ; k != nil && hasPrefix(k, p) && len(k) == len(p)+8; k, v = c.Prev() {
		seq := binary.BigEndian.Uint64(k[len(p):])
		if limit <= 0 {
			*next = seq + 1
			return nil
		}
		if err := f(seq, v); err != nil {
			return err
		}
		limit--
	}
	return nil
}

// Replay queues a dead letter again with a fresh count of tries, due now.
func (s *Store) Replay(ctx context.Context, instance string, seq uint64) (Envelope, error) {
	var e Envelope
	err := s.write(ctx, func(t *txn) error {
		dead := t.Bucket(bucketDead)
		var d DeadLetter
		if err := getJSON(dead, seqKey(instance, seq), &d); err != nil {
			return refuse(fmt.Errorf("dead letter %d of %s: %w", seq, instance, err))
		}
		in, err := t.instance(instance)
		if err != nil {
			return refuse(err)
		}
		if in.Queued >= t.maxPending {
			return refuse(fmt.Errorf("connector %s: %w", instance, ErrQueueFull))
		}
		e = d.Envelope
		e.Attempts, e.NextAt, e.LastError = 0, t.now, ""
		if err := putJSON(t.Bucket(bucketOutbox), u64(e.Seq), e); err != nil {
			return err
		}
		if err := t.Bucket(bucketKeys).Put(pairKey(instance, e.ID), append([]byte{'p'}, u64(e.Seq)...)); err != nil {
			return err
		}
		in.Queued++
		in.Dead--
		return dead.Delete(seqKey(instance, seq))
	})
	return e, err
}

// Discard deletes a dead letter.
func (s *Store) Discard(ctx context.Context, instance string, seq uint64) error {
	return s.write(ctx, func(t *txn) error {
		dead := t.Bucket(bucketDead)
		if dead.Get(seqKey(instance, seq)) == nil {
			return refuse(fmt.Errorf("dead letter %d of %s: %w", seq, instance, ErrNotFound))
		}
		if in, err := t.instance(instance); err == nil {
			in.Dead--
		}
		return dead.Delete(seqKey(instance, seq))
	})
}

// Inbound records an inbound message's envelope id for InboundDedupeTTL and reports
// whether it was seen before. With hold set, a new message is also kept in the inbox for an
// agent, and its inbox seq returned.
func (s *Store) Inbound(ctx context.Context, instance string, m connectors.Inbound, hold bool) (dup bool, seq uint64, err error) {
	err = s.write(ctx, func(t *txn) error {
		in, err := t.instance(instance)
		if err != nil {
			return refuse(err)
		}
		key := pairKey(instance, m.EnvelopeID)
		seen := t.Bucket(bucketInbound)
		if v := seen.Get(key); len(v) == 8 && int64(binary.BigEndian.Uint64(v)) > t.now.UnixMilli() {
			dup = true
			in.Counts.Duplicates++
			return nil
		}
		expires := t.now.Add(InboundDedupeTTL)
		if err := seen.Put(key, u64(uint64(expires.UnixMilli()))); err != nil {
			return err
		}
		if err := t.Bucket(bucketInboundExp).Put(expiryKey(expires, key), nil); err != nil {
			return err
		}
		in.Counts.Inbound++
		in.InAt = t.now
		if !hold {
			return nil
		}
		if seq, err = nextSeq(t); err != nil {
			return err
		}
		inbox := t.Bucket(bucketInbox)
		if err := putJSON(inbox, seqKey(instance, seq), InboxMessage{Seq: seq, Instance: instance, Message: m}); err != nil {
			return err
		}
		in.Inbox++
		if in.Inbox <= MaxInbox {
			return nil
		}
		trimmed, err := trimOldest(inbox, instance, MaxInbox)
		in.Inbox -= trimmed
		return err
	})
	return dup, seq, err
}

// Inbox returns up to limit inbound messages held for instance, newest first, below before.
func (s *Store) Inbox(instance string, before uint64, limit int) ([]InboxMessage, uint64, error) {
	var out []InboxMessage
	var next uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		return pageBack(tx.Bucket(bucketInbox), instance, before, limit, func(_ uint64, v []byte) error {
			var m InboxMessage
			if err := json.Unmarshal(v, &m); err != nil {
				return err
			}
			out = append(out, m)
			return nil
		}, &next)
	})
	return out, next, err
}

// TakeInbox deletes held inbound messages once an agent has them.
func (s *Store) TakeInbox(ctx context.Context, instance string, seqs []uint64) error {
	return s.write(ctx, func(t *txn) error {
		in, err := t.instance(instance)
		if err != nil {
			return refuse(err)
		}
		inbox := t.Bucket(bucketInbox)
		for _, seq := range seqs {
			key := seqKey(instance, seq)
			if inbox.Get(key) == nil {
				continue
			}
			if err := inbox.Delete(key); err != nil {
				return err
			}
			in.Inbox--
		}
		return nil
	})
}

// AppendEvent adds a line to instance's event log, keeping the newest MaxEvents.
func (s *Store) AppendEvent(ctx context.Context, instance string, e Event) error {
	return s.write(ctx, func(t *txn) error { return appendEvent(t, instance, e) })
}

func appendEvent(t *txn, instance string, e Event) error {
	seq, err := nextSeq(t)
	if err != nil {
		return err
	}
	e.Seq, e.Message = seq, bounded(e.Message)
	e.Kind = textsafe.Clean(e.Kind)
	if e.At.IsZero() {
		e.At = t.now
	}
	events := t.Bucket(bucketEvents)
	if err := putJSON(events, seqKey(instance, seq), e); err != nil {
		return err
	}
	if seq%64 == 0 {
		_, err = trimOldest(events, instance, MaxEvents)
	}
	return err
}

// Events returns up to limit of instance's events, newest first, below before.
func (s *Store) Events(instance string, before uint64, limit int) ([]Event, uint64, error) {
	var out []Event
	var next uint64
	err := s.db.View(func(tx *bolt.Tx) error {
		return pageBack(tx.Bucket(bucketEvents), instance, before, limit, func(_ uint64, v []byte) error {
			var e Event
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			out = append(out, e)
			return nil
		}, &next)
	})
	return out, next, err
}
