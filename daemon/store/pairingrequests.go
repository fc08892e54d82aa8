package store

import (
	"errors"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"
)

// The states of a pairing request.
const (
	PairingPending  = "pending"
	PairingApproved = "approved"
	PairingDenied   = "denied"
	PairingExpired  = "expired"
)

// ErrPairingSettled means the pairing request was already approved, denied or expired.
var ErrPairingSettled = errors.New("pairing request already settled")

// PairingRequest is a node's request to pair, as daemon.db keeps it.
type PairingRequest struct {
	ID             string
	DeviceID       string // assigned with the request, kept once approved
	Name           string
	Platform       string
	NodeVersion    string
	PublicKey      []byte // PKIX DER
	KeyFingerprint string
	Peer           string
	Method         string // the pairing code's
	CodeID         string
	State          string
	ApprovalID     string
	Reason         string
	CreatedAt      time.Time
	ExpiresAt      time.Time
	DecidedAt      time.Time
	ClientCert     []byte // DER, once approved
	CertExpiresAt  time.Time
}

// CreatePairingRequest stores a new request. An id already taken is an error.
func (s *Store) CreatePairingRequest(r PairingRequest) error {
	raw, err := encodePairingRequest(r)
	if err != nil {
		return err
	}
	return s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPairingRequests)
		if b.Get([]byte(r.ID)) != nil {
			return fmt.Errorf("pairing request %s exists", r.ID)
		}
		return b.Put([]byte(r.ID), raw)
	})
}

// SetPairingApproval records which approval decides request id, unless one is recorded.
func (s *Store) SetPairingApproval(id, approvalID string) error {
	return s.update(func(tx *bolt.Tx) error {
		r, err := pairingRequestTx(tx, id)
		if err != nil || r.ApprovalID != "" {
			return err
		}
		r.ApprovalID = approvalID
		return putPairingRequestTx(tx, r)
	})
}

// ApprovePairing settles pending request id as approved with the client certificate cert,
// stores the device it pairs and appends audit, in one transaction. It returns
// ErrPairingSettled when the request is no longer pending, and writes nothing then.
func (s *Store) ApprovePairing(id string, cert []byte, d Device, at time.Time, audit ...AuditEntry) (PairingRequest, error) {
	var r PairingRequest
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if r, err = pendingPairingTx(tx, id); err != nil {
			return err
		}
		r.State, r.DecidedAt = PairingApproved, at
		r.ClientCert, r.CertExpiresAt = cert, d.CertExpiresAt
		if r.ApprovalID == "" {
			r.ApprovalID = d.ApprovalID
		}
		if err := putPairingRequestTx(tx, r); err != nil {
			return err
		}
		if err := putDeviceTx(tx, d); err != nil {
			return err
		}
		return appendAuditsTx(tx, audit)
	})
	return r, err
}

// SettlePairing settles pending request id as state (denied or expired) for reason, and
// appends audit, in one transaction. It returns ErrPairingSettled when the request is no
// longer pending, and writes nothing then.
func (s *Store) SettlePairing(id, state, reason string, at time.Time, audit ...AuditEntry) (PairingRequest, error) {
	if state != PairingDenied && state != PairingExpired {
		return PairingRequest{}, fmt.Errorf("settle pairing request %s: state %q is not %s or %s", id, state, PairingDenied, PairingExpired)
	}
	var r PairingRequest
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		if r, err = pendingPairingTx(tx, id); err != nil {
			return err
		}
		r.State, r.Reason, r.DecidedAt = state, reason, at
		if err := putPairingRequestTx(tx, r); err != nil {
			return err
		}
		return appendAuditsTx(tx, audit)
	})
	return r, err
}

// PairingRequest returns request id, or ErrNotFound.
func (s *Store) PairingRequest(id string) (PairingRequest, error) {
	var r PairingRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		r, err = pairingRequestTx(tx, id)
		return err
	})
	return r, err
}

// PairingRequests returns every stored request, in id order.
func (s *Store) PairingRequests() ([]PairingRequest, error) {
	var out []PairingRequest
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketPairingRequests).ForEach(func(_, raw []byte) error {
			r, err := decodePairingRequest(raw)
			if err == nil {
				out = append(out, r)
			}
			return err
		})
	})
	return out, err
}

// PrunePairingRequests deletes the requests settled before before and returns how many.
func (s *Store) PrunePairingRequests(before time.Time) (int, error) {
	var old [][]byte
	err := s.update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketPairingRequests)
		err := b.ForEach(func(k, raw []byte) error {
			r, err := decodePairingRequest(raw)
			if err == nil && r.State != PairingPending && r.DecidedAt.Before(before) {
				old = append(old, append([]byte(nil), k...))
			}
			return err
		})
		if err != nil {
			return err
		}
		// Deleted after the walk: bbolt forbids changing a bucket while ForEach runs over it.
		for _, k := range old {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return len(old), nil
}

func pendingPairingTx(tx *bolt.Tx, id string) (PairingRequest, error) {
	r, err := pairingRequestTx(tx, id)
	if err == nil && r.State != PairingPending {
		return r, ErrPairingSettled
	}
	return r, err
}

func pairingRequestTx(tx *bolt.Tx, id string) (PairingRequest, error) {
	raw := tx.Bucket(bucketPairingRequests).Get([]byte(id))
	if raw == nil {
		return PairingRequest{}, ErrNotFound
	}
	return decodePairingRequest(raw)
}

func putPairingRequestTx(tx *bolt.Tx, r PairingRequest) error {
	raw, err := encodePairingRequest(r)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketPairingRequests).Put([]byte(r.ID), raw)
}
