package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/internal/textsafe"
)

// Enqueued says what became of one envelope given to Enqueue.
type Enqueued struct {
	ID        string // the envelope's id
	Seq       uint64
	Duplicate bool   // an envelope with this id was queued or delivered before
	NativeID  string // the earlier delivery's id, for a duplicate already delivered
	Err       error  // why this envelope was refused (the others still go in)
}

// Enqueue queues envelopes (Seq, Attempts and CreatedAt are set here) and returns once they
// are on disk. An envelope whose id its instance has queued or delivered before is not queued
// again.
func (s *Store) Enqueue(ctx context.Context, envs []Envelope) ([]Enqueued, error) {
	out := make([]Enqueued, len(envs))
	err := s.write(ctx, func(t *txn) error {
		for i := range envs {
			out[i] = enqueue(t, envs[i])
			out[i].ID = envs[i].ID
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func enqueue(t *txn, e Envelope) Enqueued {
	if err := checkEnvelope(e); err != nil {
		return Enqueued{Err: err}
	}
	in, err := t.instance(e.Instance)
	if err != nil {
		return Enqueued{Err: err}
	}
	keys := t.Bucket(bucketKeys)
	key := pairKey(e.Instance, e.ID)
	if v := keys.Get(key); v != nil {
		if v[0] == 'p' {
			return Enqueued{Seq: binary.BigEndian.Uint64(v[1:]), Duplicate: true}
		}
		return Enqueued{Duplicate: true, NativeID: string(v[1:])}
	}
	if in.Queued >= t.maxPending {
		return Enqueued{Err: fmt.Errorf("connector %s: %w (%d messages wait; pause less or drain)", e.Instance, ErrQueueFull, in.Queued)}
	}
	seq, err := nextSeq(t)
	if err != nil {
		return Enqueued{Err: err}
	}
	e.Seq, e.Attempts, e.CreatedAt = seq, 0, t.now
	if e.NextAt.IsZero() {
		e.NextAt = t.now
	}
	if err := putJSON(t.Bucket(bucketOutbox), u64(seq), e); err != nil {
		return Enqueued{Err: err}
	}
	if err := keys.Put(key, append([]byte{'p'}, u64(seq)...)); err != nil {
		return Enqueued{Err: err}
	}
	in.Queued++
	return Enqueued{Seq: seq}
}

// Pending returns every queued envelope without its text, oldest first, for the scheduler.
func (s *Store) Pending() ([]Envelope, error) {
	var out []Envelope
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketOutbox).ForEach(func(_, v []byte) error {
			var e Envelope
			if err := json.Unmarshal(v, &e); err != nil {
				return err
			}
			e.Text = ""
			out = append(out, e)
			return nil
		})
	})
	return out, err
}

// Envelopes returns the queued envelopes with these seqs; one no longer queued is left out.
func (s *Store) Envelopes(seqs []uint64) ([]Envelope, error) {
	out := make([]Envelope, 0, len(seqs))
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketOutbox)
		for _, seq := range seqs {
			var e Envelope
			err := getJSON(b, u64(seq), &e)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			out = append(out, e)
		}
		return nil
	})
	return out, err
}

// ResultKind is what became of a send.
type ResultKind int

const (
	ResultDelivered ResultKind = iota + 1
	ResultRetry
	ResultDead
)

// Result settles one envelope after a send.
type Result struct {
	Seq      uint64
	Instance string
	// ID is the envelope's id. With Instance it lets a delivery be recorded without
	// reading the envelope back.
	ID       string
	Kind     ResultKind
	NativeID string    // Delivered
	NextAt   time.Time // Retry
	Attempts int       // the tries made so far
	Reason   string    // Retry and Dead
	// Log, when set, is written to the instance's event log with the result.
	Log *Event
}

// Settle records the results of sends and returns once they are on disk. A result for an
// envelope no longer queued (removed, discarded) is ignored.
func (s *Store) Settle(ctx context.Context, results []Result) error {
	result := make(chan error, 1)
	if err := s.SettleAsync(ctx, results, func(err error) { result <- err }); err != nil {
		return err
	}
	return <-result
}

// SettleAsync queues results for the next group commit and returns once they are queued,
// without waiting for the disk; done is called with the outcome once they are on disk (or
// failed). Writes commit in the order they were queued, so a result queued later is never
// on disk while this one is not. done runs on the store's writer: it must be quick and must
// not wait for the store. Nothing is queued, and done is not called, when SettleAsync
// returns an error.
func (s *Store) SettleAsync(ctx context.Context, results []Result, done func(error)) error {
	if !s.syncEach || len(results) <= 1 {
		return s.submit(ctx, func(t *txn) error { return settleAll(t, results) }, done)
	}
	// One transaction per result, for comparison: done reports the first failure once
	// the last of them is through.
	var first error
	for i := range results {
		last := i == len(results)-1
		err := s.submit(ctx, func(t *txn) error { return settleAll(t, results[i:i+1]) }, func(err error) {
			if first == nil {
				first = err
			}
			if last {
				done(first)
			}
		})
		if err != nil {
			if i == 0 {
				return err
			}
			// Those queued commit; the rest are as if their sends had not answered.
			done(err)
			return nil
		}
	}
	return nil
}

