package pidlock

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
)

func TestSecondAcquireNamesHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()

	// flock locks are per open file description, so a second open in this process conflicts
	// exactly as another process would.
	_, err = Acquire(path)
	var held *HeldError
	if !errors.As(err, &held) {
		t.Fatalf("second Acquire: got %v, want HeldError", err)
	}
	if held.PID != os.Getpid() {
		t.Fatalf("holder pid %d, want %d", held.PID, os.Getpid())
	}
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("lock file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestReleaseLetsNextOwnerIn(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Release(); err != nil {
		t.Fatal(err)
	}
	l2, err := Acquire(path)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Release()
}

func TestLockOfDeadProcessIsFree(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	// A process that took the lock and was killed: the file still names it, the lock is gone.
	cmd := exec.Command("sh", "-c", `exec 9>"$0"; flock -n 9; echo $$ >&9; kill -9 $$`, path)
	_ = cmd.Run()
	if b, _ := os.ReadFile(path); len(b) == 0 {
		t.Skip("flock(1) not available")
	}
	l, err := Acquire(path)
	if err != nil {
		t.Fatalf("stale lock file refused: %v", err)
	}
	defer l.Release()
	if got := Holder(path); got != os.Getpid() {
		t.Fatalf("holder %d after takeover, want %s", got, strconv.Itoa(os.Getpid()))
	}
}

func TestLiveHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	if got := LiveHolder(path); got != 0 {
		t.Fatalf("no file: %d", got)
	}
	l, err := Acquire(path)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	if got := LiveHolder(path); got != os.Getpid() {
		t.Fatalf("held by us: %d", got)
	}
	// A pid that names no process.
	if err := os.WriteFile(path, []byte("2147483646\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := LiveHolder(path); got != 0 {
		t.Fatalf("dead holder reported as %d", got)
	}
}
