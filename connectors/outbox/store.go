// Package outbox is connectors.db, palyrad's durable connector state in bbolt: the
// instances, the outbox of messages to send, dead letters, the inbound dedupe window, the
// inbox of inbound messages no agent has taken yet, and each instance's event log.
//
// Every write goes through one writer goroutine that commits whatever is waiting in a
// single transaction (group commit): bbolt fsyncs twice per commit, so one message per
// transaction caps at a few hundred a second on a real disk, while a batch costs the same
// two fsyncs. A write returns once its transaction is on disk, except SettleAsync, which
// returns once its results are queued and says when they are on disk; writes reach the disk
// in the order they were queued.
//
// Records are JSON; every text field is bounded on the way in (see connectors' limits).
package outbox

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/internal/boltfile"
)

// FileName is the store's file name inside the state directory.
const FileName = "connectors.db"

// Bounds of what the store keeps.
const (
	MaxPending       = 100_000 // queued messages per instance
	MaxDeadLetters   = 10_000  // per instance; the oldest go first
	MaxEvents        = 1_000   // per instance; the oldest go first
	MaxInbox         = 1_000   // inbound messages held per instance for an agent
	MaxDeliveredKeys = 1_000_000
	DeliveredKeyTTL  = 24 * time.Hour     // how long a delivered envelope id is remembered
	InboundDedupeTTL = 7 * 24 * time.Hour // how long an inbound envelope id is remembered
	maxBatch         = 4096               // writes per transaction
	sweepPerCommit   = 1024               // expired keys removed per transaction
	schemaVersion    = 1
)

// Errors a caller can act on.
var (
	ErrNotFound  = errors.New("not found")
	ErrQueueFull = errors.New("the queue is full")
	ErrExists    = errors.New("already exists")
	ErrSchema    = errors.New("unsupported schema version")
	ErrClosed    = errors.New("connectors.db is closed")
)

var (
	bucketMeta       = []byte("meta")
	bucketInstances  = []byte("instances")
	bucketOutbox     = []byte("outbox")      // seq → Envelope
	bucketKeys       = []byte("keys")        // instance\0envelope → pending seq, or delivered native id
	bucketKeyExpiry  = []byte("key_expiry")  // expiry ms ‖ instance\0envelope → nothing
	bucketDead       = []byte("dead")        // instance\0seq → DeadLetter
	bucketInbound    = []byte("inbound")     // instance\0envelope → expiry ms
	bucketInboundExp = []byte("inbound_exp") // expiry ms ‖ instance\0envelope → nothing
	bucketInbox      = []byte("inbox")       // instance\0seq → InboxMessage
	bucketEvents     = []byte("events")      // instance\0seq → Event
	bucketPins       = []byte("plugin_pins") // kind → Pin
	keySchemaVersion = []byte("schema_version")
	keySeq           = []byte("seq")
	keyDelivered     = []byte("delivered_keys")
	allBuckets       = [][]byte{bucketMeta, bucketInstances, bucketOutbox, bucketKeys, bucketKeyExpiry, bucketDead, bucketInbound, bucketInboundExp, bucketInbox, bucketEvents, bucketPins}
)

// Store is an open connectors.db.
type Store struct {
	file *boltfile.File
	db   *bolt.DB
	ops  chan *op
	done chan struct{}
	now  func() time.Time
	// maxPending is MaxPending, smaller in tests.
	maxPending int
	// syncEach commits every write, and every result of a settle, in its own transaction.
	syncEach bool

	closeOnce sync.Once
	closeErr  error
	// closeMu keeps a write from sending on ops once Close has closed it.
	closeMu sync.RWMutex
	closed  bool
}

type op struct {
	apply func(*txn) error
	done  func(error) // called by the writer with the op's result once it is on disk
}

// txn is one group commit's transaction, with the instance records its ops touched: each is
// read once and written once per commit, however many of the batch's messages it counts.
type txn struct {
	*bolt.Tx
	now        time.Time
	instances  map[string]*Instance
	maxPending int
	counters   map[string]*int64 // meta's counters (seq, delivered keys), read and written once
}

// counter returns meta's counter key, read once per commit; flushCounters writes it.
func (t *txn) counter(key []byte) *int64 {
	if c, ok := t.counters[string(key)]; ok {
		return c
	}
	if t.counters == nil {
		t.counters = map[string]*int64{}
	}
	v := count(t.Tx, key)
	t.counters[string(key)] = &v
	return &v
}

