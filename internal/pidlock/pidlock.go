// Package pidlock makes one process the owner of a state directory: an exclusive flock on a
// file that also names the owner's pid, so a refused second instance can say who holds it.
// The kernel drops the lock when the owner dies, however it dies, so a stale file is harmless.
package pidlock

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// HeldError says another live process holds the lock.
type HeldError struct {
	Path string
	PID  int // 0 when the file names no pid yet
}

func (e *HeldError) Error() string {
	if e.PID == 0 {
		return fmt.Sprintf("%s is locked by another process", e.Path)
	}
	return fmt.Sprintf("%s is locked by pid %d", e.Path, e.PID)
}

// Lock is a held lock; Release gives it up.
type Lock struct {
	f *os.File
}

// Acquire takes the lock at path without waiting, writing our pid into the file (0600).
func Acquire(path string) (*Lock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open lock file: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, &HeldError{Path: path, PID: Holder(path)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	if _, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("write lock file: %w", err)
	}
	return &Lock{f: f}, nil
}

// Holder returns the pid written in the lock file at path, or 0.
func Holder(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// Release unlocks and closes the file. The file stays; its content is stale until the next owner.
func (l *Lock) Release() error {
	return l.f.Close()
}

// LiveHolder returns the pid the lock file at path names if that process is alive, else 0.
// It looks without locking, so it never disturbs an owner taking the lock at that moment.
func LiveHolder(path string) int {
	pid := Holder(path)
	if pid == 0 {
		return 0
	}
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return 0
	}
	return pid
}
