// Package boltfile opens a bbolt file the way palyrad's stores need it: locked with a
// timeout that names the process holding it, checked for damage without touching it, with
// the holder's pid beside it, and with writes refused for space reported as ErrDiskFull.
package boltfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"strconv"
	"syscall"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/palyra/palyra/internal/pidlock"
)

// lockTimeout is how long Open waits for another process to release the file.
const lockTimeout = time.Second

// ErrDiskFull says a write failed for want of space (or quota): nothing of it was kept, the
// store stays usable, and the same write succeeds once space is freed.
var ErrDiskFull = errors.New("the disk is full")

// LockedError says another process has the store open.
type LockedError struct {
	Path string
	PID  int // read from the pid file; 0 when it names none
}

func (e *LockedError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is locked by another process (another palyrad on this home?)", e.Path)
	}
	return fmt.Sprintf("%s is locked by pid %d (another palyrad on this home?)", e.Path, e.PID)
}

// DamagedError says the file exists but is not a sound bbolt database. Open leaves such a file
// exactly as it found it.
type DamagedError struct {
	Path   string
	Reason string
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("%s is damaged (%s); it was left untouched: move it aside (mv %s %s.damaged) "+
		"or restore it from a backup, then start palyrad again", e.Path, e.Reason, e.Path, e.Path)
}

// File is an open bbolt file.
type File struct {
	DB      *bolt.DB
	path    string
	pidPath string
}

// Open opens the file at path, creating it when missing, and runs setUp (which creates
// buckets and checks the schema) in its first write transaction. It fails with a LockedError
// while another process holds the file and with a DamagedError when the file is not sound.
// Once open, the holder's pid is written to path+".pid" so a refused second opener can name it.
func Open(path string, setUp func(*bolt.Tx) error) (*File, error) {
	info, err := os.Stat(path)
	switch {
	case err == nil && info.Size() == 0:
		// bbolt would initialise an empty file, silently replacing what was lost.
		return nil, &DamagedError{Path: path, Reason: "the file is empty"}
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("open store: %w", err)
	}

	db, err := openBolt(path)
	if err != nil {
		return nil, err
	}
	if err := Guard(path, func() error { return checkAndSetUp(db, path, setUp) }); err != nil {
		db.Close()
		return nil, err
	}

	f := &File{DB: db, path: path, pidPath: path + ".pid"}
	if err := writePID(f.pidPath); err != nil {
		db.Close()
		return nil, err
	}
	return f, nil
}

// Path is the file's path.
func (f *File) Path() string { return f.path }

// Close removes the pid file, while the lock still makes it ours, and closes the database.
func (f *File) Close() error {
	if err := os.Remove(f.pidPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		f.DB.Close()
		return fmt.Errorf("remove pid file: %w", err)
	}
	if err := f.DB.Close(); err != nil {
		return fmt.Errorf("close store: %w", err)
	}
	return nil
}

// Update runs fn in a write transaction. A write the file system refused for space is
// ErrDiskFull: bbolt rolls it back whole and the next transaction can succeed.
func (f *File) Update(fn func(*bolt.Tx) error) error {
	err := f.DB.Update(fn)
	if errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT) {
		return fmt.Errorf("%w: cannot write %s: %w", ErrDiskFull, f.path, err)
	}
	return err
}

// Guard runs fn, which reads the mapped file, turning a panic into a DamagedError. bbolt trusts
// the pages it maps: a damaged file can make it panic, or fault reading past the end of a
// truncated file.
func Guard(path string, fn func() error) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			err = &DamagedError{Path: path, Reason: fmt.Sprintf("unreadable: %v", r)}
		}
	}()
	return fn()
}

// openBolt opens and locks the file. An error that is neither the lock's timeout nor the
// system's means bbolt refused the contents. A panic halfway through bolt.Open leaves the file
// open, mapped and locked until the process exits, which it does for want of its store.
func openBolt(path string) (*bolt.DB, error) {
	var db *bolt.DB
	err := Guard(path, func() (err error) {
		db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
		return err
	})
	var damaged *DamagedError
	var pathErr *fs.PathError
	var errno syscall.Errno
	switch {
	case err == nil:
		return db, nil
	case errors.As(err, &damaged):
		return nil, err
	case errors.Is(err, bolterrors.ErrTimeout):
		return nil, &LockedError{Path: path, PID: pidlock.Holder(path + ".pid")}
	case errors.As(err, &pathErr), errors.As(err, &errno):
		return nil, fmt.Errorf("open store: %w", err)
	}
	return nil, &DamagedError{Path: path, Reason: err.Error()}
}

// checkAndSetUp checks that the file holds every page its header claims before anything
// reads them, then runs setUp.
func checkAndSetUp(db *bolt.DB, path string, setUp func(*bolt.Tx) error) error {
	info, err := os.Stat(path)
	if err != nil {
		return fmt.Errorf("open store: %w", err)
	}
	return db.Update(func(tx *bolt.Tx) error {
		if info.Size() < tx.Size() {
			return &DamagedError{Path: path, Reason: fmt.Sprintf(
				"truncated: %d bytes where its header needs %d", info.Size(), tx.Size())}
		}
		return setUp(tx)
	})
}

func writePID(path string) error {
	if err := os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	// WriteFile keeps the mode of a file that already exists.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("write pid file: %w", err)
	}
	return nil
}