func (t *txn) flushCounters() error {
	meta := t.Bucket(bucketMeta)
	for k, c := range t.counters {
		if err := meta.Put([]byte(k), u64(uint64(max(0, *c)))); err != nil {
			return err
		}
	}
	return nil
}

// instance returns the record of id, read once per commit; ErrNotFound if there is none.
func (t *txn) instance(id string) (*Instance, error) {
	if in, ok := t.instances[id]; ok {
		if in == nil { // removed in this commit
			return nil, fmt.Errorf("connector %s: %w", id, ErrNotFound)
		}
		return in, nil
	}
	var in Instance
	if err := getJSON(t.Bucket(bucketInstances), []byte(id), &in); err != nil {
		return nil, fmt.Errorf("connector %s: %w", id, err)
	}
	t.instances[id] = &in
	return &in, nil
}

func (t *txn) flushInstances() error {
	b := t.Bucket(bucketInstances)
	for id, in := range t.instances {
		if in == nil { // removed in this commit
			if err := b.Delete([]byte(id)); err != nil {
				return err
			}
			continue
		}
		if err := putJSON(b, []byte(id), in); err != nil {
			return err
		}
	}
	return nil
}

// refusal is an op's own error: the op wrote nothing, and the others in its transaction
// go ahead.
type refusal struct{ error }

func refuse(err error) error { return refusal{err} }

// Options tune a Store; the zero value is what palyrad uses.
type Options struct {
	// SyncEach gives every write, and every result a settle records, a transaction (two
	// fsyncs) of its own instead of a share of a group commit: the design the group commit
	// replaces, kept to measure against.
	SyncEach bool
}

// Open opens or creates the store at path (see boltfile for the errors).
func Open(path string) (*Store, error) { return OpenWith(path, Options{}) }

// OpenWith is Open with options.
func OpenWith(path string, o Options) (*Store, error) {
	f, err := boltfile.Open(path, setUp)
	if err != nil {
		return nil, err
	}
	s := &Store{file: f, db: f.DB, ops: make(chan *op, maxBatch), done: make(chan struct{}), now: time.Now, maxPending: MaxPending, syncEach: o.SyncEach}
	go s.writer()
	return s, nil
}

func setUp(tx *bolt.Tx) error {
	for _, name := range allBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	meta := tx.Bucket(bucketMeta)
	switch raw := meta.Get(keySchemaVersion); {
	case raw == nil:
		return meta.Put(keySchemaVersion, u64(schemaVersion))
	case len(raw) != 8 || binary.BigEndian.Uint64(raw) != schemaVersion:
		return fmt.Errorf("connectors.db schema %x, this palyrad reads %d: %w", raw, schemaVersion, ErrSchema)
	}
	return nil
}

// Close stops the writer, after the writes queued before it, and closes the file. Later
// calls return the first one's result.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeMu.Lock()
		s.closed = true
		close(s.ops)
		s.closeMu.Unlock()
		<-s.done
		s.closeErr = s.file.Close()
	})
	return s.closeErr
}

// write runs apply in the next group commit and returns when it is on disk.
func (s *Store) write(ctx context.Context, apply func(*txn) error) error {
	result := make(chan error, 1)
	if err := s.submit(ctx, apply, func(err error) { result <- err }); err != nil {
		return err
	}
	// Once queued the op will commit or fail; waiting for it keeps the caller's view true.
	return <-result
}

