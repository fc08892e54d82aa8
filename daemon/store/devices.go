package store

import (
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// Device is a paired device as daemon.db keeps it.
type Device struct {
	ID       string
	Name     string
	Platform string
	Trust    string // "trusted", "revoked" or "removed"

	PublicKey      []byte // the node's key, PKIX DER
	KeyFingerprint string

	CertFingerprint     string
	CertExpiresAt       time.Time
	PrevCertFingerprint string // accepted until PrevCertExpiresAt, after a renewal
	PrevCertExpiresAt   time.Time

	ApprovalID string
	RequestID  string
	PairedAt   time.Time
	LastSeen   time.Time

	RevokedReason string
	RevokedAt     time.Time
	RemovedAt     time.Time

	NodeVersion  string
	Peer         string
	Capabilities []Capability    // as the node last advertised them
	Overrides    map[string]bool // the operator's availability, by capability name
}

// Capability is one capability a node advertised.
type Capability struct {
	Name      string
	Available bool
	Mediated  bool
}

// PutDevice stores d, replacing the record with its id, and appends audit to the journal, in
// one transaction.
func (s *Store) PutDevice(d Device, audit ...AuditEntry) error {
	return s.update(func(tx *bolt.Tx) error {
		if err := putDeviceTx(tx, d); err != nil {
			return err
		}
		return appendAuditsTx(tx, audit)
	})
}

// Devices returns every device, removed ones included, in id order.
func (s *Store) Devices() ([]Device, error) {
	var out []Device
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketDevices).ForEach(func(_, raw []byte) error {
			d, err := decodeDevice(raw)
			if err == nil {
				out = append(out, d)
			}
			return err
		})
	})
	return out, err
}

// TouchDevices sets the last-seen time of each device named in seen, in one transaction;
// ids with no record are skipped. Only that field changes, so it never undoes another
// writer's change to the rest of the record.
func (s *Store) TouchDevices(seen map[string]time.Time) error {
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDevices)
		for id, at := range seen {
			raw := b.Get([]byte(id))
			if raw == nil {
				continue
			}
			d, err := decodeDevice(raw)
			if err != nil {
				return fmt.Errorf("device %s: %w", id, err)
			}
			d.LastSeen = at
			updated, err := encodeDevice(d)
			if err != nil {
				return err
			}
			if err := b.Put([]byte(id), updated); err != nil {
				return err
			}
		}
		return nil
	})
}

func appendAuditsTx(tx *bolt.Tx, entries []AuditEntry) error {
	for _, e := range entries {
		if _, err := appendAuditTx(tx, e); err != nil {
			return err
		}
	}
	return nil
}

func putDeviceTx(tx *bolt.Tx, d Device) error {
	raw, err := encodeDevice(d)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketDevices).Put([]byte(d.ID), raw)
}
