package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"
)

func journal(t *testing.T, n int) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i := range n {
		e, err := s.AppendAudit(AuditEntry{At: time.Now(), Kind: "approval.decided", Actor: "admin", Subject: fmt.Sprint("ap-", i), Detail: "allow once"})
		if err != nil {
			t.Fatal(err)
		}
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d got seq %d", i, e.Seq)
		}
	}
	return s, path
}

// rewrite changes the stored entry seq with change, keeping or recomputing its hash.
func rewrite(t *testing.T, s *Store, seq uint64, rehash bool, change func(*AuditEntry)) {
	t.Helper()
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketAudit)
		e, err := decodeAudit(b.Get(seqKey(seq)))
		if err != nil {
			return err
		}
		change(&e)
		if rehash {
			e.Hash = auditHash(e)
		}
		raw, err := encodeAudit(e)
		if err != nil {
			return err
		}
		return b.Put(seqKey(seq), raw)
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestAuditChainHoldsAndSurvivesReopen(t *testing.T) {
	s, path := journal(t, 5)
	if n, brk, err := s.VerifyAudit(); n != 5 || brk != nil || err != nil {
		t.Fatalf("verify = %d, %+v, %v", n, brk, err)
	}
	s.Close()
	s2, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	e, err := s2.AppendAudit(AuditEntry{At: time.Now(), Kind: "token.revoked", Actor: "admin", Subject: "t1"})
	if err != nil || e.Seq != 6 {
		t.Fatalf("append after reopen: %+v, %v", e, err)
	}
	if n, brk, err := s2.VerifyAudit(); n != 6 || brk != nil || err != nil {
		t.Fatalf("verify after reopen = %d, %+v, %v", n, brk, err)
	}
}

func TestAuditTamperingIsFound(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func(t *testing.T, s *Store)
		seq    uint64
		reason string
	}{
		{"an entry changed", func(t *testing.T, s *Store) {
			rewrite(t, s, 3, false, func(e *AuditEntry) { e.Detail = "deny" })
		}, 3, "changed after it was written"},
		{"an entry changed and its hash recomputed", func(t *testing.T, s *Store) {
			rewrite(t, s, 3, true, func(e *AuditEntry) { e.Actor = "mallory" })
		}, 4, "does not follow"},
		{"the newest entries removed", func(t *testing.T, s *Store) {
			if err := s.db.Update(func(tx *bolt.Tx) error {
				b := tx.Bucket(bucketAudit)
				if err := b.Delete(seqKey(5)); err != nil {
					return err
				}
				return b.Delete(seqKey(4))
			}); err != nil {
				t.Fatal(err)
			}
		}, 4, "5 entries were written, 3 remain"},
		{"an entry removed", func(t *testing.T, s *Store) {
			if err := s.db.Update(func(tx *bolt.Tx) error { return tx.Bucket(bucketAudit).Delete(seqKey(2)) }); err != nil {
				t.Fatal(err)
			}
		}, 2, "missing; the next entry is 3"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := journal(t, 5)
			tc.tamper(t, s)
			n, brk, err := s.VerifyAudit()
			if err != nil {
				t.Fatal(err)
			}
			if brk == nil || brk.Seq != tc.seq || !strings.Contains(brk.Reason, tc.reason) || n != int(tc.seq)-1 {
				t.Fatalf("verify = %d, %+v; want a break at %d: %s", n, brk, tc.seq, tc.reason)
			}
		})
	}
}

func BenchmarkAppendAudit(b *testing.B) {
	s, err := Open(filepath.Join(b.TempDir(), FileName))
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	for b.Loop() {
		if _, err := s.AppendAudit(AuditEntry{At: time.Now(), Kind: "k", Actor: "a", Subject: "s"}); err != nil {
			b.Fatal(err)
		}
	}
}

func TestAuditTailReturnsTheNewestOldestFirst(t *testing.T) {
	s, _ := journal(t, 5)
	tail, err := s.AuditTail(3)
	if err != nil {
		t.Fatal(err)
	}
	var subjects []string
	for _, e := range tail {
		subjects = append(subjects, e.Subject)
	}
	if got := strings.Join(subjects, ","); got != "ap-2,ap-3,ap-4" {
		t.Fatalf("tail %s, want ap-2,ap-3,ap-4", got)
	}
}