// submit queues apply for the next group commit and returns once it is queued; done is
// called on the writer with its result once that is on disk (or failed). Ops commit in the
// order they were queued: one is never on disk while an op queued before it is not.
func (s *Store) submit(ctx context.Context, apply func(*txn) error, done func(error)) error {
	o := &op{apply: apply, done: done}
	s.closeMu.RLock()
	defer s.closeMu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	select {
	case s.ops <- o:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Store) writer() {
	defer close(s.done)
	limit := maxBatch
	if s.syncEach {
		limit = 1
	}
	batch := make([]*op, 0, maxBatch)
	for first := range s.ops {
		batch = append(batch[:0], first)
		// Take what waits; then, while yielding the processor brings more (writers woken
		// by the last commit queueing their next write), take that too: a commit costs
		// the same two fsyncs however much it carries.
		for yields := 0; len(batch) < limit; {
			select {
			case o, ok := <-s.ops:
				if !ok {
					yields = maxYields
					break
				}
				batch = append(batch, o)
				continue
			default:
			}
			if yields >= maxYields {
				break
			}
			yields++
			before := len(s.ops)
			runtime.Gosched()
			if len(s.ops) == before {
				yields = maxYields
			}
		}
		s.commit(batch)
	}
}

// maxYields bounds how often the writer yields the processor to let more writes come
// before it commits.
const maxYields = 4

func (s *Store) commit(batch []*op) {
	results := make([]error, len(batch))
	err := s.file.Update(func(tx *bolt.Tx) error {
		t := &txn{Tx: tx, now: s.now(), instances: map[string]*Instance{}, maxPending: s.maxPending}
		for i, o := range batch {
			err := o.apply(t)
			var r refusal
			if errors.As(err, &r) {
				results[i] = r.error
				continue
			}
			if err != nil {
				return err
			}
		}
		if err := sweep(t); err != nil {
			return err
		}
		if err := t.flushInstances(); err != nil {
			return err
		}
		return t.flushCounters()
	})
	for i, o := range batch {
		if err != nil {
			o.done(err)
		} else {
			o.done(results[i])
		}
	}
}

// sweep forgets expired delivered keys and inbound ids, a bounded number per commit.
func sweep(t *txn) error {
	tx, now := t.Tx, t.now
	n := 0
	for _, pair := range [][2][]byte{{bucketKeyExpiry, bucketKeys}, {bucketInboundExp, bucketInbound}} {
		idx, keys := tx.Bucket(pair[0]), tx.Bucket(pair[1])
		c := idx.Cursor()
		for k, _ := c.First(); k != nil && n < sweepPerCommit; k, _ = c.First() {
			if binary.BigEndian.Uint64(k[:8]) > uint64(now.UnixMilli()) {
				break
			}
			held := keys.Get(k[8:]) != nil
			if err := keys.Delete(k[8:]); err != nil {
				return err
			}
			if err := c.Delete(); err != nil {
				return err
			}
			if held && pair[1][0] == bucketKeys[0] {
				*t.counter(keyDelivered)--
			}
			n++
		}
	}
	return nil
}

// nextSeq takes the next of the store's sequence numbers (envelopes, inbox, events).
func nextSeq(t *txn) (uint64, error) {
	c := t.counter(keySeq)
	*c++
	return uint64(*c), nil
}

func count(tx *bolt.Tx, key []byte) int64 {
	if raw := tx.Bucket(bucketMeta).Get(key); len(raw) == 8 {
		return int64(binary.BigEndian.Uint64(raw))
	}
	return 0
}

func u64(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }

// pairKey is instance\0id, the key of per-instance records.
func pairKey(instance, id string) []byte {
	k := make([]byte, 0, len(instance)+1+len(id))
	k = append(k, instance...)
	k = append(k, 0)
	return append(k, id...)
}

func seqKey(instance string, seq uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte(instance), 0), seq)
}

func prefix(instance string) []byte { return append([]byte(instance), 0) }

func expiryKey(at time.Time, key []byte) []byte {
	return append(u64(uint64(at.UnixMilli())), key...)
}

func putJSON(b *bolt.Bucket, key []byte, v any) error {
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return b.Put(key, raw)
}

// readAll decodes every record of a bucket, in key order.
func readAll[T any](db *bolt.DB, bucket []byte) ([]T, error) {
	var out []T
	err := db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucket).ForEach(func(_, v []byte) error {
			var r T
			if err := json.Unmarshal(v, &r); err != nil {
				return err
			}
			out = append(out, r)
			return nil
		})
	})
	return out, err
}

func getJSON(b *bolt.Bucket, key []byte, v any) error {
	raw := b.Get(key)
	if raw == nil {
		return ErrNotFound
	}
	return json.Unmarshal(raw, v)
}

// trimOldest deletes the oldest records under instance's prefix in b beyond keep.
func trimOldest(b *bolt.Bucket, instance string, keep int) (int, error) {
	p := prefix(instance)
	var keys [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(p); k != nil && hasPrefix(k, p); k, _ = c.Next() {
		keys = append(keys, k)
	}
	excess := len(keys) - keep
	for i := 0; i < excess; i++ {
		if err := b.Delete(keys[i]); err != nil {
			return 0, err
		}
	}
	return max(0, excess), nil
}

func hasPrefix(k, p []byte) bool { return len(k) >= len(p) && string(k[:len(p)]) == string(p) }
