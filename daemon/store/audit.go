package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/internal/redact"
)

// AuditEntry is one entry of the audit journal.
type AuditEntry struct {
	Seq      uint64
	At       time.Time
	Kind     string
	Actor    string
	Subject  string
	Detail   string
	PrevHash [32]byte
	Hash     [32]byte
}

// AppendAudit adds e to the journal in one transaction, numbering it and chaining it to the
// last entry, and returns it as stored.
func (s *Store) AppendAudit(e AuditEntry) (AuditEntry, error) {
	err := s.db.Update(func(tx *bolt.Tx) error {
		var err error
		e, err = appendAuditTx(tx, e)
		return err
	})
	return e, err
}

// appendAuditTx appends e inside tx, so a change and its audit entry commit together. Its
// detail is redacted before it is hashed, so the journal verifies as written.
func appendAuditTx(tx *bolt.Tx, e AuditEntry) (AuditEntry, error) {
	e.Detail = redact.Text(e.Detail)
	b := tx.Bucket(bucketAudit)
	if _, last := b.Cursor().Last(); last != nil {
		prev, err := decodeAudit(last)
		if err != nil {
			return e, err
		}
		e.PrevHash = prev.Hash
	}
	seq, err := b.NextSequence()
	if err != nil {
		return e, err
	}
	e.Seq = seq
	e.At = time.UnixMilli(e.At.UnixMilli()) // what is stored is what is hashed
	e.Hash = auditHash(e)
	raw, err := encodeAudit(e)
	if err != nil {
		return e, err
	}
	return e, b.Put(seqKey(seq), raw)
}

// AuditBreak says where and why the journal's chain is broken.
type AuditBreak struct {
	Seq    uint64
	Reason string
}

// VerifyAudit walks the journal from the start and returns how many entries hold together,
// and the first break, if any.
func (s *Store) VerifyAudit() (checked int, brk *AuditBreak, err error) {
	err = s.db.View(func(tx *bolt.Tx) error {
		var prev [32]byte
		var want uint64 = 1
		b := tx.Bucket(bucketAudit)
		err := b.ForEach(func(k, raw []byte) error {
			e, err := decodeAudit(raw)
			switch {
			case err != nil:
				brk = &AuditBreak{Seq: want, Reason: err.Error()}
			case len(k) != 8 || binary.BigEndian.Uint64(k) != e.Seq:
				brk = &AuditBreak{Seq: e.Seq, Reason: "stored under another key"}
			case e.Seq != want:
				brk = &AuditBreak{Seq: want, Reason: fmt.Sprintf("missing; the next entry is %d", e.Seq)}
			case e.PrevHash != prev:
				brk = &AuditBreak{Seq: e.Seq, Reason: "does not follow the entry before it"}
			case auditHash(e) != e.Hash:
				brk = &AuditBreak{Seq: e.Seq, Reason: "changed after it was written"}
			}
			if brk != nil {
				return errStopWalk
			}
			prev, want = e.Hash, want+1
			checked++
			return nil
		})
		// The bucket's counter knows how many entries were written: the newest ones cut off
		// leave a sound chain, but not a sound count.
		if err == nil && b.Sequence() != want-1 {
			brk = &AuditBreak{Seq: want, Reason: fmt.Sprintf("missing: %d entries were written, %d remain", b.Sequence(), want-1)}
		}
		return err
	})
	if errors.Is(err, errStopWalk) {
		err = nil
	}
	return checked, brk, err
}

var errStopWalk = errors.New("stop")

// auditHash covers every field but the hash itself, each length-prefixed so that no two
// entries encode alike, and the previous entry's hash.
func auditHash(e AuditEntry) [32]byte {
	var buf bytes.Buffer
	buf.Write(binary.BigEndian.AppendUint64(nil, e.Seq))
	buf.Write(binary.BigEndian.AppendUint64(nil, uint64(e.At.UnixMilli())))
	for _, f := range []string{e.Kind, e.Actor, e.Subject, e.Detail} {
		buf.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f))))
		buf.WriteString(f)
	}
	buf.Write(e.PrevHash[:])
	return sha256.Sum256(buf.Bytes())
}

func seqKey(seq uint64) []byte { return binary.BigEndian.AppendUint64(nil, seq) }

// AuditTail returns the newest n entries of the journal, oldest first.
func (s *Store) AuditTail(n int) ([]AuditEntry, error) {
	var entries []AuditEntry
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		for k, raw := c.Last(); k != nil && len(entries) < n; k, raw = c.Prev() {
			e, err := decodeAudit(raw)
			if err != nil {
				return fmt.Errorf("audit entry %x: %w", k, err)
			}
			entries = append(entries, e)
		}
		return nil
	})
	slices.Reverse(entries)
	return entries, err
}
