package store

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

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

func TestAuditPagesGoFromTheNewestToTheOldest(t *testing.T) {
	s, _ := journal(t, 5)
	var pages []string
	for before := uint64(0); ; {
		page, err := s.Audit(before, 2, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		var subjects []string
		for _, e := range page.Entries {
			subjects = append(subjects, e.Subject)
		}
		pages = append(pages, strings.Join(subjects, ","))
		if before = page.Next; before == 0 {
			break
		}
	}
	if got, want := strings.Join(pages, " | "), "ap-4,ap-3 | ap-2,ap-1 | ap-0"; got != want {
		t.Fatalf("pages %s, want %s", got, want)
	}
	page, err := s.Audit(3, 10, 1<<20)
	if err != nil || len(page.Entries) != 2 || page.Entries[0].Seq != 2 || page.Next != 0 {
		t.Fatalf("the page before entry 3: %+v, %v", page, err)
	}
}

func TestAuditPagesEndAtTheirByteBudget(t *testing.T) {
	s, _ := journal(t, 3)
	page, err := s.Audit(0, 10, 1)
	if err != nil || len(page.Entries) != 1 || page.Entries[0].Seq != 3 || page.Next != 3 {
		t.Fatalf("a page of one byte: %+v, %v; want the newest entry alone, then more", page, err)
	}
}

func TestAuditEntriesAreCutToTheirBounds(t *testing.T) {
	s, _ := journal(t, 0)
	long := strings.Repeat("é", maxAuditDetail) // two bytes a rune: twice the bound
	e, err := s.AppendAudit(AuditEntry{At: time.Now(), Kind: "test", Actor: long, Subject: long, Detail: long})
	if err != nil {
		t.Fatal(err)
	}
	for name, got := range map[string]struct {
		s   string
		max int
	}{"actor": {e.Actor, maxAuditActor}, "subject": {e.Subject, maxAuditSubject}, "detail": {e.Detail, maxAuditDetail}} {
		if len(got.s) > got.max || !utf8.ValidString(got.s) || !strings.HasSuffix(got.s, "…") {
			t.Errorf("%s: %d bytes, valid %v, want at most %d ending in an ellipsis", name, len(got.s), utf8.ValidString(got.s), got.max)
		}
	}
	if _, brk, err := s.VerifyAudit(); brk != nil || err != nil {
		t.Fatalf("the journal does not verify: %+v, %v", brk, err)
	}
}
