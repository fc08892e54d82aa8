package store

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/palyra/palyra/internal/testfs"
)

func openAt(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func newApproval(t *testing.T, s *Store, requester, subject string, ttl time.Duration) Approval {
	t.Helper()
	now := time.Now()
	a, err := s.CreateApproval(Approval{SubjectType: "external", SubjectID: subject, Risk: "low", Requester: requester,
		Summary: "run " + subject, CreatedAt: now, ExpiresAt: now.Add(ttl)}, 100)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func ids(list []Approval) string {
	var s []string
	for _, a := range list {
		s = append(s, a.ID())
	}
	return strings.Join(s, ",")
}

func TestPendingIndexFollowsEveryChangeOfState(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), FileName))
	for i := range 4 {
		newApproval(t, s, "ci", fmt.Sprint("job-", i), time.Hour)
	}
	soon := newApproval(t, s, "ci", "soon", time.Millisecond)
	if _, err := s.DecideApproval(2, true, Decision{Scope: "once", Decider: "admin", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.DecideApproval(3, false, Decision{Reason: "no", Decider: "admin", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	expired, err := s.ExpireApprovals(time.Now().Add(time.Second))
	if err != nil || ids(expired) != soon.ID() {
		t.Fatalf("expired %s, %v; want %s", ids(expired), err, soon.ID())
	}
	pending, err := s.PendingApprovals()
	if err != nil || ids(pending) != "ap-1,ap-4" {
		t.Fatalf("pending %s, %v; want ap-1,ap-4", ids(pending), err)
	}
	page, err := s.Approvals(ApprovalPending, 0, 10, 1<<20)
	if err != nil || ids(page.Approvals) != "ap-4,ap-1" || page.Next != 0 {
		t.Fatalf("pending page %s (next %d), %v; want ap-4,ap-1", ids(page.Approvals), page.Next, err)
	}
}

func TestApprovalPagesWalkTheHistoryNewestFirst(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), FileName))
	for i := range 7 {
		a := newApproval(t, s, "ci", fmt.Sprint("job-", i), time.Hour)
		if i%2 == 0 {
			if _, err := s.DecideApproval(a.Seq, false, Decision{Reason: "no", Decider: "admin", At: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	walk := func(state string, size, maxBytes int) string {
		var pages []string
		for before := uint64(0); ; {
			page, err := s.Approvals(state, before, size, maxBytes)
			if err != nil {
				t.Fatal(err)
			}
			pages = append(pages, ids(page.Approvals))
			if before = page.Next; before == 0 {
				return strings.Join(pages, " | ")
			}
		}
	}
	for _, c := range []struct {
		state       string
		size, bytes int
		want        string
		what        string
	}{
		{"", 3, 1 << 20, "ap-7,ap-6,ap-5 | ap-4,ap-3,ap-2 | ap-1", "every state, 3 a page"},
		{ApprovalDenied, 2, 1 << 20, "ap-7,ap-5 | ap-3,ap-1", "denied, 2 a page"},
		{ApprovalPending, 2, 1 << 20, "ap-6,ap-4 | ap-2", "pending, 2 a page"},
		{"", 100, 1, "ap-7 | ap-6 | ap-5 | ap-4 | ap-3 | ap-2 | ap-1", "a byte budget smaller than a record: one a page"},
	} {
		if got := walk(c.state, c.size, c.bytes); got != c.want {
			t.Errorf("%s: %s, want %s", c.what, got, c.want)
		}
	}
	page, err := s.Approvals("", 100, 2, 1<<20)
	if err != nil || ids(page.Approvals) != "ap-7,ap-6" {
		t.Errorf("a page before a sequence past the newest: %s, %v", ids(page.Approvals), err)
	}
}

func TestAPageReadsSoManyRecordsAtMost(t *testing.T) {
	saved := maxVisited
	maxVisited = 3
	t.Cleanup(func() { maxVisited = saved })
	s := openAt(t, filepath.Join(t.TempDir(), FileName))
	for i := range 7 {
		newApproval(t, s, "ci", fmt.Sprint("job-", i), time.Hour)
	}
	if _, err := s.DecideApproval(1, false, Decision{Reason: "no", Decider: "admin", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	var pages []string
	for before := uint64(0); ; {
		page, err := s.Approvals(ApprovalDenied, before, 10, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, ids(page.Approvals))
		if before = page.Next; before == 0 {
			break
		}
	}
	if got, want := strings.Join(pages, " | "), " |  | ap-1"; got != want {
		t.Fatalf("denied, 3 records read a page: %q, want %q", got, want)
	}
}

func TestARequesterMayHaveSoManyPending(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), FileName))
	now := time.Now()
	ask := func(requester string) error {
		_, err := s.CreateApproval(Approval{SubjectType: "external", SubjectID: "x", Risk: "low", Requester: requester,
			Summary: "x", CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 2)
		return err
	}
	for _, r := range []string{"ci#1", "ci#1", "ci#2"} {
		if err := ask(r); err != nil {
			t.Fatal(err)
		}
	}
	if err := ask("ci#1"); !errors.Is(err, ErrTooManyPending) {
		t.Fatalf("a third pending for ci#1: %v, want ErrTooManyPending", err)
	}
	if _, err := s.DecideApproval(1, true, Decision{Scope: "once", Decider: "admin", At: now}); err != nil {
		t.Fatal(err)
	}
	if err := ask("ci#1"); err != nil {
		t.Fatalf("after one was decided: %v", err)
	}
}

func TestOpenIndexesThePendingApprovalsOfAnOlderFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	newApproval(t, s, "ci", "one", time.Hour)
	forever := newApproval(t, s, "ci", "two", 60*365*24*time.Hour)
	if _, err := s.DecideApproval(1, true, Decision{Scope: "once", Decider: "admin", At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	s.Close()
	// What a version 1 file looked like: no index.
	db, err := bolt.Open(path, 0o600, nil)
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket(bucketPendingApprovals); err != nil {
			return err
		}
		return tx.Bucket(bucketMeta).Put(keySchemaVersion, seqKey(1))
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	pending, err := s.PendingApprovals()
	if err != nil || ids(pending) != "ap-2" {
		t.Fatalf("pending after the migration: %s, %v; want ap-2", ids(pending), err)
	}
	if want := forever.CreatedAt.Add(migratedMaxWait); !pending[0].ExpiresAt.Equal(want) {
		t.Errorf("a 60-year wait expires %v after the migration, want a day after it was asked (%v)", pending[0].ExpiresAt, want)
	}
	s.Close()
	if v := readSchemaVersion(t, path); v != schemaVersion {
		t.Fatalf("schema version %d after the migration, want %d", v, schemaVersion)
	}
	checkConsistent(t, path)
}

func TestAFullDiskRefusesAWriteWholeAndTheStoreRecovers(t *testing.T) {
	dir := testfs.Small(t, 1<<20)
	s := openAt(t, filepath.Join(dir, FileName))
	now := time.Now()
	// Large records, so that timing them out needs more pages than bbolt has free.
	var due []Approval
	for i := range 20 {
		a, err := s.CreateApproval(Approval{SubjectType: "external", SubjectID: fmt.Sprint("due-", i), Risk: "low", Requester: "ci",
			Summary: "x", Details: strings.Repeat("d", 16<<10), CreatedAt: now, ExpiresAt: now.Add(time.Millisecond)}, 100)
		if err != nil {
			t.Fatal(err)
		}
		due = append(due, a)
	}
	filler := testfs.Fill(t, dir)

	_, err := s.CreateApproval(Approval{SubjectType: "external", SubjectID: "big", Risk: "low", Requester: "ci",
		Summary: "x", Details: strings.Repeat("d", 64<<10), CreatedAt: now, ExpiresAt: now.Add(time.Hour)}, 100)
	if !errors.Is(err, ErrDiskFull) || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("create on a full disk: %v, want ErrDiskFull naming the cause", err)
	}
	// bbolt reuses pages it freed before it grows the file: use them up.
	for err = nil; err == nil; {
		_, err = s.AppendAudit(AuditEntry{At: now, Kind: "test", Detail: strings.Repeat("x", maxAuditDetail)})
	}
	expired, err := s.ExpireApprovals(time.Now().Add(time.Second))
	if !errors.Is(err, ErrDiskFull) || expired != nil {
		t.Fatalf("expire on a full disk: %v, %v; want ErrDiskFull and nothing reported", ids(expired), err)
	}
	if pending, _ := s.PendingApprovals(); ids(pending) != ids(due) {
		t.Fatalf("pending %s, want %s: their timeouts were not written", ids(pending), ids(due))
	}

	testfs.Free(t, filler)
	expired, err = s.ExpireApprovals(time.Now().Add(time.Second))
	if err != nil || ids(expired) != ids(due) {
		t.Fatalf("expire once space is back: %s, %v", ids(expired), err)
	}
	if _, brk, err := s.VerifyAudit(); brk != nil || err != nil {
		t.Fatalf("audit after the full disk: %+v, %v", brk, err)
	}
	s.Close()
	checkConsistent(t, filepath.Join(dir, FileName))
}

func TestExpiringWithNothingDueWritesNothing(t *testing.T) {
	s := openAt(t, filepath.Join(t.TempDir(), FileName))
	newApproval(t, s, "ci", "later", time.Hour)
	lastWrite := func() int {
		var id int
		if err := s.db.View(func(tx *bolt.Tx) error { id = tx.ID(); return nil }); err != nil {
			t.Fatal(err)
		}
		return id
	}
	before := lastWrite()
	for range 3 {
		if expired, err := s.ExpireApprovals(time.Now()); err != nil || len(expired) != 0 {
			t.Fatalf("expired %s, %v; want none", ids(expired), err)
		}
	}
	if after := lastWrite(); after != before {
		t.Fatalf("%d write transactions with nothing due", after-before)
	}
	if expired, err := s.ExpireApprovals(time.Now().Add(2 * time.Hour)); err != nil || len(expired) != 1 {
		t.Fatalf("expired %s, %v; want the one due", ids(expired), err)
	}
	if lastWrite() == before {
		t.Fatal("the approval due was timed out without a write")
	}
}
