package store

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/internal/redact"
)

// The approval states.
const (
	ApprovalPending  = "pending"
	ApprovalApproved = "approved"
	ApprovalDenied   = "denied"
	ApprovalTimedOut = "timed_out"
)

// The ways a decision is refused.
var (
	ErrAlreadyDecided  = errors.New("approval already decided")
	ErrApprovalExpired = errors.New("approval timed out before the decision")
)

// Approval is a request for an operator's decision.
type Approval struct {
	Seq         uint64
	SubjectType string
	SubjectID   string
	Risk        string
	Requester   string
	Summary     string
	Details     string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	State       string
	Decision    Decision // set once State is not pending
}

// Decision is how an approval was settled.
type Decision struct {
	Scope   string        // once, session or ttl; empty for a denial or a timeout
	Grant   time.Duration // how long a ttl scope lasts
	Reason  string
	Decider string
	At      time.Time
}

// ID is the approval's name in APIs and logs: "ap-" and its sequence number.
func (a Approval) ID() string { return "ap-" + strconv.FormatUint(a.Seq, 10) }

// ParseApprovalID returns the sequence number an approval id names.
func ParseApprovalID(id string) (uint64, error) {
	seq, err := strconv.ParseUint(strings.TrimPrefix(id, "ap-"), 10, 64)
	if err != nil || !strings.HasPrefix(id, "ap-") || seq == 0 {
		return 0, fmt.Errorf("%q is not an approval id (ap-N)", id)
	}
	return seq, nil
}

// CreateApproval stores a new pending approval and its audit entry in one transaction. Its
// summary and details are redacted first; the approval returned is the one stored.
func (s *Store) CreateApproval(a Approval) (Approval, error) {
	a.Summary, a.Details = redact.Text(a.Summary), redact.Text(a.Details)
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketApprovals)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		a.Seq, a.State = seq, ApprovalPending
		a.CreatedAt, a.ExpiresAt = time.UnixMilli(a.CreatedAt.UnixMilli()), time.UnixMilli(a.ExpiresAt.UnixMilli())
		if err := putApprovalTx(tx, a); err != nil {
			return err
		}
		_, err = appendAuditTx(tx, AuditEntry{At: a.CreatedAt, Kind: "approval.requested", Actor: a.Requester,
			Subject: a.ID(), Detail: a.SubjectType + " " + a.SubjectID + ": " + a.Summary})
		return err
	})
	return a, err
}

// DecideApproval settles a pending approval with d, and audits it, in one transaction, so of
// two operators deciding at once one wins and the other gets ErrAlreadyDecided with the
// approval as it was settled. An approval past its expiry is timed out instead
// (ErrApprovalExpired). approve says which way d goes; its reason is redacted first.
func (s *Store) DecideApproval(seq uint64, approve bool, d Decision) (Approval, error) {
	d.Reason = redact.Text(d.Reason)
	var a Approval
	expired := false
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		if a, err = approvalTx(tx, seq); err != nil {
			return err
		}
		switch {
		case a.State != ApprovalPending:
			return ErrAlreadyDecided // nothing written: the rollback costs nothing
		case !d.At.Before(a.ExpiresAt):
			// The timeout must commit, so this is not an error inside the transaction.
			expired = true
			a, err = timeOutTx(tx, a, d.At)
			return err
		}
		a.State, a.Decision = ApprovalDenied, d
		if approve {
			a.State = ApprovalApproved
		} else {
			a.Decision.Scope, a.Decision.Grant = "", 0
		}
		a.Decision.At = time.UnixMilli(d.At.UnixMilli())
		if err := putApprovalTx(tx, a); err != nil {
			return err
		}
		detail := a.State
		if a.Decision.Scope != "" {
			detail += " " + a.Decision.Scope
		}
		if a.Decision.Reason != "" {
			detail += ": " + a.Decision.Reason
		}
		_, err = appendAuditTx(tx, AuditEntry{At: d.At, Kind: "approval.decided", Actor: d.Decider, Subject: a.ID(), Detail: detail})
		return err
	})
	if err == nil && expired {
		return a, ErrApprovalExpired
	}
	return a, err
}

// ExpireApprovals times out every pending approval past its expiry at now and returns them.
func (s *Store) ExpireApprovals(now time.Time) ([]Approval, error) {
	var expired []Approval
	err := s.db.Update(func(tx *bolt.Tx) error {
		var due []Approval
		err := tx.Bucket(bucketApprovals).ForEach(func(_, raw []byte) error {
			a, err := decodeApproval(raw)
			if err == nil && a.State == ApprovalPending && !now.Before(a.ExpiresAt) {
				due = append(due, a)
			}
			return err
		})
		if err != nil {
			return err
		}
		for _, a := range due {
			a, err := timeOutTx(tx, a, now)
			if err != nil {
				return err
			}
			expired = append(expired, a)
		}
		return nil
	})
	return expired, err
}

// Approvals returns every approval, oldest first.
func (s *Store) Approvals() ([]Approval, error) {
	var out []Approval
	err := s.db.View(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketApprovals).ForEach(func(_, raw []byte) error {
			a, err := decodeApproval(raw)
			if err == nil {
				out = append(out, a)
			}
			return err
		})
	})
	return out, err
}

// Approval returns the approval with seq, or ErrNotFound.
func (s *Store) Approval(seq uint64) (Approval, error) {
	var a Approval
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		a, err = approvalTx(tx, seq)
		return err
	})
	return a, err
}

func approvalTx(tx *bolt.Tx, seq uint64) (Approval, error) {
	raw := tx.Bucket(bucketApprovals).Get(seqKey(seq))
	if raw == nil {
		return Approval{}, ErrNotFound
	}
	return decodeApproval(raw)
}

func putApprovalTx(tx *bolt.Tx, a Approval) error {
	raw, err := encodeApproval(a)
	if err != nil {
		return err
	}
	return tx.Bucket(bucketApprovals).Put(seqKey(a.Seq), raw)
}

func timeOutTx(tx *bolt.Tx, a Approval, now time.Time) (Approval, error) {
	a.State = ApprovalTimedOut
	a.Decision = Decision{Decider: "timeout", At: time.UnixMilli(now.UnixMilli())}
	if err := putApprovalTx(tx, a); err != nil {
		return a, err
	}
	_, err := appendAuditTx(tx, AuditEntry{At: now, Kind: "approval.timed_out", Actor: "timeout", Subject: a.ID()})
	return a, err
}
