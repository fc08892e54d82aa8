package store

import (
	"encoding/binary"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The states of a capability call. The last three are final.
const (
	CallQueued            = "queued"
	CallDispatched        = "dispatched"
	CallAwaitingMediation = "awaiting_mediation"
	CallSucceeded         = "succeeded"
	CallFailed            = "failed"
	CallTimedOut          = "timed_out"
)

// CallFinal reports whether a call in state is over.
func CallFinal(state string) bool {
	return state == CallSucceeded || state == CallFailed || state == CallTimedOut
}

// CapabilityCall is the record of a capability call: never its input, only a summary, and
// never its output.
type CapabilityCall struct {
	ID           string
	DeviceID     string
	Capability   string
	State        string
	Requester    string
	CreatedAt    time.Time
	UpdatedAt    time.Time
	Error        string
	InputSummary string
}

// PutCalls stores calls, each replacing its earlier version, then keeps only the newest
// keep calls of every device it touched, all in one transaction.
func (s *Store) PutCalls(calls []CapabilityCall, keep int) error {
	return s.update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketCapabilityCalls)
		touched := map[string]*bolt.Bucket{}
		for _, c := range calls {
			b := touched[c.DeviceID]
			if b == nil {
				var err error
				if b, err = root.CreateBucketIfNotExists([]byte(c.DeviceID)); err != nil {
					return fmt.Errorf("calls of device %q: %w", c.DeviceID, err)
				}
				touched[c.DeviceID] = b
			}
			raw, err := encodeCall(c)
			if err != nil {
				return err
			}
			if err := b.Put(callKey(c), raw); err != nil {
				return err
			}
		}
		for _, b := range touched {
			if err := pruneCallsTx(b, keep); err != nil {
				return err
			}
		}
		return nil
	})
}

// pruneCallsTx deletes the oldest calls in b beyond the newest keep.
func pruneCallsTx(b *bolt.Bucket, keep int) error {
	n := b.Stats().KeyN
	if n <= keep {
		return nil
	}
	var old [][]byte
	c := b.Cursor()
	for k, _ := c.First(); k != nil && len(old) < n-keep; k, _ = c.Next() {
		old = append(old, append([]byte(nil), k...))
	}
	// Deleted after the walk: deleting under a moving cursor skips keys.
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// RecentCalls returns the newest n calls of device, newest first.
func (s *Store) RecentCalls(deviceID string, n int) ([]CapabilityCall, error) {
	var out []CapabilityCall
	err := s.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCapabilityCalls).Bucket([]byte(deviceID))
		if b == nil {
			return nil
		}
		c := b.Cursor()
		for k, raw := c.Last(); k != nil && len(out) < n; k, raw = c.Prev() {
			call, err := decodeCall(raw)
			if err != nil {
				return fmt.Errorf("call %x of device %s: %w", k, deviceID, err)
			}
			out = append(out, call)
		}
		return nil
	})
	return out, err
}

// FailUnfinishedCalls marks every call that is not over failed for reason at at, in one
// transaction, and returns how many it marked: a call outlives neither palyrad nor its node.
func (s *Store) FailUnfinishedCalls(reason string, at time.Time) (int, error) {
	marked := 0
	err := s.update(func(tx *bolt.Tx) error {
		root := tx.Bucket(bucketCapabilityCalls)
		var devices [][]byte
		err := root.ForEachBucket(func(device []byte) error {
			devices = append(devices, append([]byte(nil), device...))
			return nil
		})
		if err != nil {
			return err
		}
		for _, device := range devices {
			b := root.Bucket(device)
			var unfinished []CapabilityCall
			err := b.ForEach(func(_, raw []byte) error {
				c, err := decodeCall(raw)
				if err == nil && !CallFinal(c.State) {
					unfinished = append(unfinished, c)
				}
				return err
			})
			if err != nil {
				return fmt.Errorf("calls of device %s: %w", device, err)
			}
			for _, c := range unfinished {
				c.State, c.Error, c.UpdatedAt = CallFailed, reason, at
				raw, err := encodeCall(c)
				if err != nil {
					return err
				}
				if err := b.Put(callKey(c), raw); err != nil {
					return err
				}
			}
			marked += len(unfinished)
		}
		return nil
	})
	return marked, err
}

// callKey orders a device's calls by creation time; the id keeps two in one millisecond apart.
func callKey(c CapabilityCall) []byte {
	return append(binary.BigEndian.AppendUint64(nil, uint64(c.CreatedAt.UnixMilli())), c.ID...)
}
