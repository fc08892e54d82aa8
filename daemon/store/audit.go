package store

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

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
	err := s.update(func(tx *bolt.Tx) error {
		var err error
		e, err = appendAuditTx(tx, e)
		return err
	})
	return e, err
}

// The bounds of an audit entry's text, in bytes; longer text is cut (on a rune boundary) with
// an ellipsis, so no entry outgrows what a reader expects of one line of the journal.
const (
	maxAuditKind    = 64
	maxAuditActor   = 160
	maxAuditSubject = 256
	maxAuditDetail  = 1024
)

// appendAuditTx appends e inside tx, so a change and its audit entry commit together. Its
// detail is redacted, then cut to its bound, before it is hashed, so the journal verifies as
// written.
func appendAuditTx(tx *bolt.Tx, e AuditEntry) (AuditEntry, error) {
	e.Kind, e.Actor = cut(e.Kind, maxAuditKind), cut(e.Actor, maxAuditActor)
	e.Subject, e.Detail = cut(e.Subject, maxAuditSubject), cut(redact.Text(e.Detail), maxAuditDetail)
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

// lastBefore puts c, over a bucket keyed by seqKey, on the newest record below before
// (0: the newest of all), the start of a page walked with Prev.
func lastBefore(c *bolt.Cursor, before uint64) (k, v []byte) {
	if before == 0 {
		return c.Last()
	}
	k, v = c.Seek(seqKey(before))
	if k == nil {
		return c.Last()
	}
	return c.Prev() // Seek stopped at the first key >= before
}

// AuditPage is one page of the journal, newest first. Next, when not 0, is the Before of the
// next page; 0 means the oldest entry is in this page.
type AuditPage struct {
	Entries []AuditEntry
	Next    uint64
}

// Audit returns up to limit entries older than before (0: from the newest), newest first,
// stopping early once the page holds maxBytes of records: entries written before their text
// was bounded may be large.
func (s *Store) Audit(before uint64, limit, maxBytes int) (AuditPage, error) {
	var page AuditPage
	err := s.db.View(func(tx *bolt.Tx) error {
		c := tx.Bucket(bucketAudit).Cursor()
		k, raw := lastBefore(c, before)
		size := 0
		for ; k != nil; k, raw = c.Prev() {
			if len(page.Entries) == limit || size >= maxBytes {
				page.Next = binary.BigEndian.Uint64(k) + 1
				return nil
			}
			e, err := decodeAudit(raw)
			if err != nil {
				return fmt.Errorf("audit entry %x: %w", k, err)
			}
			page.Entries = append(page.Entries, e)
			size += len(raw)
		}
		return nil
	})
	return page, err
}

// cut returns s whole if it has at most n bytes, else its longest prefix of whole runes that
// leaves room for "…" within n.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	const ellipsis = "…"
	end := n - len(ellipsis)
	for end > 0 && !utf8.RuneStart(s[end]) {
		end--
	}
	return s[:end] + ellipsis
}