func settleAll(t *txn, results []Result) error {
	for _, r := range results {
		if err := settle(t, r); err != nil {
			return err
		}
		if r.Log == nil {
			continue
		}
		if _, err := t.instance(r.Instance); err != nil { // removed meanwhile
			continue
		}
		if err := appendEvent(t, r.Instance, *r.Log); err != nil {
			return err
		}
	}
	return nil
}

func settle(t *txn, r Result) error {
	out := t.Bucket(bucketOutbox)
	if r.Kind == ResultDelivered && r.ID != "" && r.Instance != "" {
		return settleDelivered(t, r)
	}
	var e Envelope
	if err := getJSON(out, u64(r.Seq), &e); errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	in, err := t.instance(e.Instance)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	reason := bounded(r.Reason)
	key := pairKey(e.Instance, e.ID)
	switch r.Kind {
	case ResultDelivered:
		if err := out.Delete(u64(r.Seq)); err != nil {
			return err
		}
		if err := rememberDelivered(t, key, r.NativeID); err != nil {
			return err
		}
		in.Queued--
		in.Counts.Delivered++
		in.OutAt = t.now
	case ResultRetry:
		e.Attempts, e.NextAt, e.LastError = r.Attempts, r.NextAt, reason
		if err := putJSON(out, u64(r.Seq), e); err != nil {
			return err
		}
		in.Counts.Retried++
		in.LastError, in.ErrorAt = reason, t.now
	case ResultDead:
		if err := out.Delete(u64(r.Seq)); err != nil {
			return err
		}
		if err := t.Bucket(bucketKeys).Delete(key); err != nil {
			return err
		}
		e.Attempts, e.LastError = r.Attempts, reason
		dead := t.Bucket(bucketDead)
		if err := putJSON(dead, seqKey(e.Instance, e.Seq), DeadLetter{Envelope: e, Reason: reason, DeadAt: t.now}); err != nil {
			return err
		}
		trimmed, err := trimOldest(dead, e.Instance, MaxDeadLetters)
		if err != nil {
			return err
		}
		in.Dead += 1 - trimmed
		in.Queued--
		in.Counts.DeadLettered++
		in.LastError, in.ErrorAt = reason, t.now
	default:
		return fmt.Errorf("settle %d: unknown result kind %d", r.Seq, r.Kind)
	}
	return nil
}

// settleDelivered records a delivery from the result alone: the envelope is deleted
// unread.
func settleDelivered(t *txn, r Result) error {
	out := t.Bucket(bucketOutbox)
	if out.Get(u64(r.Seq)) == nil {
		return nil
	}
	in, err := t.instance(r.Instance)
	if errors.Is(err, ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	if err := out.Delete(u64(r.Seq)); err != nil {
		return err
	}
	if err := rememberDelivered(t, pairKey(r.Instance, r.ID), r.NativeID); err != nil {
		return err
	}
	in.Queued--
	in.Counts.Delivered++
	in.OutAt = t.now
	return nil
}

// rememberDelivered keeps a delivered envelope's id for DeliveredKeyTTL, so the same id
// queued again is known as a duplicate; past MaxDeliveredKeys the oldest go first.
func rememberDelivered(t *txn, key []byte, nativeID string) error {
	if len(nativeID) > 256 {
		nativeID = nativeID[:256]
	}
	if err := t.Bucket(bucketKeys).Put(key, append([]byte{'d'}, nativeID...)); err != nil {
		return err
	}
	if err := t.Bucket(bucketKeyExpiry).Put(expiryKey(t.now.Add(DeliveredKeyTTL), key), nil); err != nil {
		return err
	}
	delivered := t.counter(keyDelivered)
	*delivered++
	if *delivered <= MaxDeliveredKeys {
		return nil
	}
	c := t.Bucket(bucketKeyExpiry).Cursor()
	if k, _ := c.First(); k != nil {
		if err := t.Bucket(bucketKeys).Delete(k[8:]); err != nil {
			return err
		}
		if err := c.Delete(); err != nil {
			return err
		}
		*delivered--
	}
	return nil
}

func bounded(s string) string {
	s = textsafe.Clean(s)
	if len(s) <= 1024 {
		return s
	}
	cut := 1024
	for cut > 0 && s[cut]&0xc0 == 0x80 {
		cut--
	}
	return s[:cut]
}
