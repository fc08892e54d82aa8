package store

import (
	"encoding/binary"
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

// ErrTooManyPending refuses a new approval whose requester has as many pending as it may.
var ErrTooManyPending = errors.New("too many pending approvals")

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
// summary and details are redacted first; the approval returned is the one stored. A
// requester with maxPending approvals pending already is refused with ErrTooManyPending.
func (s *Store) CreateApproval(a Approval, maxPending int) (Approval, error) {
	a.Summary, a.Details = redact.Text(a.Summary), redact.Text(a.Details)
	err := s.update(func(tx *bolt.Tx) error {
		if n := pendingOfTx(tx, a.Requester); n >= maxPending {
			return fmt.Errorf("%w: %s has %d waiting for a decision", ErrTooManyPending, a.Requester, n)
		}
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

// pendingOfTx counts the pending approvals of requester.
func pendingOfTx(tx *bolt.Tx, requester string) int {
	n := 0
	tx.Bucket(bucketPendingApprovals).ForEach(func(_, who []byte) error {
		if string(who) == requester {
			n++
		}
		return nil
	})
	return n
}

// DecideApproval settles a pending approval with d, and audits it, in one transaction, so of
// two operators deciding at once one wins and the other gets ErrAlreadyDecided with the
// approval as it was settled. An approval past its expiry is timed out instead
// (ErrApprovalExpired). approve says which way d goes; its reason is redacted first.
func (s *Store) DecideApproval(seq uint64, approve bool, d Decision) (Approval, error) {
	d.Reason = redact.Text(d.Reason)
	var a Approval
	expired := false
	err := s.update(func(tx *bolt.Tx) error {
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

// ExpireApprovals times out every pending approval past its expiry at now and returns them,
// once the transaction that times them out has committed.
func (s *Store) ExpireApprovals(now time.Time) ([]Approval, error) {
	// A write transaction syncs the file even when it changes nothing, and the engine asks
	// every second: look first.
	if due, err := s.anyDue(now); err != nil || !due {
		return nil, err
	}
	var expired []Approval
	err := s.update(func(tx *bolt.Tx) error {
		pending, err := pendingTx(tx)
		if err != nil {
			return err
		}
		for _, a := range pending {
			if now.Before(a.ExpiresAt) {
				continue
			}
			a, err := timeOutTx(tx, a, now)
			if err != nil {
				return err
			}
			expired = append(expired, a)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return expired, nil
}

// anyDue reports whether a pending approval has expired by now.
func (s *Store) anyDue(now time.Time) (bool, error) {
	pending, err := s.PendingApprovals()
	if err != nil {
		return false, err
	}
	for _, a := range pending {
		if !now.Before(a.ExpiresAt) {
			return true, nil
		}
	}
	return false, nil
}

// PendingApprovals returns the approvals waiting for a decision, oldest first.
func (s *Store) PendingApprovals() ([]Approval, error) {
	var out []Approval
	err := s.db.View(func(tx *bolt.Tx) error {
		var err error
		out, err = pendingTx(tx)
		return err
	})
	return out, err
}

func pendingTx(tx *bolt.Tx) ([]Approval, error) {
	var out []Approval
	err := tx.Bucket(bucketPendingApprovals).ForEach(func(k, _ []byte) error {
		a, err := approvalTx(tx, binary.BigEndian.Uint64(k))
		if err != nil {
			return fmt.Errorf("pending approval %x: %w", k, err)
		}
		out = append(out, a)
		return nil
	})
	return out, err
}

// ApprovalPage is one page of approvals, newest first. Next, when not 0, is where the next
// page starts (the Before of the next call); 0 means there is no more.
type ApprovalPage struct {
	Approvals []Approval
	Next      uint64
}

// maxVisited bounds the records one page reads: a state that few approvals are in cannot
// make a single call walk the whole history. Such a page may come back short, even empty,
// with a Next to go on from.
var maxVisited = 10000 // a variable for the tests

// Approvals returns up to limit approvals in state (every state when empty) older than
// before (0: from the newest), newest first, and stops early once the page holds maxBytes of
// records, so that no page outgrows a message, whatever the history holds, or once it has
// read maxVisited records.
func (s *Store) Approvals(state string, before uint64, limit, maxBytes int) (ApprovalPage, error) {
	var page ApprovalPage
	err := s.db.View(func(tx *bolt.Tx) error {
		index := tx.Bucket(bucketApprovals)
		if state == ApprovalPending {
			index = tx.Bucket(bucketPendingApprovals)
		}
		c := index.Cursor()
		k, _ := lastBefore(c, before)
		size, visited := 0, 0
		for ; k != nil; k, _ = c.Prev() {
			seq := binary.BigEndian.Uint64(k)
			if len(page.Approvals) == limit || size >= maxBytes || visited == maxVisited {
				page.Next = seq + 1
				return nil
			}
			visited++
			raw := tx.Bucket(bucketApprovals).Get(k)
			if raw == nil {
				return fmt.Errorf("approval %d: indexed but not stored", seq)
			}
			a, err := decodeApproval(raw)
			if err != nil {
				return err
			}
			if state == "" || a.State == state {
				page.Approvals = append(page.Approvals, a)
				size += len(raw)
			}
		}
		return nil
	})
	return page, err
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

// putApprovalTx stores a and keeps the pending index in step with its state.
func putApprovalTx(tx *bolt.Tx, a Approval) error {
	raw, err := encodeApproval(a)
	if err != nil {
		return err
	}
	key := seqKey(a.Seq)
	if err := tx.Bucket(bucketApprovals).Put(key, raw); err != nil {
		return err
	}
	if a.State == ApprovalPending {
		return tx.Bucket(bucketPendingApprovals).Put(key, []byte(a.Requester))
	}
	return tx.Bucket(bucketPendingApprovals).Delete(key)
}

// migratedMaxWait is how long an approval asked before waits were bounded may still wait.
const migratedMaxWait = 24 * time.Hour

// indexPendingApprovalsTx builds the pending index of a file from before it existed, and
// brings waits asked before they were bounded (one of 60 years was possible) to a day.
func indexPendingApprovalsTx(tx *bolt.Tx) error {
	var pending []Approval
	err := tx.Bucket(bucketApprovals).ForEach(func(_, raw []byte) error {
		a, err := decodeApproval(raw)
		if err == nil && a.State == ApprovalPending {
			pending = append(pending, a)
		}
		return err
	})
	if err != nil {
		return err
	}
	for _, a := range pending { // written after the walk: no puts under a moving cursor
		if limit := a.CreatedAt.Add(migratedMaxWait); a.ExpiresAt.After(limit) {
			a.ExpiresAt = limit
		}
		if err := putApprovalTx(tx, a); err != nil {
			return err
		}
	}
	return nil
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
